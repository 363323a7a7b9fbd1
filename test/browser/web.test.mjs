// web.test.mjs: the web page in a real browser (Debian's chromium, headless,
// driven by playwright-core; nothing downloads a browser). Run by t/700_web.pl,
// which starts PostgreSQL, the gateway and the processor and passes:
//   BASE_URL, API_KEY, KEY_NAME, PDF_A (needs review: its total is wrong),
//   PDF_B, PDF_X (holds <img src=x onerror=alert(1)>), OUT_DIR (screenshots),
//   DOCS_SHOT (where the invoice view's screenshot goes, optional).
// Prints TAP ("ok N - ...", "not ok N - ..."); exits 1 when a check failed.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (k) => { if (!process.env[k]) throw new Error(`${k} is not set`); return process.env[k]; };
const BASE = env('BASE_URL');
const KEY = env('API_KEY');
const KEY_NAME = env('KEY_NAME');
const OUT = env('OUT_DIR');
const PAYLOAD = '<img src=x onerror=alert(1)>';
mkdirSync(OUT, { recursive: true });

let n = 0;
let failed = 0;
function check(cond, what, extra) {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}`); if (extra !== undefined) console.log(`# ${String(extra).replace(/\n/g, '\n# ')}`); }
  return cond;
}
const api = async (path, init = {}) => {
  const res = await fetch(BASE + path, { ...init, headers: { Authorization: `Bearer ${KEY}`, ...(init.headers || {}) } });
  return { status: res.status, body: await res.json().catch(() => null) };
};

const profile = mkdtempSync(join(tmpdir(), 'invoiceflow-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
});
const page = context.pages()[0] || await context.newPage();
const dialogs = [];
const problems = [];
page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
let loads = 0;
page.on('load', () => { loads++; });
// waitFor() evaluates its predicate with eval, which the page's CSP
// refuses (as it should): poll with page.evaluate() instead.
async function waitFor(fn, arg, { timeout = 5000 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await page.evaluate(fn, arg).catch(() => false);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms: ${String(fn).slice(0, 120)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const shot = (name) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: false });

try {
  // --- the page itself: headers ----------------------------------------------------
  const first = await page.goto(`${BASE}/`);
  const h = first.headers();
  check(h['content-type'] === 'text/html; charset=utf-8', 'the page is text/html; charset=utf-8', h['content-type']);
  check(/default-src 'self'/.test(h['content-security-policy'] || '') && !/unsafe-inline/.test(h['content-security-policy']),
    "Content-Security-Policy: default-src 'self', nothing inline", h['content-security-policy']);
  check(h['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff');
  const js = await page.request.get(`${BASE}/web/app.js`);
  check(js.headers()['content-type'] === 'text/javascript; charset=utf-8', 'scripts are text/javascript');
  check((await page.request.get(`${BASE}/web/app.css`)).headers()['content-type'] === 'text/css; charset=utf-8', 'styles are text/css');

  // --- sign in -----------------------------------------------------------------------
  await page.waitForSelector('#signin-form', { state: 'visible' });
  await shot('01-signin');
  await page.fill('#signin-key', 'ifk_wrong');
  await page.click('#signin-form button[type=submit]');
  await waitFor(() => document.getElementById('signin-error').textContent.length > 0);
  check(/invalid/.test(await page.textContent('#signin-error')), 'a wrong key is refused with the server\'s detail');
  await page.fill('#signin-key', KEY);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#nav', { state: 'visible' });
  check((await page.textContent('#who')).includes(KEY_NAME), 'signed in: the key\'s name is shown');
  const cookies = await context.cookies();
  const sc = cookies.find((c) => c.name === 'invoiceflow_session');
  check(sc && sc.httpOnly && sc.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict', JSON.stringify(sc));
  check(!(await page.evaluate(() => document.cookie)).includes('invoiceflow_session'), 'scripts cannot read the session cookie');
  const loadsAfterSignin = loads;

  // a change with the cookie but without the CSRF token is refused
  const noCsrf = await page.evaluate(async () => (await fetch('/api/v1/session', { method: 'DELETE' })).status);
  check(noCsrf === 403, 'a change with the cookie and no CSRF token: 403', noCsrf);

  // --- upload two PDFs: both progress bars finish --------------------------------------
  await page.click('#nav a[data-view=upload]');
  await page.waitForSelector('#upload-input', { state: 'attached' });
  await page.setInputFiles('#upload-input', [env('PDF_A'), env('PDF_B')]);
  await waitFor(() => document.querySelectorAll('#upload-list li[data-done]').length === 2, null, { timeout: 30000 });
  const bars = await page.$$eval('#upload-list li', (lis) => lis.map((li) => ({
    done: li.dataset.done, value: li.querySelector('progress').value, text: li.querySelector('.outcome').textContent,
    id: (li.querySelector('.outcome a') || {}).textContent })));
  check(bars.length === 2 && bars.every((b) => b.done === 'ok' && b.value === 1), 'two uploads, both progress bars at 100%, both accepted', JSON.stringify(bars));
  await shot('02-upload');
  const [idA, idB] = bars.map((b) => b.id);

  // a refusal shows the server's detail
  await page.setInputFiles('#upload-input', { name: 'notes.pdf', mimeType: 'application/pdf', buffer: Buffer.from('this is not a PDF') });
  await waitFor(() => document.querySelectorAll('#upload-list li[data-done]').length === 3);
  const refusal = await page.textContent('#upload-list li:nth-child(3) .outcome');
  check(/^refused \(400\): .+/.test(refusal), 'a refused upload shows the status and the server\'s detail', refusal);

  // --- the inbox: both reach COMPLETED without a reload --------------------------------
  await page.click('#nav a[data-view=inbox]');
  await page.waitForSelector('#inbox-table');
  const reached = await waitFor(([a, b]) => {
    const st = (id) => (document.querySelector(`#inbox-table tr[data-id="${id}"]`) || { dataset: {} }).dataset.status;
    return st(a) === 'COMPLETED' && st(b) === 'COMPLETED';
  }, [idA, idB], { timeout: 90000 }).then(() => true, () => false);
  check(reached, 'the inbox shows both COMPLETED (polling)');
  check(loads === loadsAfterSignin, 'without a reload of the page', `${loads} loads`);
  const completed = await page.textContent('[data-counter=completed]');
  check(Number(completed) >= 2, 'the counters show the completed ones', completed);
  await shot('03-inbox');

  // --- search: by invoice number, then by a facet ----------------------------------------
  await page.click('#nav a[data-view=search]');
  await page.fill('#search-q', 'INV-WEB-1001');
  await page.press('#search-q', 'Enter');
  await waitFor((id) => {
    const r = document.querySelectorAll('#search-results li');
    return r.length === 1 && r[0].dataset.id === id;
  }, idA, { timeout: 10000 }).then(() => check(true, 'search by invoice number finds that invoice alone'),
    async () => check(false, 'search by invoice number finds that invoice alone', await page.textContent('#search-results')));
  check(await page.$('#search-results .snippet em') !== null, 'the snippet highlights the match (<em>)');
  await shot('04-search');
  await page.fill('#search-q', '');
  await page.press('#search-q', 'Enter');
  await page.waitForSelector('button.facet[data-facet=seller][data-value="Northwind Traders Ltd"]');
  await page.click('button.facet[data-facet=seller][data-value="Northwind Traders Ltd"]');
  await waitFor((id) => {
    const r = [...document.querySelectorAll('#search-results li')];
    return r.length === 1 && r[0].dataset.id === id;
  }, idB, { timeout: 10000 }).then(() => check(true, 'a click on the seller facet narrows the results to that seller'),
    async () => check(false, 'a click on the seller facet narrows the results to that seller', await page.textContent('#search-results')));
  await shot('05-search-facet');

  // --- a FAILED one: the admin retries it from its page and sees it complete --------------------
  const failedId = env('FAILED_ID');
  await page.goto(`${BASE}/#/invoice/${failedId}`);
  await page.waitForSelector('#retry', { timeout: 10000 }).then(() => check(true, 'a failed invoice shows Retry to an admin, with its error'),
    () => check(false, 'a failed invoice shows Retry to an admin'));
  check(/made to fail/.test(await page.textContent('#view')), 'the failure\'s reason is shown');
  await shot('06a-invoice-failed');
  await page.click('#retry');
  await waitFor(() => /COMPLETED/.test(document.querySelector('.inv-head').textContent), null, { timeout: 60000 })
    .then(() => check(true, 'after Retry the page follows it to COMPLETED'), async () => check(false, 'after Retry the page follows it to COMPLETED', await page.textContent('.inv-head')));

  // --- the review queue has A (its total does not add up) --------------------------------
  await page.click('#nav a[data-view=review]');
  await waitFor((id) => !!document.querySelector(`#review-list li[data-id="${id}"]`), idA, { timeout: 10000 })
    .then(() => check(true, 'the review queue lists the invoice that needs review'),
      async () => check(false, 'the review queue lists the invoice that needs review', await page.textContent('#review-list')));
  await shot('06-review-queue');

  // --- the invoice view: PDF beside the fields; correct the total; approve ------------------
  await page.goto(`${BASE}/#/invoice/${idA}`);
  await page.waitForSelector('#invoice-form');
  await waitFor(() => Number(document.querySelector('.pdf-pane').dataset.rendered) >= 1, null, { timeout: 20000 })
    .then(() => check(true, 'the PDF\'s page is drawn beside the fields'), () => check(false, 'the PDF\'s page is drawn beside the fields'));
  check(await page.$('#needs-review') !== null, 'the invoice is marked as needing review');
  const lowTotal = await page.$eval('input[data-field="totals.total"]', (i) => ({
    low: i.closest('.field').classList.contains('low'), conf: i.closest('.field').querySelector('.conf').textContent, value: i.value }));
  check(lowTotal.low && /confidence \d+%/.test(lowTotal.conf), 'the unsure total stands out with its confidence', JSON.stringify(lowTotal));
  const labelled = await page.$$eval('input, select, button', (els) => els.filter((e) => e.offsetParent !== null)
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim())).length);
  check(labelled === 0, 'every visible control has a label', labelled);
  await shot('07-invoice');
  if (process.env.DOCS_SHOT) copyFileSync(join(OUT, '07-invoice.png'), process.env.DOCS_SHOT);

  const dl = await page.$eval('#download', (a) => ({ href: a.getAttribute('href'), download: a.getAttribute('download') }));
  const file = await page.request.get(BASE + dl.href);
  check(file.status() === 200 && file.headers()['content-type'] === 'application/pdf' && dl.download === 'webshop-invoice.pdf'
    && (await file.body()).subarray(0, 5).toString() === '%PDF-', 'Download original: the PDF with the session', `${file.status()} ${JSON.stringify(dl)}`);
  await page.fill('input[data-field="totals.total"]', '119.00');
  await page.click('#save');
  await waitFor(() => /totals\.total/.test(document.querySelector('#corrections').textContent), null, { timeout: 10000 })
    .then(() => check(true, 'saving records the correction (history shown)'), async () => check(false, 'saving records the correction', await page.textContent('#save-error')));
  check(await page.$eval('input[data-field="totals.total"]', (i) => i.value) === '119.00', 'the field shows the corrected total');
  await page.click('#approve');
  await page.waitForSelector('#reviewed', { timeout: 10000 }).then(() => check(true, 'approved: "approved by" shown'), () => check(false, 'approved'));
  await shot('08-invoice-approved');

  // --- the correction through the REST API and in the audit log --------------------------------
  const rest = await api(`/api/v1/invoices/${idA}`);
  check(rest.body && rest.body.invoice.totals.total === '119.00' && rest.body.invoice.needs_review === false,
    'REST: the effective total is 119.00 and needs_review false', JSON.stringify(rest.body && rest.body.invoice && rest.body.invoice.totals));
  const corr = (rest.body.corrections || []).find((c) => c.field === 'totals.total');
  check(corr && corr.old === '191.00' && corr.new === '119.00' && corr.actor === KEY_NAME,
    'REST: the history has totals.total 191.00 -> 119.00 by the key\'s name', JSON.stringify(rest.body.corrections));
  check(rest.body.reviewed_by === KEY_NAME && !!rest.body.reviewed_at, 'REST: reviewed_by / reviewed_at');
  const audit = await api(`/api/v1/audit?request_id=${idA}`);
  const actions = (audit.body.items || []).map((a) => `${a.action}:${a.actor}`);
  check(actions.includes(`correct:${KEY_NAME}`) && actions.includes(`approve:${KEY_NAME}`) && actions.includes(`upload:${KEY_NAME}`),
    'the audit log has the upload, the correction and the approval, each by the key\'s name', actions.join(' '));
  await page.click('#nav a[data-view=audit]');
  await page.waitForSelector('#audit-table tr[data-action=correct]', { timeout: 10000 })
    .then(() => check(true, 'the audit view shows the correction'), () => check(false, 'the audit view shows the correction'));
  await shot('09-audit');

  // --- it left the review queue ----------------------------------------------------------------
  await page.click('#nav a[data-view=review]');
  await page.waitForSelector('#review-list');
  await waitFor(() => /to review|Nothing to review/.test(document.querySelector('[role=status]').textContent));
  check(await page.$(`#review-list li[data-id="${idA}"]`) === null, 'the approved invoice left the review queue');

  // --- the script-injection probe ----------------------------------------------------------------
  await page.click('#nav a[data-view=upload]');
  await page.setInputFiles('#upload-input', env('PDF_X'));
  await page.waitForSelector('#upload-list li[data-done=ok]', { timeout: 30000 });
  const idX = await page.textContent('#upload-list li[data-done=ok] .outcome a');
  const xDone = await (async () => {
    for (let i = 0; i < 120; i++) {
      const s = await api(`/api/v1/invoices/${idX}`);
      if (s.body && s.body.status === 'COMPLETED') return true;
      await new Promise((r) => setTimeout(r, 500));
    }
    return false;
  })();
  check(xDone, 'the probe PDF is COMPLETED');
  // in the review queue with the keyboard: j/k move, a approves
  await page.click('#nav a[data-view=review]');
  await page.waitForSelector(`#review-list li[data-id="${idX}"]`, { timeout: 10000 });
  await page.waitForSelector('#review-detail #invoice-form');
  const sellerX = await page.evaluate(() => (document.querySelector('#review-detail input[data-field="seller.name"]') || {}).value);
  check(sellerX && sellerX.includes(PAYLOAD), 'the probe\'s seller shows the characters <img src=x onerror=alert(1)>', sellerX);
  await shot('10-review-probe');
  const pos = await page.$$eval('#review-list li', (lis, id) => lis.findIndex((li) => li.dataset.id === id), idX);
  await page.click('#view h1');
  for (let i = 0; i < pos; i++) await page.keyboard.press('j');
  await waitFor((id) => document.querySelector('#review-list li.current')?.dataset.id === id, idX)
    .then(() => check(true, 'j moves through the queue'), () => check(false, 'j moves through the queue'));
  await page.waitForSelector('#review-detail #approve');
  await page.keyboard.press('e');
  check(await page.evaluate(() => document.activeElement && document.activeElement.matches('#review-detail input')), 'e puts the focus in a field to edit');
  await page.keyboard.press('Escape');
  await page.keyboard.press('a');
  await waitFor((id) => !document.querySelector(`#review-list li[data-id="${id}"]`), idX, { timeout: 10000 })
    .then(() => check(true, 'a approves: the invoice leaves the queue'), () => check(false, 'a approves: the invoice leaves the queue'));

  await page.click('#nav a[data-view=search]');
  await page.fill('#search-q', 'onerror');
  await page.press('#search-q', 'Enter');
  await waitFor((id) => !!document.querySelector(`#search-results li[data-id="${id}"]`), idX, { timeout: 10000 });
  const probe = await page.$eval(`#search-results li[data-id="${idX}"]`, (li) => ({
    text: li.textContent, imgs: li.querySelectorAll('img, script').length }));
  check(probe.text.includes(PAYLOAD) && probe.imgs === 0, 'search shows the probe\'s text as characters, no element made of it', JSON.stringify(probe));
  await page.goto(`${BASE}/#/invoice/${idX}`);
  await page.waitForSelector('#invoice-form');
  await page.waitForTimeout(500);
  check(await page.$$eval('#view img, #view script', (e) => e.length) === 0, 'the invoice view makes no element of the probe\'s text');
  await shot('11-invoice-probe');
  check(dialogs.length === 0, 'no dialog fired', dialogs.join(' | '));

  // --- a phone-sized screen -------------------------------------------------------------------------
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [name, hash] of [['12-phone-inbox', '#/inbox'], ['13-phone-invoice', `#/invoice/${idA}`], ['14-phone-search', '#/search'], ['15-phone-review', '#/review']]) {
    await page.goto(`${BASE}/${hash}`);
    await page.waitForSelector('#view > *');
    await page.waitForTimeout(hash.startsWith('#/invoice') ? 1500 : 700);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 391, `${name}: nothing wider than the 390 px screen`, wide);
    await shot(name);
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // --- keyboard alone: Tab reaches the navigation, Enter opens a view -----------------------------
  await page.goto(`${BASE}/#/inbox`);
  await page.reload();
  await page.waitForSelector('#inbox-table');
  let reachedUpload = false;
  for (let i = 0; i < 10 && !reachedUpload; i++) {
    await page.keyboard.press('Tab');
    reachedUpload = await page.evaluate(() => document.activeElement && document.activeElement.matches('#nav a[data-view=upload]'));
  }
  check(reachedUpload, 'Tab reaches the navigation');
  await page.keyboard.press('Enter');
  await waitFor(() => location.hash === '#/upload' && !!document.querySelector('#upload-input'))
    .then(() => check(true, 'Enter opens the view'), () => check(false, 'Enter opens the view'));

  // --- sign out, then refused -----------------------------------------------------------------------
  await page.click('#signout');
  await page.waitForSelector('#signin-form', { state: 'visible' });
  const after = await page.evaluate(async () => (await fetch('/api/v1/invoices')).status);
  check(after === 401, 'signed out: the API refuses the page (401)', after);
  const replay = await fetch(`${BASE}/api/v1/invoices`, { headers: { Cookie: `invoiceflow_session=${sc ? sc.value : ''}` } });
  check(replay.status === 401, 'the old session cookie is refused after sign-out', replay.status);
  await shot('16-signed-out');

  const csp = problems.filter((p) => /Content Security Policy|Refused to/.test(p));
  check(csp.length === 0, 'no Content-Security-Policy violation', csp.join('\n'));
  check(problems.filter((p) => !/401|403|400/.test(p)).length === 0, 'no script error', problems.join('\n'));
} catch (err) {
  check(false, 'the browser run finished', err.stack || err);
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
