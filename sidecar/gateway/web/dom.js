// dom.js: building elements. Every value from a document goes in as text
// (textContent, .value), never as HTML.

// el('td', {class: 'x', dataset: {...}, onclick}, child, 'text', ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'value') node.value = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function clear(node) { node.replaceChildren(); return node; }

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

// A labelled control: <div class="field"><label for=id>text</label>control</div>
export function field(labelText, control, extra) {
  if (!control.id) control.id = nextId('f');
  return el('div', { class: 'field' }, el('label', { for: control.id }, labelText), control, extra);
}

export function select(name, options, value) {
  const s = el('select', { name });
  for (const [v, label] of options) s.append(el('option', { value: v }, label));
  s.value = value || '';
  return s;
}

const entities = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

// A snippet the server escaped and marked with <em>: only those <em> become
// elements, everything else (entities decoded) is text.
export function snippet(html) {
  const out = el('span', { class: 'snippet' });
  let target = out;
  for (const part of String(html || '').split(/(<em>|<\/em>)/)) {
    if (part === '<em>') { const em = el('em'); out.append(em); target = em; }
    else if (part === '</em>') target = out;
    else if (part) target.append(document.createTextNode(part.replace(/&(amp|lt|gt|quot|#39);/g, (m) => entities[m])));
  }
  return out;
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function statusBadge(status) {
  return el('span', { class: `badge st-${String(status || '').toLowerCase()}` }, status || '');
}

let toastTimer;
export function toast(message, isError) {
  const t = document.getElementById('toast');
  t.textContent = message;
  t.className = `toast show${isError ? ' error' : ''}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = 'toast'; }, 4000);
}
