import { Type, type Static } from 'typebox'
import { PRIORITY } from '../../queue/jobs.js'

const BaseModelSchema = Type.Union([
  Type.Literal('mobilenet_v2'),
  Type.Literal('inception_v3'),
  Type.Object(
    {
      url: Type.String({ minLength: 1, maxLength: 2048 }),
      inputSize: Type.Optional(Type.Integer({ minimum: 32, maximum: 1024 })),
      featureLayer: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    },
    { additionalProperties: false },
  ),
])

/** Defaults live here, in the schema, so the docs and the worker see the same numbers. */
export const TRAIN_DEFAULTS = { epochs: 20, batchSize: 32, learningRate: 0.001, validationSplit: 0.2 } as const

export const CreateJobSchema = Type.Object(
  {
    datasetId: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }),
    baseModel: Type.Optional(BaseModelSchema),
    epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: TRAIN_DEFAULTS.epochs })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, default: TRAIN_DEFAULTS.batchSize })),
    learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, default: TRAIN_DEFAULTS.learningRate })),
    validationSplit: Type.Optional(Type.Number({ minimum: 0.05, maximum: 0.5, default: TRAIN_DEFAULTS.validationSplit })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
    priority: Type.Optional(
      Type.Integer({ minimum: PRIORITY.highest, maximum: PRIORITY.lowest, default: PRIORITY.default, description: 'Lower runs first; equal priorities run in order of arrival.' }),
    ),
    webhook: Type.Optional(
      Type.Object(
        { url: Type.String({ pattern: '^https?://[^\s]+$', maxLength: 2048, description: 'POSTed once with the final job document when the job ends.' }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type CreateJob = Static<typeof CreateJobSchema>

const EpochSchema = Type.Object({
  epoch: Type.Integer(),
  loss: Type.Number(),
  accuracy: Type.Number(),
  valLoss: Type.Optional(Type.Number()),
  valAccuracy: Type.Optional(Type.Number()),
  seconds: Type.Number(),
})

export const JobSchema = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('active'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')]),
  phase: Type.String(),
  progress: Type.Object({
    epoch: Type.Integer(),
    epochs: Type.Integer(),
    percent: Type.Number(),
    etaSeconds: Type.Union([Type.Number(), Type.Null()]),
    resumedFromEpoch: Type.Optional(Type.Integer({ description: 'Set when the latest attempt continued from a checkpoint after this epoch.' })),
  }),
  history: Type.Array(EpochSchema),
  datasetId: Type.String(),
  baseModel: BaseModelSchema,
  options: Type.Object({
    epochs: Type.Integer(),
    batchSize: Type.Integer(),
    learningRate: Type.Number(),
    validationSplit: Type.Number(),
    seed: Type.Integer(),
  }),
  priority: Type.Integer(),
  queuePosition: Type.Union([Type.Integer(), Type.Null()], { description: 'Jobs that start before this one while it is queued (0: next).' }),
  worker: Type.Union([Type.String(), Type.Null()], { description: 'hostname:pid of the worker that runs it or ran it last.' }),
  attempts: Type.Integer(),
  queuedAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  result: Type.Optional(
    Type.Object({
      modelId: Type.String(),
      metrics: Type.Unknown(),
      trainCount: Type.Integer(),
      valCount: Type.Integer(),
      backend: Type.String(),
      featureCache: Type.Optional(Type.Object({ hits: Type.Integer(), misses: Type.Integer() }, { description: 'Feature-cache lookups of this job: hits skipped decoding and the base model.' })),
    }),
  ),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
})
