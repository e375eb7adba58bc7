import { Type, type Static } from 'typebox'
import { ClassGuidanceSchema, EpochSchema, LabelIssueSchema, MisclassifiedSchema, NearDuplicateSchema, PreprocessingSchema } from './jobs.js'
import { MetricsSchema, nullable } from './metrics.js'

/** What a stored model is (its `metadata.json`), as `GET /models` and `GET /models/:id` answer it. */
export const ModelSchema = Type.Object({
  id: Type.String(),
  name: Type.Optional(Type.String({ description: 'display name set with PATCH /models/:id' })),
  createdAt: Type.String({ description: 'ISO 8601' }),
  labels: Type.Array(Type.String(), { description: 'class names by output index' }),
  base: Type.Object({
    id: Type.String(),
    inputSize: Type.Integer(),
    preprocessing: PreprocessingSchema,
    format: Type.Optional(Type.Union([Type.Literal('layers-model'), Type.Literal('graph-model')], { description: 'absent on models saved before GraphModel bases: layers-model' })),
  }),
  metrics: MetricsSchema,
  history: Type.Array(EpochSchema),
  evaluatedOn: Type.Optional(Type.Union([Type.Literal('validation'), Type.Literal('training')])),
  bestEpoch: Type.Optional(Type.Integer({ description: 'epoch whose weights the model has' })),
  misclassified: Type.Optional(Type.Array(MisclassifiedSchema)),
  warnings: Type.Optional(Type.Array(Type.String())),
  classWeights: Type.Optional(nullable(Type.Record(Type.String(), Type.Number()))),
  fineTuned: Type.Optional(nullable(Type.Object({ cutLayer: Type.String(), layers: Type.Array(Type.String()) }))),
  trainViews: Type.Optional(Type.Integer()),
  labelIssues: Type.Optional(Type.Array(LabelIssueSchema)),
  nearDuplicates: Type.Optional(Type.Array(NearDuplicateSchema)),
  classGuidance: Type.Optional(ClassGuidanceSchema),
  jobId: Type.Optional(Type.String()),
  datasetId: Type.Optional(Type.String()),
  params: Type.Optional(Type.Unknown({ description: "the job's POST /jobs body, accepted back by POST /jobs" })),
})
export type ModelDocument = Static<typeof ModelSchema>
