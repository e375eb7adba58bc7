/** The dashboard: a hash router over a few pages, each a function that renders into <main>. */
import { apiKey } from './api.js'
import { h, toast } from './dom.js'
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
  [/^\/datasets\/([a-z0-9-]+)$/, datasetPage],
  [/^\/jobs\/([a-z0-9-]+)$/, jobPage],
  [/^\/models\/([a-z0-9-]+)$/, modelPage],
]

const main = document.getElementById('main')
let leave = new AbortController()

async function route() {
  leave.abort()
  leave = new AbortController()
  const [path, query = ''] = (location.hash.slice(1) || '/').split('?')
  const params = new URLSearchParams(query)
  const match = ROUTES.map(([pattern, page]) => [pattern.exec(path), page]).find(([m]) => m)
  for (const link of document.querySelectorAll('nav a')) {
    const target = link.getAttribute('href').slice(1)
    link.toggleAttribute('aria-current', target === path || (target !== '/' && path.startsWith(target)))
    if (link.hasAttribute('aria-current')) link.setAttribute('aria-current', 'page')
  }
  main.replaceChildren()
  if (!match) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the overview')))
    return
  }
  const [m, page] = match
  try {
    await page({ main, params, id: m[1], signal: leave.signal })
  } catch (err) {
    if (leave.signal.aborted) return
    main.append(h('div', { class: 'error', role: 'alert' }, h('strong', {}, err.code ?? 'ERROR'), ' ', err.message))
  }
  // Focus moves to the new page's heading so keyboard and screen-reader users land on it.
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    ;(main.querySelector('h1') ?? main).setAttribute('tabindex', '-1')
    ;(main.querySelector('h1') ?? main).focus({ preventScroll: true })
  }
}

const dialog = document.getElementById('key-dialog')
const keyInput = document.getElementById('key-input')
const reason = document.getElementById('key-reason')
const DEFAULT_REASON = reason.textContent

function askForKey(message) {
  if (dialog.open) return
  reason.textContent = message ?? DEFAULT_REASON
  keyInput.value = apiKey.get()
  dialog.showModal()
  keyInput.focus()
}

document.getElementById('key-button').addEventListener('click', () => askForKey())
document.getElementById('key-clear').addEventListener('click', () => {
  apiKey.set('')
  dialog.close()
  toast('Key forgotten')
  route()
})
document.getElementById('key-form').addEventListener('submit', () => {
  apiKey.set(keyInput.value.trim())
  toast('Key saved')
  route()
})
addEventListener('imagetune:auth', (event) => askForKey(`${event.detail.message}.`))
addEventListener('hashchange', route)
route()
