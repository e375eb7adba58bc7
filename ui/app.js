// @ts-check
/** The dashboard: a hash router over a few pages, each a function that renders into <main>. */
import { ApiError, apiKey } from './api.js'
import { byId, errorBox, h, toast } from './dom.js'
import { comparePage } from './compare.js'
import { datasetPage } from './dataset.js'
import { jobPage } from './job.js'
import { modelPage } from './model.js'
import { overviewPage } from './overview.js'
import { trainPage } from './train.js'
import { uploadPage } from './upload.js'

/**
 * What a page is given: the element to draw in, the query of the hash (`#/train?dataset=…`), the id its route
 * captured ('' where it captures none), and a signal that aborts when the user leaves the page.
 * @typedef {{ main: HTMLElement, params: URLSearchParams, id: string, signal: AbortSignal }} PageContext
 */

/** @type {Array<[RegExp, (context: PageContext) => Promise<void>]>} */
const ROUTES = [
  [/^\/$/, overviewPage],
  [/^\/upload$/, uploadPage],
  [/^\/train$/, trainPage],
  [/^\/compare$/, comparePage],
  [/^\/datasets\/([a-z0-9-]+)$/, datasetPage],
  [/^\/jobs\/([a-z0-9-]+)$/, jobPage],
  [/^\/models\/([a-z0-9-]+)$/, modelPage],
]

const main = byId('main', HTMLElement)
let leave = new AbortController()

/**
 * What a 404 from the page's main read means, in words.
 * @type {Record<string, { heading: string, noun: string }>}
 */
const MISSING = {
  JOB_NOT_FOUND: { heading: 'Job not found', noun: 'job' },
  MODEL_NOT_FOUND: { heading: 'Model not found', noun: 'model' },
  DATASET_NOT_FOUND: { heading: 'Dataset not found', noun: 'dataset' },
}

/**
 * @param {string} heading
 * @param {string} [message]
 */
function notFound(heading, message) {
  // replaceChildren, unlike h, writes a null child as the text "null".
  main.replaceChildren(h('h1', {}, heading), ...(message ? [h('p', {}, message)] : []), h('p', {}, h('a', { href: '#/' }, 'Back to the overview')))
}

/**
 * Each page has its own title, so tabs, history and bookmarks say where they lead. It follows the page's h1 as soon
 * as that is drawn: a page that keeps a live stream open (a running job) resolves only when the user leaves it.
 */
const titleFromHeading = () => {
  const heading = main.querySelector('h1')
  const title = heading ? `${heading.textContent?.trim()} · imagetune` : 'imagetune'
  if (document.title !== title) document.title = title
}
new MutationObserver(titleFromHeading).observe(main, { childList: true, subtree: true, characterData: true })

async function route() {
  leave.abort()
  leave = new AbortController()
  const [path = '/', query = ''] = (location.hash.slice(1) || '/').split('?')
  const params = new URLSearchParams(query)
  const match = ROUTES.map(([pattern, page]) => /** @type {const} */ ([pattern.exec(path), page])).find(([m]) => m)
  for (const link of document.querySelectorAll('nav a[href^="#"]')) {
    const target = (link.getAttribute('href') ?? '').slice(1)
    link.toggleAttribute('aria-current', target === path || (target !== '/' && path.startsWith(target)))
    if (link.hasAttribute('aria-current')) link.setAttribute('aria-current', 'page')
  }
  main.replaceChildren()
  if (!match) notFound('Page not found')
  else {
    const [m, page] = match
    const id = m?.[1] ?? ''
    try {
      await page({ main, params, id, signal: leave.signal })
    } catch (err) {
      if (leave.signal.aborted) return
      const missing = err instanceof ApiError ? MISSING[err.code] : undefined
      if (missing) notFound(missing.heading, `There is no ${missing.noun} with the id ${id}: it may have been deleted, or the link is mistyped.`)
      else main.append(errorBox(err))
    }
  }
  const heading = main.querySelector('h1')
  // Focus moves to the new page's heading so keyboard and screen-reader users land on it.
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    ;(heading ?? main).setAttribute('tabindex', '-1')
    ;(heading ?? main).focus({ preventScroll: true })
  }
}

const dialog = byId('key-dialog', HTMLDialogElement)
const keyInput = byId('key-input', HTMLInputElement)
const reason = byId('key-reason', HTMLElement)
const keyError = byId('key-error', HTMLElement)
const keyProject = byId('key-project', HTMLElement)

/** What the dialog says of a key that only administers: it works, but not in this dashboard. */
const ADMIN_ONLY = "This is an administrator key: it manages projects and keys (imagetune projects, imagetune keys) but sees no project's data. Paste a key made for a project."

/**
 * Who a key is (`GET /whoami`); undefined when the server cannot say.
 * @param {string} key
 * @returns {Promise<{ project: { id: string, name: string }, scopes: string[], open: boolean } | undefined>}
 */
async function whoami(key) {
  const response = await fetch('/whoami', { headers: key ? { authorization: `Bearer ${key}` } : {} })
  if (response.ok) return response.json()
  await response.body?.cancel()
  return undefined
}

/**
 * The project a key acts in, as the dialog words it; '' when the server cannot say.
 * @param {string} key
 * @returns {Promise<string>}
 */
async function projectOf(key) {
  const me = await whoami(key)
  if (!me) return ''
  const { project, open, scopes } = me
  if (!open && !scopes.includes('train') && !scopes.includes('predict')) return ADMIN_ONLY
  const name = project.name === project.id ? project.id : `${project.name} (${project.id})`
  return open ? `Everyone here works in project ${name}.` : `This key belongs to project ${name}: it sees that project's datasets, jobs and models only.`
}

/**
 * Shows under the dialog's reason which project the key (the saved one, or none) acts in.
 * @param {string} key
 */
async function showProject(key) {
  keyProject.hidden = true
  const text = await projectOf(key).catch(() => '')
  keyProject.textContent = text
  keyProject.hidden = text === ''
}

/**
 * Asks the server what a key does here: `open` when it answers without one; with a key, `ok`, `predict-only`
 * (valid, but it may not train or manage data) or `rejected`.
 * @param {string} key '' to ask without one
 */
async function checkKey(key) {
  const response = await fetch('/jobs?limit=1', { headers: key ? { authorization: `Bearer ${key}` } : {} })
  await response.body?.cancel()
  if (response.ok) return key ? 'ok' : 'open'
  if (response.status === 403) return 'predict-only'
  return 'rejected'
}

/** @param {string} [why] the reason to show; without one, the dialog asks the server whether a key is needed */
async function askForKey(why) {
  if (dialog.open) return
  keyError.textContent = ''
  keyInput.removeAttribute('aria-invalid')
  keyInput.value = apiKey.get()
  reason.textContent = why ?? 'Checking whether this server needs a key…'
  dialog.showModal()
  keyInput.focus()
  void showProject(apiKey.get())
  if (why) return
  const open = (await checkKey('').catch(() => 'rejected')) === 'open'
  reason.textContent = open
    ? 'This server is open: no key is needed. You only need one if your administrator turns keys on later.'
    : 'This server is locked. Paste the key your administrator gave you.'
}

byId('key-button', HTMLButtonElement).addEventListener('click', () => askForKey())
byId('key-close', HTMLButtonElement).addEventListener('click', () => dialog.close())
byId('key-clear', HTMLButtonElement).addEventListener('click', () => {
  apiKey.set('')
  dialog.close()
  toast('Key forgotten')
  route()
})
byId('key-form', HTMLFormElement).addEventListener('submit', async (event) => {
  event.preventDefault()
  const key = keyInput.value.trim()
  if (!key) {
    keyError.textContent = 'Paste a key first.'
    keyInput.setAttribute('aria-invalid', 'true')
    return
  }
  keyError.textContent = 'Checking the key with the server…'
  const verdict = await checkKey(key).catch(() => 'unreachable')
  // An admin key also gets 403 from /jobs, but it cannot predict either: saving it would only fail page after page.
  if (verdict === 'predict-only' && (await projectOf(key).catch(() => '')) === ADMIN_ONLY) {
    keyError.textContent = ADMIN_ONLY
    keyInput.setAttribute('aria-invalid', 'true')
    return
  }
  if (verdict === 'rejected' || verdict === 'unreachable') {
    keyError.textContent = verdict === 'rejected' ? 'The server did not accept this key. Check it for typos, or ask for a new one.' : 'The server could not be reached to check the key.'
    keyInput.setAttribute('aria-invalid', 'true')
    return
  }
  apiKey.set(key)
  dialog.close()
  const project = (await projectOf(key).catch(() => '')).replace(/:.*$/, '.')
  const saved = verdict === 'ok' ? 'Key checked and saved' : 'Key saved. It can make predictions, but not upload or train'
  toast(project ? `${saved}. ${project}` : saved)
  route()
})
addEventListener('imagetune:auth', (event) => {
  const { status } = /** @type {CustomEvent<ApiError>} */ (event).detail
  askForKey(status === 403
    ? 'Your key works here, but it may not do this (it lacks the permission). Paste a key that can, or ask your administrator.'
    : apiKey.get() ? 'The server no longer accepts the saved key. Paste a new one.' : 'This server is locked. Paste the key your administrator gave you.')
})
addEventListener('hashchange', route)
route()
