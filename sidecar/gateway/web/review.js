// review.js: the invoices that need review, oldest first, worked through with
// the keyboard: j / ArrowDown next, k / ArrowUp previous, a approve, e edit.
import { get, query } from './api.js';
import { el, clear, fmtTime, toast } from './dom.js';
import { renderInvoice } from './invoice.js';

export function reviewView(root, ctx) {
  const list = el('ol', { class: 'queue', id: 'review-list', 'aria-label': 'Invoices to review' });
  const detail = el('div', { class: 'queue-detail', id: 'review-detail' });
  const note = el('p', { class: 'hint', role: 'status' });
  root.append(el('h1', {}, 'Review queue'),
    el('p', { class: 'hint keys' }, 'Keys: ', el('kbd', {}, 'j'), ' next, ', el('kbd', {}, 'k'), ' previous, ',
      el('kbd', {}, 'a'), ' approve, ', el('kbd', {}, 'e'), ' edit (Enter saves, Esc leaves the field)'),
    note, el('div', { class: 'queue-layout' }, list, detail));

  let items = [];
  let index = 0;
  let stopDetail = null;

  function select(i) {
    if (!items.length) return;
    index = Math.max(0, Math.min(items.length - 1, i));
    for (const [n, li] of [...list.children].entries()) {
      li.classList.toggle('current', n === index);
      li.setAttribute('aria-current', n === index ? 'true' : 'false');
    }
    list.children[index].scrollIntoView({ block: 'nearest' });
    if (stopDetail) stopDetail();
    stopDetail = renderInvoice(detail, items[index].request_id, ctx.session, {
      onApproved: () => { toast('Approved.'); items.splice(index, 1); draw(); },
    });
  }

  function draw() {
    clear(list);
    items.forEach((it, n) => list.append(el('li', { dataset: { id: it.request_id } },
      el('button', { type: 'button', class: 'link', onclick: () => select(n) },
        `${it.invoice_number || it.filename} · ${it.seller || '?'} · ${it.total || '?'} ${it.currency || ''}`),
      el('span', { class: 'meta' }, ` ${fmtTime(it.created_at)}`))));
    note.textContent = items.length ? `${items.length} to review` : 'Nothing to review.';
    if (items.length) select(index); else { if (stopDetail) stopDetail(); clear(detail); }
  }

  async function load() {
    try {
      const page = await get(`/api/v1/invoices${query({ needs_review: 'true', status: 'completed', sort: 'created_at', limit: 100 })}`);
      items = page.items;
      draw();
    } catch (err) {
      note.textContent = err.detail || String(err);
    }
  }

  function onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) {
      if (e.key === 'Escape') t.blur();
      return;
    }
    if (e.key === 'j' || e.key === 'ArrowDown') { e.preventDefault(); select(index + 1); }
    else if (e.key === 'k' || e.key === 'ArrowUp') { e.preventDefault(); select(index - 1); }
    else if (e.key === 'a' && detail.approve) { e.preventDefault(); detail.approve(); }
    else if (e.key === 'e' && detail.edit) { e.preventDefault(); detail.edit(); }
  }
  document.addEventListener('keydown', onKey);
  load();
  return () => { document.removeEventListener('keydown', onKey); if (stopDetail) stopDetail(); };
}
