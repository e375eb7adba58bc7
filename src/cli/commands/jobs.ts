import { parseArgs } from 'node:util'
import type { Static } from 'typebox'
import type { JobSchema } from '../../contract/jobs.js'
import { CliError, EXIT, usageError } from '../cli-error.js'
import { print, type CommandContext } from '../context.js'
import { formatDuration, progressLine, renderBar } from '../progress-bar.js'
import { formatTable } from '../table.js'

export type Job = Static<typeof JobSchema>

/** How often `--watch` asks for the job, ms. */
const POLL_MS = 500
const FINISHED = new Set(['completed', 'failed', 'cancelled'])

type EpochRecord = Job['history'][number]

/** `epoch 9/20 loss 0.2310 acc 0.927 val_acc 0.905`. */
export function describeEpoch(record: EpochRecord, epochs: number): string {
  const parts = [`epoch ${record.epoch}/${epochs}`, `loss ${record.loss.toFixed(4)}`, `acc ${record.accuracy.toFixed(3)}`]
  if (record.valAccuracy !== undefined) parts.push(`val_acc ${record.valAccuracy.toFixed(3)}`)
  return parts.join(' ')
}

/** `training [######....] 45% epoch 9/20 loss 0.2310 acc 0.927 ETA 12s`. */
export function describeProgress(job: Job): string {
  const last = job.history.at(-1)
  const parts = [job.status === 'active' ? job.phase.padEnd(10) : job.status.padEnd(10), renderBar(job.progress.percent / 100), `${Math.floor(job.progress.percent)}%`.padStart(4)]
  parts.push(last ? describeEpoch(last, job.progress.epochs) : `epoch ${job.progress.epoch}/${job.progress.epochs}`)
  if (!FINISHED.has(job.status)) parts.push(`ETA ${formatDuration(job.progress.etaSeconds)}`)
  return parts.join(' ')
}

/** Prints the outcome of a finished job; a failed or cancelled job is a CliError. */
function finish(ctx: CommandContext, job: Job): void {
  if (job.status === 'completed' && job.result) {
    const metrics = job.result.metrics
    print(ctx, `completed: model ${job.result.modelId}`)
    if (metrics?.accuracy !== undefined && metrics.accuracy !== null) print(ctx, `validation accuracy ${metrics.accuracy.toFixed(3)} on ${job.result.valCount} images (backend ${job.result.backend})`)
    return
  }
  throw new CliError(`job ${job.id} ${job.status}${job.error ? `: ${job.error.code}: ${job.error.message}` : ''}`, EXIT.FAILED)
}

/**
 * Polls GET /jobs/:id until the job finishes. On a terminal, stderr shows one live progress bar; otherwise it gets
 * a line per phase and one per epoch from the job's history (none is skipped, however fast epochs are).
 * Interrupting the CLI leaves the job running.
 */
export async function watchJob(ctx: CommandContext, id: string): Promise<Job> {
  const line = progressLine(ctx.err)
  let epochsShown = 0
  for (;;) {
    const job = await ctx.api.request<Job>('GET', `/jobs/${encodeURIComponent(id)}`)
    if (!ctx.err.isTTY) {
      for (const record of job.history.slice(epochsShown)) ctx.err.write(`${describeEpoch(record, job.progress.epochs)}\n`)
      epochsShown = job.history.length
    }
    line.update(describeProgress(job), `${job.status} ${job.phase}`)
    if (FINISHED.has(job.status)) {
      line.done()
      finish(ctx, job)
      return job
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

function printJob(ctx: CommandContext, job: Job): void {
  print(ctx, `id:       ${job.id}`)
  print(ctx, `status:   ${job.status} (${job.phase})`)
  print(ctx, `dataset:  ${job.datasetId}`)
  print(ctx, `base:     ${typeof job.baseModel === 'string' ? job.baseModel : job.baseModel.url}`)
  print(ctx, `options:  ${Object.entries(job.options).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  print(ctx, `progress: ${describeProgress(job)}`)
  print(ctx, `queued:   ${job.queuedAt}${job.startedAt ? `, started ${job.startedAt}` : ''}${job.finishedAt ? `, finished ${job.finishedAt}` : ''}`)
  if (job.result) print(ctx, `model:    ${job.result.modelId}`)
  if (job.error) print(ctx, `error:    ${job.error.code}: ${job.error.message}`)
  if (job.history.length > 0) {
    print(ctx, formatTable(['epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'seconds'], job.history.map((e) => [e.epoch, e.loss, e.accuracy, e.valLoss, e.valAccuracy, e.seconds])))
  }
}

export async function jobsCommand(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args
  switch (sub) {
    case 'ls': {
      const { values } = parseArgs({ args: rest, options: { limit: { type: 'string', default: '20' } } })
      const { jobs } = await ctx.api.request<{ jobs: Job[] }>('GET', `/jobs?limit=${encodeURIComponent(values.limit)}`)
      print(ctx, formatTable(['id', 'status', 'phase', 'percent', 'epoch', 'dataset', 'queued'], jobs.map((j) => [j.id, j.status, j.phase, Math.floor(j.progress.percent), `${j.progress.epoch}/${j.progress.epochs}`, j.datasetId, j.queuedAt])))
      return
    }
    case 'show': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { watch: { type: 'boolean', default: false } } })
      const id = positionals[0]
      if (!id) throw usageError('usage: imagetune jobs show <id> [--watch]')
      if (values.watch) await watchJob(ctx, id)
      else printJob(ctx, await ctx.api.request<Job>('GET', `/jobs/${encodeURIComponent(id)}`))
      return
    }
    case 'cancel': {
      if (!rest[0]) throw usageError('usage: imagetune jobs cancel <id>')
      await ctx.api.request('DELETE', `/jobs/${encodeURIComponent(rest[0])}`)
      print(ctx, `cancelled ${rest[0]}`)
      return
    }
    default:
      throw usageError('usage: imagetune jobs ls [--limit N] | show <id> [--watch] | cancel <id>')
  }
}
