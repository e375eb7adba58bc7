/** The parts of an OpenAPI 3.1 document this module touches. */
interface Media {
  example?: unknown
}
interface Operation {
  operationId?: string
  requestBody?: { content?: Record<string, Media> }
  responses?: Record<string, { content?: Record<string, Media> }>
}
type Paths = Record<string, Partial<Record<string, Operation>> | undefined>

/**
 * Examples for the OpenAPI document, by operationId: `request` for the JSON request body, `response` for the
 * success response. They are kept apart from the TypeBox schemas (which validate and serialise) and checked
 * against those schemas by test/http/openapi.test.ts, so an example cannot drift from the contract.
 */
const DATASET_ID = '6f1c2d3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f'
const JOB_ID = '0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e6f'
const MODEL_ID = 'a3b2c1d0-e9f8-4a7b-8c6d-5e4f3a2b1c0d'

const dataset = {
  id: DATASET_ID,
  name: 'flowers',
  createdAt: '2026-11-28T10:15:00.000Z',
  imageCount: 3670,
  hasSplit: false,
  classes: [
    { name: 'daisy', count: 633 },
    { name: 'roses', count: 641 },
    { name: 'tulips', count: 799 },
  ],
  warnings: [],
}

const options = { epochs: 20, batchSize: 32, learningRate: 0.001, validationSplit: 0.2, seed: 7 }
const epoch = { epoch: 12, loss: 0.231, accuracy: 0.927, valLoss: 0.284, valAccuracy: 0.905, seconds: 0.41 }
const job = {
  id: JOB_ID,
  status: 'active',
  phase: 'training',
  progress: { epoch: 12, epochs: 20, percent: 83.2, etaSeconds: 4 },
  history: [epoch],
  datasetId: DATASET_ID,
  baseModel: 'mobilenet_v3_coco',
  options,
  attempts: 0,
  priority: 50,
  queuePosition: null,
  worker: 'gpu-1:4242',
  queuedAt: '2026-11-28T10:16:00.000Z',
  startedAt: '2026-11-28T10:16:01.000Z',
  finishedAt: null,
}
const confusionMatrix = [
  [116, 6, 5],
  [5, 115, 8],
  [3, 10, 147],
]
const labels = ['daisy', 'roses', 'tulips']
const metrics = {
  count: 415,
  accuracy: 0.909,
  topK: [{ k: 2, accuracy: 0.976 }],
  labels,
  perClass: [
    { label: 'daisy', precision: 0.935, recall: 0.913, f1: 0.924, support: 127, predicted: 124 },
    { label: 'roses', precision: 0.878, recall: 0.898, f1: 0.888, support: 128, predicted: 131 },
    { label: 'tulips', precision: 0.919, recall: 0.919, f1: 0.919, support: 160, predicted: 160 },
  ],
  macro: { precision: 0.911, recall: 0.91, f1: 0.91 },
  weighted: { precision: 0.91, recall: 0.909, f1: 0.91 },
  confusionMatrix,
  confusionByLabel: Object.fromEntries(labels.map((truth, i) => [truth, Object.fromEntries(labels.map((predicted, j) => [predicted, confusionMatrix[i]![j]!]))])),
  classesWithoutSupport: [],
}
const model = {
  id: MODEL_ID,
  createdAt: '2026-11-28T10:16:30.000Z',
  labels: metrics.labels,
  base: { id: 'mobilenet_v3_coco', inputSize: 320, preprocessing: 'raw_0_255', format: 'graph-model' },
  metrics,
  history: [epoch],
  jobId: JOB_ID,
  datasetId: DATASET_ID,
}
const predictions = [
  { label: 'tulips', score: 0.91 },
  { label: 'roses', score: 0.07 },
  { label: 'daisy', score: 0.02 },
]

const uploadedBase = {
  name: 'effnet-lite0',
  kind: 'layers',
  inputSize: 224,
  featureLayer: 'top_pool',
  featureSize: 1280,
  preprocessing: 'scale_-1_1',
  createdAt: '2026-11-28T09:00:00.000Z',
  bytes: 18_627_584,
}

const PROJECT_ID = '5c4b3a29-1807-4f6e-9d5c-4b3a29180716'
const project = {
  id: PROJECT_ID,
  name: 'search team',
  createdAt: '2026-11-28T08:00:00.000Z',
  quota: { queuedJobs: 10, storedBytes: 53_687_091_200, predictPerMin: 600, uploadsPerMin: 30 },
  quotaOverride: { queuedJobs: 10, storedBytes: 53_687_091_200 },
}
const keyListing = { id: '3f2a1b0c9d8e7f60', name: 'ci', scopes: ['train', 'predict'], createdAt: '2026-11-28T08:01:00.000Z', lastUsedAt: '2026-11-28T10:16:00.000Z' }

/** `request`: the JSON request body; `response`: the success body; `responses`: bodies of other statuses. */
export const OPERATION_EXAMPLES: Record<string, { request?: unknown; response?: unknown; responses?: Record<string, unknown> }> = {
  createDataset: { response: { ...dataset, rejected: [{ path: 'roses/notes.txt', reason: 'not an image' }] } },
  listDatasets: { response: { datasets: [dataset] } },
  getDataset: { response: { ...dataset, rejected: [] } },
  deleteDataset: {},
  listDatasetImages: {
    response: {
      items: [
        { path: 'images/daisy/0001.jpg', label: 'daisy', url: `/datasets/${DATASET_ID}/images/daisy/0001.jpg` },
        { path: 'images/daisy/0002.jpg', label: 'daisy', url: `/datasets/${DATASET_ID}/images/daisy/0002.jpg` },
      ],
      nextCursor: 'bzoy',
    },
  },
  reviseDataset: {
    request: { move: [{ path: 'images/roses/img_0412.jpg', to: 'tulips' }], drop: ['images/daisy/img_0007.jpg'], name: 'flowers v2' },
    response: { ...dataset, id: '9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d', name: 'flowers v2', imageCount: 3669, classes: [{ name: 'daisy', count: 632 }, { name: 'roses', count: 640 }, { name: 'tulips', count: 800 }], rejected: [], parentId: DATASET_ID },
  },
  uploadBase: { response: uploadedBase },
  listBases: { response: { builtin: ['mobilenet_v2', 'inception_v3'], uploaded: [uploadedBase] } },
  deleteBase: {},
  createJob: {
    request: { datasetId: DATASET_ID, epochs: 20, seed: 7 },
    response: { ...job, status: 'queued', phase: 'queued', progress: { epoch: 0, epochs: 20, percent: 0, etaSeconds: null }, history: [], queuePosition: 0, worker: null, startedAt: null },
  },
  listJobs: { response: { jobs: [job], nextCursor: null } },
  getJob: { response: job },
  cancelJob: { response: { ...job, status: 'cancelled', phase: 'queued', queuePosition: null, worker: null, error: { code: 'JOB_CANCELLED', message: 'cancelled while queued' } } },
  jobEvents: {},
  listModels: { response: { models: [model] } },
  getModel: { response: model },
  renameModel: { request: { name: 'Flowers, with augmentation' }, response: { ...model, name: 'Flowers, with augmentation' } },
  getModelJson: {
    response: {
      format: 'layers-model',
      generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
      modelTopology: { class_name: 'Model', config: { name: 'classifier', layers: [] } },
      weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'head/kernel', shape: [1280, 3], dtype: 'float32' }] }],
    },
  },
  getModelWeights: {},
  deleteModel: {},
  listAliases: { response: { aliases: [{ name: 'prod', modelId: MODEL_ID }] } },
  getAlias: { response: { name: 'prod', modelId: MODEL_ID } },
  putAlias: { request: { modelId: MODEL_ID }, response: { name: 'prod', modelId: MODEL_ID } },
  deleteAlias: {},
  predictUrl: { response: { model: MODEL_ID, predictions, latencyMs: 38.5 } },
  predict: { response: { model: MODEL_ID, results: [{ predictions }, { predictions: predictions.slice().reverse() }], latencyMs: 61.2 } },
  health: { response: { status: 'ok' } },
  ready: {
    response: { status: 'ready', checks: { redis: 'ok', storage: 'ok', store: 'local' } },
    responses: { '503': { status: 'unavailable', checks: { redis: 'unavailable', storage: 'ok', store: 'local' } } },
  },
  metrics: {},
  whoami: { response: { project: { id: PROJECT_ID, name: 'search team' }, principal: 'key:3f2a1b0c9d8e7f60', scopes: ['train', 'predict'], open: false } },
  createProject: { request: { name: 'search team' }, response: { ...project, quota: { queuedJobs: 50, storedBytes: 0, predictPerMin: 600, uploadsPerMin: 30 }, quotaOverride: {} } },
  listProjects: { response: { projects: [{ ...project, id: 'default', name: 'default', createdAt: '2026-11-01T00:00:00.000Z' }, project] } },
  getProject: { response: project },
  deleteProject: {},
  setProjectQuota: { request: project.quotaOverride, response: project },
  createKey: { request: { scopes: ['train', 'predict'], name: 'ci' }, response: { ...keyListing, lastUsedAt: null, key: 'itk_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5' } },
  listKeys: { response: { keys: [keyListing] } },
  revokeKey: {},
  listProjectEvents: {
    response: {
      events: [
        {
          id: '1796079061337-0',
          at: '2026-11-28T10:16:01.337Z',
          method: 'POST',
          route: '/jobs',
          path: '/jobs',
          principal: 'key:3f2a1b0c9d8e7f60',
          status: 202,
          code: null,
          requestId: '7d6c5b4a-3928-4716-a5b4-c3d2e1f0a9b8',
        },
      ],
      nextCursor: '1796079061337-0',
    },
  },
}

/** One error body per status, with a code that status really carries. */
const ERROR_EXAMPLES: Record<string, { code: string; message: string }> = {
  '400': { code: 'VALIDATION', message: "body must have required property 'datasetId'" },
  '401': { code: 'UNAUTHORIZED', message: 'send Authorization: Bearer <API key>' },
  '403': { code: 'FORBIDDEN', message: "this API key lacks the 'train' scope" },
  '404': { code: 'DATASET_NOT_FOUND', message: `no dataset ${DATASET_ID}` },
  '408': { code: 'REQUEST_TIMEOUT', message: 'no bytes received for 15000 ms; the upload was aborted' },
  '409': { code: 'DATASET_IN_USE', message: `dataset ${DATASET_ID} is used by a queued or running job` },
  '413': { code: 'PAYLOAD_TOO_LARGE', message: 'upload exceeds 2147483648 bytes' },
  '415': { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send multipart/form-data with the archive in a field named "file"' },
  '422': { code: 'IMAGE_FETCH_FAILED', message: 'the image URL answered 404' },
  '429': { code: 'RATE_LIMITED', message: 'more than 600 requests a minute for this key; retry in 12 s' },
  '500': { code: 'INTERNAL', message: 'Internal Server Error' },
  '507': { code: 'STORAGE_QUOTA_EXCEEDED', message: `project ${PROJECT_ID} holds 53687091200 bytes of its 53687091200` },
  '503': { code: 'QUEUE_UNAVAILABLE', message: 'the job queue is unavailable (ECONNREFUSED)' },
}

const JSON_TYPE = 'application/json'
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const

/** Puts each operation's examples into its JSON request body and responses. */
export function addExamples<T extends { paths?: unknown }>(doc: T): T {
  for (const item of Object.values((doc.paths ?? {}) as Paths)) {
    for (const method of METHODS) {
      const operation = item?.[method]
      if (!operation?.operationId) continue
      const examples = OPERATION_EXAMPLES[operation.operationId]
      const requestMedia = operation.requestBody?.content?.[JSON_TYPE]
      if (requestMedia && examples?.request !== undefined) requestMedia.example = examples.request
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const media = response.content?.[JSON_TYPE]
        if (!media) continue
        const error = ERROR_EXAMPLES[status]
        if (examples?.responses?.[status] !== undefined) media.example = examples.responses[status]
        else if (status.startsWith('2') && examples?.response !== undefined) media.example = examples.response
        else if (error) media.example = { error }
      }
    }
  }
  return doc
}
