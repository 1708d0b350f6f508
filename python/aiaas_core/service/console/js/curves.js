// The per-epoch history of a job, read from its server-sent events: every metric's curve, plus the log.
import { streamEvents } from './api.js';

// Collects events of one job; `onChange` is called after each one. Resolves when the job's stream ends.
export function followJob(jobId, signal, onChange) {
  const history = { epochs: [], log: [], state: null };
  const done = streamEvents(`/v1/jobs/${encodeURIComponent(jobId)}/events`, (ev) => {
    if (ev.event === 'epoch') {
      history.epochs.push(ev.data);
      history.log.push(`epoch ${ev.data.epoch}/${ev.data.epochs} ${Object.entries(ev.data.metrics).map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`).join(' ')}`);
    } else if (ev.event === 'state') {
      history.state = ev.data.state;
      history.log.push(`state: ${ev.data.state}${ev.data.error ? ` (${ev.data.error})` : ''}`);
    } else if (ev.event === 'log') {
      history.log.push(ev.data.message);
    } else if (ev.event === 'end') {
      return;
    }
    onChange(history, ev);
  }, signal).then(() => history);
  return { history, done };
}

// Metric names grouped for charts: "loss" with "val_loss", "accuracy" with "val_accuracy", ...
export function metricGroups(epochs) {
  const names = new Set(epochs.flatMap((e) => Object.keys(e.metrics)));
  const bases = [...new Set([...names].map((n) => n.replace(/^val_/, '')))];
  bases.sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : a.localeCompare(b)));
  return bases.map((base) => ({ base, names: [base, `val_${base}`].filter((n) => names.has(n)) }));
}

export function seriesOf(epochs, name, label = name) {
  return { name: label, dashed: name.startsWith('val_'), points: epochs.filter((e) => name in e.metrics).map((e) => [e.epoch, Number(e.metrics[name])]) };
}
