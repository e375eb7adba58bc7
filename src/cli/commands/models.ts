import type { ModelDocument } from '../../contract/models.js'
import { usageError } from '../cli-error.js'
import { print, type CommandContext } from '../context.js'
import { formatTable } from '../table.js'

/** The confusion matrix with true labels down and predicted labels across. */
export function confusionTable(labels: string[], matrix: number[][]): string {
  return formatTable(['true \\ predicted', ...labels], matrix.map((row, i) => [labels[i] ?? String(i), ...row]))
}

function printModel(ctx: CommandContext, model: ModelDocument): void {
  const { metrics } = model
  print(ctx, `id:       ${model.id}`)
  print(ctx, `created:  ${model.createdAt}`)
  print(ctx, `base:     ${model.base.id} (${model.base.inputSize}px, ${model.base.preprocessing})`)
  print(ctx, `dataset:  ${model.datasetId ?? '-'}   job: ${model.jobId ?? '-'}`)
  print(ctx, `accuracy: ${metrics.accuracy === null ? '-' : metrics.accuracy.toFixed(3)} on ${metrics.count} validation images`)
  print(ctx, '')
  print(ctx, formatTable(['class', 'precision', 'recall', 'f1', 'support'], metrics.perClass.map((c) => [c.label, c.precision, c.recall, c.f1, c.support])))
  if (metrics.macro) print(ctx, `macro avg: precision ${metrics.macro.precision.toFixed(3)} recall ${metrics.macro.recall.toFixed(3)} f1 ${metrics.macro.f1.toFixed(3)}`)
  print(ctx, '')
  print(ctx, 'confusion matrix:')
  print(ctx, confusionTable(metrics.labels, metrics.confusionMatrix))
}

export async function modelsCommand(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args
  switch (sub) {
    case 'ls': {
      const { models } = await ctx.api.request<{ models: ModelDocument[] }>('GET', '/models')
      print(ctx, formatTable(['id', 'created', 'base', 'classes', 'accuracy'], models.map((m) => [m.id, m.createdAt, m.base.id, m.labels.length, m.metrics.accuracy])))
      return
    }
    case 'show': {
      if (!rest[0]) throw usageError('usage: imagetune models show <id>')
      printModel(ctx, await ctx.api.request<ModelDocument>('GET', `/models/${encodeURIComponent(rest[0])}`))
      return
    }
    default:
      throw usageError('usage: imagetune models ls | show <id>')
  }
}
