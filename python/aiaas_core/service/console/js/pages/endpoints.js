// Endpoints: the list (every role), and deploying a version under a new name (members).
import { get, post } from '../api.js';
import { allows } from '../session.js';
import { clear, errorBox, field, h, link, select, short, table, when } from '../dom.js';
import { go } from '../router.js';

export async function endpointsPage(view, { signal, me }) {
  const endpoints = await get('/v1/endpoints', { signal });
  const parts = [h('h1', { text: 'Endpoints' }), table(['Endpoint', 'Model version', 'Canary', 'Updated'], endpoints.map((e) => [
    link(`#/endpoints/${encodeURIComponent(e.name)}`, e.name), short(e.model_version_id),
    e.canary ? `${short(e.canary.model_version_id)} at ${e.canary.percent}%` : '—', when(e.updated_at)]), 'Deployed endpoints')];
  if (allows(me, 'member')) {
    const versions = await get('/v1/model-versions', { signal });
    const name = h('input', { required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,99}', autocomplete: 'off' });
    const version = select(versions.map((v) => [v.id, `${short(v.id)} · ${typeof v.lineage.architecture === 'string' ? v.lineage.architecture : 'custom'} · ${when(v.created_at)}`]));
    const out = h('div', {});
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-ep' }, h('h2', { id: 'new-ep', text: 'Deploy a model version' }),
      h('div', { class: 'grid' }, field('Endpoint name', name, 'letters, digits, . _ -'), field('Model version', version)),
      h('button', { type: 'submit', class: 'primary', text: 'Deploy', disabled: !versions.length }), out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(out);
      try {
        await post('/v1/endpoints', { name: name.value, model_version_id: version.value });
        go(`#/endpoints/${encodeURIComponent(name.value)}`);
      } catch (err) { out.append(errorBox(err)); }
    });
    parts.push(versions.length ? form : h('p', { class: 'muted', text: 'Train a model to have a version to deploy.' }));
  }
  clear(view, ...parts);
}
