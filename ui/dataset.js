// @ts-check
import { api } from './api.js'
import { ago, confirmDialog, errorBox, h, toast } from './dom.js'
import { gallery } from './gallery.js'

/** @typedef {import('./api-types.js').Dataset} Dataset */

/**
 * Classes with their counts as bars, rejected files and warnings: what the server made of an archive.
 * @param {Dataset} dataset
 */
export function datasetSummary(dataset) {
  const max = Math.max(1, ...dataset.classes.map((c) => c.count))
  return h(
    'div',
    { class: 'dataset', 'data-dataset': dataset.id },
    h('p', { class: 'muted' }, `${dataset.imageCount} images in ${dataset.classes.length} classes${dataset.hasSplit ? ' · train/ and val/ folders' : ''} · uploaded ${ago(dataset.createdAt)}`),
    dataset.warnings.length
      ? h('div', { class: 'warning', role: 'note' }, h('strong', {}, 'Warnings'), h('ul', {}, dataset.warnings.map((w) => h('li', {}, w))))
      : null,
    h(
      'table',
      { class: 'classes' },
      h('caption', { class: 'sr-only' }, 'Images per class'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Class'), h('th', { scope: 'col' }, 'Images'), h('th', { scope: 'col', class: 'wide' }, h('span', { class: 'sr-only' }, 'Share')))),
      h(
        'tbody',
        {},
        dataset.classes.map((c) =>
          h('tr', {}, h('th', { scope: 'row' }, c.name), h('td', { class: 'num' }, c.count), h('td', { class: 'wide' }, h('div', { class: 'hbar', style: { width: `${(100 * c.count) / max}%` } }))),
        ),
      ),
    ),
    dataset.rejected?.length
      ? h(
          'details',
          { class: 'rejected' },
          h('summary', {}, `${dataset.rejected.length} file${dataset.rejected.length === 1 ? '' : 's'} rejected`),
          h('ul', {}, dataset.rejected.slice(0, 200).map((r) => h('li', {}, h('code', {}, r.path), ' — ', r.reason))),
          dataset.rejected.length > 200 ? h('p', { class: 'muted' }, `and ${dataset.rejected.length - 200} more`) : null,
        )
      : h('p', { class: 'muted' }, 'No file was rejected.'),
  )
}

/** @param {import('./app.js').PageContext} context */
export async function datasetPage({ main, id, signal }) {
  /** @type {Dataset} */
  const dataset = await api(`/datasets/${id}`, { signal })
  const status = h('div')
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, dataset.name), h('div', { class: 'row' },
      h('button', {
        type: 'button',
        class: 'ghost danger',
        onclick: async () => {
          if (!(await confirmDialog('Delete this dataset?', h('p', {}, `“${dataset.name}” and its ${dataset.imageCount} images are removed for good. Models trained on it stay.`), 'Delete the dataset'))) return
          try {
            await api(`/datasets/${id}`, { method: 'DELETE' })
            toast('Dataset deleted')
            location.hash = '#/'
          } catch (err) {
            status.replaceChildren(errorBox(err))
          }
        },
      }, 'Delete'),
      h('a', { class: 'button', href: `#/train?dataset=${id}` }, 'Train a model'))),
    status,
    h('section', { class: 'panel' }, dataset.parentId ? h('p', { class: 'muted' }, 'A revision of ', h('a', { href: `#/datasets/${dataset.parentId}` }, 'an earlier dataset'), '.') : null, datasetSummary(dataset)),
    await gallery(dataset, signal),
  )
}
