import { Type, type Static } from 'typebox'

/** `schema` or null. */
export const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const AverageMetricsSchema = Type.Object({ precision: Type.Number(), recall: Type.Number(), f1: Type.Number() })

/** Classification quality on one evaluation set (`ml/evaluate.ts` computes it). */
export const MetricsSchema = Type.Object(
  {
    count: Type.Integer({ description: 'examples evaluated' }),
    accuracy: nullable(Type.Number({ description: 'top-1 accuracy; null when count is 0' })),
    topK: Type.Array(Type.Object({ k: Type.Integer(), accuracy: nullable(Type.Number()) }), { description: 'top-k accuracy for each k below the number of classes' }),
    labels: Type.Array(Type.String()),
    perClass: Type.Array(
      Type.Object({
        label: Type.String(),
        precision: nullable(Type.Number({ description: 'null when nothing was predicted as this class' })),
        recall: nullable(Type.Number({ description: 'null when the class has no support' })),
        f1: nullable(Type.Number()),
        support: Type.Integer(),
        predicted: Type.Integer(),
      }),
    ),
    macro: nullable(AverageMetricsSchema),
    weighted: nullable(AverageMetricsSchema),
    confusionMatrix: Type.Array(Type.Array(Type.Integer()), { description: '`confusionMatrix[true][predicted]` counts in `labels` order' }),
    confusionByLabel: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer()), { description: '`confusionByLabel[trueName][predictedName]`' }),
    classesWithoutSupport: Type.Array(Type.String()),
  },
  { description: 'Accuracy, top-k, per-class precision/recall/F1 and the confusion matrix on the evaluation set' },
)
export type Metrics = Static<typeof MetricsSchema>

