// Admin: tenants (with their quotas) and each tenant's keys: create (the key is shown once), revoke.
import { del, get, post } from '../api.js';
import { clear, confirmButton, errorBox, field, h, link, say, select, short, table, when } from '../dom.js';
import { go, render } from '../router.js';

const optionalInt = (input) => (input.value.trim() === '' ? undefined : Number(input.value));

export async function tenantsPage(view, { signal }) {
  const tenants = await get('/v1/tenants', { signal });
  const name = h('input', { required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,99}', autocomplete: 'off' });
  const jobs = h('input', { type: 'number', min: 1, max: 1000, step: 1 });
  const epochs = h('input', { type: 'number', min: 1, max: 100000, step: 1 });
  const dsBytes = h('input', { type: 'number', min: 1, step: 1 });
  const out = h('div', {});
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-tenant' }, h('h2', { id: 'new-tenant', text: 'Create a tenant' }),
    h('div', { class: 'grid' }, field('Name', name), field('Max concurrent jobs', jobs, 'empty: the server default'),
      field('Max epochs per job', epochs, 'empty: the server default'), field('Max dataset bytes', dsBytes, 'empty: the server default')),
    h('button', { type: 'submit', class: 'primary', text: 'Create tenant' }), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    const body = { name: name.value.trim(), max_concurrent_jobs: optionalInt(jobs), max_epochs: optionalInt(epochs), max_dataset_bytes: optionalInt(dsBytes) };
    try { const t = await post('/v1/tenants', body); say(`Tenant ${t.name} created.`); go(`#/admin/tenants/${t.id}`); } catch (err) { out.append(errorBox(err)); }
  });
  clear(view, h('h1', { text: 'Tenants' }), table(['Tenant', 'Id', 'Max jobs', 'Max epochs', 'Max dataset bytes'], tenants.map((t) => [
    link(`#/admin/tenants/${t.id}`, t.name), short(t.id), t.max_concurrent_jobs ?? 'default', t.max_epochs ?? 'default', t.max_dataset_bytes ?? 'default']), 'Tenants'), form);
}

export async function tenantPage(view, { params: [id], signal }) {
  const tenants = await get('/v1/tenants', { signal });
  const tenant = tenants.find((t) => t.id === id);
  const keys = await get(`/v1/tenants/${encodeURIComponent(id)}/keys`, { signal });
  const role = select(tenant && tenant.name === 'system' ? ['admin', 'member', 'predict'] : ['member', 'predict'], 'member');
  const expires = h('input', { type: 'datetime-local' });
  const rate = h('input', { type: 'number', min: 1, step: 1 });
  const shown = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-key' }, h('h2', { id: 'new-key', text: 'Create a key' }),
    h('div', { class: 'grid' }, field('Role', role, 'predict: prediction only; member: also data, training, deployment'),
      field('Expires (your local time)', expires, 'empty: never'), field('Rate limit per minute', rate, 'empty: the server default')),
    h('button', { type: 'submit', class: 'primary', text: 'Create key' }), shown);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(shown);
    const body = { role: role.value, rate_limit_per_minute: optionalInt(rate),
      expires_at: expires.value ? new Date(expires.value).toISOString() : undefined };
    try {
      const k = await post(`/v1/tenants/${encodeURIComponent(id)}/keys`, body);
      const keyText = h('input', { readonly: true, value: k.key, class: 'secret', id: 'new-key-value' });
      const copy = h('button', { type: 'button', text: 'Copy' });
      copy.addEventListener('click', async () => { keyText.select(); try { await navigator.clipboard.writeText(k.key); copy.textContent = 'Copied'; } catch { copy.textContent = 'Select and copy it by hand'; } });
      clear(shown, h('div', { class: 'once', role: 'alert' },
        h('p', {}, h('strong', { text: 'Store this key now: it is shown only this once.' }), ` Role ${k.role}, id ${short(k.id)}.`),
        field('New key', keyText), copy, h('button', { type: 'button', text: 'Done, refresh the list', onclick: () => render() })));
    } catch (err) { shown.append(errorBox(err)); }
  });
  clear(view, h('h1', { text: `Tenant ${tenant ? tenant.name : id}` }),
    table(['Key', 'Role', 'Created', 'Expires', 'Rate limit', 'State', ''], keys.map((k) => [
      `${k.prefix}…`, k.role, when(k.created_at), when(k.expires_at), k.rate_limit_per_minute ?? 'default',
      k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active',
      k.revoked_at ? '' : confirmButton('Revoke', 'Really revoke?', async () => {
        try { await del(`/v1/keys/${k.id}`); say(`Key ${k.prefix}… revoked.`); render(); } catch (err) { view.prepend(errorBox(err)); }
      })]), 'Keys (only their first characters are kept)'), form);
}
