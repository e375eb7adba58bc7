// @ts-check

/**
 * Listeners by attribute name (`onclick`, `onsubmit`…), typed by their event.
 * @typedef {{ [E in keyof HTMLElementEventMap as `on${E}`]?: (event: HTMLElementEventMap[E]) => unknown }} Listeners
 */
/**
 * `class`, `style` (properties, custom ones included), `value` and `checked` (set as properties), listeners, and
 * attributes: `true` is present, `null`, `undefined` and `false` absent, anything else is its string.
 * @typedef {Listeners & { style?: Record<string, string | number>, [name: string]: unknown }} Attrs
 */
/** @typedef {Node | string | number | null | undefined | false | Child[]} Child */

/**
 * The page's element with `id` from index.html, checked to be a `type`: a missing one is a bug, thrown at once.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id)
  if (!(el instanceof type)) throw new Error(`index.html has no ${type.name} #${id}`)
  return el
}

/**
 * The elements under `root` matching `selector` that are a `type`: querySelectorAll types bare tag names only.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {{ new (): T, prototype: T }} type
 * @returns {T[]}
 */
export function all(root, selector, type) {
  return [...root.querySelectorAll(selector)].filter(/** @returns {el is T} */ (el) => el instanceof type)
}

/**
 * The first element under `root` matching `selector` if it is a `type`, else null.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {{ new (): T, prototype: T }} type
 * @returns {T | null}
 */
export function one(root, selector, type) {
  const el = root.querySelector(selector)
  return el instanceof type ? el : null
}

/**
 * `h('a', {href, onclick}, child…)`: a DOM element; null, false and undefined children are skipped.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), /** @type {EventListener} */ (value))
    else if (name === 'class') el.className = String(value)
    else if (name === 'style' && typeof value === 'object') {
      // setProperty, not assignment: custom properties (--share) are not fields of CSSStyleDeclaration.
      for (const [property, v] of Object.entries(value)) el.style.setProperty(property.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), String(v))
    }
    // Properties, not attributes: the attributes set only the initial state, and a <select> has no value attribute.
    else if (name === 'value' || name === 'checked') Reflect.set(el, name, value)
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

/**
 * @param {Element} el
 * @param {Child[]} children nested lists are appended in order
 */
function append(el, children) {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child)
    else if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child))
  }
}

/** @type {(value: unknown, digits?: number) => string} */
export const pct = (value, digits = 1) => (typeof value === 'number' ? `${(value * 100).toFixed(digits)}%` : '—')
/** @type {(value: unknown, digits?: number) => string} */
export const num = (value, digits = 3) => (typeof value === 'number' ? value.toFixed(digits) : '—')
/** @type {(id: string) => string} */
export const shortId = (id) => (id.length > 12 ? id.slice(0, 8) : id)

/**
 * "3 min ago", "just now"; the exact time goes in the title.
 * @param {string | null | undefined} iso
 */
export function ago(iso) {
  if (!iso) return '—'
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (seconds < 45) return 'just now'
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`
  return new Date(iso).toLocaleDateString()
}

/** @param {unknown} seconds */
export function duration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—'
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`
}

/** @param {string} status */
export function badge(status) {
  return h('span', { class: `badge ${status}` }, status)
}

/**
 * @param {number | undefined} percent 0–100
 * @param {string} label
 */
export function progressBar(percent, label) {
  const value = Math.max(0, Math.min(100, Math.round(percent ?? 0)))
  return h(
    'div',
    { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': value, 'aria-label': label },
    h('div', { class: 'bar', style: { width: `${value}%` } }),
  )
}

/**
 * @param {string} message
 * @param {'info' | 'error'} [kind]
 */
export function toast(message, kind = 'info') {
  const item = h('div', { class: `toast ${kind}` }, message)
  document.getElementById('toasts')?.append(item)
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000)
}

/**
 * What a thrown thing says: an Error's message (an ApiError's is the API's own words), else the thing as text.
 * @param {unknown} err
 */
export const messageOf = (err) => (err instanceof Error ? err.message : String(err))

/**
 * An error box for a failed API call: its code and message, as the API wrote them.
 * @param {unknown} err an ApiError, a `{code, message}` of the page's own, or anything thrown
 */
export function errorBox(err) {
  const { code, message } = /** @type {{ code?: unknown, message?: unknown }} */ (err ?? {})
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, typeof code === 'string' ? code : 'ERROR'), ' ', typeof message === 'string' ? message : String(err))
}

/**
 * A code block with a copy button.
 * @param {string} text
 * @param {string} label
 */
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
        getSelection()?.selectAllChildren(code)
      }
    },
  }, 'Copy')
  return h('figure', { class: 'snippet' }, h('figcaption', {}, h('span', {}, label), copy), h('pre', { tabindex: 0 }, code))
}

/**
 * A model's display name: the one it was given, else its dataset's name and training date.
 * @param {{ name?: string, createdAt?: string }} model
 * @param {string} [datasetName]
 */
export function modelName(model, datasetName) {
  if (model.name) return model.name
  const when = model.createdAt ? new Date(model.createdAt).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }) : ''
  return `${datasetName ?? 'Model'}${when ? `, ${when}` : ''}`
}

/**
 * Asks in a modal dialog (focus stays inside, Escape cancels) and resolves true when `confirmLabel` is chosen.
 * @param {string} title
 * @param {Child} body nodes or text explaining what will happen
 * @param {string} confirmLabel
 * @param {{ danger?: boolean }} [options] false for a choice that destroys nothing
 * @returns {Promise<boolean>}
 */
export function confirmDialog(title, body, confirmLabel, { danger = true } = {}) {
  return new Promise((resolve) => {
    const id = `confirm-${Math.random().toString(36).slice(2)}`
    /** @type {HTMLDialogElement} */
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
