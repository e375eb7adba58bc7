/** `h('a', {href, onclick}, child…)`: a DOM element; null, false and undefined children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value)
    else if (name === 'class') el.className = value
    else if (name === 'style' && typeof value === 'object') {
      // setProperty, not assignment: custom properties (--share) are not fields of CSSStyleDeclaration.
      for (const [property, v] of Object.entries(value)) el.style.setProperty(property.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), String(v))
    }
    else if (name === 'value' || name === 'checked') el[name] = value
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : String(child))
  }
  return el
}

export const pct = (value, digits = 1) => (typeof value === 'number' ? `${(value * 100).toFixed(digits)}%` : '—')
export const num = (value, digits = 3) => (typeof value === 'number' ? value.toFixed(digits) : '—')
export const shortId = (id) => (id.length > 12 ? id.slice(0, 8) : id)

/** "3 min ago", "just now"; the exact time goes in the title. */
export function ago(iso) {
  if (!iso) return '—'
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (seconds < 45) return 'just now'
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`
  return new Date(iso).toLocaleDateString()
}

export function duration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—'
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`
}

export function badge(status) {
  return h('span', { class: `badge ${status}` }, status)
}

export function progressBar(percent, label) {
  const value = Math.max(0, Math.min(100, Math.round(percent ?? 0)))
  return h(
    'div',
    { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': value, 'aria-label': label },
    h('div', { class: 'bar', style: { width: `${value}%` } }),
  )
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts')
  const item = h('div', { class: `toast ${kind}` }, message)
  box.append(item)
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000)
}

/** An error box for a failed API call: its code and message, as the API wrote them. */
export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, err.code ?? 'ERROR'), ' ', err.message ?? String(err))
}

/** A code block with a copy button. */
export function snippet(text, label) {
  const code = h('code', {}, text)
  const copy = h('button', {
    type: 'button',
    class: 'ghost small',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text)
        toast('Copied')
      } catch {
        getSelection().selectAllChildren(code)
      }
    },
  }, 'Copy')
  return h('figure', { class: 'snippet' }, h('figcaption', {}, h('span', {}, label), copy), h('pre', { tabindex: 0 }, code))
}

/** A model's display name: the one it was given, else its dataset's name and training date. */
export function modelName(model, datasetName) {
  if (model.name) return model.name
  const when = model.createdAt ? new Date(model.createdAt).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }) : ''
  return `${datasetName ?? 'Model'}${when ? `, ${when}` : ''}`
}

/**
 * Asks in a modal dialog (focus stays inside, Escape cancels) and resolves true when `confirmLabel` is chosen.
 * @param body nodes or text explaining what will happen
 */
export function confirmDialog(title, body, confirmLabel, { danger = true } = {}) {
  return new Promise((resolve) => {
    const id = `confirm-${Math.random().toString(36).slice(2)}`
    const dialog = h('dialog', { 'aria-labelledby': id, class: 'confirm' },
      h('h2', { id }, title),
      h('div', {}, body),
      h('div', { class: 'row end' },
        h('button', { type: 'button', class: 'ghost', onclick: () => dialog.close('cancel') }, 'Keep it'),
        h('button', { type: 'button', class: danger ? 'danger-solid' : null, onclick: () => dialog.close('ok') }, confirmLabel)))
    dialog.addEventListener('close', () => {
      dialog.remove()
      resolve(dialog.returnValue === 'ok')
    })
    document.body.append(dialog)
    dialog.showModal()
  })
}
