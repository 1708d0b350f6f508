// The prediction form generated from an endpoint's input signature: one number field per feature for
// tabular models, a drawing pad / image upload for 28x28 images, a JSON box for any other shape.
import { field, h } from './dom.js';
import { drawPad } from './drawpad.js';

export function inputForm(signature) {
  const shape = signature.input_shape || [];
  if (shape.length === 1) {
    const names = signature.feature_names || Array.from({ length: shape[0] }, (_, i) => `feature ${i + 1}`);
    const inputs = names.map((n) => h('input', { type: 'number', step: 'any', name: n, required: true }));
    const paste = h('textarea', { rows: 2, placeholder: 'e.g. 17.99, 10.38, 122.8, …' });
    const fill = h('button', { type: 'button', text: 'Fill the fields' });
    const pasteField = field(`Paste ${shape[0]} values (optional)`, paste, 'comma- or space-separated, in the order of the fields');
    fill.addEventListener('click', () => {
      const values = paste.value.split(/[,\s;]+/).filter(Boolean);
      if (values.length !== inputs.length) { pasteField.setError(`expected ${inputs.length} values, got ${values.length}`); return; }
      pasteField.setError('');
      values.forEach((v, i) => { inputs[i].value = v; });
    });
    const fields = inputs.map((inp, i) => field(names[i], inp));
    return {
      kind: 'tabular',
      names,
      element: h('div', {}, h('div', { class: 'row paste' }, pasteField, fill), h('div', { class: 'grid features' }, fields)),
      read() {
        let ok = true;
        const values = inputs.map((inp, i) => {
          const v = inp.value.trim() === '' ? NaN : Number(inp.value);
          fields[i].setError(Number.isFinite(v) ? '' : 'enter a number');
          if (!Number.isFinite(v)) ok = false;
          return v;
        });
        return ok ? values : null;
      },
    };
  }
  const isImage = (shape.length === 2 || (shape.length === 3 && shape[2] === 1)) && shape[0] <= 64 && shape[1] <= 64;
  if (isImage) {
    const pad = drawPad(shape[0], shape[1]);
    return {
      kind: 'image',
      element: pad.element,
      read() {
        const img = pad.read();
        return shape.length === 3 ? img.map((r) => r.map((v) => [v])) : img;
      },
      image: () => pad.read(),
    };
  }
  const box = h('textarea', { rows: 6, spellcheck: 'false' });
  const wrap = field(`One instance as JSON, shape ${JSON.stringify(shape)}`, box);
  return {
    kind: 'json',
    element: wrap,
    read() {
      try { wrap.setError(''); return JSON.parse(box.value); } catch { wrap.setError('this is not valid JSON'); return null; }
    },
  };
}
