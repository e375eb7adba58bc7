import { api, features, TERMINAL, watchJob } from './api.js'
import { trainingCharts } from './charts.js'
import { badge, duration, errorBox, h, pct, shortId, toast } from './dom.js'

const PHASES = { queued: 'Waiting for a worker', preparing: 'Preparing', extracting: 'Extracting features', training: 'Training', 'fine-tuning': 'Fine-tuning', evaluating: 'Evaluating', saving: 'Saving the model', done: 'Done' }

function optionList(options = {}) {
  return h('dl', { class: 'facts' }, Object.entries(options).flatMap(([key, value]) => [h('dt', {}, key), h('dd', {}, typeof value === 'object' ? JSON.stringify(value) : String(value))]))
}

/** Phase, progress, ETA and live loss/accuracy charts of one job; a cancel button while it can still stop. */
export async function jobPage({ main, id, signal }) {
  const title = h('h1', {}, 'Job ', h('code', {}, shortId(id)))
  const statusBadge = h('span')
  const phase = h('p', { class: 'phase' })
  const bar = h('div', { class: 'bar' })
  const progress = h('div', { class: 'progress large', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, 'aria-label': 'training progress', id: 'job-progress' }, bar)
  const percent = h('span', { class: 'big', id: 'job-percent' }, '0%')
  const eta = h('span', { class: 'muted' })
  const outcome = h('div', { 'aria-live': 'polite' })
  const cancel = h('button', { type: 'button', class: 'ghost danger', hidden: true }, 'Cancel job')
  const details = h('div')
  const charts = h('div', { class: 'charts' })
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, title, statusBadge), cancel),
    h('section', { class: 'panel' }, h('div', { class: 'row spread' }, phase, h('div', {}, percent, ' ', eta)), progress, outcome),
    h('section', { 'aria-labelledby': 'curves-h' }, h('h2', { id: 'curves-h' }, 'Training curves'), charts),
    h('section', { 'aria-labelledby': 'params-h' }, h('h2', { id: 'params-h' }, 'Parameters'), details),
  )
  const chart = trainingCharts(charts)

  cancel.addEventListener('click', async () => {
    cancel.disabled = true
    try {
      await api(`/jobs/${id}`, { method: 'DELETE' })
      toast('Cancelling…')
    } catch (err) {
      toast(`${err.code}: ${err.message}`, 'error')
      cancel.disabled = false
    }
  })

  const { cancel: canCancel } = await features()
  let shownDetails = false
  const render = (job) => {
    statusBadge.replaceChildren(badge(job.status))
    const p = job.progress ?? {}
    const value = Math.round(p.percent ?? 0)
    bar.style.width = `${value}%`
    progress.setAttribute('aria-valuenow', value)
    percent.textContent = `${value}%`
    phase.replaceChildren(h('strong', {}, PHASES[job.phase] ?? job.phase), p.epochs ? h('span', { class: 'muted' }, ` · epoch ${p.epoch}/${p.epochs}`) : null)
    // queuePosition and attempts > 1 come from servers with full job control; older ones simply lack them.
    if (job.status === 'active' && typeof p.etaSeconds === 'number') eta.textContent = `· about ${duration(p.etaSeconds)} left`
    else if (job.status === 'queued' && typeof job.queuePosition === 'number') eta.textContent = `· queue position ${job.queuePosition}`
    else eta.textContent = job.attempts > 1 && !TERMINAL.has(job.status) ? `· attempt ${job.attempts + 1}` : ''
    cancel.hidden = !canCancel || TERMINAL.has(job.status)
    chart.update(job.history)
    if (!shownDetails) {
      shownDetails = true
      details.replaceChildren(
        h('p', {}, 'Dataset ', h('a', { href: `#/datasets/${job.datasetId}` }, shortId(job.datasetId)), ' · base ', h('code', {}, typeof job.baseModel === 'string' ? job.baseModel : job.baseModel?.url), ' · queued ', new Date(job.queuedAt).toLocaleString()),
        optionList(job.options),
      )
    }
    if (job.status === 'completed' && job.result) {
      const accuracy = job.result.metrics?.accuracy
      outcome.replaceChildren(h('div', { class: 'ok-box' }, h('span', {}, 'Validation accuracy ', h('strong', {}, pct(accuracy)), ` on ${job.result.valCount} images`), h('a', { class: 'button', href: `#/models/${job.result.modelId}`, id: 'open-model' }, 'Open the model →')))
    } else if (job.error) {
      outcome.replaceChildren(errorBox(job.error))
    }
  }
  try {
    await watchJob(id, render, signal)
  } catch (err) {
    if (!signal.aborted) outcome.replaceChildren(errorBox(err))
  }
}
