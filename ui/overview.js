import { api, TERMINAL } from './api.js'
import { ago, badge, h, pct, progressBar, shortId } from './dom.js'

/** How often the overview re-reads the lists while something is queued or running, and otherwise. */
const BUSY_MS = 2000
const IDLE_MS = 15000

function empty(text, action) {
  return h('div', { class: 'empty' }, h('p', {}, text), action)
}

function jobsTable(jobs, names) {
  if (jobs.length === 0) return empty('No training jobs yet.', h('a', { class: 'button', href: '#/train' }, 'Start one'))
  return h(
    'table',
    { class: 'list' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Job'), h('th', { scope: 'col' }, 'Dataset'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'wide' }, 'Progress'), h('th', { scope: 'col' }, 'Queued'))),
    h(
      'tbody',
      {},
      jobs.map((job) =>
        h(
          'tr',
          { 'data-job': job.id },
          h('td', {}, h('a', { href: `#/jobs/${job.id}` }, shortId(job.id))),
          h('td', {}, names.get(job.datasetId) ?? shortId(job.datasetId)),
          h('td', {}, badge(job.status)),
          h('td', { class: 'wide' }, progressBar(job.progress?.percent, `job ${shortId(job.id)} progress`), h('small', { class: 'muted' }, job.status === 'active' ? `${job.phase} · epoch ${job.progress.epoch}/${job.progress.epochs}` : job.phase)),
          h('td', { title: job.queuedAt }, ago(job.queuedAt)),
        ),
      ),
    ),
  )
}

function modelCards(models, names) {
  if (models.length === 0) return empty('No models yet: they appear here when a job completes.')
  return h(
    'ul',
    { class: 'cards' },
    models.map((model) =>
      h(
        'li',
        { class: 'card' },
        h('a', { class: 'card-link', href: `#/models/${model.id}` }, h('span', { class: 'big' }, pct(model.metrics?.accuracy)), h('span', { class: 'muted' }, 'validation accuracy')),
        h('p', {}, h('strong', {}, names.get(model.datasetId) ?? 'model'), ' ', h('code', {}, shortId(model.id))),
        h('p', { class: 'muted' }, `${model.labels?.length ?? '?'} classes · ${model.base?.id ?? ''} · ${ago(model.createdAt)}`),
        h('p', { class: 'labels' }, (model.labels ?? []).slice(0, 6).map((label) => h('span', { class: 'chip' }, label)), (model.labels?.length ?? 0) > 6 ? h('span', { class: 'muted' }, '…') : null),
      ),
    ),
  )
}

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

/** Datasets, jobs and models at a glance; statuses refresh while anything is queued or running. */
export async function overviewPage({ main, signal }) {
  const jobsBox = h('div', { 'aria-live': 'polite' })
  const modelsBox = h('div')
  const datasetsBox = h('div')
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Overview'), h('div', { class: 'row' }, h('a', { class: 'button ghost', href: '#/upload' }, 'Upload dataset'), h('a', { class: 'button', href: '#/train' }, 'Train a model'))),
    h('section', { 'aria-labelledby': 'jobs-h' }, h('h2', { id: 'jobs-h' }, 'Jobs'), jobsBox),
    h('section', { 'aria-labelledby': 'models-h' }, h('h2', { id: 'models-h' }, 'Models'), modelsBox),
    h('section', { 'aria-labelledby': 'datasets-h' }, h('h2', { id: 'datasets-h' }, 'Datasets'), datasetsBox),
  )
  while (!signal.aborted) {
    const [{ jobs }, { models }, { datasets }] = await Promise.all([api('/jobs?limit=20', { signal }), api('/models', { signal }), api('/datasets', { signal })])
    if (signal.aborted) return
    const names = new Map(datasets.map((d) => [d.id, d.name]))
    // A refresh must not throw keyboard focus back to the top: the link that had it gets it again.
    const focused = main.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null
    jobsBox.replaceChildren(jobsTable(jobs, names))
    modelsBox.replaceChildren(modelCards(models, names))
    datasetsBox.replaceChildren(datasetsTable(datasets))
    if (focused) main.querySelector(`[href="${CSS.escape(focused)}"]`)?.focus()
    const busy = jobs.some((job) => !TERMINAL.has(job.status))
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, busy ? BUSY_MS : IDLE_MS)
      signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
    })
  }
}
