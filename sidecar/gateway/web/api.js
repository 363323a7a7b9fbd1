// api.js: the gateway's REST API for the page. The session cookie (HttpOnly)
// goes with every request; every change carries the session's CSRF token.

let csrf = '';
let onSignedOut = () => {};

export function setCsrf(token) { csrf = token || ''; }
export function whenSignedOut(fn) { onSignedOut = fn; }

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || `HTTP ${status}`;
  }
}

async function problem(res) {
  try {
    const body = await res.json();
    return body.detail || `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && path !== '/api/v1/session') onSignedOut();
  if (!res.ok) throw new ApiError(res.status, await problem(res));
  return res.status === 204 ? null : res.json();
}

export const get = (path) => call('GET', path);

// A query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// One file upload with progress (fetch has no upload progress): XMLHttpRequest.
export function upload(file, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/ingest/upload');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status === 401) onSignedOut();
      resolve({ ok: xhr.status === 202, status: xhr.status, body, detail: body.detail || body.message || `HTTP ${xhr.status}` });
    };
    xhr.onerror = () => resolve({ ok: false, status: 0, body: {}, detail: 'the connection failed' });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
