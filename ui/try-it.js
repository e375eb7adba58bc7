import { authHeaders } from './api.js'
import { errorBox, h, pct } from './dom.js'

/** The API takes any image/* body and reads the bytes themselves; the type only has to say "image". */
const typeOf = (file) => (file.type.startsWith('image/') ? file.type : 'image/png')

/**
 * Drop, paste or pick an image; it goes to `POST /predict` as the raw body and the top-k labels come back.
 * @param modelId the model to ask
 * @param topK labels to show
 * @param signal removes the page-wide paste listener when the page goes
 */
export function tryIt(modelId, topK, signal) {
  const input = h('input', { type: 'file', accept: 'image/*', class: 'sr-only', id: 'try-input' })
  const preview = h('div', { class: 'preview' })
  const answer = h('div', { class: 'answer', 'aria-live': 'polite', id: 'try-answer' })

  async function predict(file) {
    if (!file) return
    const url = URL.createObjectURL(file)
    preview.replaceChildren(h('img', { src: url, alt: 'the image sent', onload: () => URL.revokeObjectURL(url) }))
    answer.replaceChildren(h('p', { class: 'muted' }, 'Asking the model…'))
    try {
      const response = await fetch(`/predict?model=${encodeURIComponent(modelId)}&topK=${topK}`, { method: 'POST', headers: { ...authHeaders(), 'content-type': typeOf(file) }, body: file })
      const data = await response.json()
      if (!response.ok) throw { code: data?.error?.code, message: data?.error?.message ?? response.statusText }
      answer.replaceChildren(
        h('ol', { class: 'predictions' }, data.predictions.map((p, i) =>
          h('li', { class: i === 0 ? 'first' : null }, h('span', { class: 'label' }, p.label), h('span', { class: 'score' }, pct(p.score)), h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { style: { width: `${p.score * 100}%` } }))),
        )),
        h('p', { class: 'muted' }, `${data.latencyMs} ms on the server`),
      )
    } catch (err) {
      answer.replaceChildren(errorBox(err))
    }
  }

  input.addEventListener('change', () => predict(input.files[0]))
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'))
    if (file) predict(file)
  }, { signal })
  const zone = h(
    'div',
    {
      class: 'dropzone small',
      id: 'try-zone',
      tabindex: 0,
      role: 'button',
      'aria-label': 'Try the model: drop, paste or pick an image',
      onclick: () => input.click(),
      onkeydown: (event) => (event.key === 'Enter' || event.key === ' ') && (event.preventDefault(), input.click()),
      ondragover: (event) => (event.preventDefault(), zone.classList.add('over')),
      ondragleave: () => zone.classList.remove('over'),
      ondrop: (event) => {
        event.preventDefault()
        zone.classList.remove('over')
        predict([...event.dataTransfer.files].find((f) => f.type.startsWith('image/')) ?? event.dataTransfer.files[0])
      },
    },
    h('strong', {}, 'Drop an image'),
    h('span', { class: 'muted' }, 'paste it (Ctrl+V) or press Enter to pick one'),
  )
  return h('div', { class: 'try-it' }, h('div', {}, zone, input, preview), answer)
}
