// One endpoint: predict through a form (probabilities and the explanation as charts), its live traffic,
// and for members: promote / roll back, the canary slider, undeploy.
import { del, get, patch, post } from '../api.js';
import { barChart } from '../bars.js';
import { lineChart } from '../chart.js';
import { heatMap } from '../heatmap.js';
import { inputForm } from '../predict_form.js';
import { allows } from '../session.js';
import { clear, confirmButton, errorBox, field, h, num, say, select, short, when } from '../dom.js';
import { every, go, render } from '../router.js';

function predictSection(name, signature) {
  const form = inputForm(signature);
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const el = h('form', { class: 'card', 'aria-labelledby': 'predict-title' }, h('h2', { id: 'predict-title', text: 'Predict' }),
    form.element, h('button', { type: 'submit', class: 'primary', text: 'Predict' }), result);
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    const instance = form.read();
    if (instance === null) { clear(result, errorBox('Some inputs need fixing: see the messages beside them.')); return; }
    clear(result, h('p', { class: 'muted', text: 'Asking the model…' }));
    try {
      const answer = await post(`/v1/endpoints/${encodeURIComponent(name)}/predict`, { instances: [instance] });
      const p = answer.predictions[0];
      const parts = [];
      if (p && typeof p === 'object' && p.probabilities) {
        parts.push(h('p', { class: 'answer', id: 'predicted-label' }, 'Predicted class: ', h('strong', { text: String(p.label) })));
        parts.push(barChart('Class probabilities', Object.entries(p.probabilities).map(([label, value]) => ({ label, value })), { highlight: p.label }));
      } else {
        parts.push(h('p', { class: 'answer', id: 'predicted-label' }, 'Prediction: ', h('strong', { text: JSON.stringify(p) })));
      }
      parts.push(h('p', { class: 'muted', text: `answered by model version ${short(answer.model_version_id)}` }));
      clear(result, ...parts);
      const explanation = h('div', { class: 'explanation' }, h('p', { class: 'muted', text: 'Computing the explanation…' }));
      result.append(explanation);
      try {
        const ex = await post(`/v1/endpoints/${encodeURIComponent(name)}/explain`, { instance });
        const title = `Why${ex.target_label !== null && ex.target_label !== undefined ? ` class ${ex.target_label}` : ''}: integrated-gradients attributions`;
        if (form.kind === 'tabular') {
          const items = ex.attributions.map((value, i) => ({ label: form.names[i], value }))
            .sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, 15);
          clear(explanation, barChart(`${title} (the 15 largest)`, items, { signed: true }),
            h('p', { class: 'hint', text: 'Positive bars pushed the prediction towards this answer, negative ones away, measured from an all-zero input.' }));
        } else if (form.kind === 'image') {
          const attr = ex.attributions.map((r) => r.map((v) => [v].flat(Infinity)[0]));
          clear(explanation, heatMap(title, form.image(), attr));
        } else {
          clear(explanation, h('pre', { text: JSON.stringify(ex.attributions) }));
        }
      } catch (err) { clear(explanation, errorBox(`No explanation: ${err.message}`)); }
    } catch (err) { clear(result, errorBox(err)); }
  });
  return el;
}

function trafficSection(name, signal) {
  const facts = h('p', { class: 'traffic', id: 'traffic-facts', text: 'Reading the traffic…' });
  const chart = lineChart('Requests per second over the last minute', { xLabel: 'seconds (0 = now)', empty: 'no sample yet' });
  const latency = lineChart('95th-percentile latency (ms) over the last minute', { xLabel: 'seconds (0 = now)', empty: 'no request in the last minute' });
  const history = [];
  const started = Date.now();
  async function refresh() {
    const s = await get(`/v1/endpoints/${encodeURIComponent(name)}/stats`, { signal });
    const latencyText = s.requests_in_window ? `latency p50 ${num(s.latency_ms.p50, 3)} ms, p95 ${num(s.latency_ms.p95, 3)} ms` : 'no request in the last minute';
    facts.textContent = `${num(s.requests_per_second, 3)} requests/s · ${latencyText} · `
      + `${s.errors_in_window} errors in the last minute · ${s.requests_total} requests since the server started`;
    history.push([(Date.now() - started) / 1000, s.requests_per_second, s.latency_ms.p95]);
    while (history.length > 30) history.shift();
    const now = (Date.now() - started) / 1000;
    const ago = (t) => -Math.round(now - t);
    chart.update([{ name: 'requests/s', points: history.map(([t, r]) => [ago(t), r]) }]);
    latency.update([{ name: 'p95 latency (ms)', points: history.filter((x) => x[2] !== null).map(([t, , l]) => [ago(t), l]) }]);
  }
  refresh().catch((err) => { facts.textContent = err.message; });
  every(signal, 2000, () => refresh().catch(() => {}));
  return h('section', { class: 'card' }, h('h2', { text: 'Traffic (sampled every 2 s)' }), facts, chart, latency);
}

function manageSection(ep, versions, reload) {
  const out = h('div', {});
  const label = (v) => `${short(v.id)} · ${when(v.created_at)}${v.id === ep.model_version_id ? ' (serving)' : ''}`;
  const target = select(versions.map((v) => [v.id, label(v)]), ep.model_version_id);
  const point = h('button', { type: 'button', text: 'Serve this version' });
  point.addEventListener('click', async () => {
    clear(out);
    try { await patch(`/v1/endpoints/${encodeURIComponent(ep.name)}`, { model_version_id: target.value }); say(`Endpoint ${ep.name} now serves ${short(target.value)}.`); reload(); } catch (err) { out.append(errorBox(err)); }
  });
  // A canary is another version: the newest one not already serving, unless a canary is set.
  const other = versions.find((v) => v.id !== ep.model_version_id);
  const canaryVersion = select(versions.map((v) => [v.id, label(v)]), ep.canary?.model_version_id ?? other?.id);
  const weight = h('input', { type: 'range', min: 0, max: 100, step: 1, value: String(ep.canary?.percent ?? 10) });
  const weightOut = h('output', { 'aria-live': 'polite', text: `${weight.value}%` });
  weight.addEventListener('input', () => { weightOut.textContent = `${weight.value}%`; });
  const applyCanary = h('button', { type: 'button', text: 'Apply canary' });
  applyCanary.addEventListener('click', async () => {
    clear(out);
    try {
      await patch(`/v1/endpoints/${encodeURIComponent(ep.name)}`, { canary: { model_version_id: canaryVersion.value, percent: Number(weight.value) } });
      say(`${weight.value}% of ${ep.name}'s requests now go to ${short(canaryVersion.value)}.`); reload();
    } catch (err) { out.append(errorBox(err)); }
  });
  const removeCanary = h('button', { type: 'button', text: 'Remove canary', disabled: !ep.canary });
  removeCanary.addEventListener('click', async () => {
    clear(out);
    try { await patch(`/v1/endpoints/${encodeURIComponent(ep.name)}`, { canary: null }); say('Canary removed.'); reload(); } catch (err) { out.append(errorBox(err)); }
  });
  const undeploy = confirmButton('Undeploy', `Really undeploy ${ep.name}?`, async () => {
    try { await del(`/v1/endpoints/${encodeURIComponent(ep.name)}`); say(`Endpoint ${ep.name} undeployed.`); go('#/endpoints'); } catch (err) { out.append(errorBox(err)); }
  });
  return h('section', { class: 'card' }, h('h2', { text: 'Manage' }),
    h('div', { class: 'row' }, field('Promote or roll back to', target), point),
    h('div', { class: 'row' }, field('Canary version', canaryVersion), field('Canary weight', weight), weightOut, applyCanary, removeCanary),
    h('div', { class: 'row' }, undeploy), out);
}

export async function endpointPage(view, ctx) {
  const { params: [name], signal, me } = ctx;
  const path = `/v1/endpoints/${encodeURIComponent(name)}`;
  const [ep, signature] = await Promise.all([get(path, { signal }), get(`${path}/signature`, { signal })]);
  const versions = allows(me, 'member') ? await get('/v1/model-versions', { signal }) : [];
  const info = h('p', {}, `Serving model version ${short(ep.model_version_id)}`,
    ep.canary ? `, with ${ep.canary.percent}% of requests going to ${short(ep.canary.model_version_id)} (canary)` : '',
    ` · input shape ${JSON.stringify(signature.input_shape)} · ${signature.task}`);
  clear(view, h('h1', { text: `Endpoint ${ep.name}` }), info,
    h('div', { class: 'two' }, predictSection(ep.name, signature), trafficSection(ep.name, signal)),
    allows(me, 'member') ? manageSection(ep, versions, render) : null);
}
