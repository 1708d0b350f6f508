// Building the page from data without innerHTML: every value from the server is text, never markup.

let fieldCounter = 0;

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name in el && typeof value !== 'string') el[name] = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function uid(prefix = 'f') {
  fieldCounter += 1;
  return `${prefix}-${fieldCounter}`;
}

// A labelled control with a place for its error message beside it (aria-describedby links them).
export function field(label, control, hint) {
  control.id = control.id || uid();
  const error = h('span', { class: 'field-error', id: `${control.id}-error`, role: 'alert' });
  const hintEl = hint ? h('span', { class: 'hint', id: `${control.id}-hint`, text: hint }) : null;
  control.setAttribute('aria-describedby', [hintEl && hintEl.id, error.id].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control, hintEl, error);
  wrap.setError = (message) => {
    error.textContent = message || '';
    control.setAttribute('aria-invalid', message ? 'true' : 'false');
  };
  return wrap;
}

export function select(options, value) {
  return h('select', {}, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: String(v) === String(value), text });
  }));
}

// A table inside a scrolling box, so a wide table never widens the page on a phone.
export function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'table' },
    h('table', {}, caption ? h('caption', { text: caption }) : null,
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))
        : h('tr', {}, h('td', { colspan: headers.length, class: 'empty', text: 'Nothing yet.' })))));
}

export function errorBox(err) {
  return h('p', { class: 'error', role: 'alert', text: err instanceof Error ? err.message : String(err) });
}

export function short(id) { return id ? String(id).slice(0, 8) : '—'; }

export function when(ts) {
  if (!ts) return '—';
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(ts) ? ts : `${ts}Z`); // SQLite gives naive UTC times
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function num(v, digits = 4) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? String(v) : v.toPrecision(digits);
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

export function link(href, text) { return h('a', { href, text }); }

// A button that asks for a second press before a destructive action (no modal dialogs needed).
export function confirmButton(label, confirmLabel, action) {
  let armed = false;
  let timer;
  const button = h('button', { type: 'button', class: 'danger', text: label });
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      timer = setTimeout(() => { armed = false; button.textContent = label; }, 5000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try { await action(); } finally { button.disabled = false; armed = false; button.textContent = label; }
  });
  return button;
}

export function say(message) {
  document.getElementById('status').textContent = message;
}
