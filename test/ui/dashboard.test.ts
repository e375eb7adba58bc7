/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against the real API, Redis and a
 * worker process: upload through the page, train, watch progress and charts, read the model page, try an image.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import sharp from 'sharp'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { makeImage, type ClassPattern } from '../helpers/images.js'
import { CHROMIUM, CHROMIUM_ARGS, browserTestFor, watchConsole } from '../helpers/browser.js'
import { startTestService, startWorkerProcess, type TestService, type WorkerProcess } from '../helpers/service.js'

const CLASSES: ClassPattern[] = ['blue-stripes', 'green-checker', 'red-circle']
const PER_CLASS = 15
const EPOCHS = 8
/** `SCREENSHOTS=1` refreshes the README's pictures in docs/screenshots/; otherwise they go to a temp folder. */
const KEEP_SCREENSHOTS = process.env.SCREENSHOTS === '1'
let screenshots: string

const browserTest = browserTestFor('test/ui/dashboard')

let service: TestService
let worker: WorkerProcess
let context: BrowserContext
let profile: string

beforeAll(async () => {
  if (!CHROMIUM) return
  service = await startTestService()
  worker = startWorkerProcess(service.config)
  profile = await mkdtemp(path.join(os.tmpdir(), 'imagetune-chromium-'))
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, viewport: { width: 1280, height: 860 } })
  screenshots = KEEP_SCREENSHOTS ? path.resolve('docs/screenshots') : path.join(profile, 'screenshots')
  await mkdir(screenshots, { recursive: true })
})

afterAll(async () => {
  await context?.close()
  if (profile) await rm(profile, { recursive: true, force: true })
  await worker?.stop()
  await service?.close()
})

/** A PNG of the page, reduced to a 256-colour palette so the committed pictures stay small. */
async function shot(page: Page, name: string, fullPage = true) {
  const png = await page.screenshot({ fullPage, type: 'png', scale: 'css' })
  await sharp(png).png({ palette: true, quality: 90, compressionLevel: 9 }).toFile(path.join(screenshots, `${name}.png`))
}

browserTest('upload, train, watch, inspect and try a model in the browser', async () => {
  const page = await context.newPage()
  const errors = watchConsole(page)
  await page.goto(service.url)
  expect(new URL(page.url()).pathname).toBe('/ui/')
  await page.getByRole('heading', { name: 'Overview' }).waitFor()

  // Upload: a generated ImageFolder zip plus one file the server must reject.
  await page.getByRole('link', { name: 'Upload', exact: true }).click()
  const files = await makeImageFolder(Object.fromEntries(CLASSES.map((c) => [c, PER_CLASS])), { size: 72, patterns: Object.fromEntries(CLASSES.map((c) => [c, c])) })
  const zip = await makeZip([...files, { path: 'red-circle/notes.txt', data: 'not an image' }])
  await page.locator('#archive-input').setInputFiles({ name: 'shapes.zip', mimeType: 'application/zip', buffer: zip })
  await page.getByRole('link', { name: 'Train a model on it' }).waitFor()
  const classRows = page.locator('table.classes tbody tr')
  expect(await classRows.allInnerTexts()).toEqual(CLASSES.map((c) => expect.stringContaining(c)))
  await expect(page.locator('details.rejected summary').innerText()).resolves.toBe('1 file rejected')
  await shot(page, 'upload')

  // The job form: a time budget, with every option under Advanced.
  await page.getByRole('link', { name: 'Train a model on it' }).click()
  await page.getByLabel(/^Quick/).check()
  await page.locator('#advanced summary').click()
  const epochs = page.getByLabel('Training rounds')
  await expect(epochs.inputValue()).resolves.toBe('10')
  await expect(page.locator('#job-base').inputValue()).resolves.toBe('mobilenet_v3_coco')
  await epochs.fill(String(EPOCHS))
  await page.getByLabel('Random seed').fill('7')
  await shot(page, 'train')
  await page.getByRole('button', { name: 'Start training' }).click()

  // The job page: no points before training, the bar reaches 100 and each epoch is a point on both charts.
  await page.waitForURL(/#\/jobs\//)
  const points = (chart: string) => page.locator(`[data-chart=${chart}]`).getAttribute('data-points')
  const before = Number(await points('loss'))
  await page.locator('#job-progress[aria-valuenow="100"]').waitFor({ timeout: 180_000 })
  await page.locator('#open-model').waitFor()
  expect(before).toBeLessThan(EPOCHS)
  await expect(points('loss')).resolves.toBe(String(EPOCHS))
  await expect(points('accuracy')).resolves.toBe(String(EPOCHS))
  await expect(page.locator('[data-chart=accuracy]').getAttribute('aria-label')).resolves.toMatch(new RegExp(`^Accuracy at epoch ${EPOCHS}: train [\\d.]+%, validation [\\d.]+%$`))
  await expect(page.locator('#job-percent').innerText()).resolves.toBe('100%')
  await shot(page, 'job')

  // The model page: confusion matrix with class names, per-class table, usage snippets.
  await page.locator('#open-model').click()
  await page.locator('#confusion-matrix').waitFor()
  expect(await page.locator('#confusion-matrix thead th[title]').allInnerTexts()).toEqual(CLASSES)
  expect(await page.locator('#confusion-matrix tbody th').allInnerTexts()).toEqual(CLASSES)
  const cells = (await page.locator('#confusion-matrix tbody td').allInnerTexts()).map(Number)
  expect(cells).toHaveLength(CLASSES.length ** 2)
  expect(cells.reduce((a, b) => a + b, 0)).toBe(CLASSES.length * PER_CLASS * 0.2)
  expect(await page.locator('#per-class tbody th').allInnerTexts()).toEqual(CLASSES)
  const modelId = page.url().split('/').at(-1)
  await expect(page.locator('.snippet').first().innerText()).resolves.toContain(`/predict?model=${modelId}`)
  // The default base is a GraphModel, so the classifier is one GraphModel in the browser too.
  await expect(page.locator('.snippet').nth(1).innerText()).resolves.toContain(`tf.loadGraphModel('${service.url}/models/${modelId}/model.json'`)

  // Try it: drop a red circle the model never saw.
  const probe = (await makeImage('red-circle', { size: 96, seed: 4242 })).toString('base64')
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
    const transfer = new DataTransfer()
    transfer.items.add(new File([bytes], 'probe.png', { type: 'image/png' }))
    document.querySelector('#try-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }))
  }, probe)
  const top = page.locator('#try-answer .predictions li.first .label')
  await top.waitFor()
  await expect(top.innerText()).resolves.toBe('red-circle')
  expect(await page.locator('#try-answer .predictions li').count()).toBe(CLASSES.length)
  await shot(page, 'model')

  // The overview lists all three, and a phone-sized screen in dark mode still shows the model.
  await page.getByRole('link', { name: 'Overview' }).click()
  await page.locator(`[data-job="${modelId}"] .badge.completed`).waitFor()
  await expect(page.locator('.cards .card').count()).resolves.toBe(1)
  await shot(page, 'overview')
  await page.setViewportSize({ width: 390, height: 844 })
  await page.emulateMedia({ colorScheme: 'dark' })
  await page.goto(`${service.url}/ui/#/models/${modelId}`)
  await page.locator('#confusion-matrix').waitFor()
  await shot(page, 'model-phone', false)

  expect(errors).toEqual([])
})

browserTest('with API keys the page asks for one, keeps it, and sends it with every call', async () => {
  const key = `ui-${randomUUID()}`
  const secured = await startTestService({ API_KEYS: `${hashApiKey(key)}:train+predict` })
  const page = await context.newPage()
  try {
    await page.goto(`${secured.url}/ui/`)
    const dialog = page.getByRole('dialog', { name: 'API key' })
    await dialog.waitFor()
    await expect(dialog.innerText()).resolves.toContain('This server is locked')
    await page.getByLabel('Key', { exact: true }).fill(key)
    await page.getByRole('button', { name: 'Check and save' }).press('Enter')
    await page.getByText('No datasets yet.').waitFor()
    await expect(page.evaluate(() => localStorage.getItem('imagetune.apiKey'))).resolves.toBe(key)
    // A reload finds the key in storage and asks nothing.
    await page.reload()
    await page.getByText('No datasets yet.').waitFor()
    expect(await dialog.isVisible()).toBe(false)

    // A picked folder is zipped in the page (hidden files left out) and uploaded with the key.
    const folder = path.join(profile, 'pets')
    for (const file of await makeImageFolder({ cats: 3, dogs: 3 }, { size: 40 })) {
      await mkdir(path.join(folder, path.dirname(file.path)), { recursive: true })
      await writeFile(path.join(folder, file.path), file.data)
    }
    await writeFile(path.join(folder, 'cats', '.DS_Store'), 'finder litter')
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.locator('#folder-input').setInputFiles(folder)
    await page.getByRole('link', { name: 'Train a model on it' }).waitFor()
    expect(await page.locator('table.classes tbody th').allInnerTexts()).toEqual(['cats', 'dogs'])
    await expect(page.locator('.dataset p.muted').first().innerText()).resolves.toContain('6 images in 2 classes')
    await page.getByText('No file was rejected.').waitFor()
    await expect(page.locator('#result-h').innerText()).resolves.toBe('pets')
  } finally {
    await page.close()
    await secured.close()
  }
})
