// @ts-check
import { upload } from './api.js'
import { datasetSummary } from './dataset.js'
import { errorBox, h, messageOf, progressBar } from './dom.js'
import { explainRejection } from './rejections.js'
import { zipFiles } from './zip.js'

/** @typedef {{ path: string, file: File }} Entry */

const ARCHIVE = /\.(zip|tar|tgz|tar\.gz)$/i

/**
 * Every file under a dropped folder, with its path from the folder's parent (so the folder name stays).
 * @param {FileSystemEntry} entry
 * @returns {Promise<Entry[]>}
 */
async function walk(entry, prefix = '') {
  if (entry.isFile) {
    const fileEntry = /** @type {FileSystemFileEntry} */ (entry)
    return [{ path: prefix + entry.name, file: await new Promise((resolve, reject) => fileEntry.file(resolve, reject)) }]
  }
  const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader()
  /** @type {FileSystemEntry[]} */
  const children = []
  // readEntries answers in batches of at most 100; an empty batch is the end.
  for (;;) {
    /** @type {FileSystemEntry[]} */
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject))
    if (batch.length === 0) break
    children.push(...batch)
  }
  const nested = await Promise.all(children.map((child) => walk(child, `${prefix}${entry.name}/`)))
  return nested.flat()
}

/**
 * Hidden files (.DS_Store, ._foo) are never images; they would only fill the rejected list.
 * @type {(entries: Entry[]) => Entry[]}
 */
const visible = (entries) => entries.filter(({ path }) => !path.split('/').some((part) => part.startsWith('.')))

/** @param {import('./app.js').PageContext} context */
export async function uploadPage({ main }) {
  const archiveInput = h('input', { type: 'file', id: 'archive-input', accept: '.zip,.tar,.tgz,.tar.gz,application/zip,application/gzip,application/x-tar', class: 'sr-only', tabindex: -1, 'aria-hidden': 'true' })
  // The visible buttons and the drop zone open these; as tab stops of their own they were invisible.
  const folderInput = h('input', { type: 'file', id: 'folder-input', webkitdirectory: true, multiple: true, class: 'sr-only', tabindex: -1, 'aria-hidden': 'true' })
  const nameInput = h('input', { type: 'text', id: 'dataset-name', placeholder: 'from the file or folder name', maxlength: 200 })
  const status = h('div', { class: 'upload-status', 'aria-live': 'polite' })
  const result = h('div')

  /**
   * @param {Blob} blob the archive
   * @param {string} filename its name, which tells the server its format
   */
  async function send(blob, filename) {
    result.replaceChildren()
    const bar = progressBar(0, 'upload progress')
    const fill = /** @type {HTMLElement} */ (bar.firstChild)
    const text = h('p', {}, `Uploading ${filename} (${(blob.size / 1e6).toFixed(1)} MB)…`)
    status.replaceChildren(text, bar)
    const form = new FormData()
    if (nameInput.value.trim()) form.append('name', nameInput.value.trim())
    form.append('file', blob, filename)
    try {
      /** @type {import('./api-types.js').UploadedDataset} */
      const dataset = await upload('/datasets', form, (share) => {
        const value = Math.round(share * 100)
        bar.setAttribute('aria-valuenow', String(value))
        fill.style.width = `${value}%`
        if (share >= 1) text.textContent = 'Checking every image…'
      })
      status.replaceChildren(h('p', { class: 'ok' }, `Stored “${dataset.name}”.`))
      // The next upload is another dataset: its name must not be this one's.
      nameInput.value = ''
      result.replaceChildren(
        h('section', { class: 'panel', 'aria-labelledby': 'result-h' },
          h('div', { class: 'page-head' }, h('h2', { id: 'result-h' }, dataset.name), h('a', { class: 'button', href: `#/train?dataset=${dataset.id}` }, 'Train a model on it')),
          datasetSummary(dataset)),
      )
    } catch (err) {
      const why = explainRejection(err)
      // replaceChildren, unlike h, writes a null child as the text "null".
      status.replaceChildren(errorBox(err), ...(why ? [why] : []))
    }
  }

  /** @param {Entry[]} entries */
  async function sendFolder(entries) {
    const files = visible(entries)
    if (files.length === 0) return status.replaceChildren(errorBox({ code: 'EMPTY', message: 'that folder holds no files' }))
    const root = files[0]?.path.split('/')[0]
    status.replaceChildren(h('p', {}, `Packing ${files.length} files…`))
    try {
      await send(await zipFiles(files), `${root || 'dataset'}.zip`)
    } catch (err) {
      status.replaceChildren(errorBox({ code: 'ZIP', message: messageOf(err) }))
    }
  }

  archiveInput.addEventListener('change', () => {
    const file = archiveInput.files?.[0]
    if (file) send(file, file.name)
  })
  folderInput.addEventListener('change', () => sendFolder([...(folderInput.files ?? [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }))))

  /** @type {HTMLDivElement} */
  const zone = h(
    'div',
    {
      class: 'dropzone',
      tabindex: 0,
      role: 'button',
      'aria-describedby': 'drop-help',
      onclick: () => archiveInput.click(),
      onkeydown: (event) => (event.key === 'Enter' || event.key === ' ') && (event.preventDefault(), archiveInput.click()),
      ondragover: (event) => (event.preventDefault(), zone.classList.add('over')),
      ondragleave: () => zone.classList.remove('over'),
      ondrop: async (event) => {
        event.preventDefault()
        zone.classList.remove('over')
        const dropped = event.dataTransfer
        if (!dropped) return
        const items = [...dropped.items].map((item) => item.webkitGetAsEntry?.()).filter((entry) => entry != null)
        const first = dropped.files[0]
        const [only] = items
        if (items.length === 1 && only?.isFile && ARCHIVE.test(only.name) && first) return send(first, only.name)
        if (items.length > 0) return sendFolder((await Promise.all(items.map((item) => walk(item)))).flat())
        if (first) send(first, first.name)
      },
    },
    h('strong', {}, 'Drop a .zip / .tar.gz or a folder here'),
    h('span', { id: 'drop-help', class: 'muted' }, 'or press Enter to pick an archive'),
  )

  main.append(
    h('h1', {}, 'Upload a dataset'),
    h('p', { class: 'muted' }, 'One folder per class (ImageFolder): ', h('code', {}, 'cats/001.jpg, dogs/002.jpg'), '. Optional ', h('code', {}, 'train/'), ' and ', h('code', {}, 'val/'), ' folders keep your own split.'),
    h('section', { class: 'panel' },
      h('label', { for: 'dataset-name' }, 'Name (optional)'), nameInput,
      zone, archiveInput,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'ghost', onclick: () => archiveInput.click() }, 'Choose archive…'),
        h('button', { type: 'button', class: 'ghost', onclick: () => folderInput.click() }, 'Choose folder…'), folderInput),
      status),
    result,
  )
}
