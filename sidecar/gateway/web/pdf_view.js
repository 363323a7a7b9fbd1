// pdf_view.js: a PDF's pages drawn on canvases with pdf.js (vendored, see
// vendor/README.txt). The file comes from the gateway with the session's cookie.
import * as pdfjs from './vendor/pdf.min.mjs';

pdfjs.GlobalWorkerOptions.workerSrc = '/web/vendor/pdf.worker.min.mjs';

const MAX_PAGES = 20;

export async function renderPdf(pane, url) {
  const note = document.createElement('p');
  note.className = 'hint';
  note.textContent = 'Loading the document…';
  pane.replaceChildren(note);
  try {
    const res = await fetch(url, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`the file is not available (HTTP ${res.status})`);
    const data = new Uint8Array(await res.arrayBuffer());
    // no eval, no scripts in the PDF: the page's CSP allows neither
    const doc = await pdfjs.getDocument({ data, isEvalSupported: false, enableXfa: false }).promise;
    note.remove();
    const width = Math.max(280, pane.clientWidth || 600);
    for (let n = 1; n <= Math.min(doc.numPages, MAX_PAGES); n++) {
      const page = await doc.getPage(n);
      const base = page.getViewport({ scale: 1 });
      const scale = width / base.width;
      const ratio = window.devicePixelRatio || 1;
      const vp = page.getViewport({ scale: scale * ratio });
      const canvas = document.createElement('canvas');
      canvas.width = Math.floor(vp.width);
      canvas.height = Math.floor(vp.height);
      canvas.className = 'pdf-page';
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', `Page ${n} of ${doc.numPages}`);
      pane.append(canvas);
      await page.render({ canvasContext: canvas.getContext('2d'), viewport: vp }).promise;
    }
    if (doc.numPages > MAX_PAGES) {
      const more = document.createElement('p');
      more.className = 'hint';
      more.textContent = `Pages ${MAX_PAGES + 1} to ${doc.numPages}: download the original.`;
      pane.append(more);
    }
    pane.dataset.rendered = String(Math.min(doc.numPages, MAX_PAGES));
  } catch (err) {
    note.textContent = `No preview: ${err.message || err}`;
    pane.dataset.rendered = 'error';
  }
}
