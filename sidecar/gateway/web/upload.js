// upload.js: drop (or choose) many files; one progress bar and one outcome per file.
import { upload } from './api.js';
import { el } from './dom.js';

export function uploadView(root) {
  const input = el('input', { type: 'file', id: 'upload-input', multiple: true, accept: 'application/pdf,.pdf' });
  const list = el('ul', { class: 'uploads', id: 'upload-list', 'aria-live': 'polite' });
  const zone = el('div', { class: 'dropzone', id: 'dropzone' },
    el('p', {}, 'Drop PDF files here'),
    el('label', { for: 'upload-input' }, 'or choose them: '), input);

  function send(files) {
    for (const file of files) {
      const bar = el('progress', { max: '1', value: '0', 'aria-label': `Upload of ${file.name}` });
      const outcome = el('span', { class: 'outcome' }, 'uploading…');
      const item = el('li', { class: 'upload' }, el('span', { class: 'name' }, file.name), bar, outcome);
      list.append(item);
      upload(file, (f) => { bar.value = f; }).then((r) => {
        bar.value = 1;
        item.dataset.done = r.ok ? 'ok' : 'refused';
        outcome.replaceChildren();
        if (r.ok) {
          outcome.append('accepted: ', el('a', { href: `#/invoice/${r.body.request_id}` }, r.body.request_id),
            r.body.duplicate ? ' (duplicate)' : '');
        } else {
          outcome.className = 'outcome error';
          outcome.textContent = `refused (${r.status}): ${r.detail}`;
        }
      });
    }
  }

  input.addEventListener('change', () => { send([...input.files]); input.value = ''; });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('over'); send([...e.dataTransfer.files]); });

  root.append(el('h1', {}, 'Upload'), zone, list);
}
