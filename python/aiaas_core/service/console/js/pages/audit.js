// Admin: the audit log (who did what, when), filtered in the browser over the newest rows.
import { get } from '../api.js';
import { clear, field, h, select, short, table, when } from '../dom.js';

export async function auditPage(view, { signal }) {
  const tenants = await get('/v1/tenants', { signal });
  const names = Object.fromEntries(tenants.map((t) => [t.id, t.name]));
  const tenant = select([['', 'every tenant'], ...tenants.map((t) => [t.id, t.name])], '');
  const action = h('input', { type: 'search', placeholder: 'e.g. POST /v1/jobs' });
  const status = select([['', 'any status'], ['2', 'succeeded (2xx)'], ['4', 'refused (4xx)'], ['401', 'unauthenticated (401)'], ['403', 'forbidden (403)'], ['5', 'failed (5xx)']], '');
  const limit = select(['100', '500', '1000'], '500');
  const out = h('div', {});
  let rows = [];
  function draw() {
    const shown = rows.filter((r) => (!tenant.value || r.tenant_id === tenant.value)
      && (!action.value || `${r.action} ${r.target}`.toLowerCase().includes(action.value.toLowerCase()))
      && (!status.value || String(r.status).startsWith(status.value)));
    clear(out, h('p', { class: 'muted', text: `${shown.length} of the newest ${rows.length} entries` }),
      table(['When', 'Tenant', 'Key', 'Action', 'Target', 'Status'], shown.map((r) => [
        when(r.at), names[r.tenant_id] || short(r.tenant_id), short(r.key_id), r.action, r.target,
        h('span', { class: r.status >= 400 ? 'bad' : 'good', text: String(r.status) })]), 'Audit log'));
  }
  async function load() { rows = await get(`/v1/audit?limit=${limit.value}`, { signal }); draw(); }
  for (const c of [tenant, status]) c.addEventListener('change', draw);
  action.addEventListener('input', draw);
  limit.addEventListener('change', () => load());
  clear(view, h('h1', { text: 'Audit log' }),
    h('form', { class: 'card filters', role: 'search', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'grid' }, field('Tenant', tenant), field('Action or path contains', action), field('Status', status), field('Newest entries', limit))), out);
  await load();
}
