// @ts-check
/** Two or more models side by side: headline figures, F1 per class, confusion matrices, settings and duration. */
import { api } from './api.js'
import { duration, h, modelName, num, pct, shortId } from './dom.js'
import { optionName, optionValue } from './options.js'

/** @typedef {import('./api-types.js').Model} Model */

/** @type {(content: string, best: boolean) => HTMLTableCellElement} */
const cell = (content, best) => h('td', { class: best ? 'num best' : 'num' }, content, best ? h('span', { class: 'sr-only' }, ' (best)') : null)

/**
 * A row of figures, the best one (highest, or lowest with `lower`) marked.
 * @param {string} name
 * @param {Array<number | null | undefined>} values one per model; null or undefined where it has none
 * @param {(value: number | null | undefined) => string} format
 * @param {{ lower?: boolean }} [options]
 */
function figureRow(name, values, format, { lower = false } = {}) {
  const numbers = values.filter((v) => typeof v === 'number')
  // A tie everywhere has no best: a star on every cell would say nothing.
  const best = new Set(numbers).size > 1 ? (lower ? Math.min(...numbers) : Math.max(...numbers)) : undefined
  return h('tr', {}, h('th', { scope: 'row' }, name), values.map((v) => cell(format(v), typeof v === 'number' && v === best)))
}

/** @param {Model} model */
function perClass(model) {
  return new Map(model.metrics.perClass.map((m) => [m.label, m]))
}

/** @param {Model} model */
function smallMatrix(model) {
  const labels = model.metrics?.labels ?? model.labels ?? []
  const rows = model.metrics?.confusionMatrix
  if (!Array.isArray(rows)) return h('p', { class: 'muted' }, 'Not recorded.')
  return h('table', { class: 'matrix small-matrix' },
    h('caption', {}, 'rows: true class · columns: predicted'),
    h('thead', {}, h('tr', {}, h('td', {}), labels.map((l) => h('th', { scope: 'col', title: l }, h('span', {}, l))))),
    h('tbody', {}, rows.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0)
      return h('tr', {}, h('th', { scope: 'row' }, labels[i]), row.map((count, j) => {
        const share = total ? count / total : 0
        return h('td', { class: `${i === j ? 'diag' : 'off'}${share > 0.55 ? ' dark' : ''}`, style: { '--share': share.toFixed(3) } }, count)
      }))
    })))
}

/** @param {import('./app.js').PageContext} context */
export async function comparePage({ main, params, signal }) {
  const ids = (params.get('ids') ?? '').split(',').filter(Boolean)
  main.append(h('h1', {}, 'Compare models'))
  if (ids.length < 2) {
    main.append(h('p', {}, 'Pick two or more models on the ', h('a', { href: '#/' }, 'overview'), ' to compare them.'))
    return
  }
  const [models, { datasets }] = await Promise.all([
    Promise.all(ids.map((id) => /** @type {Promise<Model>} */ (api(`/models/${id}`, { signal })))),
    /** @type {Promise<import('./api-types.js').DatasetList>} */ (api('/datasets', { signal })),
  ])
  /** Asked with a model's optional datasetId. @type {Map<string | undefined, string>} */
  const names = new Map(datasets.map((d) => [d.id, d.name]))
  /** @type {(m: Model) => number | undefined} */
  const seconds = (m) => (m.history ?? []).reduce((sum, e) => sum + (e.seconds ?? 0), 0) || undefined
  const labels = [...new Set(models.flatMap((m) => m.labels ?? []))]
  const classes = models.map(perClass)
  // A model's params are the job request it was trained with (typed loosely in its metadata).
  /** @type {(m: Model) => Record<string, unknown>} */
  const paramsOf = (m) => Object(m.params ?? {})
  const optionKeys = [...new Set(models.flatMap((m) => Object.keys(paramsOf(m))))]
  main.append(
    h('div', { class: 'table-wrap' }, h('table', { class: 'list compare', id: 'compare-table' },
      h('caption', { class: 'sr-only' }, 'The models side by side; the best figure of each row is marked'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Figure')), models.map((m) => h('th', { scope: 'col' }, h('a', { href: `#/models/${m.id}` }, modelName(m, names.get(m.datasetId))), h('small', { class: 'muted' }, ` ${shortId(m.id)}`))))),
      h('tbody', {},
        h('tr', {}, h('th', { scope: 'row' }, 'Dataset'), models.map((m) => h('td', {}, names.get(m.datasetId) ?? '—'))),
        figureRow('Accuracy', models.map((m) => m.metrics?.accuracy), (v) => pct(v)),
        figureRow('Macro F1', models.map((m) => m.metrics?.macro?.f1), (v) => num(v, 3)),
        figureRow('Checking images', models.map((m) => m.metrics?.count), (v) => String(v ?? '—')),
        figureRow('Training time', models.map(seconds), (v) => duration(v), { lower: true }),
        h('tr', {}, h('th', { scope: 'row' }, 'Round kept'), models.map((m) => h('td', { class: 'num' }, typeof m.bestEpoch === 'number' ? `${m.bestEpoch} of ${m.history?.length ?? '?'}` : '—'))),
        h('tr', { class: 'section-row' }, h('th', { scope: 'rowgroup', colspan: models.length + 1 }, 'F1 per class')),
        labels.map((label) => figureRow(label, classes.map((c) => c.get(label)?.f1), (v) => num(v, 3))),
        h('tr', { class: 'section-row' }, h('th', { scope: 'rowgroup', colspan: models.length + 1 }, 'Settings')),
        h('tr', {}, h('th', { scope: 'row' }, 'Pretrained base'), models.map((m) => h('td', {}, m.base?.id ?? '—'))),
        optionKeys.filter((k) => k !== 'baseModel').map((key) => {
          const values = models.map((m) => optionValue(key, paramsOf(m)[key]))
          const differs = new Set(values).size > 1
          return h('tr', { class: differs ? 'differs' : null }, h('th', { scope: 'row' }, optionName(key), differs ? h('span', { class: 'sr-only' }, ' (differs)') : null), values.map((v) => h('td', {}, v)))
        }),
      ))),
    h('section', { 'aria-labelledby': 'cmp-cm-h' }, h('h2', { id: 'cmp-cm-h' }, 'Confusion matrices'),
      h('div', { class: 'compare-matrices' }, models.map((m) => h('figure', { class: 'matrix-wrap', tabindex: 0, 'aria-labelledby': `cm-${m.id}` }, h('figcaption', { id: `cm-${m.id}` }, modelName(m, names.get(m.datasetId))), smallMatrix(m))))),
  )
}
