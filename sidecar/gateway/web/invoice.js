// invoice.js: one invoice: its PDF's pages beside the fields. Fields that need
// review stand out with their confidence; edit in place and save (a
// correction), approve, download, retry a failed one (admin).
import { call, get, ApiError } from './api.js';
import { el, field, clear, statusBadge, fmtTime, toast } from './dom.js';
import { renderPdf } from './pdf_view.js';

// The processor flags a field below this confidence (sidecar/processor/review.h)
const REVIEW_MIN_CONF = 0.7;

const FIELDS = [
  ['invoice_number', 'Invoice number'], ['document_type', 'Document type'], ['issue_date', 'Issue date', 'date'],
  ['due_date', 'Due date', 'date'], ['totals.net', 'Net', 'amount'], ['totals.tax', 'Tax', 'amount'],
  ['totals.total', 'Total', 'amount'], ['totals.amount_due', 'Amount due', 'amount'], ['currency', 'Currency'],
  ['seller.name', 'Seller'], ['seller.vat_id', 'Seller VAT id'], ['seller.address', 'Seller address'],
  ['buyer.name', 'Buyer'], ['buyer.vat_id', 'Buyer VAT id'], ['buyer.address', 'Buyer address'],
  ['purchase_order', 'Purchase order'], ['payment_terms', 'Payment terms'], ['payment.iban', 'IBAN'],
  ['payment.bic', 'BIC'], ['payment.reference', 'Payment reference'],
];

const at = (obj, path) => path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);

// {"totals.total": "1"} -> {"totals": {"total": "1"}}
function nest(flat) {
  const out = {};
  for (const [path, v] of Object.entries(flat)) {
    const [a, b] = path.split('.');
    if (b) (out[a] = out[a] || {})[b] = v; else out[a] = v;
  }
  return out;
}

export function invoiceView(root, ctx) {
  const holder = el('div');
  root.append(el('p', {}, el('a', { href: '#/inbox' }, '← Inbox')), holder);
  return renderInvoice(holder, ctx.arg, ctx.session);
}

/*
 * Renders invoice id into holder; opts.onApproved(doc) after an approval.
 * Returns a function that stops its polling.
 */
export function renderInvoice(holder, id, session, opts = {}) {
  let stopped = false;
  let timer;
  const can = (s) => session.scopes.includes(s);

  async function load() {
    clearTimeout(timer);
    let doc;
    try {
      doc = await get(`/api/v1/invoices/${encodeURIComponent(id)}`);
    } catch (err) {
      clear(holder).append(el('p', { class: 'error' }, err.detail || String(err)));
      return;
    }
    if (stopped) return;
    draw(doc);
    // until it is done, follow its status
    if (doc.status === 'PENDING' || doc.status === 'PROCESSING') timer = setTimeout(load, 2000);
  }

  function draw(doc) {
    const inv = doc.invoice || null;
    const fileUrl = `/api/v1/invoices/${encodeURIComponent(doc.request_id)}/file`;
    const pdfPane = el('div', { class: 'pdf-pane', 'aria-label': 'Document preview' });
    const head = el('header', { class: 'inv-head' },
      el('h1', { id: 'invoice-title' }, (inv && inv.invoice_number) || doc.filename), ' ', statusBadge(doc.status),
      inv && inv.needs_review ? el('span', { class: 'badge warn', id: 'needs-review' }, 'needs review') : '',
      doc.reviewed_by ? el('span', { class: 'badge ok', id: 'reviewed' }, `approved by ${doc.reviewed_by}`) : '');
    const meta = el('p', { class: 'meta' }, `${doc.filename} · ${doc.source} · received ${fmtTime(doc.created_at)}`);
    const actions = el('div', { class: 'actions' },
      el('a', { class: 'button', href: fileUrl, download: doc.filename, id: 'download' }, 'Download original'));
    if (doc.status === 'FAILED' && can('admin')) {
      actions.append(el('button', { type: 'button', id: 'retry', onclick: async () => {
        try { await call('POST', `/api/v1/ingest/${doc.request_id}/retry`); toast('Sent back to processing.'); load(); } catch (err) { toast(err.detail, true); }
      } }, 'Retry'));
    }
    const body = el('div', { class: 'inv-body' }, pdfPane);
    clear(holder).append(head, meta, actions, body);
    if (doc.error) holder.insertBefore(el('p', { class: 'error' }, `${doc.error.kind}: ${doc.error.message}`), body);
    renderPdf(pdfPane, fileUrl);
    if (!inv) {
      body.append(el('div', { class: 'fields-pane' }, el('p', { class: 'hint' }, `No extracted data yet (${doc.status}).`)));
      return;
    }
    body.append(fieldsPane(doc, inv));
  }

  function fieldsPane(doc, inv) {
    const conf = inv.confidence || {};
    const editable = can('review') && doc.status === 'COMPLETED';
    const form = el('form', { class: 'fields', id: 'invoice-form', 'aria-label': 'Extracted fields' });
    const inputs = {};
    for (const [path, label, kind] of FIELDS) {
      const value = at(inv, path);
      const c = conf[path];
      const low = c !== undefined && c < REVIEW_MIN_CONF;
      const corrected = (doc.corrections || []).some((x) => x.field === path);
      const input = el('input', {
        type: 'text', name: path, value: value === null || value === undefined ? '' : String(value),
        readonly: !editable, inputmode: kind === 'amount' ? 'decimal' : undefined,
        placeholder: kind === 'date' ? 'YYYY-MM-DD' : undefined, dataset: { field: path },
      });
      inputs[path] = input;
      const extra = el('span', { class: 'conf' },
        c !== undefined ? `confidence ${Math.round(c * 100)}%` : '', corrected ? ' · corrected' : '');
      const f = field(label, input, extra);
      if (low) f.classList.add('low');
      if (corrected) f.classList.add('corrected');
      form.append(f);
    }
    const error = el('p', { class: 'error', role: 'alert', id: 'save-error' });
    if (editable) {
      form.append(el('div', { class: 'actions' },
        el('button', { type: 'submit', id: 'save' }, 'Save corrections'),
        el('button', { type: 'button', id: 'approve', onclick: approve }, 'Approve')), error);
    }
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const flat = {};
      for (const [path, input] of Object.entries(inputs)) {
        const before = at(inv, path);
        const now = input.value.trim();
        if (now !== (before === null || before === undefined ? '' : String(before))) flat[path] = now === '' ? null : now;
      }
      if (!Object.keys(flat).length) { toast('Nothing changed.'); return; }
      try {
        const updated = await call('PATCH', `/api/v1/invoices/${doc.request_id}`, nest(flat));
        toast('Saved.');
        draw(updated);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.detail : String(err);
      }
    });

    async function approve() {
      try {
        const updated = await call('POST', `/api/v1/invoices/${doc.request_id}/approve`);
        toast('Approved.');
        if (opts.onApproved) opts.onApproved(updated); else draw(updated);
      } catch (err) {
        error.textContent = err.detail || String(err);
      }
    }
    holder.approve = editable ? approve : null;
    holder.edit = () => { const low = form.querySelector('.low input') || inputs['totals.total']; low.focus(); low.select(); };

    const lines = el('tbody');
    for (const l of inv.lines || []) {
      lines.append(el('tr', {}, ['description', 'quantity', 'unit', 'unit_price', 'net_amount', 'tax_rate']
        .map((k) => el('td', { class: k === 'description' || k === 'unit' ? '' : 'num' }, l[k] ?? ''))));
    }
    const history = el('ol', { class: 'history', id: 'corrections' });
    for (const c of doc.corrections || []) {
      history.append(el('li', {}, `${fmtTime(c.at)} ${c.actor}: ${c.field} `,
        el('del', {}, c.old === null ? '—' : typeof c.old === 'string' ? c.old : JSON.stringify(c.old)), ' → ',
        el('ins', {}, c.new === null ? '—' : typeof c.new === 'string' ? c.new : JSON.stringify(c.new))));
    }
    return el('div', { class: 'fields-pane' }, form,
      el('h2', {}, 'Line items'),
      el('div', { class: 'table-wrap' }, el('table', { class: 'list', id: 'lines' },
        el('caption', { class: 'sr' }, 'Line items'),
        el('thead', {}, el('tr', {}, ['Description', 'Qty', 'Unit', 'Unit price', 'Net', 'Tax %'].map((h) => el('th', { scope: 'col' }, h)))),
        lines)),
      (inv.lines || []).length ? '' : el('p', { class: 'hint' }, 'No line items were read.'),
      el('h2', {}, 'Corrections'), history,
      (doc.corrections || []).length ? '' : el('p', { class: 'hint' }, 'None.'),
      doc.reviewed_at ? el('p', { class: 'meta' }, `Approved by ${doc.reviewed_by} at ${fmtTime(doc.reviewed_at)}`) : '');
  }

  load();
  return () => { stopped = true; clearTimeout(timer); };
}
