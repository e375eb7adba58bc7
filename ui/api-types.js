// @ts-check
// Generated from the OpenAPI document by `npm run openapi` (src/http/ui-types.ts): do not edit.
// Use: /** @type {import('./api-types.js').Model} */ const model = await api(`/models/${id}`)
/**
 * GET /models/{id}: the JSON 200 answer at properties.metrics.
 * @typedef {{
 *   count: number,
 *   accuracy: (number | null),
 *   topK: Array<{
 *     k: number,
 *     accuracy: (number | null),
 *   }>,
 *   labels: Array<string>,
 *   perClass: Array<{
 *     label: string,
 *     precision: (number | null),
 *     recall: (number | null),
 *     f1: (number | null),
 *     support: number,
 *     predicted: number,
 *   }>,
 *   macro: ({
 *     precision: number,
 *     recall: number,
 *     f1: number,
 *   } | null),
 *   weighted: ({
 *     precision: number,
 *     recall: number,
 *     f1: number,
 *   } | null),
 *   confusionMatrix: Array<Array<number>>,
 *   confusionByLabel: Record<string, Record<string, number>>,
 *   classesWithoutSupport: Array<string>,
 * }} Metrics
 */
/**
 * GET /models/{id}: the JSON 200 answer at properties.history.items.
 * @typedef {{
 *   epoch: number,
 *   loss: number,
 *   accuracy: number,
 *   valLoss?: number,
 *   valAccuracy?: number,
 *   learningRate?: number,
 *   phase?: "fineTune",
 *   seconds: number,
 * }} EpochRecord
 */
/**
 * GET /models/{id}: the JSON 200 answer.
 * @typedef {{
 *   id: string,
 *   name?: string,
 *   createdAt: string,
 *   labels: Array<string>,
 *   base: {
 *     id: string,
 *     inputSize: number,
 *     preprocessing: ("scale_0_1" | "scale_-1_1" | "raw_0_255"),
 *     format?: ("layers-model" | "graph-model"),
 *   },
 *   metrics: Metrics,
 *   history: Array<EpochRecord>,
 *   evaluatedOn?: ("validation" | "training"),
 *   bestEpoch?: number,
 *   misclassified?: Array<{
 *     path: string,
 *     true: string,
 *     predicted: string,
 *     score: number,
 *   }>,
 *   warnings?: Array<string>,
 *   classWeights?: (Record<string, number> | null),
 *   fineTuned?: ({
 *     cutLayer: string,
 *     layers: Array<string>,
 *   } | null),
 *   trainViews?: number,
 *   labelIssues?: Array<{
 *     path: string,
 *     label: string,
 *     suggested: string,
 *     confidence: number,
 *   }>,
 *   nearDuplicates?: Array<{
 *     a: string,
 *     b: string,
 *     similarity: number,
 *     crossClass: boolean,
 *     crossSplit: boolean,
 *   }>,
 *   classGuidance?: {
 *     confusedPairs: Array<{
 *       a: string,
 *       b: string,
 *       aAsB: number,
 *       bAsA: number,
 *       rate: number,
 *     }>,
 *     learningCurve: Array<{
 *       fraction: number,
 *       imagesPerClass: number,
 *       accuracy: number,
 *     }>,
 *     accuracyAtDouble: ({
 *       estimate: number,
 *       low: number,
 *       high: number,
 *     } | null),
 *     classes: Array<{
 *       label: string,
 *       images: number,
 *       recall: number,
 *       recallAtDouble: ({
 *         estimate: number,
 *         low: number,
 *         high: number,
 *       } | null),
 *       moreImagesToHalveError: ({
 *         estimate: (number | null),
 *         low: (number | null),
 *         high: (number | null),
 *       } | null),
 *     }>,
 *   },
 *   jobId?: string,
 *   datasetId?: string,
 *   params?: unknown,
 * }} Model
 */
/**
 * GET /models: the JSON 200 answer.
 * @typedef {{
 *   models: Array<Model>,
 * }} ModelList
 */
/**
 * GET /models/aliases: the JSON 200 answer.
 * @typedef {{
 *   aliases: Array<{
 *     name: string,
 *     modelId: string,
 *   }>,
 * }} AliasList
 */
/**
 * GET /jobs/{id}: the JSON 200 answer.
 * @typedef {{
 *   id: string,
 *   status: ("queued" | "active" | "completed" | "failed" | "cancelled"),
 *   phase: string,
 *   progress: {
 *     epoch: number,
 *     epochs: number,
 *     percent: number,
 *     etaSeconds: (number | null),
 *     resumedFromEpoch?: number,
 *   },
 *   history: Array<EpochRecord>,
 *   datasetId: string,
 *   baseModel: ("mobilenet_v2" | "inception_v3" | "mobilenet_v3_coco" | string | {
 *     url: string,
 *     inputSize?: number,
 *     featureLayer?: string,
 *     preprocessing?: ("scale_0_1" | "scale_-1_1" | "raw_0_255"),
 *   }),
 *   options: {
 *     epochs: number,
 *     batchSize: number,
 *     learningRate: number,
 *     validationSplit: number,
 *     seed: number,
 *     optimizer?: string,
 *     labelSmoothing?: number,
 *     dropout?: number,
 *     hiddenUnits?: number,
 *     earlyStopping?: (unknown | null),
 *     classWeights?: unknown,
 *     augment?: (unknown | null),
 *     fineTuneLayers?: number,
 *     refit?: boolean,
 *   },
 *   priority: number,
 *   queuePosition: (number | null),
 *   worker: (string | null),
 *   attempts: number,
 *   queuedAt: string,
 *   startedAt: (string | null),
 *   finishedAt: (string | null),
 *   result?: {
 *     modelId: string,
 *     metrics: Metrics,
 *     trainCount: number,
 *     valCount: number,
 *     backend: string,
 *     featureCache?: {
 *       hits: number,
 *       misses: number,
 *     },
 *     evaluatedOn?: string,
 *     bestEpoch?: number,
 *     history?: Array<EpochRecord>,
 *     misclassified?: Array<{
 *       path: string,
 *       true: string,
 *       predicted: string,
 *       score: number,
 *     }>,
 *     warnings?: Array<string>,
 *     classWeights?: (Record<string, number> | null),
 *     fineTuned?: ({
 *       cutLayer: string,
 *       layers: Array<string>,
 *     } | null),
 *     trainViews?: number,
 *     labelIssues?: Array<{
 *       path: string,
 *       label: string,
 *       suggested: string,
 *       confidence: number,
 *     }>,
 *     nearDuplicates?: Array<{
 *       a: string,
 *       b: string,
 *       similarity: number,
 *       crossClass: boolean,
 *       crossSplit: boolean,
 *     }>,
 *     classGuidance?: {
 *       confusedPairs: Array<{
 *         a: string,
 *         b: string,
 *         aAsB: number,
 *         bAsA: number,
 *         rate: number,
 *       }>,
 *       learningCurve: Array<{
 *         fraction: number,
 *         imagesPerClass: number,
 *         accuracy: number,
 *       }>,
 *       accuracyAtDouble: ({
 *         estimate: number,
 *         low: number,
 *         high: number,
 *       } | null),
 *       classes: Array<{
 *         label: string,
 *         images: number,
 *         recall: number,
 *         recallAtDouble: ({
 *           estimate: number,
 *           low: number,
 *           high: number,
 *         } | null),
 *         moreImagesToHalveError: ({
 *           estimate: (number | null),
 *           low: (number | null),
 *           high: (number | null),
 *         } | null),
 *       }>,
 *     },
 *   },
 *   error?: {
 *     code: string,
 *     message: string,
 *   },
 * }} Job
 */
/**
 * GET /jobs: the JSON 200 answer.
 * @typedef {{
 *   jobs: Array<Job>,
 *   nextCursor: (string | null),
 * }} JobList
 */
/**
 * POST /jobs: the JSON request body.
 * @typedef {{
 *   datasetId: string,
 *   baseModel?: ("mobilenet_v2" | "inception_v3" | "mobilenet_v3_coco" | string | {
 *     url: string,
 *     inputSize?: number,
 *     featureLayer?: string,
 *     preprocessing?: ("scale_0_1" | "scale_-1_1" | "raw_0_255"),
 *   }),
 *   epochs?: number,
 *   batchSize?: number,
 *   learningRate?: number,
 *   validationSplit?: number,
 *   seed?: number,
 *   priority?: number,
 *   webhook?: {
 *     url: string,
 *   },
 *   optimizer?: ("adam" | "sgd"),
 *   labelSmoothing?: number,
 *   dropout?: number,
 *   hiddenUnits?: number,
 *   earlyStopping?: ({
 *     patience: number,
 *     monitor?: ("valLoss" | "valAccuracy"),
 *     minDelta?: number,
 *   } | null),
 *   classWeights?: ("auto" | "balanced" | "none" | Record<string, number>),
 *   augment?: ({
 *     flip?: boolean,
 *     crop?: boolean,
 *     rotate?: boolean,
 *     brightness?: boolean,
 *     contrast?: boolean,
 *     views?: number,
 *   } | null | boolean),
 *   fineTuneLayers?: number,
 *   refit?: boolean,
 * }} JobRequest
 */
/**
 * POST /jobs: the JSON 202 answer.
 * @typedef {Job} QueuedJob
 */
/**
 * GET /datasets/{id}: the JSON 200 answer.
 * @typedef {{
 *   id: string,
 *   name: string,
 *   createdAt: string,
 *   imageCount: number,
 *   hasSplit: boolean,
 *   classes: Array<{
 *     name: string,
 *     count: number,
 *   }>,
 *   warnings: Array<string>,
 *   parentId?: string,
 *   rejected: Array<{
 *     path: string,
 *     reason: string,
 *   }>,
 * }} Dataset
 */
/**
 * GET /datasets: the JSON 200 answer.
 * @typedef {{
 *   datasets: Array<{
 *     id: string,
 *     name: string,
 *     createdAt: string,
 *     imageCount: number,
 *     hasSplit: boolean,
 *     classes: Array<{
 *       name: string,
 *       count: number,
 *     }>,
 *     warnings: Array<string>,
 *     parentId?: string,
 *   }>,
 * }} DatasetList
 */
/**
 * POST /datasets: the JSON 201 answer.
 * @typedef {Dataset} UploadedDataset
 */
/**
 * POST /datasets/{id}/revisions: the JSON 201 answer.
 * @typedef {Dataset} Revision
 */
/**
 * GET /datasets/{id}/images: the JSON 200 answer.
 * @typedef {{
 *   items: Array<{
 *     path: string,
 *     label: string,
 *     split?: ("train" | "val"),
 *     url: string,
 *   }>,
 *   nextCursor: (string | null),
 * }} DatasetImagePage
 */
/**
 * POST /predict: the JSON 200 answer.
 * @typedef {({
 *   model: string,
 *   predictions: Array<{
 *     label: string,
 *     score: number,
 *   }>,
 *   latencyMs: number,
 * } | {
 *   model: string,
 *   results: Array<{
 *     predictions: Array<{
 *       label: string,
 *       score: number,
 *     }>,
 *   }>,
 *   latencyMs: number,
 * })} Prediction
 */
/**
 * GET /models/{id}: the JSON 404 answer.
 * @typedef {{
 *   error: {
 *     code: string,
 *     message: string,
 *     details?: unknown,
 *   },
 * }} ErrorBody
 */
export {}
