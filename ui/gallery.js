// @ts-check
/**
 * A dataset's images by class, a page at a time (`GET /datasets/:id/images`), with what the latest training job
 * found (label issues, near-duplicates) and the changes that make a new revision: move to another class, drop, add
 * image files to the class shown.
 */
import { api, ApiError, blobUrl, features } from './api.js'
import { errorBox, h, pct, toast } from './dom.js'

/** @typedef {import('./api-types.js').Dataset} Dataset */
/** @typedef {import('./api-types.js').Model} Model */

const PAGE = 60
/** @type {(path: string) => string | undefined} */
const fileOf = (path) => path.split('/').at(-1)

/**
 * What the newest model trained on this dataset found: its metadata carries labelIssues and nearDuplicates where
 * the server computes them (models outlive the job records, which expire).
 * @param {string} datasetId
 * @param {AbortSignal} signal
 */
async function latestFindings(datasetId, signal) {
  /** @type {Pick<import('./api-types.js').ModelList, 'models'>} */
  const { models } = await api('/models', { signal }).catch(() => ({ models: [] }))
  const model = models.find((m) => m.datasetId === datasetId)
  return { labelIssues: model?.labelIssues ?? [], nearDuplicates: model?.nearDuplicates ?? [], modelId: model?.id }
}

/**
 * @param {string} datasetId
 * @param {string} path the image's path in the dataset
 * @param {AbortSignal} signal
 */
function thumb(datasetId, path, signal) {
  const image = h('img', { alt: fileOf(path), loading: 'lazy', width: 120, height: 120 })
  blobUrl(`/datasets/${datasetId}/${path.split('/').map(encodeURIComponent).join('/')}`, signal)
    .then((url) => (image.src = url))
    .catch(() => image.replaceWith(h('span', { class: 'thumb-missing' }, 'image unavailable')))
  return image
}

/**
 * @param {Dataset} dataset
 * @param {AbortSignal} signal
 */
export async function gallery(dataset, signal) {
  const [{ revisions }, findings] = await Promise.all([features(), latestFindings(dataset.id, signal)])
  const selected = new Set()
  const status = h('div', { 'aria-live': 'polite', id: 'gallery-status' })
  const flagOf = new Map()
  for (const issue of findings.labelIssues) flagOf.set(issue.path, `looks like ${issue.suggested}`)
  for (const pair of findings.nearDuplicates) for (const p of [pair.a, pair.b]) if (!flagOf.has(p)) flagOf.set(p, 'near-duplicate')

  /**
   * Sends a revision (JSON, or the multipart form that adds files) and opens the new dataset it made; the one shown
   * here stays as it was.
   * @param {FormData | { move?: Array<{ path: string, to: string }>, drop?: string[] }} change
   * @param {string} what the change in words, for the toast
   */
  async function revise(change, what) {
    status.replaceChildren(h('p', { class: 'muted' }, 'Making a new revision…'))
    try {
      /** @type {import('./api-types.js').Revision} */
      const created = await api(`/datasets/${dataset.id}/revisions`, { method: 'POST', body: change })
      const refused = created.rejected?.length ? ` (${created.rejected.length} file${created.rejected.length > 1 ? 's' : ''} refused: ${created.rejected.map((r) => `${r.path}: ${r.reason}`).join('; ')})` : ''
      toast(`${what}: new dataset “${created.name}”${refused}`)
      location.hash = `#/datasets/${created.id}`
    } catch (err) {
      const details = /** @type {{ problems?: unknown } | undefined} */ (err instanceof ApiError ? err.details : undefined)
      const problems = Array.isArray(details?.problems) ? details.problems.map(String) : []
      // replaceChildren, unlike h, writes a null child as the text "null".
      status.replaceChildren(errorBox(err), ...(problems.length > 1 ? [h('ul', { class: 'problems' }, problems.map((p) => h('li', {}, p)))] : []))
    }
  }

  const classSelect = h('select', { id: 'gallery-class' }, dataset.classes.map((c) => h('option', { value: c.name }, `${c.name} (${c.count})`)))
  const grid = h('ul', { class: 'thumbs gallery', id: 'gallery-grid', 'aria-label': 'images of the class' })
  const more = h('button', { type: 'button', class: 'ghost', id: 'gallery-more', hidden: true }, 'Show more')
  const count = h('span', { id: 'gallery-selected' }, 'None selected')
  const target = h('select', { id: 'move-to', 'aria-label': 'class to move the selected images to' }, dataset.classes.map((c) => h('option', { value: c.name }, c.name)), h('option', { value: '' }, 'a new class…'))
  const newClass = h('input', { type: 'text', id: 'new-class', placeholder: 'new class name', 'aria-label': 'new class name', hidden: true, maxlength: 255 })
  target.addEventListener('change', () => (newClass.hidden = target.value !== ''))
  const moveButton = h('button', { type: 'button', disabled: true, id: 'move-selected' }, 'Move')
  const dropButton = h('button', { type: 'button', class: 'ghost danger', disabled: true, id: 'drop-selected' }, 'Drop')
  const refreshSelection = () => {
    count.textContent = selected.size ? `${selected.size} selected` : 'None selected'
    moveButton.disabled = dropButton.disabled = !revisions || selected.size === 0
  }
  moveButton.addEventListener('click', () => {
    const to = target.value || newClass.value.trim()
    if (!to) return status.replaceChildren(h('p', { class: 'field-error', role: 'alert' }, 'Name the new class first.'))
    revise({ move: [...selected].map((path) => ({ path, to })) }, `Moved ${selected.size} to ${to}`)
  })
  dropButton.addEventListener('click', () => revise({ drop: [...selected] }, `Dropped ${selected.size}`))
  // Choosing files sends them: the picker is the confirmation, as with the dataset upload.
  const addLabel = h('label', { for: 'add-images' }, `Add images to ${classSelect.value}`)
  const addInput = h('input', { type: 'file', id: 'add-images', multiple: true, accept: 'image/*', disabled: !revisions })
  addInput.addEventListener('change', () => {
    const files = [...(addInput.files ?? [])]
    if (files.length === 0) return
    const to = classSelect.value
    const form = new FormData()
    form.append('to', to)
    for (const file of files) form.append('add', file, file.name)
    addInput.value = ''
    revise(form, `Added ${files.length} to ${to}`)
  })

  /** @type {string | null} */
  let cursor = null
  /** Bumped on each class switch, so a page still in flight for the previous class is thrown away. */
  let generation = 0
  /** @param {boolean} reset true to start the class again from its first page */
  async function load(reset) {
    if (reset) {
      grid.replaceChildren()
      cursor = null
      generation += 1
    }
    const mine = generation
    const query = new URLSearchParams({ class: classSelect.value, limit: String(PAGE) })
    if (cursor) query.set('cursor', cursor)
    /** @type {import('./api-types.js').DatasetImagePage} */
    const page = await api(`/datasets/${dataset.id}/images?${query}`, { signal })
    if (mine !== generation) return
    for (const item of page.items) {
      const box = h('input', { type: 'checkbox', checked: selected.has(item.path), 'aria-label': `select ${fileOf(item.path)}` })
      box.addEventListener('change', () => {
        if (box.checked) selected.add(item.path)
        else selected.delete(item.path)
        refreshSelection()
      })
      const flag = flagOf.get(item.path)
      grid.append(h('li', { 'data-path': item.path, class: flag ? 'flagged' : null }, h('label', { class: 'thumb-pick' }, box, thumb(dataset.id, item.path, signal)), h('small', { class: 'file-name' }, fileOf(item.path), item.split ? ` · ${item.split}` : ''), flag ? h('small', { class: 'flag' }, flag) : null))
    }
    cursor = page.nextCursor
    more.hidden = !cursor
  }
  classSelect.addEventListener('change', () => (addLabel.textContent = `Add images to ${classSelect.value}`))
  classSelect.addEventListener('change', () => load(true).catch((err) => signal.aborted || status.replaceChildren(errorBox(err))))
  more.addEventListener('click', async () => {
    // One page at a time: a second click before the first answers would ask for the same cursor again.
    more.disabled = true
    try {
      await load(false)
    } catch (err) {
      status.replaceChildren(errorBox(err))
    } finally {
      more.disabled = false
    }
  })

  const issues = findings.labelIssues.length
    ? h('section', { 'aria-labelledby': 'issues-h', id: 'label-issues' },
        h('h3', { id: 'issues-h' }, `Possibly mislabelled (${findings.labelIssues.length})`),
        h('p', { class: 'muted' }, 'The latest model trained on this dataset thought these look like another class. Check each one.'),
        h('ul', { class: 'thumbs' }, findings.labelIssues.slice(0, 48).map((issue) => h('li', {},
          thumb(dataset.id, issue.path, signal),
          h('small', {}, h('strong', {}, issue.label), ' → looks like ', h('strong', {}, issue.suggested), ` (${pct(issue.confidence, 0)})`),
          h('small', { class: 'file-name' }, fileOf(issue.path)),
          revisions ? h('button', { type: 'button', class: 'ghost small', onclick: () => revise({ move: [{ path: issue.path, to: issue.suggested }] }, `Moved ${fileOf(issue.path)} to ${issue.suggested}`) }, `Move to ${issue.suggested}`) : null))))
    : null
  const duplicates = findings.nearDuplicates.length
    ? h('section', { 'aria-labelledby': 'dups-h', id: 'near-duplicates' },
        h('h3', { id: 'dups-h' }, `Near-duplicates (${findings.nearDuplicates.length})`),
        h('p', { class: 'muted' }, 'Pairs that are almost the same picture. Across classes they confuse training; across the split they flatter the scores.'),
        h('ul', { class: 'pairs' }, findings.nearDuplicates.slice(0, 24).map((pair) => h('li', {},
          thumb(dataset.id, pair.a, signal), thumb(dataset.id, pair.b, signal),
          h('small', {}, `${pct(pair.similarity, 0)} alike`, pair.crossClass ? ' · in different classes' : '', pair.crossSplit ? ' · in train and val' : ''),
          revisions ? h('button', { type: 'button', class: 'ghost small', onclick: () => revise({ drop: [pair.b] }, `Dropped ${fileOf(pair.b)}`) }, `Drop ${fileOf(pair.b)}`) : null))))
    : null

  const section = h('section', { 'aria-labelledby': 'gallery-h', class: 'gallery-section' },
    h('h2', { id: 'gallery-h' }, 'Images'),
    issues, duplicates,
    h('div', { class: 'row' }, h('label', { for: 'gallery-class' }, 'Class'), classSelect),
    h('div', { class: 'row toolbar' }, count, h('span', {}, 'Move to'), target, newClass, moveButton, dropButton),
    h('div', { class: 'row' }, addLabel, addInput),
    revisions ? null : h('p', { class: 'muted', id: 'no-revisions' }, 'This server cannot make dataset revisions yet, so images cannot be moved, dropped or added here.'),
    h('p', { class: 'muted' }, 'Moving, dropping or adding images makes a new dataset (a revision); this one stays as it is.'),
    grid, more, status)
  await load(true)
  return section
}
