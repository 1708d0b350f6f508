// Train: choose a dataset and an architecture from the catalog; the hyperparameter form comes from the
// architecture's JSON schema.
import { get, post } from '../api.js';
import { clear, errorBox, field, h, select } from '../dom.js';
import { go } from '../router.js';
import { schemaForm } from '../schema_form.js';

export async function trainPage(view, { query, signal }) {
  const [datasets, catalog] = await Promise.all([get('/v1/datasets', { signal }), get('/v1/architectures', { signal })]);
  if (!datasets.length) {
    clear(view, h('h1', { text: 'Train a model' }), h('p', {}, 'Upload a dataset first: ', h('a', { href: '#/datasets', text: 'Datasets' }), '.'));
    return;
  }
  const dataset = select(datasets.map((d) => [d.id, `${d.name} (${d.rows} rows, ${d.summary.task})`]), query.get('dataset') || datasets[0].id);
  const formBox = h('div', {});
  const message = h('div', {});
  let current = null;
  let chosen = query.get('architecture') || 'mlp';

  const cards = h('div', { class: 'arch-list', role: 'radiogroup', 'aria-label': 'Architecture' }, catalog.map((a) => {
    const radio = h('input', { type: 'radio', name: 'architecture', value: a.name, id: `arch-${a.name}`, checked: a.name === chosen });
    radio.addEventListener('change', () => { chosen = a.name; showForm(); });
    return h('label', { class: 'arch', for: `arch-${a.name}` }, radio, h('strong', { text: a.name }), h('span', { class: 'muted', text: a.description }));
  }));

  function showForm() {
    const arch = catalog.find((a) => a.name === chosen) || catalog[0];
    current = schemaForm(arch.hyperparameters_schema);
    clear(formBox, h('h2', { text: `Hyperparameters of ${arch.name}` }), current.element);
  }

  const form = h('form', { class: 'card', 'aria-labelledby': 'train-title', novalidate: true },
    h('h1', { id: 'train-title', text: 'Train a model' }),
    field('Dataset', dataset),
    h('fieldset', {}, h('legend', { text: 'Architecture' }), cards),
    formBox,
    h('button', { type: 'submit', class: 'primary', text: 'Start training' }), message);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(message);
    const { values, ok } = current.read();
    if (!ok) { message.append(errorBox('Some fields need fixing: see the messages beside them.')); return; }
    try {
      const job = await post('/v1/jobs', { dataset_id: dataset.value, architecture: chosen, hyperparameters: values });
      go(`#/jobs/${job.id}`);
    } catch (err) {
      current.showServerError(err.message);
      message.append(errorBox(err));
    }
  });
  showForm();
  clear(view, form);
}
