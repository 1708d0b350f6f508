// Start-up: the routes, the role-aware navigation, sign-in state.
import { setUnauthorizedHandler } from './api.js';
import { allows, session } from './session.js';
import { clear, h } from './dom.js';
import { go, render, route } from './router.js';
import { signInPage } from './pages/signin.js';
import { datasetsPage, datasetPage } from './pages/datasets.js';
import { trainPage } from './pages/train.js';
import { jobsPage } from './pages/jobs.js';
import { jobPage, comparePage } from './pages/job.js';
import { modelsPage, modelPage } from './pages/models.js';
import { endpointsPage } from './pages/endpoints.js';
import { endpointPage } from './pages/endpoint.js';
import { tenantsPage, tenantPage } from './pages/tenants.js';
import { auditPage } from './pages/audit.js';

const NAV = [
  ['#/datasets', 'Datasets', 'member'], ['#/train', 'Train', 'member'], ['#/jobs', 'Jobs', 'member'],
  ['#/models', 'Models', 'member'], ['#/endpoints', 'Endpoints', 'predict'],
  ['#/admin/tenants', 'Tenants & keys', 'admin'], ['#/admin/audit', 'Audit log', 'admin'],
];

export function home(me) { return allows(me, 'member') ? '#/datasets' : '#/endpoints'; }

function drawChrome() {
  const me = session.me();
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.hidden = !me;
  who.hidden = !me;
  if (!me) { clear(nav); clear(who); return; }
  clear(nav, h('ul', {}, NAV.filter(([, , role]) => allows(me, role))
    .map(([href, text]) => h('li', {}, h('a', { href, text })))));
  clear(who, h('span', { text: `${me.tenant_name} · ${me.role}` }),
    h('button', { type: 'button', class: 'link', onclick: signOut, text: 'Sign out' }));
}

export function signOut(message) {
  session.signOut();
  drawChrome();
  go(typeof message === 'string' ? `#/signin?reason=${encodeURIComponent(message)}` : '#/signin');
}

route(/^\/signin$/, null, 'Sign in', (view, ctx) => signInPage(view, ctx, () => { drawChrome(); go(home(session.me())); }));
route(/^\/$/, null, 'Home', async () => go(session.me() ? home(session.me()) : '#/signin'));
route(/^\/datasets$/, 'member', 'Datasets', datasetsPage);
route(/^\/datasets\/([^/]+)$/, 'member', 'Dataset', datasetPage);
route(/^\/train$/, 'member', 'Train', trainPage);
route(/^\/jobs$/, 'member', 'Jobs', jobsPage);
route(/^\/jobs\/([^/]+)$/, 'member', 'Job', jobPage);
route(/^\/compare\/([^/]+)$/, 'member', 'Compare jobs', comparePage);
route(/^\/models$/, 'member', 'Models', modelsPage);
route(/^\/models\/([^/]+)$/, 'member', 'Model version', modelPage);
route(/^\/endpoints$/, 'predict', 'Endpoints', endpointsPage);
route(/^\/endpoints\/([^/]+)$/, 'predict', 'Endpoint', endpointPage);
route(/^\/admin\/tenants$/, 'admin', 'Tenants', tenantsPage);
route(/^\/admin\/tenants\/([^/]+)$/, 'admin', 'Tenant', tenantPage);
route(/^\/admin\/audit$/, 'admin', 'Audit log', auditPage);

// A key that stops working (revoked, expired) sends the user back to sign in, saying why.
setUnauthorizedHandler((detail) => { if (session.me()) signOut(`Your key was refused: ${detail}`); });

window.addEventListener('hashchange', () => {
  if (!session.me() && !window.location.hash.startsWith('#/signin')) { go('#/signin'); return; }
  render();
});
drawChrome();
if (!session.me() && !window.location.hash.startsWith('#/signin')) go('#/signin'); else render();
