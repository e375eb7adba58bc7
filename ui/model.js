import { api, apiKey, blobUrl } from './api.js'
import { trainingCharts } from './charts.js'
import { ago, h, num, pct, shortId, snippet, toast } from './dom.js'
import { tryIt } from './try-it.js'

const stat = (value, label) => h('div', { class: 'stat' }, h('span', { class: 'big' }, value), h('span', { class: 'muted' }, label))

/** Rows are the true class, columns the prediction; each cell's shade is its share of the row. */
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

function perClassTable(metrics) {
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
      h('tbody', {}, (metrics.perClass ?? []).map((m) => row(m.label, m, m.support))),
      h('tfoot', {}, metrics.macro ? row('macro avg', metrics.macro, '', true) : null, metrics.weighted ? row('weighted avg', metrics.weighted, metrics.count, true) : null),
    ),
  )
}

/** Misclassified validation images, in whatever shape the metrics give them (`path`, true and predicted label). */
function misclassified(items, datasetId, signal) {
  const grid = h('ul', { class: 'thumbs' })
  for (const item of items.slice(0, 48)) {
    const truth = item.trueLabel ?? item.true ?? item.actual ?? item.label
    const predicted = item.predictedLabel ?? item.predicted ?? item.prediction
    const score = item.score ?? item.confidence
    const image = h('img', { alt: `${truth} predicted as ${predicted}`, loading: 'lazy', width: 96, height: 96 })
    const path = String(item.path ?? '').replace(/^images\//, '')
    const dataset = item.datasetId ?? datasetId
    if (path && dataset) {
      blobUrl(`/datasets/${dataset}/images/${path.split('/').map(encodeURIComponent).join('/')}`, signal)
        .then((url) => (image.src = url))
        .catch(() => image.replaceWith(h('span', { class: 'thumb-missing' }, 'image unavailable')))
    }
    grid.append(h('li', {}, image, h('span', {}, h('strong', {}, truth), ' → ', predicted, typeof score === 'number' ? h('small', { class: 'muted' }, ` ${pct(score, 0)}`) : null)))
  }
  return grid
}

/** Fetches a model file with the key (an <a href> cannot send it) and hands it to the browser as a download. */
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
        toast(`${err.code}: ${err.message}`, 'error')
      }
    },
  }, name)
}

function usage(model, weightFiles) {
  const origin = location.origin
  const key = apiKey.get() ? ' \\\n  -H "Authorization: Bearer $IMAGETUNE_KEY"' : ''
  const curl = `curl -X POST "${origin}/predict?model=${model.id}&topK=3"${key} \\\n  -H "content-type: image/jpeg" --data-binary @photo.jpg`
  const size = model.base?.inputSize ?? 224
  const options = apiKey.get() ? `, {\n  requestInit: { headers: { Authorization: 'Bearer ' + IMAGETUNE_KEY } },\n}` : ''
  // The stored model takes pixels already scaled the way its base expects (metadata base.preprocessing).
  const scale = { 'scale_-1_1': '.div(127.5).sub(1)', raw_0_255: '' }[model.base?.preprocessing] ?? '.div(255)'
  // A model on a GraphModel base (mobilenet_v3_coco) is one GraphModel: base graph, pooling and head in one file.
  const graph = model.base?.format === 'graph-model'
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
 * The metrics as this page reads them, from either shape a server may write: `confusionMatrix` as rows or as
 * `{labels, matrix}`, `perClass` as a list or keyed by label, `topK` as a list or as `{k: accuracy}`.
 */
function normaliseMetrics(metrics) {
  const out = { ...metrics }
  const cm = metrics.confusionMatrix
  if (cm && !Array.isArray(cm)) {
    out.confusionMatrix = cm.matrix ?? cm.counts ?? cm.rows
    out.labels = metrics.labels ?? cm.labels
  }
  if (metrics.perClass && !Array.isArray(metrics.perClass)) out.perClass = Object.entries(metrics.perClass).map(([label, m]) => ({ label, ...m }))
  const topK = metrics.topK ?? []
  out.topK = Array.isArray(topK) ? topK : Object.entries(topK).map(([k, accuracy]) => ({ k: Number(k), accuracy }))
  return out
}

/** Everything about one model: accuracy, per-class table, confusion matrix, mistakes, curves, how to use it. */
export async function modelPage({ main, id, signal }) {
  const model = await api(`/models/${id}`, { signal })
  const metrics = normaliseMetrics(model.metrics ?? {})
  const labels = metrics.labels ?? model.labels ?? []
  const [dataset, files] = await Promise.all([
    model.datasetId ? api(`/datasets/${model.datasetId}`, { signal }).catch(() => null) : null,
    api(`/models/${id}/model.json`, { signal }).catch(() => null),
  ])
  const weightFiles = (files?.weightsManifest ?? []).flatMap((group) => group.paths ?? [])
  const topK = metrics.topK
  const mistakes = metrics.misclassified ?? model.misclassified ?? []
  const history = model.history ?? metrics.history ?? []
  const params = model.params ?? model.options

  const sections = [
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, dataset?.name ?? 'Model', ' ', h('code', {}, shortId(id))), h('p', { class: 'muted' }, `${labels.length} classes · base ${model.base?.id ?? '?'} · trained ${ago(model.createdAt)}`, model.jobId ? [' · ', h('a', { href: `#/jobs/${model.jobId}` }, 'job')] : null))),
    h('section', { class: 'stats panel', 'aria-label': 'summary' },
      stat(pct(metrics.accuracy), `accuracy on ${metrics.count ?? '?'} validation images`),
      topK.map((t) => stat(pct(t.accuracy), `top-${t.k} accuracy`)),
      metrics.macro ? stat(num(metrics.macro.f1, 2), 'macro F1') : null,
      metrics.bestEpoch ? stat(String(metrics.bestEpoch), 'best epoch') : null),
    h('section', { 'aria-labelledby': 'try-h', id: 'try' }, h('h2', { id: 'try-h' }, 'Try it'), tryIt(id, Math.min(5, labels.length), signal)),
    h('div', { class: 'two' },
      h('section', { 'aria-labelledby': 'cm-h' }, h('h2', { id: 'cm-h' }, 'Confusion matrix'), metrics.confusionMatrix ? confusionMatrix(labels, metrics.confusionMatrix) : h('p', { class: 'muted' }, 'Not recorded for this model.')),
      h('section', { 'aria-labelledby': 'pc-h' }, h('h2', { id: 'pc-h' }, 'Per class'), perClassTable(metrics),
        metrics.classesWithoutSupport?.length ? h('p', { class: 'muted' }, `No validation image for: ${metrics.classesWithoutSupport.join(', ')}`) : null)),
    mistakes.length
      ? h('section', { 'aria-labelledby': 'mis-h' }, h('h2', { id: 'mis-h' }, `Misclassified validation images (${mistakes.length})`), misclassified(mistakes, model.datasetId, signal))
      : null,
    history.length ? h('section', { 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, 'Training curves'), h('div', { class: 'charts', id: 'model-charts' })) : null,
    params ? h('section', { 'aria-labelledby': 'par-h' }, h('h2', { id: 'par-h' }, 'Job parameters'), h('dl', { class: 'facts' }, Object.entries(params).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))]))) : null,
    h('section', { 'aria-labelledby': 'use-h' }, h('h2', { id: 'use-h' }, 'Use it'), usage(model, weightFiles)),
  ]
  main.append(...sections.filter(Boolean))
  const charts = main.querySelector('#model-charts')
  if (charts) trainingCharts(charts).update(history)
}
