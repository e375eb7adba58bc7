// @ts-check
import { api, ApiError } from './api.js'
import { errorBox, h, messageOf, pct } from './dom.js'

/** @typedef {import('./api-types.js').Prediction} Prediction */
/**
 * One image's top labels with their scores, best first.
 * @typedef {Array<{ label: string, score: number }>} Predictions
 */
/** The answer for one image, by upload or by URL. @typedef {{ predictions: Predictions, latencyMs: number }} Answer */

/** Images sent to `POST /predict` in one multipart request; the table fills batch by batch. */
const BATCH = 16

/** The API reads the bytes themselves; the type only has to say "image". @type {(file: Blob) => string} */
const typeOf = (file) => (file.type.startsWith('image/') ? file.type : 'image/png')

/**
 * True when the browser can decode the file as an image: a .txt dropped here must not show as a broken picture.
 * @param {File} file
 */
async function isImage(file) {
  try {
    const bitmap = await createImageBitmap(file)
    bitmap.close()
    return true
  } catch {
    return false
  }
}

/**
 * What a refused URL means, in words, by the API's error code.
 * @type {Record<string, string>}
 */
const URL_REFUSALS = {
  URL_FORBIDDEN: 'The server will not fetch from that address: private, local and cloud-metadata addresses are refused for safety.',
  IMAGE_FETCH_FAILED: 'The server could not fetch an image from that address.',
  IMAGE_INVALID: 'That address did not give an image the server can read.',
  VALIDATION: 'That is not a URL the server accepts (http or https only).',
}

/**
 * Try a model: drop, paste or pick an image, give a URL, test a batch of files, or use the webcam.
 * @param {string} modelId the model to ask
 * @param {number} topK labels to show
 * @param {AbortSignal} signal removes the page-wide paste listener and stops the webcam when the page goes
 */
export function tryIt(modelId, topK, signal) {
  const input = h('input', { type: 'file', accept: 'image/*', class: 'sr-only', id: 'try-input', tabindex: -1, 'aria-hidden': 'true' })
  const batchInput = h('input', { type: 'file', accept: 'image/*', multiple: true, class: 'sr-only', id: 'batch-input', tabindex: -1, 'aria-hidden': 'true' })
  const preview = h('div', { class: 'preview' })
  const answer = h('div', { class: 'answer', 'aria-live': 'polite', id: 'try-answer' })
  const threshold = h('input', { type: 'range', id: 'try-threshold', min: 0, max: 100, step: 5, value: 50, 'aria-describedby': 'threshold-help' })
  const thresholdValue = h('output', { for: 'try-threshold', id: 'threshold-value' }, '50%')
  const batchBox = h('div', { id: 'batch-results' })
  /** @type {Answer | null} the single image's answer the threshold redraws */
  let last = null

  /**
   * Predictions drawn against the threshold: below it, the top label is "not sure".
   * @param {Answer} data
   */
  function showPredictions(data) {
    const cut = Number(threshold.value) / 100
    const top = data.predictions[0]
    const sure = top && top.score >= cut
    answer.replaceChildren(
      h('p', { class: sure ? 'verdict' : 'verdict unsure', id: 'try-verdict' }, sure ? top.label : `Not sure (best guess ${top?.label ?? '—'}, below ${pct(cut, 0)})`),
      h('ol', { class: 'predictions' }, data.predictions.map((p, i) =>
        h('li', { class: [i === 0 ? 'first' : '', p.score < cut ? 'below' : ''].join(' ').trim() || null }, h('span', { class: 'label' }, p.label), h('span', { class: 'score' }, pct(p.score)), h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { style: { width: `${p.score * 100}%` } }))),
      )),
      h('p', { class: 'muted' }, `${data.latencyMs} ms on the server`),
    )
  }

  /** @param {() => Promise<Answer>} request */
  async function ask(request) {
    answer.replaceChildren(h('p', { class: 'muted' }, 'Asking the model…'))
    try {
      last = await request()
      showPredictions(last)
      renderBatch()
    } catch (err) {
      last = null
      answer.replaceChildren(errorBox(err))
    }
  }

  /** @type {(blob: Blob) => () => Promise<Answer>} */
  const postImage = (blob) => () => api(`/predict?model=${encodeURIComponent(modelId)}&topK=${topK}`, { method: 'POST', headers: { 'content-type': typeOf(blob) }, body: blob })

  /** @param {File | undefined} file */
  async function predictFile(file) {
    if (!file) return
    if (!(await isImage(file))) {
      preview.replaceChildren()
      answer.replaceChildren(errorBox({ code: 'NOT_AN_IMAGE', message: `${file.name} is not an image this browser can read. Try a JPEG, PNG or WebP photo.` }))
      return
    }
    const url = URL.createObjectURL(file)
    preview.replaceChildren(h('img', { src: url, alt: `the image sent: ${file.name}`, onload: () => URL.revokeObjectURL(url) }))
    await ask(postImage(file))
  }

  const urlInput = h('input', { type: 'url', id: 'try-url', placeholder: 'https://example.com/photo.jpg', 'aria-describedby': 'try-url-error' })
  const urlError = h('p', { class: 'field-error', id: 'try-url-error' })
  const urlForm = h('form', {
    class: 'url-form',
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault()
      urlError.textContent = ''
      if (!urlInput.value || !urlInput.checkValidity()) return (urlError.textContent = 'Type a full web address, starting with https://')
      preview.replaceChildren()
      answer.replaceChildren(h('p', { class: 'muted' }, 'The server is fetching the image…'))
      try {
        /** @type {Answer} */
        const data = await api(`/predict?model=${encodeURIComponent(modelId)}&topK=${topK}&url=${encodeURIComponent(urlInput.value)}`)
        last = data
        showPredictions(data)
      } catch (err) {
        last = null
        answer.replaceChildren()
        urlError.textContent = `${(err instanceof ApiError && URL_REFUSALS[err.code]) || 'The server refused it.'} (${messageOf(err)})`
      }
    },
  }, h('label', { for: 'try-url' }, 'Or an image on the web'), h('div', { class: 'row' }, urlInput, h('button', { type: 'submit', class: 'ghost' }, 'Predict')), urlError)

  /**
   * Many images, each with its top label and score, sorted as picked; the threshold marks the unsure ones.
   * @typedef {{ name: string, predictions?: Predictions, error?: string }} BatchRow
   * @type {BatchRow[]}
   */
  let batch = []
  function renderBatch() {
    if (!batch.length) return batchBox.replaceChildren()
    const cut = Number(threshold.value) / 100
    const unsure = batch.filter((r) => (r.predictions?.[0]?.score ?? cut) < cut).length
    batchBox.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'batch-table' },
      h('caption', {}, `${batch.length} images · ${unsure} below the threshold`),
      h('thead', {}, h('tr', {}, ['File', 'Label', 'Score'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, batch.map((r) => {
        const top = r.predictions?.[0]
        return h('tr', { class: top && top.score < cut ? 'below' : null }, h('td', {}, r.name), h('td', {}, r.error ? h('span', { class: 'bad' }, r.error) : !top ? 'asking…' : top.score < cut ? `not sure (${top.label}?)` : top.label), h('td', { class: 'num' }, top ? pct(top.score) : '—'))
      })))))
  }

  /** @param {File[]} files */
  async function predictBatch(files) {
    // This batch's own rows: a batch picked while this one is still asking replaces the table, not these answers.
    const rows = files.map((file) => /** @type {BatchRow} */ ({ name: file.name }))
    batch = rows
    renderBatch()
    for (let start = 0; start < files.length; start += BATCH) {
      const chunk = files.slice(start, start + BATCH)
      const form = new FormData()
      for (const file of chunk) form.append('image', file, file.name)
      try {
        /** @type {Prediction} */
        const data = await api(`/predict?model=${encodeURIComponent(modelId)}&topK=${topK}`, { method: 'POST', body: form, signal })
        const results = 'results' in data ? data.results : [{ predictions: data.predictions }]
        rows.slice(start, start + chunk.length).forEach((row, i) => (row.predictions = results[i]?.predictions))
      } catch (err) {
        for (const row of rows.slice(start, start + chunk.length)) row.error = messageOf(err)
      }
      if (batch !== rows) return
      renderBatch()
    }
  }

  const camera = h('div', { class: 'camera', id: 'camera' })
  /** The webcam where the browser offers one: a live view and a button that sends the current frame. */
  async function startCamera() {
    let stream
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } })
    } catch (err) {
      camera.replaceChildren(errorBox({ code: 'CAMERA', message: `The browser gave no camera (${err instanceof DOMException && err.name === 'NotAllowedError' ? 'permission refused' : messageOf(err)}).` }))
      return
    }
    signal.addEventListener('abort', () => stream.getTracks().forEach((t) => t.stop()), { once: true })
    const video = h('video', { autoplay: true, playsinline: true, muted: true, 'aria-label': 'camera view' })
    video.srcObject = stream
    const snap = h('button', { type: 'button', onclick: () => {
      const canvas = h('canvas', { width: video.videoWidth, height: video.videoHeight })
      canvas.getContext('2d')?.drawImage(video, 0, 0)
      canvas.toBlob((blob) => blob && ask(postImage(blob)), 'image/jpeg', 0.9)
    } }, 'Predict this frame')
    const stop = h('button', { type: 'button', class: 'ghost', onclick: () => { stream.getTracks().forEach((t) => t.stop()); camera.replaceChildren(...(cameraButton ? [cameraButton] : [])) } }, 'Stop camera')
    camera.replaceChildren(video, h('div', { class: 'row' }, snap, stop))
  }
  // No mediaDevices outside a secure context (a server reached over plain http).
  const cameraButton = /** @type {MediaDevices | undefined} */ (navigator.mediaDevices)?.getUserMedia ? h('button', { type: 'button', class: 'ghost', onclick: startCamera }, 'Use the webcam') : null
  if (cameraButton) camera.append(cameraButton)

  input.addEventListener('change', () => predictFile(input.files?.[0]))
  batchInput.addEventListener('change', () => predictBatch([...(batchInput.files ?? [])]))
  threshold.addEventListener('input', () => {
    thresholdValue.textContent = `${threshold.value}%`
    if (last) showPredictions(last)
    renderBatch()
  })
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'))
    if (file) predictFile(file)
  }, { signal })
  /** @type {HTMLDivElement} */
  const zone = h(
    'div',
    {
      class: 'dropzone small',
      id: 'try-zone',
      tabindex: 0,
      role: 'button',
      onclick: () => input.click(),
      onkeydown: (event) => (event.key === 'Enter' || event.key === ' ') && (event.preventDefault(), input.click()),
      ondragover: (event) => (event.preventDefault(), zone.classList.add('over')),
      ondragleave: () => zone.classList.remove('over'),
      ondrop: (event) => {
        event.preventDefault()
        zone.classList.remove('over')
        const files = [...(event.dataTransfer?.files ?? [])]
        if (files.length > 1) return predictBatch(files)
        predictFile(files.find((f) => f.type.startsWith('image/')) ?? files[0])
      },
    },
    h('strong', {}, 'Drop an image'),
    h('span', { class: 'muted' }, 'paste it (Ctrl+V) or press Enter to pick one'),
  )
  return h('div', { class: 'try-it' },
    // The answer comes before the preview in the page, so on a phone the prediction shows without scrolling.
    h('div', { class: 'try-inputs' }, zone, input,
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'ghost small', onclick: () => batchInput.click() }, 'Test a batch of images…'), batchInput, camera),
      urlForm),
    h('div', { class: 'try-output' },
      h('div', { class: 'threshold' }, h('label', { for: 'try-threshold' }, 'Sure enough at ', thresholdValue), threshold, h('small', { id: 'threshold-help', class: 'muted' }, 'Answers with a lower score count as “not sure”.')),
      answer, preview),
    h('div', { class: 'try-batch' }, batchBox))
}
