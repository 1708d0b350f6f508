// An image's integrated-gradients attributions as a heat map over the image itself: the pixels in grey,
// positive evidence in red, negative in blue, stronger where the attribution is larger.
import { h } from './dom.js';

export function heatMap(title, image, attributions, scale = 10) {
  const rows = image.length;
  const cols = image[0].length;
  const canvas = h('canvas', { width: cols * scale, height: rows * scale, class: 'heatmap', role: 'img', 'aria-label': title });
  const ctx = canvas.getContext('2d');
  const flat = attributions.flat(Infinity);
  const max = Math.max(1e-12, ...flat.map(Math.abs));
  const pixMax = Math.max(1, ...image.flat(Infinity));
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const grey = 255 - Math.round((Number([image[r][c]].flat(Infinity)[0]) / pixMax) * 200);
      const a = Number([attributions[r][c]].flat(Infinity)[0]) / max;
      const strength = Math.min(1, Math.abs(a) * 1.5);
      const [tr, tg, tb] = a >= 0 ? [214, 39, 40] : [31, 119, 180];
      const mix = (g, t) => Math.round(g * (1 - strength) + t * strength);
      ctx.fillStyle = `rgb(${mix(grey, tr)},${mix(grey, tg)},${mix(grey, tb)})`;
      ctx.fillRect(c * scale, r * scale, scale, scale);
    }
  }
  return h('figure', { class: 'heat-box' }, h('figcaption', { text: title }), canvas,
    h('p', { class: 'hint', text: 'Red: pixels that pushed towards this class; blue: pixels that pushed away.' }));
}
