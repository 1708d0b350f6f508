// Horizontal bar charts in SVG: class probabilities (0..1) and signed attributions (around a centre line).
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// items: [{label, value}]; signed: bars grow left (negative) or right (positive) of the middle.
export function barChart(title, items, { signed = false, highlight = null } = {}) {
  const rowH = 24;
  // Narrow enough that a phone shows it near 1:1 (the CSS caps how wide it grows on a desktop).
  const W = 400;
  const labelW = 110;
  const valueW = 58;
  const H = items.length * rowH + 8;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'bars', role: 'img', 'aria-label': title });
  const span = W - labelW - valueW;
  const max = Math.max(1e-12, ...items.map((it) => Math.abs(it.value)));
  items.forEach((it, i) => {
    const y = 4 + i * rowH;
    const frac = Math.abs(it.value) / (signed ? max : Math.max(1, max));
    const len = signed ? (frac * span) / 2 : frac * span;
    const x = signed ? (it.value >= 0 ? labelW + span / 2 : labelW + span / 2 - len) : labelW;
    const cls = signed ? (it.value >= 0 ? 'bar pos' : 'bar neg') : (String(it.label) === String(highlight) ? 'bar top' : 'bar');
    svg.append(s('text', { x: labelW - 6, y: y + 15, 'text-anchor': 'end', class: 'bar-label' }, String(it.label).slice(0, 16)));
    const rect = s('rect', { x, y: y + 2, width: Math.max(1, len), height: rowH - 6, class: cls });
    rect.append(s('title', {}, `${it.label}: ${it.value}`));
    svg.append(rect);
    const v = signed ? it.value.toPrecision(3) : `${(it.value * 100).toFixed(1)}%`;
    svg.append(s('text', { x: W - valueW + 6, y: y + 15, class: 'bar-value' }, v));
  });
  if (signed) svg.append(s('line', { x1: labelW + span / 2, x2: labelW + span / 2, y1: 0, y2: H, class: 'axis' }));
  return h('figure', { class: 'bars-box' }, h('figcaption', { text: title }), svg);
}
