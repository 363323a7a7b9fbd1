// audit.js: the audit log (admin keys), newest first, more by cursor.
import { get, query } from './api.js';
import { el, fmtTime } from './dom.js';

export function auditView(root) {
  const tbody = el('tbody');
  const more = el('button', { type: 'button', hidden: true }, 'Older entries');
  const note = el('p', { class: 'hint', role: 'status' });
  root.append(el('h1', {}, 'Audit log'),
    el('div', { class: 'table-wrap' }, el('table', { class: 'list', id: 'audit-table' },
      el('thead', {}, el('tr', {}, ['Time', 'Actor', 'Action', 'Invoice', 'Detail'].map((h) => el('th', { scope: 'col' }, h)))),
      tbody)), more, note);
  let cursor = '';
  async function load() {
    try {
      const page = await get(`/api/v1/audit${query({ cursor, limit: 50 })}`);
      for (const a of page.items) {
        tbody.append(el('tr', { dataset: { action: a.action } },
          el('td', {}, fmtTime(a.at)), el('td', {}, a.actor), el('td', {}, a.action),
          el('td', {}, a.request_id ? el('a', { href: `#/invoice/${a.request_id}` }, a.request_id.slice(0, 8)) : ''),
          el('td', { class: 'detail' }, a.detail ? JSON.stringify(a.detail) : '')));
      }
      cursor = page.next_cursor || '';
      more.hidden = !cursor;
      note.textContent = tbody.children.length ? '' : 'The log is empty.';
    } catch (err) {
      note.textContent = err.detail || String(err);
    }
  }
  more.addEventListener('click', load);
  load();
}
