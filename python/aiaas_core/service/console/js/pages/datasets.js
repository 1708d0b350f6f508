// Datasets: upload (with the API's options and a progress bar), the list, one dataset's facts and preview.
import { del, get, upload } from '../api.js';
import { bytes, clear, confirmButton, errorBox, field, h, link, num, say, select, table, when } from '../dom.js';
import { go } from '../router.js';

function uploadForm(onDone) {
  const file = h('input', { type: 'file', name: 'file', required: true, accept: '.csv,.npz,.gz,.idx,.ubyte,.idx3-ubyte' });
  const labels = h('input', { type: 'file', name: 'labels', accept: '.gz,.idx,.ubyte,.idx1-ubyte' });
  const name = h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,99}', autocomplete: 'off' });
  const labelColumn = h('input', { name: 'label_column', autocomplete: 'off' });
  const task = select([['auto', 'auto (from the labels)'], 'classification', 'regression'], 'auto');
  const scaling = select([['', 'default (standard; x/255 for IDX images)'], 'standard', 'minmax', 'global_minmax', 'none'], '');
  const missing = select([['', 'default (drop rows)'], 'drop', 'mean', 'median', 'zero'], '');
  const oneHot = h('input', { type: 'checkbox', name: 'one_hot' });
  const progress = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'upload progress' });
  const progressText = h('span', { class: 'muted' });
  const message = h('div', {});
  const button = h('button', { type: 'submit', class: 'primary', text: 'Upload' });
  file.addEventListener('change', () => {
    if (!name.value && file.files[0]) name.value = file.files[0].name.replace(/\.(csv|npz|gz|idx.*|ubyte)$/i, '').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100);
  });
  const form = h('form', { class: 'card', 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title', text: 'Upload a dataset' }),
    h('div', { class: 'grid' },
      field('File (CSV, NPZ with arrays x and y, or IDX images)', file),
      field('Labels file (IDX images only)', labels),
      field('Name', name, 'letters, digits, . _ -'),
      field('Label column (CSV)', labelColumn, 'the column to predict; leave empty for none'),
      field('Task', task), field('Scaling', scaling), field('Missing values', missing),
      field('One-hot encode the labels', oneHot)),
    h('div', { class: 'row' }, button, progress, progressText), message);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(message);
    const data = new FormData();
    data.append('name', name.value.trim());
    if (labelColumn.value.trim()) data.append('label_column', labelColumn.value.trim());
    data.append('task', task.value);
    if (scaling.value) data.append('scaling', scaling.value);
    if (missing.value) data.append('missing', missing.value);
    if (oneHot.checked) data.append('one_hot', 'true');
    data.append('file', file.files[0]);
    if (labels.files[0]) data.append('labels', labels.files[0]);
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    try {
      const ds = await upload('/v1/datasets', data, (frac) => {
        progress.value = Math.round(frac * 100);
        progressText.textContent = frac < 1 ? `${Math.round(frac * 100)}% sent` : 'checking the data on the server…';
      });
      progressText.textContent = '';
      say(`Dataset ${ds.name} uploaded: ${ds.rows} rows.`);
      onDone(ds);
    } catch (err) {
      progressText.textContent = '';
      message.append(errorBox(err));
    } finally {
      button.disabled = false;
      progress.hidden = true;
    }
  });
  return form;
}

export async function datasetsPage(view, { signal }) {
  const list = h('div', {});
  async function refresh() {
    const rows = await get('/v1/datasets', { signal });
    clear(list, table(['Name', 'Format', 'Rows', 'Sample shape', 'Task', 'Size', 'Uploaded', ''], rows.map((d) => [
      link(`#/datasets/${d.id}`, d.name), d.format, String(d.rows), JSON.stringify(d.x_shape), d.summary.task,
      bytes(d.size_bytes), when(d.created_at),
      confirmButton('Delete', `Really delete ${d.name}?`, async () => {
        try { await del(`/v1/datasets/${d.id}`); say(`Dataset ${d.name} deleted.`); await refresh(); } catch (err) { list.prepend(errorBox(err)); }
      }),
    ]), 'Your datasets'));
  }
  clear(view, h('h1', { text: 'Datasets' }), uploadForm((ds) => go(`#/datasets/${ds.id}`)), list);
  await refresh();
}

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
}

function imageThumb(img) {
  const rows = img.length;
  const cols = img[0].length;
  const canvas = h('canvas', { width: cols, height: rows, class: 'thumb', role: 'img', 'aria-label': 'a sample image' });
  const ctx = canvas.getContext('2d');
  const max = Math.max(1, ...img.flat().map((v) => v ?? 0));
  const data = ctx.createImageData(cols, rows);
  img.flat().forEach((v, i) => {
    const g = 255 - Math.round(((v ?? 0) / max) * 255);
    data.data.set([g, g, g, 255], i * 4);
  });
  ctx.putImageData(data, 0, 0);
  return canvas;
}

export async function datasetPage(view, { params: [id], signal }) {
  const d = await get(`/v1/datasets/${encodeURIComponent(id)}`, { signal });
  const p = await get(`/v1/datasets/${encodeURIComponent(id)}/preview?rows=10`, { signal });
  const s = d.summary;
  const parts = [
    h('h1', { text: `Dataset ${d.name}` }),
    h('p', {}, link(`#/train?dataset=${d.id}`, 'Train a model on this dataset →')),
    facts([['Id', d.id], ['Format', d.format], ['Rows', String(d.rows)], ['Sample shape', JSON.stringify(d.x_shape)],
      ['Task', s.task], ['Preprocessing', Object.entries(d.preprocessing).map(([k, v]) => `${k}: ${v}`).join(', ')],
      ['Missing values', `${s.missing_values.total} (in ${s.missing_values.rows_with_missing} rows)`],
      ['Labels', s.label_distribution ? Object.entries(s.label_distribution).map(([k, v]) => `${k}: ${v}`).join(', ')
        : s.label_stats ? `min ${num(s.label_stats.min)}, max ${num(s.label_stats.max)}, mean ${num(s.label_stats.mean)}` : 'none'],
      ['Uploaded', when(d.created_at)]]),
  ];
  if (p.column_stats) {
    parts.push(h('h2', { text: 'Columns' }), table(['Column', 'Type', 'Missing', 'Min', 'Max', 'Mean', 'Distinct'],
      p.column_stats.map((c) => [c.name, c.type, String(c.missing), num(c.min), num(c.max), num(c.mean), String(c.distinct)]), 'Per-column summary'));
    const header = [...p.columns, ...(p.labels ? ['label'] : [])];
    parts.push(h('h2', { text: `First ${p.rows.length} rows` }), table(header,
      p.rows.map((r, i) => [...r.map((v) => num(v)), ...(p.labels ? [String(p.labels[i])] : [])]), 'First rows'));
  } else if (p.images) {
    parts.push(h('h2', { text: 'First images' }), h('div', { class: 'thumbs' }, p.images.map((img, i) =>
      h('figure', {}, imageThumb(img), h('figcaption', { text: p.labels ? `label ${p.labels[i]}` : `#${i}` })))));
  } else {
    parts.push(h('p', { class: 'muted', text: 'No preview for samples of this shape.' }));
  }
  clear(view, ...parts);
}

