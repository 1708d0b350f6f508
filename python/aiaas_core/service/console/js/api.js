// The only way the console talks to the server: the public API, with the user's key as a Bearer header.
import { session } from './session.js';

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// Words for a person, with the server's own explanation (every error body is {"detail": "..."}).
function explain(status, detail) {
  if (status === 401) return `Your key was not accepted: ${detail}. Sign in again.`;
  if (status === 403) return `Your key's role does not allow this: ${detail}`;
  if (status === 404) return `Not found: ${detail}`;
  if (status === 413) return `Too large: ${detail}`;
  if (status === 429) return `Too many requests: ${detail}`;
  if (status >= 500) return `The server failed: ${detail}`;
  return detail;
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function failure(status, text) {
  let detail = text;
  try { detail = JSON.parse(text).detail ?? text; } catch { /* not JSON: keep the text */ }
  if (typeof detail !== 'string') detail = JSON.stringify(detail);
  if (status === 401) onUnauthorized(detail);
  return new ApiError(status, explain(status, detail || `HTTP ${status}`));
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${session.key()}`, ...extra };
}

export async function api(method, path, body, { signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The server could not be reached. Is it running?');
  }
  const text = await res.text();
  if (!res.ok) throw failure(res.status, text);
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

// Multipart upload through XMLHttpRequest: fetch() cannot report upload progress.
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Authorization', `Bearer ${session.key()}`);
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText));
      else reject(failure(xhr.status, xhr.responseText));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'The upload was interrupted: the server could not be reached.')));
    xhr.send(form);
  });
}

// A download needs the Bearer header, so a plain link cannot do it: fetch the bytes, then save them.
export async function download(path, filename) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw failure(res.status, await res.text());
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Server-sent events over fetch (EventSource cannot send an Authorization header). Calls onEvent with
// {id, event, data} for each event until the stream ends or `signal` aborts.
export async function streamEvents(path, onEvent, signal) {
  const res = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), signal });
  if (!res.ok) throw failure(res.status, await res.text());
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = { id: null, event: 'message', data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // a keep-alive comment
        const [field, ...rest] = line.split(':');
        const val = rest.join(':').replace(/^ /, '');
        if (field === 'data') event.data += val;
        else if (field === 'event' || field === 'id') event[field] = val;
      }
      if (!event.data) continue;
      event.data = JSON.parse(event.data);
      onEvent(event);
    }
  }
}
