// @ts-check
/** How long a training job will take, from what this server's finished jobs measured. */
import { api } from './api.js'

/** @typedef {import('./api-types.js').Job} Job */
/** @typedef {import('./api-types.js').JobList} JobList */
/** @typedef {import('./api-types.js').JobRequest} JobRequest */
/**
 * @typedef {object} Rates
 * @property {Record<string, number>} extract embedding seconds per image, by base
 * @property {number | undefined} perView epoch seconds per training view
 * @property {Set<string>} cachedOn `datasetId:base` pairs a job has embedded already
 */

/**
 * Used until a job has finished here: seconds to embed one image on a CPU, by base, and seconds per training
 * image per epoch of the small head. Deliberately rough; the page says so.
 */
/** @type {{ extract: Record<string, number>, extractOther: number, perView: number }} */
const GUESS = { extract: { mobilenet_v3_coco: 0.03, mobilenet_v2: 0.05, inception_v3: 0.25 }, extractOther: 0.1, perView: 0.0005 }
/** Start-up, evaluation and saving, seconds. */
const OVERHEAD = 5

/** @type {(job: Job) => string} */
const baseOf = (job) => (typeof job.baseModel === 'string' ? job.baseModel : 'custom')

/**
 * Rates measured on completed jobs: embedding seconds per image that missed the feature cache (the job's time
 * outside its epochs, divided by its cache misses), and epoch seconds per training view.
 * @param {AbortSignal} signal
 * @returns {Promise<Rates>}
 */
export async function measuredRates(signal) {
  /** @type {Pick<JobList, 'jobs'>} */
  const { jobs } = await api('/jobs?status=completed&limit=50', { signal }).catch(() => ({ jobs: [] }))
  /** @type {Record<string, number[]>} */
  const extract = {}
  /** @type {number[]} */
  const perView = []
  const cachedOn = new Set()
  for (const job of jobs) {
    const result = job.result
    if (!result || !job.startedAt || !job.finishedAt) continue
    cachedOn.add(`${job.datasetId}:${baseOf(job)}`)
    const total = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000
    const epochSeconds = (job.history ?? []).reduce((sum, e) => sum + e.seconds, 0)
    const views = result.trainViews ?? result.trainCount
    if (job.history?.length && views > 0) perView.push(epochSeconds / job.history.length / views)
    const misses = result.featureCache?.misses ?? 0
    if (misses > 0 && total > epochSeconds) (extract[baseOf(job)] ??= []).push((total - epochSeconds - OVERHEAD / 2) / misses)
  }
  /** @type {(values: number[]) => number | undefined} */
  const median = (values) => (values.length ? [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] : undefined)
  return {
    extract: Object.fromEntries(Object.entries(extract).map(([base, values]) => [base, Math.max(0, median(values) ?? 0)])),
    perView: median(perView),
    cachedOn,
  }
}

/**
 * @param {object} job
 * @param {{ id: string, imageCount: number }} job.dataset the dataset document
 * @param {string} job.base the base's name
 * @param {JobRequest} job.body the job request as the form would send it
 * @param {Rates} job.rates
 * @returns seconds, whether they come from measurements, and whether the features are likely cached already
 */
export function estimateSeconds({ dataset, base, body, rates }) {
  const epochs = body.epochs ?? 40
  const split = body.validationSplit ?? 0.2
  const views = body.augment ? (typeof body.augment === 'object' ? body.augment.views : undefined) ?? 4 : 1
  const trainImages = dataset.imageCount * (1 - split)
  const trainViews = trainImages * views
  const measuredExtract = rates.extract[base]
  const perImage = measuredExtract ?? GUESS.extract[base] ?? GUESS.extractOther
  // A dataset trained on before with this base has its plain features cached; augmented views are new each time.
  const cached = rates.cachedOn.has(`${dataset.id}:${base}`)
  const toEmbed = (cached ? 0 : dataset.imageCount) + (views > 1 ? trainImages * (views - 1) : 0)
  // Refit (on unless turned off) trains the served head again on every image, validation ones too, for as long.
  const fitViews = body.refit === false ? trainViews : 2 * trainViews + dataset.imageCount * split
  const seconds = OVERHEAD + toEmbed * perImage + epochs * fitViews * (rates.perView ?? GUESS.perView)
  return { seconds, measured: measuredExtract !== undefined || rates.perView !== undefined, cached }
}
