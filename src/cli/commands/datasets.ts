import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { Static } from 'typebox'
import type { DatasetSchema, DatasetSummarySchema } from '../../contract/datasets.js'
import { usageError } from '../cli-error.js'
import { print, type CommandContext } from '../context.js'
import { formatBytes, progressLine, renderBar } from '../progress-bar.js'
import { formatTable } from '../table.js'
import { uploadArchive } from '../upload.js'
import { zipFolder } from '../zip-folder.js'

type Dataset = Static<typeof DatasetSchema>
type DatasetSummary = Static<typeof DatasetSummarySchema>

function printDataset(ctx: CommandContext, dataset: Dataset): void {
  print(ctx, `id:       ${dataset.id}`)
  print(ctx, `name:     ${dataset.name}`)
  print(ctx, `images:   ${dataset.imageCount}${dataset.hasSplit ? ' (train/ and val/ folders)' : ''}`)
  print(ctx, formatTable(['class', 'images'], dataset.classes.map((c) => [c.name, c.count])))
  for (const warning of dataset.warnings) print(ctx, `warning: ${warning}`)
  if (dataset.rejected.length > 0) {
    print(ctx, `rejected ${dataset.rejected.length} file(s):`)
    for (const r of dataset.rejected.slice(0, 20)) print(ctx, `  ${r.path}: ${r.reason}`)
  }
}

async function upload(ctx: CommandContext): Promise<void> {
  const { values, positionals } = parseArgs({ args: ctx.args, allowPositionals: true, options: { name: { type: 'string' } } })
  const folder = positionals[0]
  if (!folder || positionals.length > 1) throw usageError('usage: imagetune datasets upload <folder> [--name NAME]')
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'imagetune-upload-'))
  try {
    const name = values.name ?? path.basename(path.resolve(folder))
    const archive = path.join(tmp, `${name.replace(/[^\w.-]+/g, '_') || 'dataset'}.zip`)
    const files = await zipFolder(folder, archive)
    ctx.err.write(`zipped ${files} files from ${folder}\n`)
    const bar = progressLine(ctx.err)
    const dataset = await uploadArchive<Dataset>({
      ...ctx.connection,
      file: archive,
      fields: { name },
      onProgress: (sent, total) => {
        const fraction = total > 0 ? sent / total : 1
        bar.update(`uploading ${renderBar(fraction)} ${Math.floor(fraction * 100)}% ${formatBytes(sent)} / ${formatBytes(total)}`, String(Math.floor(fraction * 4)))
      },
    })
    bar.done()
    printDataset(ctx, dataset)
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

export async function datasetsCommand(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args
  const sub_ = { ...ctx, args: rest }
  switch (sub) {
    case 'upload':
      return upload(sub_)
    case 'ls': {
      const { datasets } = await ctx.api.request<{ datasets: DatasetSummary[] }>('GET', '/datasets')
      print(ctx, formatTable(['id', 'name', 'images', 'classes', 'created'], datasets.map((d) => [d.id, d.name, d.imageCount, d.classes.length, d.createdAt])))
      return
    }
    case 'show': {
      if (!rest[0]) throw usageError('usage: imagetune datasets show <id>')
      printDataset(ctx, await ctx.api.request<Dataset>('GET', `/datasets/${encodeURIComponent(rest[0])}`))
      return
    }
    default:
      throw usageError('usage: imagetune datasets upload <folder> [--name NAME] | ls | show <id>')
  }
}
