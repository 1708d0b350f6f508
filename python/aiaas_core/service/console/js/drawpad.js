// A drawing pad for 28x28 grayscale inputs (MNIST-like): draw with a mouse, pen or finger, or load an
// image file; read() gives 28x28 pixel values 0..255 (white ink on black, as MNIST stores digits).
import { h } from './dom.js';

const SIZE = 280;

export function drawPad(rows, cols) {
  const canvas = h('canvas', { width: SIZE, height: SIZE, class: 'pad', 'aria-label': 'drawing pad: draw the input with a pointer' });
  const ctx = canvas.getContext('2d');
  const reset = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, SIZE, SIZE); };
  reset();
  let drawing = false;
  let last = null;
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * (SIZE / r.width), (e.clientY - r.top) * (SIZE / r.height)]; };
  canvas.addEventListener('pointerdown', (e) => { drawing = true; last = at(e); canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener('pointerup', () => { drawing = false; });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 20;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  });
  const clearButton = h('button', { type: 'button', text: 'Clear the pad', onclick: reset });
  const file = h('input', { type: 'file', accept: 'image/*', id: 'pad-file' });
  file.addEventListener('change', () => {
    const f = file.files[0];
    if (!f) return;
    const img = new Image();
    const url = URL.createObjectURL(f);
    img.addEventListener('load', () => { reset(); ctx.drawImage(img, 0, 0, SIZE, SIZE); URL.revokeObjectURL(url); });
    img.src = url;
  });
  const element = h('div', { class: 'padbox' }, canvas,
    h('div', { class: 'row' }, clearButton, h('label', { for: 'pad-file', text: 'or load an image:' }), file));
  return {
    element,
    // Downscale the pad to rows x cols and read the brightness of each cell.
    read() {
      const small = h('canvas', { width: cols, height: rows });
      const sctx = small.getContext('2d');
      sctx.drawImage(canvas, 0, 0, cols, rows);
      const data = sctx.getImageData(0, 0, cols, rows).data;
      return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => {
        const i = (r * cols + c) * 4;
        return Math.round((data[i] + data[i + 1] + data[i + 2]) / 3);
      }));
    },
  };
}
