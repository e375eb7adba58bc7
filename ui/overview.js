// @ts-check
import { api, TERMINAL } from './api.js'
import { ago, all, badge, h, modelName, one, pct, progressBar, shortId } from './dom.js'

/** @typedef {import('./api-types.js').JobList} JobList */
/** @typedef {import('./api-types.js').ModelList} ModelList */
/** @typedef {import('./api-types.js').DatasetList} DatasetList */
/** Dataset names by id, asked with a model's optional datasetId. @typedef {Map<string | undefined, string>} Names */

/** How often the overview re-reads the lists while something is queued or running, and otherwise. */
const BUSY_MS = 2000
const IDLE_MS = 15000

/**
 * @param {string} text
 * @param {HTMLElement} [action]
 */
function empty(text, action) {
  return h('div', { class: 'empty' }, h('p', {}, text), action)
}

/**
 * @param {JobList['jobs']} jobs
 * @param {Names} names
 */
function jobsTable(jobs, names) {
  if (jobs.length === 0) return empty('No training jobs yet.', h('a', { class: 'button', href: '#/train' }, 'Start one'))
  return h(
    'table',
    { class: 'list stack', id: 'jobs-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Job'), h('th', { scope: 'col' }, 'Dataset'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'wide' }, 'Progress'), h('th', { scope: 'col' }, 'Queued'))),
    h(
      'tbody',
      {},
      jobs.map((job) =>
        h(
          'tr',
          { 'data-job': job.id },
          h('td', { 'data-label': 'Job' }, h('a', { href: `#/jobs/${job.id}` }, shortId(job.id))),
          h('td', { 'data-label': 'Dataset' }, names.get(job.datasetId) ?? shortId(job.datasetId)),
          h('td', { 'data-label': 'Status' }, badge(job.status)),
          h('td', { class: 'wide', 'data-label': 'Progress' }, progressBar(job.progress.percent, `job ${shortId(job.id)} progress`), h('small', { class: 'muted' }, job.status === 'active' && job.phase === 'training' ? `training · round ${job.progress.epoch} of ${job.progress.epochs}` : job.status === 'active' && job.phase === 'queued' ? 'starting' : job.phase)),
          h('td', { title: job.queuedAt, 'data-label': 'Queued' }, ago(job.queuedAt)),
        ),
      ),
    ),
  )
}

/**
 * @param {ModelList['models']} models
 * @param {Names} names
 */
function modelCards(models, names) {
  if (models.length === 0) return empty('No models yet: they appear here when a job completes.')
  const compare = h('button', { type: 'button', class: 'ghost', id: 'compare-selected', disabled: true }, 'Compare selected')
  const list = h(
    'ul',
    { class: 'cards' },
    models.map((model) =>
      h(
        'li',
        { class: 'card', 'data-model': model.id },
        h('a', { class: 'card-link', href: `#/models/${model.id}` }, h('strong', { class: 'model-name' }, modelName(model, names.get(model.datasetId))), h('span', { class: 'big' }, pct(model.metrics?.accuracy)), h('span', { class: 'muted' }, 'accuracy on checking images')),
        h('p', { class: 'muted' }, `${model.labels?.length ?? '?'} classes · ${model.base?.id ?? ''} · ${ago(model.createdAt)}`),
        h('p', { class: 'labels' }, (model.labels ?? []).slice(0, 6).map((label) => h('span', { class: 'chip' }, label)), (model.labels?.length ?? 0) > 6 ? h('span', { class: 'muted' }, '…') : null),
        h('label', { class: 'pick' }, h('input', { type: 'checkbox', value: model.id, 'data-compare': true }), ` Compare`, h('span', { class: 'sr-only' }, ` ${modelName(model, names.get(model.datasetId))}`)),
      ),
    ),
  )
  list.addEventListener('change', () => {
    const picked = all(list, '[data-compare]:checked', HTMLInputElement).map((box) => box.value)
    compare.disabled = picked.length < 2
    compare.onclick = () => (location.hash = `#/compare?ids=${picked.join(',')}`)
  })
  return h('div', {}, list, models.length > 1 ? h('div', { class: 'row end' }, h('small', { class: 'muted' }, 'Tick two or more models to see them side by side.'), compare) : null)
}

/**
 * What the app is for and the three steps, each ticked once done; shown until a model exists.
 * @param {DatasetList['datasets']} datasets
 * @param {ModelList['models']} models
 */
function guide(datasets, models) {
  /** @type {(n: number, done: boolean, title: string, text: string, href: string, action: string) => HTMLLIElement} */
  const step = (n, done, title, text, href, action) =>
    h('li', { class: done ? 'done' : null }, h('span', { class: 'step-n', 'aria-hidden': 'true' }, done ? '✓' : n), h('div', {}, h('strong', {}, title, done ? h('span', { class: 'sr-only' }, ' (done)') : null), h('p', { class: 'muted' }, text), done ? null : h('a', { class: 'button small', href }, action)))
  return h('section', { class: 'guide panel', 'aria-labelledby': 'guide-h' },
    h('h2', { id: 'guide-h' }, 'Three steps to your own image classifier'),
    h('ol', { class: 'steps' },
      step(1, datasets.length > 0, 'Upload', 'A folder of photos with one subfolder per category, e.g. cats/ and dogs/.', '#/upload', 'Upload a dataset'),
      step(2, models.length > 0, 'Train', 'Pick the dataset and how long to spend. Progress shows live.', '#/train', 'Train a model'),
      step(3, false, 'Use', 'Try the model on new photos here, or call it from your own code.', models[0] ? `#/models/${models[0].id}` : '#/train', models[0] ? 'Try your model' : 'Needs a model first')))
}

/** @param {DatasetList['datasets']} datasets */
function datasetsTable(datasets) {
  if (datasets.length === 0) return empty('No datasets yet.', h('a', { class: 'button', href: '#/upload' }, 'Upload a dataset'))
  return h(
    'table',
    { class: 'list' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Images'), h('th', { scope: 'col' }, 'Classes'), h('th', { scope: 'col' }, 'Uploaded'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    h(
      'tbody',
      {},
      datasets.map((d) =>
        h(
          'tr',
          {},
          h('td', {}, h('a', { href: `#/datasets/${d.id}` }, d.name), d.warnings.length ? h('span', { class: 'warn-dot', title: d.warnings.join('\n') }, ` ⚠ ${d.warnings.length}`) : null),
          h('td', {}, d.imageCount),
          h('td', {}, d.classes.length),
          h('td', { title: d.createdAt }, ago(d.createdAt)),
          h('td', {}, h('a', { class: 'button small', href: `#/train?dataset=${d.id}` }, 'Train')),
        ),
      ),
    ),
  )
}

/**
 * Datasets, jobs and models at a glance; statuses refresh while anything is queued or running.
 * @param {import('./app.js').PageContext} context
 */
export async function overviewPage({ main, signal }) {
  const guideBox = h('div')
  const jobsBox = h('div', { 'aria-live': 'polite' })
  const modelsBox = h('div')
  const datasetsBox = h('div')
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Overview'), h('p', { class: 'tagline' }, 'imagetune teaches a computer to sort your photos into your own categories: upload examples, train, then use the model.')), h('div', { class: 'row' }, h('a', { class: 'button ghost', href: '#/upload' }, 'Upload dataset'), h('a', { class: 'button', href: '#/train' }, 'Train a model'))),
    guideBox,
    h('section', { 'aria-labelledby': 'jobs-h' }, h('h2', { id: 'jobs-h' }, 'Jobs'), jobsBox),
    h('section', { 'aria-labelledby': 'models-h' }, h('h2', { id: 'models-h' }, 'Models'), modelsBox),
    h('section', { 'aria-labelledby': 'datasets-h' }, h('h2', { id: 'datasets-h' }, 'Datasets'), datasetsBox),
  )
  /** Reads the lists and redraws them; true while something is queued or running. */
  const refresh = async () => {
    const [{ jobs }, { models }, { datasets }] = await Promise.all([
      /** @type {Promise<JobList>} */ (api('/jobs?limit=20', { signal })),
      /** @type {Promise<ModelList>} */ (api('/models', { signal })),
      /** @type {Promise<DatasetList>} */ (api('/datasets', { signal })),
    ])
    if (signal.aborted) return false
    /** @type {Names} */
    const names = new Map(datasets.map((d) => [d.id, d.name]))
    // A refresh must not throw keyboard focus back to the top: the element that had it gets it again.
    const active = main.contains(document.activeElement) ? document.activeElement : null
    const href = active?.getAttribute('href')
    const focused = href ? `[href="${CSS.escape(href)}"]` : active instanceof HTMLInputElement && active.dataset.compare !== undefined && active.value ? `[data-compare][value="${CSS.escape(active.value)}"]` : null
    guideBox.replaceChildren(models.length ? '' : guide(datasets, models))
    jobsBox.replaceChildren(jobsTable(jobs, names))
    // The compare ticks survive a refresh.
    const ticked = new Set(all(modelsBox, '[data-compare]:checked', HTMLInputElement).map((box) => box.value))
    modelsBox.replaceChildren(modelCards(models, names))
    for (const box of all(modelsBox, '[data-compare]', HTMLInputElement)) box.checked = ticked.has(box.value)
    if (ticked.size) modelsBox.querySelector('.cards')?.dispatchEvent(new Event('change'))
    datasetsBox.replaceChildren(datasetsTable(datasets))
    if (focused) one(main, focused, HTMLElement)?.focus()
    return jobs.some((job) => !TERMINAL.has(job.status))
  }
  let busy = await refresh()
  // The first drawing is the page; later ones refresh it in the background until the page is left.
  void (async () => {
    while (!signal.aborted) {
      await new Promise((/** @type {(value?: unknown) => void} */ resolve) => {
        const timer = setTimeout(resolve, busy ? BUSY_MS : IDLE_MS)
        signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
      })
      if (signal.aborted) return
      busy = await refresh().catch(() => busy)
    }
  })()
}
