// @ts-check
import { api, ApiError, features, TERMINAL, watchJob } from './api.js'
import { trainingCharts } from './charts.js'
import { badge, confirmDialog, duration, errorBox, h, pct, shortId, toast } from './dom.js'
import { optionFacts } from './options.js'

/** @typedef {import('./api-types.js').Job} Job */

/** @type {Record<string, string>} */
const PHASES = { queued: 'Waiting for a worker', preparing: 'Preparing', extracting: 'Extracting features', training: 'Training', evaluating: 'Evaluating', saving: 'Saving the model', done: 'Done' }

/**
 * The phase line in words that agree with the status badge.
 * @param {Job} job
 * @returns {Array<HTMLElement | null>}
 */
function phaseText(job) {
  const p = job.progress
  const epochs = p.epochs ? ` · round ${p.epoch} of ${p.epochs}` : ''
  if (job.status === 'cancelled') return [h('strong', {}, 'Cancelled'), p.epoch ? h('span', { class: 'muted' }, ` after round ${p.epoch} of ${p.epochs}`) : null]
  if (job.status === 'failed') return [h('strong', {}, 'Failed'), p.epoch ? h('span', { class: 'muted' }, ` in round ${p.epoch} of ${p.epochs}`) : null]
  if (job.status === 'completed') {
    const ran = job.history?.length ?? p.epoch
    const best = job.result?.bestEpoch
    const early = ran < p.epochs
    return [h('strong', {}, 'Done'), h('span', { class: 'muted', id: 'job-summary' },
      early ? ` · stopped early after round ${ran} of ${p.epochs}, as it had stopped improving` : ` · ${ran} rounds`,
      typeof best === 'number' ? ` · kept the model from round ${best}${best === ran ? ' (the last)' : ', the best one'}` : '')]
  }
  // A worker has taken the job but not reported yet: the badge says active, so the line must not say waiting.
  if (job.status === 'active' && (job.phase === 'queued' || !job.phase)) return [h('strong', {}, 'Starting on a worker')]
  return [h('strong', {}, PHASES[job.phase] ?? job.phase), job.phase === 'training' ? h('span', { class: 'muted' }, epochs) : null]
}

/**
 * The time-left line: what the worker measured, in words; nothing claimed while it knows nothing.
 * @param {Job} job
 */
function etaText(job) {
  const p = job.progress
  if (job.status === 'queued') return typeof job.queuePosition === 'number' ? `· ${job.queuePosition === 0 ? 'next in line' : `${job.queuePosition} ahead in the queue`}` : ''
  if (job.status !== 'active') return ''
  if (typeof p.etaSeconds !== 'number') return '· estimating time left…'
  if (job.phase === 'extracting') return `· about ${duration(p.etaSeconds)} left for this step`
  return `· about ${duration(p.etaSeconds)} left`
}

/**
 * Phase, progress, ETA and live loss/accuracy charts of one job; a cancel button while it can still stop.
 * @param {import('./app.js').PageContext} context
 */
export async function jobPage({ main, id, signal }) {
  // Read first: an unknown id is a "not found" page, not an empty one.
  /** @type {Job} */
  const first = await api(`/jobs/${encodeURIComponent(id)}`, { signal })
  /** @type {import('./api-types.js').Dataset | null} */
  const dataset = await api(`/datasets/${first.datasetId}`, { signal }).catch(() => null)
  const title = h('h1', {}, 'Training job ', h('code', {}, shortId(id)))
  const statusBadge = h('span', { id: 'job-status' })
  const phase = h('p', { class: 'phase', id: 'job-phase' })
  const bar = h('div', { class: 'bar' })
  const progress = h('div', { class: 'progress large', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, 'aria-label': 'training progress', id: 'job-progress' }, bar)
  const percent = h('span', { class: 'big', id: 'job-percent' }, '0%')
  const eta = h('span', { class: 'muted', id: 'job-eta' })
  const outcome = h('div', { 'aria-live': 'polite', id: 'job-outcome' })
  const cancel = h('button', { type: 'button', class: 'ghost danger', hidden: true, id: 'job-cancel' }, 'Cancel job')
  const details = h('div')
  const charts = h('div', { class: 'charts' })
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, title, statusBadge), cancel),
    h('section', { class: 'panel', 'aria-label': 'progress' }, h('div', { class: 'row spread' }, phase, h('div', {}, percent, ' ', eta)), progress, outcome),
    h('section', { 'aria-labelledby': 'curves-h' }, h('h2', { id: 'curves-h' }, 'Training curves'), charts),
    h('section', { 'aria-labelledby': 'params-h' }, h('h2', { id: 'params-h' }, 'Settings'), details),
  )
  const chart = trainingCharts(charts)

  cancel.addEventListener('click', async () => {
    const sure = await confirmDialog('Cancel this job?', h('p', {}, 'Training stops within a second or two and no model is kept. This cannot be undone.'), 'Cancel the job')
    if (!sure) return
    cancel.disabled = true
    try {
      await api(`/jobs/${id}`, { method: 'DELETE' })
      toast('Cancelling…')
    } catch (err) {
      toast(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err), 'error')
      cancel.disabled = false
    }
  })

  details.replaceChildren(
    h('p', {}, 'Dataset ', dataset ? h('a', { href: `#/datasets/${first.datasetId}` }, dataset.name) : h('span', {}, `${shortId(first.datasetId)} (deleted)`),
      ' · base ', h('code', {}, typeof first.baseModel === 'string' ? first.baseModel : first.baseModel?.url),
      ' · queued ', new Date(first.queuedAt).toLocaleString()),
    optionFacts(first.options),
  )

  const { cancel: canCancel } = await features()
  /** @param {Job} job */
  const render = (job) => {
    statusBadge.replaceChildren(badge(job.status))
    const value = Math.round(job.progress.percent)
    bar.style.width = `${value}%`
    progress.setAttribute('aria-valuenow', String(value))
    percent.textContent = `${value}%`
    phase.replaceChildren(...phaseText(job).filter((node) => node !== null))
    // `attempts` counts the attempts that ended: one ended means the job waits for (or runs) its second.
    eta.textContent = etaText(job) || (job.attempts > 0 && !TERMINAL.has(job.status) ? `· attempt ${job.attempts + 1}` : '')
    cancel.hidden = !canCancel || TERMINAL.has(job.status)
    chart.update(job.history)
    if (job.status === 'completed' && job.result) {
      const accuracy = job.result.metrics?.accuracy
      outcome.replaceChildren(h('div', { class: 'ok-box' }, h('span', {}, 'Accuracy on the checking images ', h('strong', {}, pct(accuracy)), ` (${job.result.valCount} images)`), h('a', { class: 'button', href: `#/models/${job.result.modelId}`, id: 'open-model' }, 'Open the model →')))
    } else if (job.status === 'cancelled') {
      // Cancelling is what the user asked for: a plain note, not an error.
      outcome.replaceChildren(h('p', { class: 'note' }, 'This job was cancelled; no model was kept.'))
    } else if (job.error) {
      outcome.replaceChildren(errorBox(job.error))
    }
  }
  render(first)
  try {
    await watchJob(id, render, signal)
  } catch (err) {
    if (!signal.aborted) outcome.replaceChildren(errorBox(err))
  }
}
