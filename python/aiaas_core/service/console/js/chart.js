// (No style attributes anywhere: the CSP forbids inline styles; colours are SVG attributes or CSS classes.)
// A line chart in SVG, written for the training curves: several named series of (epoch, value) points,
// redrawn whole on every update (a few hundred points at most, so simplicity beats cleverness).
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const PAD = { left: 56, right: 12, top: 12, bottom: 34 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

function ticks(lo, hi, n) {
  if (hi === lo) return [lo];
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
}

// series: [{name, points: [[x, y], ...], dashed?}]; the caller keeps the data, the chart only draws it.
export function lineChart(title, { xLabel = 'epoch', empty = 'waiting for the first epoch…' } = {}) {
  const svg = s('svg', { class: 'chart', role: 'img', 'aria-label': title });
  const legend = h('ul', { class: 'legend' });
  const root = h('figure', { class: 'chart-box' }, h('figcaption', { text: title }), svg, legend);
  let last = [];
  let drawnWidth = 0;

  root.update = (series) => {
    last = series;
    // Drawn in the figure's own pixel width, so labels keep their size from a phone to a wide screen.
    const W = Math.round(Math.max(280, Math.min(900, (root.clientWidth || 640) - 18)));
    const H = Math.round(Math.max(200, Math.min(300, W * 0.45)));
    drawnWidth = root.clientWidth;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const points = series.flatMap((se) => se.points.filter((p) => Number.isFinite(p[1])));
    svg.replaceChildren();
    legend.replaceChildren();
    svg.dataset.points = String(points.length);
    root.dataset.points = String(points.length);
    if (!points.length) {
      svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, empty));
      return;
    }
    let [x0, x1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...points.map((p) => p[1])), Math.max(...points.map((p) => p[1]))];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
    const X = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
    const Y = (y) => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);

    const axes = s('g', { class: 'axes' });
    for (const t of ticks(y0, y1, 4)) {
      axes.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: Y(t), y2: Y(t), class: 'gridline' }));
      axes.append(s('text', { x: PAD.left - 6, y: Y(t) + 4, 'text-anchor': 'end' }, fmt(t)));
    }
    const xs = [...new Set(points.map((p) => p[0]))];
    const step = Math.max(1, Math.ceil(xs.length / 8));
    xs.sort((a, b) => a - b).filter((_, i) => i % step === 0).forEach((t) => {
      axes.append(s('text', { x: X(t), y: H - PAD.bottom + 16, 'text-anchor': 'middle' }, fmt(t)));
    });
    axes.append(s('text', { x: (W + PAD.left) / 2, y: H - 4, 'text-anchor': 'middle' }, xLabel));
    svg.append(axes);

    series.forEach((se, i) => {
      const color = COLORS[i % COLORS.length];
      const pts = se.points.filter((p) => Number.isFinite(p[1]));
      const g = s('g', { class: 'series', 'data-name': se.name });
      g.append(s('polyline', {
        points: pts.map((p) => `${X(p[0])},${Y(p[1])}`).join(' '), fill: 'none', stroke: color,
        'stroke-width': 2, 'stroke-dasharray': se.dashed ? '6 4' : 'none',
      }));
      for (const p of pts) {
        g.append(s('circle', { cx: X(p[0]), cy: Y(p[1]), r: 3, fill: color, class: 'point' },
          s('title', {}, `${se.name} at ${xLabel} ${p[0]}: ${fmt(p[1])}`)));
      }
      svg.append(g);
      const last = pts.length ? fmt(pts[pts.length - 1][1]) : '—';
      legend.append(h('li', {},
        h('span', { class: `swatch c${i % COLORS.length}${se.dashed ? ' dashed' : ''}` }),
        `${se.name} (last ${last})`));
    });
  };
  // Redraw when the figure's width changes (a rotated phone, a resized window).
  new ResizeObserver(() => { if (root.clientWidth && root.clientWidth !== drawnWidth) root.update(last); }).observe(root);
  root.update([]);
  return root;
}
