// inbox.js: every ingestion, newest first, with the counters; polled, so
// status changes appear without a reload.
import { get, query } from './api.js';
import { el, field, select, statusBadge, fmtTime, clear } from './dom.js';

const POLL_MS = 2000;

export function inboxView(root) {
  const filters = { status: '', source: '', needs_review: '' };
  const counters = el('dl', { class: 'counters', 'aria-label': 'Counters' });
  const tbody = el('tbody');
  const note = el('p', { class: 'hint' });
  const form = el('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
    field('Status', select('status', [['', 'Any'], ['pending', 'Pending'], ['processing', 'Processing'],
      ['failed', 'Failed'], ['completed', 'Completed']])),
    field('Channel', select('source', [['', 'Any'], ['upload', 'Upload'], ['email', 'Email'], ['webhook', 'Webhook']])),
    field('Needs review', select('needs_review', [['', 'Any'], ['true', 'Yes'], ['false', 'No']])));
  form.addEventListener('change', (e) => { filters[e.target.name] = e.target.value; refresh(); });

  root.append(el('h1', {}, 'Inbox'), counters, form,
    el('div', { class: 'table-wrap' }, el('table', { class: 'list', id: 'inbox-table' },
      el('thead', {}, el('tr', {}, ['Received', 'File', 'Channel', 'Status', 'Invoice', 'Seller', 'Total', 'Review']
        .map((h) => el('th', { scope: 'col' }, h)))), tbody)), note);

  let timer;
  let seq = 0;
  async function refresh() {
    clearTimeout(timer);
    const mine = ++seq;
    try {
      const [stats, page] = await Promise.all([
        get('/api/v1/ingest/stats'),
        get(`/api/v1/invoices${query({ ...filters, sort: '-created_at', limit: 50 })}`),
      ]);
      if (mine !== seq) return;
      clear(counters);
      for (const k of ['pending', 'processing', 'failed', 'completed', 'total']) {
        counters.append(el('div', { class: `counter c-${k}` }, el('dt', {}, k), el('dd', { dataset: { counter: k } }, String(stats[k]))));
      }
      clear(tbody);
      for (const it of page.items) {
        tbody.append(el('tr', { dataset: { id: it.request_id, status: it.status } },
          el('td', {}, fmtTime(it.created_at)),
          el('td', {}, el('a', { href: `#/invoice/${it.request_id}` }, it.filename)),
          el('td', {}, it.source),
          el('td', {}, statusBadge(it.status)),
          el('td', {}, it.invoice_number || ''),
          el('td', {}, it.seller || ''),
          el('td', { class: 'num' }, it.total ? `${it.total} ${it.currency || ''}` : ''),
          el('td', {}, it.needs_review ? el('span', { class: 'badge warn' }, 'needs review') : '')));
      }
      note.textContent = page.items.length ? `Updated ${new Date().toLocaleTimeString()}` : 'Nothing here yet.';
    } catch (err) {
      note.textContent = err.detail || String(err);
    }
    timer = setTimeout(refresh, POLL_MS);
  }
  refresh();
  return () => { seq++; clearTimeout(timer); };
}
