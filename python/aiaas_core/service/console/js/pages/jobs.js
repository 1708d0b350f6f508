// Jobs: state and progress of each, refreshed while any is active; tick two or more to compare them.
import { get } from '../api.js';
import { clear, h, link, num, short, table, when } from '../dom.js';
import { every, go } from '../router.js';

const ACTIVE = new Set(['queued', 'running']);

export function headline(metrics) {
  const keys = Object.keys(metrics || {}).filter((k) => !k.startsWith('val_')).slice(0, 2);
  return keys.map((k) => `${k} ${num(metrics[k], 3)}${metrics[`val_${k}`] !== undefined ? ` (val ${num(metrics[`val_${k}`], 3)})` : ''}`).join(', ') || '—';
}

export async function jobsPage(view, { signal }) {
  const chosen = new Set();
  const list = h('div', {});
  const compare = h('button', { type: 'button', text: 'Compare selected jobs', disabled: true });
  compare.addEventListener('click', () => go(`#/compare/${[...chosen].join(',')}`));
  let jobs = [];
  async function refresh() {
    jobs = await get('/v1/jobs', { signal });
    clear(list, table(['', 'Job', 'State', 'Progress', 'Metrics', 'Model version', 'Created'], jobs.map((j) => {
      const box = h('input', { type: 'checkbox', checked: chosen.has(j.id), 'aria-label': `compare job ${short(j.id)}` });
      box.addEventListener('change', () => { if (box.checked) chosen.add(j.id); else chosen.delete(j.id); compare.disabled = chosen.size < 2; });
      return [box, link(`#/jobs/${j.id}`, short(j.id)), h('span', { class: `state ${j.state}`, text: j.state }),
        h('span', {}, h('progress', { max: j.epochs || 1, value: j.epoch, 'aria-label': `epoch ${j.epoch} of ${j.epochs}` }), ` ${j.epoch}/${j.epochs}`),
        h('span', { class: 'wrap', text: headline(j.metrics) }), j.model_version_id ? link(`#/models/${j.model_version_id}`, short(j.model_version_id)) : '—', when(j.created_at)];
    }), 'Training jobs'));
  }
  clear(view, h('h1', { text: 'Training jobs' }), h('p', {}, link('#/train', 'Start a new training job'), ' · ', compare), list);
  await refresh();
  every(signal, 2000, () => { if (jobs.some((j) => ACTIVE.has(j.state))) refresh().catch(() => {}); });
}
