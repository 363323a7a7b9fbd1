// search.js: the query API: a query box, its filters, facets (a value is a
// click), highlighted snippets, more results by cursor.
import { get, query } from './api.js';
import { el, field, select, snippet, statusBadge, clear } from './dom.js';

export function searchView(root) {
  const params = { q: '', status: '', currency: '', seller: '', buyer: '', needs_review: '', source: '', extracted_from: '',
    issued_from: '', issued_to: '', total_min: '', total_max: '', sort: '' };
  const q = el('input', { type: 'search', name: 'q', id: 'search-q', placeholder: 'invoice number, seller, words…' });
  const seller = el('input', { type: 'text', name: 'seller' });
  const buyer = el('input', { type: 'text', name: 'buyer' });
  const currency = el('input', { type: 'text', name: 'currency', maxlength: '3', size: '4' });
  const amount = (name) => el('input', { type: 'text', name, inputmode: 'decimal', size: '8' });
  const date = (name) => el('input', { type: 'date', name });
  const form = el('form', { class: 'filters', role: 'search' },
    field('Search', q),
    field('Status', select('status', [['', 'Any'], ['pending', 'Pending'], ['processing', 'Processing'],
      ['failed', 'Failed'], ['completed', 'Completed']])),
    field('Seller starts with', seller), field('Buyer starts with', buyer), field('Currency', currency),
    field('Issued from', date('issued_from')), field('Issued to', date('issued_to')),
    field('Total from', amount('total_min')), field('Total to', amount('total_max')),
    field('Channel', select('source', [['', 'Any'], ['upload', 'Upload'], ['email', 'Email'], ['webhook', 'Webhook']])),
    field('Read from', select('extracted_from', [['', 'Any'], ['xml', 'XML'], ['text', 'Text layer'], ['ocr', 'OCR']])),
    field('Needs review', select('needs_review', [['', 'Any'], ['true', 'Yes'], ['false', 'No']])),
    field('Sort', select('sort', [['', 'Best match / newest'], ['-created_at', 'Newest'], ['created_at', 'Oldest'],
      ['-issue_date', 'Issue date, newest'], ['issue_date', 'Issue date, oldest'], ['-total', 'Total, highest'], ['total', 'Total, lowest']])),
    el('button', { type: 'submit' }, 'Search'));
  const facets = el('aside', { class: 'facets', 'aria-label': 'Facets' });
  const results = el('ol', { class: 'results', id: 'search-results' });
  const more = el('button', { type: 'button', hidden: true, id: 'search-more' }, 'More results');
  const note = el('p', { class: 'hint', role: 'status' });
  const active = el('p', { class: 'active-filters' });

  root.append(el('h1', {}, 'Search'), form, active,
    el('div', { class: 'search-layout' }, facets, el('div', {}, results, more, note)));

  function readForm() {
    for (const c of form.elements) if (c.name && c.name in params) params[c.name] = c.value.trim();
  }
  function writeForm() {
    for (const c of form.elements) if (c.name && c.name in params) c.value = params[c.name];
    active.replaceChildren();
    if (params.issued_from) {
      active.append(`Issued ${params.issued_from} to ${params.issued_to} `,
        el('button', { type: 'button', class: 'link', onclick: () => { params.issued_from = ''; params.issued_to = ''; run(); } }, 'clear'));
    }
  }

  function renderItem(it) {
    const title = [it.invoice_number, it.seller].filter(Boolean).join(' · ') || it.filename;
    return el('li', { class: 'result', dataset: { id: it.request_id } },
      el('a', { href: `#/invoice/${it.request_id}` }, title), ' ', statusBadge(it.status),
      el('div', { class: 'meta' }, [it.issue_date, it.total && `${it.total} ${it.currency || ''}`, it.filename]
        .filter(Boolean).join(' · ')),
      it.snippet ? snippet(it.snippet) : '');
  }

  function facetGroup(name, label, values, pick) {
    if (!values || !values.length) return null;
    return el('section', {}, el('h2', {}, label), el('ul', {}, values.map((f) =>
      el('li', {}, el('button', { type: 'button', class: 'facet', dataset: { facet: name, value: f.value }, onclick: () => pick(f.value) },
        `${f.value} (${f.count})`)))));
  }

  function renderFacets(f) {
    clear(facets);
    if (!f) return;
    facets.append(
      facetGroup('seller', 'Seller', f.seller, (v) => { params.seller = v; run(); }),
      facetGroup('currency', 'Currency', f.currency, (v) => { params.currency = v; run(); }),
      facetGroup('month', 'Month', f.month, (v) => {
        const [y, m] = v.split('-').map(Number);
        params.issued_from = `${v}-01`;
        params.issued_to = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
        run();
      }) || '');
  }

  let cursor = null;
  async function run(next) {
    writeForm();
    try {
      const page = await get(`/api/v1/invoices${query({ ...params, facets: next ? '' : 'true', cursor: next ? cursor : '', limit: 20 })}`);
      if (!next) { clear(results); renderFacets(page.facets); }
      for (const it of page.items) results.append(renderItem(it));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      note.textContent = results.children.length ? `${results.children.length} shown` : 'No match.';
    } catch (err) {
      note.textContent = err.detail || String(err);
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); readForm(); run(); });
  more.addEventListener('click', () => run(true));
  run();
  q.focus();
}
