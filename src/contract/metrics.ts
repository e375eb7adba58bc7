import { Type, type Static } from 'typebox'

/** `schema` or null. */
export const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const AverageMetricsSchema = Type.Object({ precision: Type.Number(), recall: Type.Number(), f1: Type.Number() })
export type AverageMetrics = Static<typeof AverageMetricsSchema>

/** Precision, recall and F1 of one class; null where undefined (nothing predicted / no support). */
const ClassMetricsSchema = Type.Object({
  label: Type.String(),
  /** Of the examples predicted as this class, the share that are. */
  precision: nullable(Type.Number({ description: 'null when nothing was predicted as this class' })),
  /** Of the examples of this class, the share found. */
  recall: nullable(Type.Number({ description: 'null when the class has no support' })),
  /** Harmonic mean of precision and recall (a missing one counts as 0); null when both are null. */
  f1: nullable(Type.Number()),
  /** Examples of this class in the evaluation set. */
  support: Type.Integer(),
  /** Examples predicted as this class. */
  predicted: Type.Integer(),
})
export type ClassMetrics = Static<typeof ClassMetricsSchema>

/** Classification quality on one evaluation set (`ml/evaluate.ts` computes it). */
export const MetricsSchema = Type.Object(
  {
    count: Type.Integer({ description: 'examples evaluated' }),
    accuracy: nullable(Type.Number({ description: 'top-1 accuracy; null when count is 0' })),
    topK: Type.Array(Type.Object({ k: Type.Integer(), accuracy: nullable(Type.Number()) }), { description: 'top-k accuracy for each k below the number of classes' }),
    labels: Type.Array(Type.String()),
    perClass: Type.Array(ClassMetricsSchema),
    /**
     * Unweighted mean over classes with support (null precision counted as 0, as scikit-learn's zero_division=0);
     * null when no class has support.
     */
    macro: nullable(AverageMetricsSchema),
    /** Support-weighted mean over the same classes. */
    weighted: nullable(AverageMetricsSchema),
    confusionMatrix: Type.Array(Type.Array(Type.Integer()), { description: '`confusionMatrix[true][predicted]` counts in `labels` order' }),
    confusionByLabel: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer()), { description: '`confusionByLabel[trueName][predictedName]`' }),
    /** Labels with no example in the evaluation set: their recall is unknown and they are left out of averages. */
    classesWithoutSupport: Type.Array(Type.String()),
  },
  { description: 'Accuracy, top-k, per-class precision/recall/F1 and the confusion matrix on the evaluation set' },
)
export type Metrics = Static<typeof MetricsSchema>

