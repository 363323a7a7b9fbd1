// app.js: sign-in, the session, and the views by URL fragment (#/inbox, ...).
import { call, get, setCsrf, whenSignedOut } from './api.js';
import { clear, toast } from './dom.js';
import { inboxView } from './inbox.js';
import { uploadView } from './upload.js';
import { searchView } from './search.js';
import { invoiceView } from './invoice.js';
import { reviewView } from './review.js';
import { auditView } from './audit.js';

const state = { session: null, stop: null };
const $ = (id) => document.getElementById(id);

function showSignin(message) {
  state.session = null;
  setCsrf('');
  if (state.stop) { state.stop(); state.stop = null; }
  clear($('view'));
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  $('signin-key').focus();
}

function signedIn(session) {
  state.session = session;
  setCsrf(session.csrf_token);
  $('signin').hidden = true;
  $('signin-key').value = '';
  $('nav').hidden = false;
  $('signout').hidden = false;
  $('who').textContent = `${session.name} (${session.scopes.join(', ')})`;
  for (const a of document.querySelectorAll('#nav a[data-scope]')) a.hidden = !session.scopes.includes(a.dataset.scope);
  route();
}

const views = {
  inbox: inboxView, upload: uploadView, search: searchView, invoice: invoiceView, review: reviewView, audit: auditView,
};

function route() {
  if (!state.session) return;
  const [, name = 'inbox', arg] = (location.hash || '#/inbox').split('/');
  const view = views[name] || inboxView;
  if (state.stop) { state.stop(); state.stop = null; }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const root = clear($('view'));
  root.dataset.view = name;
  state.stop = view(root, { session: state.session, arg: arg ? decodeURIComponent(arg) : '' }) || null;
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('signin-error').textContent = '';
  try {
    signedIn(await call('POST', '/api/v1/session', { key: $('signin-key').value.trim() }));
  } catch (err) {
    $('signin-error').textContent = err.detail || String(err);
  }
});

$('signout').addEventListener('click', async () => {
  try { await call('DELETE', '/api/v1/session'); } catch (err) { toast(err.detail, true); }
  showSignin('Signed out.');
});

whenSignedOut(() => { if (state.session) showSignin('Your session has ended: sign in again.'); });
window.addEventListener('hashchange', route);

// a reload keeps the session (the cookie) and asks for its CSRF token again
get('/api/v1/session').then(signedIn, () => showSignin(''));
