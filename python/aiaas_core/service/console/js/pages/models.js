// Model versions: their metrics and lineage, downloads, evaluation on another dataset, deployment.
import { download, get, patch, post } from '../api.js';
import { clear, errorBox, field, h, link, num, say, select, short, table, when } from '../dom.js';
import { go } from '../router.js';
import { headline } from './jobs.js';

export async function modelsPage(view, { signal }) {
  const versions = await get('/v1/model-versions', { signal });
  clear(view, h('h1', { text: 'Model versions' }), table(['Version', 'Task', 'Architecture', 'Metrics', 'Dataset', 'Job', 'Created'],
    versions.map((v) => [link(`#/models/${v.id}`, short(v.id)), v.task, typeof v.lineage.architecture === 'string' ? v.lineage.architecture : 'custom',
      h('span', { class: 'wrap', text: headline(v.metrics) }), link(`#/datasets/${v.lineage.dataset_id}`, short(v.lineage.dataset_id)),
      link(`#/jobs/${v.lineage.job_id}`, short(v.lineage.job_id)), when(v.created_at)]), 'Model versions'));
}

function evaluateForm(version, datasets) {
  const dataset = select(datasets.map((d) => [d.id, `${d.name} (${d.rows} rows)`]));
  const out = h('div', {});
  const form = h('form', { class: 'card', 'aria-labelledby': 'eval-title' }, h('h2', { id: 'eval-title', text: 'Evaluate on a dataset' }),
    field('Dataset', dataset), h('button', { type: 'submit', text: 'Evaluate' }), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out, h('p', { class: 'muted', text: 'Evaluating…' }));
    try {
      const r = await post(`/v1/model-versions/${version.id}/evaluate`, { dataset_id: dataset.value });
      clear(out, table(['Metric', 'Value'], Object.entries(r.metrics).map(([k, v]) => [k, num(v)]), `On ${r.rows} rows`));
    } catch (err) { clear(out, errorBox(err)); }
  });
  return form;
}

function deployForm(version, endpoints) {
  const name = h('input', { name: 'endpoint', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,99}', autocomplete: 'off', list: 'endpoint-names' });
  const names = h('datalist', { id: 'endpoint-names' }, endpoints.map((e) => h('option', { value: e.name })));
  const out = h('div', {});
  const form = h('form', { class: 'card', 'aria-labelledby': 'deploy-title' }, h('h2', { id: 'deploy-title', text: 'Deploy this version' }),
    field('Endpoint name', name, 'a new name creates an endpoint; an existing one is pointed at this version'), names,
    h('button', { type: 'submit', class: 'primary', text: 'Deploy' }), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    const existing = endpoints.some((ep) => ep.name === name.value);
    try {
      if (existing) await patch(`/v1/endpoints/${encodeURIComponent(name.value)}`, { model_version_id: version.id });
      else await post('/v1/endpoints', { name: name.value, model_version_id: version.id });
      say(`Endpoint ${name.value} now serves version ${short(version.id)}.`);
      go(`#/endpoints/${encodeURIComponent(name.value)}`);
    } catch (err) { out.append(errorBox(err)); }
  });
  return form;
}

export async function modelPage(view, { params: [id], signal }) {
  const v = await get(`/v1/model-versions/${encodeURIComponent(id)}`, { signal });
  const [datasets, endpoints] = await Promise.all([get('/v1/datasets', { signal }), get('/v1/endpoints', { signal })]);
  const message = h('div', {});
  const dl = (format, ext) => {
    const b = h('button', { type: 'button', text: `Download ${format === 'onnx' ? 'ONNX' : 'safetensors (.zip)'}` });
    b.addEventListener('click', async () => {
      clear(message);
      b.disabled = true;
      try { await download(`/v1/model-versions/${v.id}/download?format=${format}`, `${v.id}.${ext}`); } catch (err) { message.append(errorBox(err)); } finally { b.disabled = false; }
    });
    return b;
  };
  const lin = v.lineage;
  clear(view, h('h1', { text: `Model version ${short(v.id)}` }),
    h('div', { class: 'two' },
      h('section', { class: 'card' }, h('h2', { text: 'Metrics' }),
        table(['Metric', 'Value'], Object.entries(v.metrics || {}).map(([k, val]) => [k, num(val)]), 'Final metrics')),
      h('section', { class: 'card' }, h('h2', { text: 'Lineage' }),
        h('dl', { class: 'facts' },
          h('dt', { text: 'Id' }), h('dd', { text: v.id }),
          h('dt', { text: 'Dataset' }), h('dd', {}, link(`#/datasets/${lin.dataset_id}`, lin.dataset_id || '—')),
          h('dt', { text: 'Job' }), h('dd', {}, link(`#/jobs/${lin.job_id}`, lin.job_id || '—')),
          h('dt', { text: 'Architecture' }), h('dd', { text: typeof lin.architecture === 'string' ? lin.architecture : 'custom model config' }),
          h('dt', { text: 'Task' }), h('dd', { text: `${v.task}${v.classes ? ` (classes ${v.classes.join(', ')})` : ''}` }),
          h('dt', { text: 'Input shape' }), h('dd', { text: JSON.stringify(v.input_shape) }),
          h('dt', { text: 'Created' }), h('dd', { text: when(v.created_at) })),
        table(['Hyperparameter', 'Value'], Object.entries(lin.hyperparameters || {}).map(([k, val]) => [k, JSON.stringify(val)]), 'Hyperparameters'))),
    h('section', { class: 'card' }, h('h2', { text: 'Download' }), h('div', { class: 'row' }, dl('safetensors', 'zip'), dl('onnx', 'onnx')), message),
    h('div', { class: 'two' }, deployForm(v, endpoints), evaluateForm(v, datasets)));
}
