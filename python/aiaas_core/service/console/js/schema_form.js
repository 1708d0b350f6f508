// A form generated from an architecture's JSON schema of hyperparameters: one labelled control per
// property, its default filled in, its limits checked in the browser with the message beside the field
// (the server checks again and its 422 is shown beside the field it names).
import { field, h, select } from './dom.js';

const LABELS = { validation_split: 'Validation split (share held out)', learning_rate: 'Learning rate', batch_size: 'Batch size' };

function isIntList(schema) {
  const alts = schema.oneOf || [schema];
  return alts.some((a) => a.type === 'array');
}

function bounds(schema) {
  const alt = (schema.oneOf || [schema]).find((a) => a.type !== 'array') || schema;
  const items = (schema.oneOf || [schema]).find((a) => a.type === 'array')?.items || {};
  return { ...items, ...alt };
}

function checkNumber(name, v, sch) {
  if (!Number.isFinite(v)) return 'enter a number';
  if (sch.type === 'integer' && !Number.isInteger(v)) return 'enter a whole number';
  if (sch.minimum !== undefined && v < sch.minimum) return `at least ${sch.minimum}`;
  if (sch.exclusiveMinimum !== undefined && v <= sch.exclusiveMinimum) return `more than ${sch.exclusiveMinimum}`;
  if (sch.maximum !== undefined && v > sch.maximum) return `at most ${sch.maximum}`;
  if (sch.exclusiveMaximum !== undefined && v >= sch.exclusiveMaximum) return `less than ${sch.exclusiveMaximum}`;
  return null;
}

// Returns {element, read(): {values, ok}, showError(name, message)}.
export function schemaForm(schema) {
  const fields = {};
  const controls = [];
  for (const [name, sch] of Object.entries(schema.properties || {})) {
    const label = LABELS[name] || name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
    let control;
    let hint;
    let read;
    if (sch.enum) {
      control = select(sch.enum, sch.default);
      read = () => [control.value, null];
    } else if (isIntList(sch)) {
      const scalarAllowed = (sch.oneOf || []).some((a) => a.type !== 'array');
      const dflt = Array.isArray(sch.default) ? sch.default.join(', ') : String(sch.default ?? '');
      control = h('input', { type: 'text', inputmode: 'numeric', value: dflt, autocomplete: 'off' });
      const arr = (sch.oneOf || [sch]).find((a) => a.type === 'array');
      hint = scalarAllowed ? 'one number for every layer, or one per layer separated by commas' : 'numbers separated by commas, one per layer';
      read = () => {
        const text = control.value.trim();
        const parts = text === '' ? [] : text.split(/[,\s]+/).map(Number);
        for (const v of parts) { const err = checkNumber(name, v, bounds(sch)); if (err) return [null, `each value: ${err}`]; }
        if (arr.minItems && parts.length < arr.minItems) return [null, `give at least ${arr.minItems} value(s)`];
        if (arr.maxItems !== undefined && parts.length > arr.maxItems) return [null, `give at most ${arr.maxItems} values`];
        return [scalarAllowed && parts.length === 1 ? parts[0] : parts, null];
      };
    } else {
      const isInt = sch.type === 'integer';
      control = h('input', { type: 'number', value: String(sch.default ?? ''), step: isInt ? '1' : 'any',
        min: sch.minimum ?? sch.exclusiveMinimum, max: sch.maximum ?? sch.exclusiveMaximum });
      read = () => { const v = Number(control.value); return control.value.trim() === '' ? [null, 'enter a value'] : [v, checkNumber(name, v, sch)]; };
    }
    control.name = name;
    const wrap = field(label, control, hint);
    fields[name] = { wrap, read };
    controls.push(wrap);
  }
  const element = h('div', { class: 'grid' }, controls);
  return {
    element,
    read() {
      const values = {};
      let ok = true;
      for (const [name, f] of Object.entries(fields)) {
        const [v, err] = f.read();
        f.wrap.setError(err);
        if (err) ok = false; else values[name] = v;
      }
      return { values, ok };
    },
    // The server names the field in its 422 ("hyperparameter 'units' ..." or "hyperparameters.units: ...").
    showServerError(message) {
      for (const [name, f] of Object.entries(fields)) {
        if (new RegExp(`(['.]${name}['\\s:]|${name}=)`).test(message)) { f.wrap.setError(message); return true; }
      }
      return false;
    },
  };
}
