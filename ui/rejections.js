// @ts-check
/** Why an upload was refused, in the words of each file's reason and what to do about it. */
import { ApiError } from './api.js'
import { h } from './dom.js'

/**
 * Advice for the reasons a newcomer meets first, matched on the server's per-file reason.
 * @type {Array<[RegExp, string]>}
 */
const ADVICE = [
  [/not inside a class folder/, 'Put the images in one folder per category (for example cats/001.jpg and dogs/002.jpg), then zip the parent folder.'],
  [/not an image|unsupported|cannot be decoded|unreadable/i, 'Only JPEG, PNG, WebP, GIF, AVIF and TIFF images are read; other files are skipped.'],
]

/**
 * The per-file reasons the API sends in `details.rejected` (`{path, reason}`), grouped by reason with a few
 * example paths each; null when the error carries none.
 * @param {unknown} err what the upload threw: an ApiError for a refused archive
 */
export function explainRejection(err) {
  const details = err instanceof ApiError ? err.details : undefined
  const rejected = /** @type {{ rejected?: unknown } | undefined} */ (details)?.rejected
  if (!Array.isArray(rejected) || rejected.length === 0) return null
  /** @type {Map<string, string[]>} */
  const byReason = new Map()
  for (const { path, reason } of /** @type {Array<{ path: string, reason: string }>} */ (rejected)) byReason.set(reason, [...(byReason.get(reason) ?? []), path])
  const advice = [...new Set([...byReason.keys()].flatMap((reason) => ADVICE.filter(([pattern]) => pattern.test(reason)).map(([, text]) => text)))]
  return h('div', { class: 'rejections', id: 'upload-reasons' },
    h('p', {}, h('strong', {}, 'Why the files were refused:')),
    h('ul', {}, [...byReason].map(([reason, paths]) => h('li', {}, h('strong', {}, reason), ` (${paths.length === 1 ? paths.length + ' file' : paths.length + ' files'}, e.g. `, paths.slice(0, 3).map((p, i) => [i ? ', ' : '', h('code', {}, p)]), ')'))),
    advice.map((text) => h('p', { class: 'advice' }, text)),
    // The API sends a sample (the first 20); the message above it has the full count.
    rejected.length >= 20 ? h('p', { class: 'muted' }, 'The first 20 refused files are shown.') : null)
}
