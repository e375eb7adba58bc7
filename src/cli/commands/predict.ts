import { openAsBlob } from 'node:fs'
import { access, constants } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { usageError } from '../cli-error.js'
import { print, type CommandContext } from '../context.js'
import { formatTable } from '../table.js'

interface Prediction {
  label: string
  score: number
}
type PredictAnswer = { predictions: Prediction[]; latencyMs: number } | { results: { predictions: Prediction[] }[]; latencyMs: number }

/** Images per request: the API takes up to 16 multipart files. */
const IMAGES_PER_REQUEST = 16
const MEDIA_TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp' }

/** `imagetune predict --model ID [--top K] img.jpg…`: one table row per image and rank. */
export async function predictCommand(ctx: CommandContext): Promise<void> {
  const { values, positionals } = parseArgs({ args: ctx.args, allowPositionals: true, options: { model: { type: 'string' }, top: { type: 'string', default: '3' } } })
  if (!values.model || positionals.length === 0) throw usageError('usage: imagetune predict --model ID [--top K] <image>...')
  const rows: (string | number)[][] = []
  for (let start = 0; start < positionals.length; start += IMAGES_PER_REQUEST) {
    const files = positionals.slice(start, start + IMAGES_PER_REQUEST)
    const form = new FormData()
    for (const file of files) {
      // openAsBlob reads lazily: check now, so a typo is a usage error rather than a failed upload.
      await access(file, constants.R_OK).catch(() => {
        throw usageError(`cannot read ${file}`)
      })
      form.append('image', await openAsBlob(file, { type: MEDIA_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream' }), path.basename(file))
    }
    const query = `model=${encodeURIComponent(values.model)}&topK=${encodeURIComponent(values.top)}`
    const answer = await ctx.api.request<PredictAnswer>('POST', `/predict?${query}`, { body: form })
    const perImage = 'results' in answer ? answer.results.map((r) => r.predictions) : [answer.predictions]
    perImage.forEach((predictions, i) => predictions.forEach((p, rank) => rows.push([rank === 0 ? files[i]! : '', rank + 1, p.label, p.score])))
  }
  print(ctx, formatTable(['image', 'rank', 'label', 'score'], rows))
}
