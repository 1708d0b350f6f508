// One job: live curves of loss and every metric from the event stream, its log, cancel; and the
// comparison of several jobs on one chart.
import { get, post } from '../api.js';
import { lineChart } from '../chart.js';
import { clear, errorBox, field, h, link, say, select, short, when } from '../dom.js';
import { followJob, metricGroups, seriesOf } from '../curves.js';

export async function jobPage(view, { params: [id], signal }) {
  let job = await get(`/v1/jobs/${encodeURIComponent(id)}`, { signal });
  const header = h('div', {});
  const charts = h('div', { class: 'charts' });
  const log = h('pre', { class: 'log', role: 'log', 'aria-live': 'off', 'aria-label': 'job log', tabindex: '0' });
  const chartByBase = new Map();
  const message = h('div', {});

  // The header's parts are made once and updated in place: a redraw per epoch would take the keyboard
  // focus off the Cancel button under the user's finger.
  const stateEl = h('span', { id: 'job-state' });
  const epochText = h('span', {});
  const progress = h('progress', { 'aria-label': 'training progress' });
  const outcome = h('div', {});
  const cancel = h('button', { type: 'button', class: 'danger', text: 'Cancel job' });
  cancel.addEventListener('click', async () => {
    try { job = await post(`/v1/jobs/${job.id}/cancel`); say('Cancel requested: the job stops after its current epoch.'); drawHeader(); } catch (err) { message.append(errorBox(err)); }
  });
  header.append(h('p', {}, stateEl, epochText, link(`#/datasets/${job.dataset_id}`, short(job.dataset_id))), progress, outcome, cancel);

  function drawHeader() {
    stateEl.textContent = job.state;
    stateEl.className = `state ${job.state}`;
    epochText.textContent = ` epoch ${job.epoch} of ${job.epochs} · created ${when(job.created_at)} · dataset `;
    progress.max = job.epochs || 1;
    progress.value = job.epoch;
    cancel.hidden = !(job.state === 'queued' || job.state === 'running');
    if (job.error || job.model_version_id) {
      clear(outcome, job.error ? errorBox(`The job failed: ${job.error}`) : null,
        job.model_version_id ? h('p', {}, 'Result: ', link(`#/models/${job.model_version_id}`, `model version ${short(job.model_version_id)}`)) : null);
    }
  }

  function draw(history) {
    for (const group of metricGroups(history.epochs)) {
      if (!chartByBase.has(group.base)) {
        const chart = lineChart(group.base === 'loss' ? 'Loss per epoch' : `${group.base} per epoch`);
        chart.dataset.metric = group.base;
        chartByBase.set(group.base, chart);
        charts.append(chart);
      }
      chartByBase.get(group.base).update(group.names.map((n) => seriesOf(history.epochs, n)));
    }
    log.textContent = history.log.join('\n');
    log.scrollTop = log.scrollHeight;
  }

  clear(view, h('h1', { text: `Job ${short(job.id)}` }), header, message, h('h2', { text: 'Training curves' }), charts,
    h('h2', { text: 'Log' }), log);
  drawHeader();
  if (!job.epoch) charts.append(h('p', { class: 'muted', id: 'no-epochs', text: 'No epoch has finished yet; the curves appear as epochs end.' }));
  const { done } = followJob(job.id, signal, async (history, ev) => {
    document.getElementById('no-epochs')?.remove();
    draw(history);
    if (ev.event === 'state' || ev.event === 'epoch') {
      job = { ...job, state: history.state || job.state, epoch: ev.data.epoch ?? job.epoch };
      drawHeader();
    }
  });
  done.then(async () => { job = await get(`/v1/jobs/${encodeURIComponent(id)}`, { signal }); drawHeader(); })
    .catch((err) => { if (!signal.aborted) message.append(errorBox(err)); });
}

export async function comparePage(view, { params: [ids], signal }) {
  const jobIds = ids.split(',').filter(Boolean);
  const jobs = await Promise.all(jobIds.map((id) => get(`/v1/jobs/${encodeURIComponent(id)}`, { signal })));
  const histories = jobs.map(() => ({ epochs: [] }));
  const metric = select(['loss'], 'loss');
  const chart = lineChart('Jobs compared');
  let chosen = 'loss'; // what the user picked; kept while the list of metrics grows
  function draw() {
    const names = [...new Set(histories.flatMap((hi) => hi.epochs.flatMap((e) => Object.keys(e.metrics))))].sort();
    if (names.length && names.join() !== [...metric.options].map((o) => o.value).join()) {
      clear(metric, names.map((n) => h('option', { value: n, selected: n === chosen, text: n })));
    }
    chart.update(histories.map((hi, i) => seriesOf(hi.epochs, chosen, `job ${short(jobs[i].id)} ${chosen}`)));
  }
  metric.addEventListener('change', () => { chosen = metric.value; draw(); });
  clear(view, h('h1', { text: `Compare ${jobs.length} jobs` }),
    h('p', {}, jobs.map((j, i) => [i ? ' · ' : '', link(`#/jobs/${j.id}`, `job ${short(j.id)} (${j.state})`)])),
    field('Metric', metric), chart);
  jobs.forEach((j, i) => followJob(j.id, signal, (history) => { histories[i] = history; draw(); }).done.catch(() => {}));
}
