/**
 * Local files written whole: readers see the old content or the new, never a part. A file-system primitive below
 * every layer: the store's local driver and repositories use it, and so does ml for its folder of extracted
 * built-in bases.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'

/** Writes a file so readers see the old content or the whole new one, never a part (temp file + rename). */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  const tmp = `${file}.${randomUUID()}.tmp`
  try {
    await writeFile(tmp, data)
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`)
}

/**
 * Fills a fresh staging folder through `fill`, then renames it to `target` in one step, so a crash never leaves a
 * half-written dataset or model visible. `target` must not exist yet.
 */
export async function publishDir(target: string, fill: (staging: string) => Promise<void>): Promise<void> {
  const staging = path.join(path.dirname(target), `.staging-${path.basename(target)}-${randomUUID()}`)
  await mkdir(staging, { recursive: true })
  try {
    await fill(staging)
    await rename(staging, target)
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    throw err
  }
}
