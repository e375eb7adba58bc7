import { createWriteStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import yazl from 'yazl'
import { usageError } from './cli-error.js'

/** Every regular file under `dir`, as `/`-separated paths relative to it, sorted; dot files are skipped. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile() && !path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).some((part) => part.startsWith('.')))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort()
}

/**
 * Zips an ImageFolder (`<class>/<image>`, or `train/` + `val/` above that) into `target`. Images are stored,
 * not deflated: JPEG and PNG do not shrink, and the server reads stored entries fastest.
 * @returns the number of files written
 */
export async function zipFolder(dir: string, target: string): Promise<number> {
  const info = await stat(dir).catch(() => undefined)
  if (!info?.isDirectory()) throw usageError(`${dir} is not a folder`)
  const files = await listFiles(dir)
  if (files.length === 0) throw usageError(`${dir} holds no files`)
  const zip = new yazl.ZipFile()
  for (const file of files) zip.addFile(path.join(dir, file), file, { compress: false })
  zip.end()
  await pipeline(zip.outputStream, createWriteStream(target))
  return files.length
}
