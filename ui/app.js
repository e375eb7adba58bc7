/** The dashboard: a hash router over a few pages, each a function that renders into <main>. */
import { apiKey } from './api.js'
import { h, toast } from './dom.js'
import { comparePage } from './compare.js'
import { datasetPage } from './dataset.js'
import { jobPage } from './job.js'
import { modelPage } from './model.js'
import { overviewPage } from './overview.js'
import { trainPage } from './train.js'
import { uploadPage } from './upload.js'

const ROUTES = [
  [/^\/$/, overviewPage],
  [/^\/upload$/, uploadPage],
  [/^\/train$/, trainPage],
  [/^\/compare$/, comparePage],
  [/^\/datasets\/([a-z0-9-]+)$/, datasetPage],
  [/^\/jobs\/([a-z0-9-]+)$/, jobPage],
  [/^\/models\/([a-z0-9-]+)$/, modelPage],
]

const main = document.getElementById('main')
let leave = new AbortController()

/** What a 404 from the page's main read means, in words. */
const MISSING = { JOB_NOT_FOUND: 'Job not found', MODEL_NOT_FOUND: 'Model not found', DATASET_NOT_FOUND: 'Dataset not found' }

function notFound(heading, message) {
  main.replaceChildren(h('h1', {}, heading), message ? h('p', {}, message) : null, h('p', {}, h('a', { href: '#/' }, 'Back to the overview')))
}

/**
 * Each page has its own title, so tabs, history and bookmarks say where they lead. It follows the page's h1 as soon
 * as that is drawn: a page that keeps a live stream open (a running job) resolves only when the user leaves it.
 */
const titleFromHeading = () => {
  const heading = main.querySelector('h1')
  const title = heading ? `${heading.textContent.trim()} · imagetune` : 'imagetune'
  if (document.title !== title) document.title = title
}
new MutationObserver(titleFromHeading).observe(main, { childList: true, subtree: true, characterData: true })

async function route() {
  leave.abort()
  leave = new AbortController()
  const [path, query = ''] = (location.hash.slice(1) || '/').split('?')
  const params = new URLSearchParams(query)
  const match = ROUTES.map(([pattern, page]) => [pattern.exec(path), page]).find(([m]) => m)
  for (const link of document.querySelectorAll('nav a[href^="#"]')) {
    const target = link.getAttribute('href').slice(1)
    link.toggleAttribute('aria-current', target === path || (target !== '/' && path.startsWith(target)))
    if (link.hasAttribute('aria-current')) link.setAttribute('aria-current', 'page')
  }
  main.replaceChildren()
  if (!match) notFound('Page not found')
  else {
    const [m, page] = match
    try {
      await page({ main, params, id: m[1], signal: leave.signal })
    } catch (err) {
      if (leave.signal.aborted) return
      if (MISSING[err.code]) notFound(MISSING[err.code], `There is no ${err.code.split('_')[0].toLowerCase()} with the id ${m[1]}: it may have been deleted, or the link is mistyped.`)
      else main.append(h('div', { class: 'error', role: 'alert' }, h('strong', {}, err.code ?? 'ERROR'), ' ', err.message))
    }
  }
  const heading = main.querySelector('h1')
  // Focus moves to the new page's heading so keyboard and screen-reader users land on it.
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    ;(heading ?? main).setAttribute('tabindex', '-1')
    ;(heading ?? main).focus({ preventScroll: true })
  }
}

const dialog = document.getElementById('key-dialog')
const keyInput = document.getElementById('key-input')
const reason = document.getElementById('key-reason')
const keyError = document.getElementById('key-error')
const keyProject = document.getElementById('key-project')

/** The project a key acts in (`GET /whoami`), as the dialog words it; '' when the server cannot say. */
async function projectOf(key) {
  const response = await fetch('/whoami', { headers: key ? { authorization: `Bearer ${key}` } : {} })
  if (!response.ok) {
    await response.body?.cancel()
    return ''
  }
  const { project, open } = await response.json()
  const name = project.name === project.id ? project.id : `${project.name} (${project.id})`
  return open ? `Everyone here works in project ${name}.` : `This key belongs to project ${name}: it sees that project's datasets, jobs and models only.`
}

/** Shows under the dialog's reason which project the key (the saved one, or none) acts in. */
async function showProject(key) {
  keyProject.hidden = true
  const text = await projectOf(key).catch(() => '')
  keyProject.textContent = text
  keyProject.hidden = text === ''
}

/**
 * Asks the server what a key does here: `open` when it answers without one; with a key, `ok`, `predict-only`
 * (valid, but it may not train or manage data) or `rejected`.
 */
async function checkKey(key) {
  const response = await fetch('/jobs?limit=1', { headers: key ? { authorization: `Bearer ${key}` } : {} })
  await response.body?.cancel()
  if (response.ok) return key ? 'ok' : 'open'
  if (response.status === 403) return 'predict-only'
  return 'rejected'
}

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

document.getElementById('key-button').addEventListener('click', () => askForKey())
document.getElementById('key-close').addEventListener('click', () => dialog.close())
document.getElementById('key-clear').addEventListener('click', () => {
  apiKey.set('')
  dialog.close()
  toast('Key forgotten')
  route()
})
document.getElementById('key-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const key = keyInput.value.trim()
  if (!key) {
    keyError.textContent = 'Paste a key first.'
    keyInput.setAttribute('aria-invalid', 'true')
    return
  }
  keyError.textContent = 'Checking the key with the server…'
  const verdict = await checkKey(key).catch(() => 'unreachable')
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
  const { status } = event.detail
  askForKey(status === 403
    ? 'Your key works here, but it may not do this (it lacks the permission). Paste a key that can, or ask your administrator.'
    : apiKey.get() ? 'The server no longer accepts the saved key. Paste a new one.' : 'This server is locked. Paste the key your administrator gave you.')
})
addEventListener('hashchange', route)
route()
