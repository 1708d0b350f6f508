// Hash routes (#/jobs/ID): one HTML page, so the server needs no route per screen and a reload keeps
// the place. Each screen gets an AbortSignal that fires when the user leaves it, which stops its
// streams and timers.
import { allows, session } from './session.js';
import { clear, errorBox, h, say } from './dom.js';

const routes = [];
let current = null;

export function route(pattern, role, title, load) {
  routes.push({ pattern, role, title, load });
}

function match(path) {
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (m) return { r, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

export function go(hash) {
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

export function every(signal, ms, fn) {
  const timer = setInterval(fn, ms);
  signal.addEventListener('abort', () => clearInterval(timer));
}

export async function render() {
  const view = document.getElementById('view');
  if (current) current.abort();
  current = new AbortController();
  const { signal } = current;
  const [path, query = ''] = (window.location.hash.slice(1) || '/').split('?');
  const me = session.me();
  const found = match(path);
  say('');
  if (!found) {
    clear(view, h('h1', { text: 'Page not found' }), errorBox(`No page here (${path}). Use the menu.`));
    return;
  }
  const { r, params } = found;
  document.title = `${r.title} · aiaas console`;
  if (r.role && !allows(me, r.role)) {
    clear(view, h('h1', { text: r.title }),
      errorBox(`Not available with your key: this page needs the ${r.role} role and your key has the ${me ? me.role : 'no'} role.`));
    return;
  }
  clear(view, h('p', { class: 'muted', text: 'Loading…' }));
  try {
    await r.load(view, { params, query: new URLSearchParams(query), signal, me });
  } catch (err) {
    if (err.name === 'AbortError' || signal.aborted) return;
    clear(view, h('h1', { text: r.title }), errorBox(err));
  }
  // After a click in the menu, keyboard and screen-reader users continue in the new content.
  if (document.activeElement === document.body || document.activeElement?.closest('#nav')) view.focus({ preventScroll: true });
  document.querySelectorAll('#nav a').forEach((a) => {
    const active = path === a.getAttribute('href').slice(1) || path.startsWith(`${a.getAttribute('href').slice(1)}/`);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
}
