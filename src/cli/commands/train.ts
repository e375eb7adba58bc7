import { parseArgs } from 'node:util'
import { usageError } from '../cli-error.js'
import { print, type CommandContext } from '../context.js'
import { watchJob, type Job } from './jobs.js'

/** Bundled base names (anything else is a model.json URL or path). */
const BUILTIN_BASES = ['mobilenet_v2', 'inception_v3', 'mobilenet_v3_coco']

const USAGE =
  'usage: imagetune train --dataset ID [--epochs N] [--batch-size N] [--learning-rate X] [--validation-split X] [--seed N] [--base mobilenet_v2|inception_v3|mobilenet_v3_coco|URL] [--watch]'

/** A number option, or a usage error naming it. */
function numberOption(name: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw usageError(`--${name} wants ${integer ? 'an integer' : 'a number'}, got "${value}"`)
  return n
}

/** `imagetune train`: queues a job (the API checks the ranges), then with `--watch` follows it to the end. */
export async function trainCommand(ctx: CommandContext): Promise<void> {
  const { values, positionals } = parseArgs({
    args: ctx.args,
    allowPositionals: true,
    options: {
      dataset: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'learning-rate': { type: 'string' },
      'validation-split': { type: 'string' },
      seed: { type: 'string' },
      base: { type: 'string' },
      watch: { type: 'boolean', default: false },
    },
  })
  if (!values.dataset || positionals.length > 0) throw usageError(USAGE)
  const base = values.base
  const body = {
    datasetId: values.dataset,
    baseModel: base === undefined || BUILTIN_BASES.includes(base) ? base : { url: base },
    epochs: numberOption('epochs', values.epochs, true),
    batchSize: numberOption('batch-size', values['batch-size'], true),
    learningRate: numberOption('learning-rate', values['learning-rate'], false),
    validationSplit: numberOption('validation-split', values['validation-split'], false),
    seed: numberOption('seed', values.seed, true),
  }
  const job = await ctx.api.request<Job>('POST', '/jobs', { json: JSON.parse(JSON.stringify(body)) })
  print(ctx, `job ${job.id} ${job.status}`)
  if (values.watch) await watchJob(ctx, job.id)
}
