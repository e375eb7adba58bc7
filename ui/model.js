// @ts-check
import { api, ApiError, apiKey, blobUrl } from './api.js'
import { trainingCharts } from './charts.js'
import { ago, confirmDialog, errorBox, h, messageOf, modelName, num, one, pct, shortId, snippet, toast } from './dom.js'
import { optionFacts } from './options.js'
import { tryIt } from './try-it.js'

/** @typedef {import('./api-types.js').Model} Model */
/** @typedef {import('./api-types.js').Metrics} Metrics */
/** @typedef {import('./api-types.js').AliasList['aliases'][number]} Alias */
/**
 * The part of a tfjs `model.json` this page reads: the weight files to offer for download.
 * @typedef {{ weightsManifest?: Array<{ paths: string[] }> }} ModelJson
 */

/** @type {(value: string, label: string) => HTMLDivElement} */
const stat = (value, label) => h('div', { class: 'stat' }, h('span', { class: 'big' }, value), h('span', { class: 'muted' }, label))

/**
 * Rows are the true class, columns the prediction; each cell's shade is its share of the row.
 * @param {string[]} labels
 * @param {number[][]} matrix `matrix[true][predicted]` counts in `labels` order
 */
function confusionMatrix(labels, matrix) {
  return h(
    'div',
    { class: 'matrix-wrap', tabindex: 0, role: 'region', 'aria-label': 'confusion matrix (scrolls)' },
    h(
      'table',
      { class: 'matrix', id: 'confusion-matrix' },
      h('caption', {}, 'Rows: true class · columns: predicted class · shade: share of the row'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'true \\ predicted')), labels.map((label) => h('th', { scope: 'col', title: label }, h('span', {}, label))))),
      h(
        'tbody',
        {},
        matrix.map((row, i) => {
          const total = row.reduce((a, b) => a + b, 0)
          return h('tr', {}, h('th', { scope: 'row' }, labels[i]), row.map((count, j) => {
            const share = total ? count / total : 0
            return h('td', {
              class: `${i === j ? 'diag' : 'off'}${share > 0.55 ? ' dark' : ''}`,
              style: { '--share': share.toFixed(3) },
              title: `${labels[i]} → ${labels[j]}: ${count} (${pct(share, 0)} of ${labels[i]})`,
            }, count)
          }))
        }),
      ),
    ),
  )
}

/** @param {Metrics} metrics */
function perClassTable(metrics) {
  /** @type {(name: string, m: { precision: number | null, recall: number | null, f1: number | null }, support: number | string, header?: boolean) => HTMLTableRowElement} */
  const row = (name, m, support, header = false) =>
    h('tr', { class: header ? 'avg' : null }, h('th', { scope: 'row' }, name), h('td', { class: 'num' }, num(m?.precision)), h('td', { class: 'num' }, num(m?.recall)), h('td', { class: 'num' }, h('span', { class: 'f1', style: { '--f1': m?.f1 ?? 0 } }, num(m?.f1))), h('td', { class: 'num' }, support ?? ''))
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'list per-class', id: 'per-class' },
      h('caption', { class: 'sr-only' }, 'Precision, recall and F1 per class on the validation images'),
      h('thead', {}, h('tr', {}, ['Class', 'Precision', 'Recall', 'F1', 'Support'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, metrics.perClass.map((m) => row(m.label, m, m.support))),
      h('tfoot', {}, metrics.macro ? row('macro avg', metrics.macro, '', true) : null, metrics.weighted ? row('weighted avg', metrics.weighted, metrics.count, true) : null),
    ),
  )
}

/**
 * Misclassified checking images as the server records them (`{path, true, predicted, score}`): each opens full size.
 * @param {NonNullable<Model['misclassified']>} items
 * @param {string | undefined} datasetId the dataset the images are read from; absent, they show unavailable
 * @param {AbortSignal} signal
 */
function misclassified(items, datasetId, signal) {
  const grid = h('ul', { class: 'thumbs', id: 'misclassified' })
  for (const item of items.slice(0, 48)) {
    const file = item.path.split('/').at(-1)
    const image = h('img', { alt: `${file}: a ${item.true} taken for ${item.predicted}`, loading: 'lazy', width: 96, height: 96 })
    const link = h('a', { href: '#', class: 'thumb-link', title: `Open ${file} full size` }, image)
    if (datasetId) {
      blobUrl(`/datasets/${datasetId}/${item.path.split('/').map(encodeURIComponent).join('/')}`, signal)
        .then((url) => {
          image.src = url
          link.href = url
          link.target = '_blank'
        })
        .catch(() => image.replaceWith(h('span', { class: 'thumb-missing' }, 'image unavailable')))
    }
    grid.append(h('li', {}, link, h('span', {}, h('strong', {}, item.true), ' → ', item.predicted, h('small', { class: 'muted' }, ` ${pct(item.score, 0)}`)), h('small', { class: 'file-name' }, file)))
  }
  return grid
}

/**
 * Fetches a model file with the key (an <a href> cannot send it) and hands it to the browser as a download.
 * @param {string} href
 * @param {string} name
 */
function downloadLink(href, name) {
  return h('a', {
    href,
    download: name,
    class: 'button ghost small',
    onclick: async (event) => {
      if (!apiKey.get()) return
      event.preventDefault()
      try {
        const url = await blobUrl(href)
        const a = h('a', { href: url, download: name })
        document.body.append(a)
        a.click()
        a.remove()
        setTimeout(() => URL.revokeObjectURL(url), 10_000)
      } catch (err) {
        toast(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err), 'error')
      }
    },
  }, name)
}

/**
 * @param {Model} model
 * @param {string[]} weightFiles
 */
function usage(model, weightFiles) {
  const origin = location.origin
  const key = apiKey.get() ? ' \\\n  -H "Authorization: Bearer $IMAGETUNE_KEY"' : ''
  const curl = `curl -X POST "${origin}/predict?model=${model.id}&topK=3"${key} \\\n  -H "content-type: image/jpeg" --data-binary @photo.jpg`
  const size = model.base.inputSize
  const options = apiKey.get() ? `, {\n  requestInit: { headers: { Authorization: 'Bearer ' + IMAGETUNE_KEY } },\n}` : ''
  // The stored model takes pixels already scaled the way its base expects (metadata base.preprocessing).
  const scale = { scale_0_1: '.div(255)', 'scale_-1_1': '.div(127.5).sub(1)', raw_0_255: '' }[model.base.preprocessing]
  // A model on a GraphModel base (mobilenet_v3_coco) is one GraphModel: base graph, pooling and head in one file.
  const graph = model.base.format === 'graph-model'
  const loader = graph ? 'loadGraphModel' : 'loadLayersModel'
  const tfjs = `import * as tf from '@tensorflow/tfjs'

const model = await tf.${loader}('${origin}/models/${model.id}/model.json'${options})
const labels = ${JSON.stringify(model.labels)}
// img: an <img>, <canvas> or ImageData; the model wants [n, ${size}, ${size}, 3] floats${graph && !scale ? ', raw 0–255 RGB' : ''}
// (the server scales the image to cover ${size}×${size} and crops the centre; crop square first to match it)
const x = tf.tidy(() => tf.image.resizeBilinear(tf.browser.fromPixels(img), [${size}, ${size}])${scale}.expandDims(0))
const probs = await model.predict(x).data()
const best = labels[probs.indexOf(Math.max(...probs))]`
  return h(
    'div',
    { class: 'usage' },
    snippet(curl, 'Predict with curl'),
    snippet(tfjs, `Load it in a browser or Node (tf.${loader})`),
    h('p', { class: 'row' }, h('span', { class: 'muted' }, 'Download: '), downloadLink(`/models/${model.id}/model.json`, 'model.json'), weightFiles.map((file) => downloadLink(`/models/${model.id}/${file}`, file)), downloadLink(`/models/${model.id}`, 'metadata.json')),
  )
}

/**
 * The aliases (`prod`, `staging`…) pointing at this model, with a form to point one here (creating or moving it).
 * @param {Model} model
 * @param {Alias[]} allAliases
 * @param {() => void} onChange
 */
function aliasesSection(model, allAliases, onChange) {
  const mine = allAliases.filter((a) => a.modelId === model.id)
  const input = h('input', { id: 'alias-name', type: 'text', maxlength: 64, pattern: '[a-z0-9][a-z0-9._-]*', placeholder: 'prod', 'aria-describedby': 'alias-help alias-error', autocomplete: 'off' })
  const error = h('p', { class: 'field-error', id: 'alias-error' })
  const list = mine.length
    ? h('ul', { class: 'alias-list' }, mine.map((a) => h('li', {}, h('code', {}, a.name), ' ', h('button', {
        type: 'button',
        class: 'ghost small',
        'aria-label': `Remove alias ${a.name}`,
        onclick: async () => {
          try {
            await api(`/models/aliases/${encodeURIComponent(a.name)}`, { method: 'DELETE' })
            toast(`Alias ${a.name} removed`)
            onChange()
          } catch (err) {
            error.textContent = messageOf(err)
          }
        },
      }, 'Remove'))))
    : h('p', { class: 'muted' }, 'No alias points here.')
  const form = h('form', {
    class: 'row alias-form',
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault()
      const name = input.value.trim()
      error.textContent = ''
      if (!input.checkValidity() || !name) {
        error.textContent = 'Use lowercase letters, digits, dots, dashes and underscores, starting with a letter or digit.'
        input.setAttribute('aria-invalid', 'true')
        return input.focus()
      }
      const previous = allAliases.find((a) => a.name === name)
      if (previous?.modelId === model.id) return (error.textContent = `${name} already points here.`)
      if (previous && !(await confirmDialog(`Move ${name}?`, h('p', {}, `${name} points at model `, h('code', {}, shortId(previous.modelId)), ' now. Predictions that ask for ', h('code', {}, name), ' will use this model instead.'), `Move ${name} here`, { danger: false }))) return
      try {
        await api(`/models/aliases/${encodeURIComponent(name)}`, { method: 'PUT', body: { modelId: model.id } })
        toast(previous ? `${name} moved here` : `${name} now points here`)
        onChange()
      } catch (err) {
        error.textContent = messageOf(err)
      }
    },
  }, h('label', { for: 'alias-name' }, 'Point an alias here'), input, h('button', { type: 'submit' }, 'Set alias'))
  return h('div', { id: 'aliases' }, list, form, h('small', { id: 'alias-help', class: 'muted' }, 'An alias is a stable name for callers: ', h('code', {}, '/predict?model=prod'), ' keeps working when you move prod to a better model.'), error)
}

/**
 * Rename in place: the name is a label in the metadata, the id stays.
 * @param {Model} model
 * @param {string} shown the name the page shows now
 * @param {() => void} onDone
 */
function renameForm(model, shown, onDone) {
  const input = h('input', { id: 'model-name', type: 'text', maxlength: 100, value: model.name ?? shown, 'aria-describedby': 'model-name-error' })
  const error = h('p', { class: 'field-error', id: 'model-name-error' })
  return h('form', {
    class: 'rename',
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault()
      const name = input.value.trim()
      if (!name) {
        error.textContent = 'A name needs at least one character.'
        input.setAttribute('aria-invalid', 'true')
        return input.focus()
      }
      try {
        await api(`/models/${model.id}`, { method: 'PATCH', body: { name } })
        toast('Renamed')
        onDone()
      } catch (err) {
        error.textContent = messageOf(err)
      }
    },
  }, h('label', { for: 'model-name' }, 'Name'), h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Save name'), h('button', { type: 'button', class: 'ghost', onclick: onDone }, 'Cancel')), error)
}

/**
 * Everything about one model: accuracy, per-class table, confusion matrix, mistakes, curves, how to use it.
 * @param {import('./app.js').PageContext} context
 */
export async function modelPage({ main, id, signal }) {
  /** @type {Model} */
  const model = await api(`/models/${id}`, { signal })
  const metrics = model.metrics
  const labels = metrics.labels
  const [dataset, files, aliasList] = await Promise.all([
    model.datasetId ? /** @type {Promise<import('./api-types.js').Dataset>} */ (api(`/datasets/${model.datasetId}`, { signal })).catch(() => null) : null,
    /** @type {Promise<ModelJson>} */ (api(`/models/${id}/model.json`, { signal })).catch(() => null),
    /** @type {Promise<import('./api-types.js').AliasList>} */ (api('/models/aliases', { signal })).catch(() => ({ aliases: [] })),
  ])
  const weightFiles = (files?.weightsManifest ?? []).flatMap((group) => group.paths)
  const topK = metrics.topK
  const mistakes = model.misclassified ?? []
  const history = model.history
  const params = model.params
  const shown = modelName(model, dataset?.name)
  const myAliases = aliasList.aliases.filter((a) => a.modelId === id)
  const reload = () => dispatchEvent(new HashChangeEvent('hashchange'))

  const head = h('div', { class: 'page-head' })
  const showHead = () => head.replaceChildren(
    h('div', {},
      h('h1', {}, shown, ' ', h('code', { class: 'muted' }, shortId(id))),
      h('p', { class: 'muted' }, `${labels.length} classes · base ${model.base?.id ?? '?'} · trained ${ago(model.createdAt)}`, dataset ? [' on ', h('a', { href: `#/datasets/${dataset.id}` }, dataset.name)] : null, model.jobId ? [' · ', h('a', { href: `#/jobs/${model.jobId}` }, 'training job')] : null)),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'ghost', id: 'rename-model', onclick: () => { head.replaceChildren(h('div', { class: 'rename' }, h('h1', {}, 'Rename ', shown), renameForm(model, shown, reload))); one(head, 'input', HTMLInputElement)?.focus() } }, 'Rename'),
      h('button', { type: 'button', class: 'ghost danger', id: 'delete-model', onclick: () => deleteModel(model, shown, myAliases, status) }, 'Delete')))
  const status = h('div')
  showHead()

  const sections = [
    head,
    status,
    h('section', { class: 'stats panel', 'aria-label': 'summary' },
      stat(pct(metrics.accuracy), `accuracy on ${metrics.count ?? '?'} checking images`),
      topK.map((t) => stat(pct(t.accuracy), `top-${t.k} accuracy`)),
      metrics.macro ? stat(num(metrics.macro.f1, 2), 'macro F1') : null,
      // bestEpoch is a top-level field of the model's metadata: the round whose weights were kept.
      typeof model.bestEpoch === 'number' ? h('div', { class: 'stat', id: 'best-epoch' }, h('span', { class: 'big' }, String(model.bestEpoch)), h('span', { class: 'muted' }, `round kept, of ${history.length}`)) : null),
    h('section', { 'aria-labelledby': 'try-h', id: 'try' }, h('h2', { id: 'try-h' }, 'Try it'), tryIt(id, Math.min(5, labels.length), signal)),
    h('div', { class: 'two' },
      h('section', { 'aria-labelledby': 'cm-h' }, h('h2', { id: 'cm-h' }, 'Confusion matrix'), metrics.confusionMatrix ? confusionMatrix(labels, metrics.confusionMatrix) : h('p', { class: 'muted' }, 'Not recorded for this model.')),
      h('section', { 'aria-labelledby': 'pc-h' }, h('h2', { id: 'pc-h' }, 'Per class'), perClassTable(metrics),
        metrics.classesWithoutSupport?.length ? h('p', { class: 'muted' }, `No checking image for: ${metrics.classesWithoutSupport.join(', ')}`) : null)),
    mistakes.length
      ? h('section', { 'aria-labelledby': 'mis-h' }, h('h2', { id: 'mis-h' }, `Checking images it got wrong (${mistakes.length})`), misclassified(mistakes, model.datasetId, signal))
      : null,
    history.length ? h('section', { 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, 'Training curves'), h('div', { class: 'charts', id: 'model-charts' })) : null,
    h('section', { 'aria-labelledby': 'alias-h' }, h('h2', { id: 'alias-h' }, 'Aliases'), aliasesSection(model, aliasList.aliases, reload)),
    params ? h('section', { 'aria-labelledby': 'par-h' }, h('h2', { id: 'par-h' }, 'Settings it was trained with'), optionFacts(params)) : null,
    h('section', { 'aria-labelledby': 'use-h' }, h('h2', { id: 'use-h' }, 'Use it'), usage(model, weightFiles)),
  ]
  main.append(...sections.filter((section) => section !== null))
  const charts = one(main, '#model-charts', HTMLElement)
  if (charts) trainingCharts(charts).update(history)
}

/**
 * Deletes after a confirmation that names the aliases it would break; those aliases go first, so none dangles.
 * @param {Model} model
 * @param {string} shown
 * @param {Alias[]} aliases
 * @param {HTMLElement} status where a failure is shown
 */
async function deleteModel(model, shown, aliases, status) {
  const body = h('div', {},
    h('p', {}, `“${shown}” and its files are removed for good.`),
    aliases.length
      ? h('div', { class: 'warning', id: 'delete-aliases' }, h('p', {}, `Callers using ${aliases.length === 1 ? 'this alias' : 'these aliases'} will get “not found” until you point ${aliases.length === 1 ? 'it' : 'them'} at another model; ${aliases.length === 1 ? 'it is' : 'they are'} removed too:`), h('ul', {}, aliases.map((a) => h('li', {}, h('code', {}, a.name)))))
      : h('p', { class: 'muted' }, 'No alias points at it.'))
  if (!(await confirmDialog('Delete this model?', body, 'Delete the model'))) return
  try {
    for (const alias of aliases) await api(`/models/aliases/${encodeURIComponent(alias.name)}`, { method: 'DELETE' })
    await api(`/models/${model.id}`, { method: 'DELETE' })
    toast('Model deleted')
    location.hash = '#/'
  } catch (err) {
    status.replaceChildren(errorBox(err))
  }
}
