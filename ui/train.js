// @ts-check
import { api, ApiError, apiDescription } from './api.js'
import { duration, errorBox, h, one } from './dom.js'
import { estimateSeconds, measuredRates } from './estimate.js'

/** @typedef {import('./api.js').Schema} Schema */
/** @typedef {import('./api-types.js').JobRequest} JobRequest */
/**
 * A control the form reads back: each carries `data-path` (the option's path) and `data-kind`.
 * @typedef {HTMLInputElement | HTMLSelectElement} Control
 */

/**
 * Used when the server's OpenAPI document cannot be read: the options every imagetune version takes.
 * @type {Record<string, Schema>}
 */
const FALLBACK = {
  epochs: { type: 'integer', minimum: 1, maximum: 500, default: 40 },
  batchSize: { type: 'integer', minimum: 1, maximum: 1024, default: 32 },
  learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.001 },
  validationSplit: { type: 'number', minimum: 0.05, maximum: 0.5, default: 0.2 },
  seed: { type: 'integer', minimum: 0, maximum: 2147483647 },
}

/**
 * Each option in plain words, by its path in the request body: a label and what it changes.
 * @type {Record<string, [string, string]>}
 */
const WORDS = {
  epochs: ['Training rounds', 'How many times the model goes over every training image. More can help, up to a point.'],
  batchSize: ['Images per step', 'How many images the model looks at before each correction. The default suits almost every set.'],
  learningRate: ['Learning rate', 'How big each correction is. Smaller is slower but steadier.'],
  validationSplit: ['Share kept for checking', 'Part of each class held back to measure the model honestly; it is not trained on.'],
  seed: ['Random seed', 'Leave blank for a random one. The same seed repeats a run exactly.'],
  priority: ['Queue priority', 'When several jobs wait, lower numbers start first.'],
  webhook: ['Notify a URL when done', 'The server sends the finished job to this address.'],
  'webhook.url': ['URL', 'An http or https address.'],
  optimizer: ['Optimizer', 'The method that makes the corrections. adam suits almost every set.'],
  labelSmoothing: ['Label smoothing', 'Makes the model less over-confident. 0 is off.'],
  dropout: ['Dropout', 'Share of the new layer switched off at random while training, so it cannot just memorise.'],
  hiddenUnits: ['Size of the new layer', 'Units in the small layer trained on top of the base. 0 trains a plain linear classifier.'],
  earlyStopping: ['Stop when it stops improving', 'Ends training once the checking images stop getting better, and keeps the best round.'],
  'earlyStopping.patience': ['Rounds to wait', 'Rounds without improvement before stopping.'],
  'earlyStopping.monitor': ['Watch', 'valLoss: the error on the checking images; valAccuracy: their accuracy.'],
  'earlyStopping.minDelta': ['Smallest improvement', 'A change smaller than this does not count as better.'],
  classWeights: ['Class balance', 'auto: balances classes when one has 3× the images of another; balanced: always; none: never.'],
  augment: ['Varied copies of training images', 'Trains on altered copies too, which helps most with small sets.'],
  'augment.flip': ['Mirror left–right', ''],
  'augment.crop': ['Random crops', ''],
  'augment.rotate': ['Small rotations', ''],
  'augment.brightness': ['Brightness changes', ''],
  'augment.contrast': ['Contrast changes', ''],
  'augment.views': ['Copies per image', 'Altered copies made of each training image.'],
  fineTuneLayers: ['Fine-tune base layers', 'Also adjusts this many top layers of the pretrained network. Slower; helps when your images look unlike everyday photos. 0 is off.'],
}

/**
 * Starting values the server has no default for, or whose defaults would be refused: early stopping needs a
 * patience, and augmentation needs at least one change switched on.
 * @type {Record<string, number | boolean>}
 */
const SUGGESTED = { 'earlyStopping.patience': 5, 'augment.flip': true, 'augment.crop': true }

/**
 * What each time budget sets; every other option keeps the server's default. A group set to null is switched off.
 * @type {Record<string, { label: string, help: string, set: Record<string, number | null | Record<string, boolean | number>> }>}
 */
const BUDGETS = {
  quick: { label: 'Quick', help: 'A first look: 10 rounds, nothing extra.', set: { epochs: 10, earlyStopping: null, augment: null } },
  standard: { label: 'Standard', help: 'Good for most sets: up to 30 rounds, stops when it stops improving, mirrored copies.', set: { epochs: 30, earlyStopping: { patience: 5 }, augment: { flip: true, crop: false, rotate: false, brightness: false, contrast: false } } },
  thorough: { label: 'Thorough', help: 'Best for small sets: up to 100 rounds, more varied copies. Takes longest.', set: { epochs: 100, earlyStopping: { patience: 10 }, augment: { flip: true, crop: true, rotate: false, brightness: true, contrast: false } } },
}

/**
 * What sets the bundled bases apart, for the picker.
 * @type {Record<string, string>}
 */
const BASE_HINTS = {
  mobilenet_v2: 'mobilenet_v2 is fast.',
  inception_v3: 'inception_v3 is slower and sometimes more accurate.',
  mobilenet_v3_coco: 'mobilenet_v3_coco knows everyday objects well; it cannot fine-tune base layers.',
}

/**
 * A schema's choice of constants (`anyOf` of `const`/`enum`), or undefined.
 * @param {Schema} schema
 * @returns {string[] | undefined}
 */
function choices(schema) {
  const options = (schema.anyOf ?? schema.oneOf ?? []).flatMap((s) => (s.const !== undefined ? [s.const] : s.enum ?? []))
  if (schema.enum) options.push(...schema.enum)
  return options.length && options.every((o) => typeof o === 'string') ? options : undefined
}

/** @type {(path: string[]) => string} */
const fieldId = (path) => `opt-${path.join('-')}`

/**
 * @param {string[]} path
 * @param {Schema} schema
 */
function describe(path, schema) {
  const key = path.join('.')
  const [label, help] = WORDS[key] ?? [(path.at(-1) ?? key).replace(/([A-Z])/g, ' $1').toLowerCase().replace(/^./, (c) => c.toUpperCase()), schema.description ?? '']
  return { label, help }
}

/**
 * A message slot under each field; the server's and the browser's complaints about the field go there.
 * @type {(id: string) => HTMLParagraphElement}
 */
const errorSlot = (id) => h('p', { class: 'field-error', id: `${id}-error` })

/**
 * A group the API also takes as null ("off", as job documents show it) is drawn as its object form.
 * @type {(schema: Schema) => Schema}
 */
const asObjectForm = (schema) => (Array.isArray(schema.type) && schema.type.includes('object') ? { ...schema, type: 'object' } : schema)

/**
 * One form control for a schema property, or null for shapes a form cannot express simply.
 * @param {Schema} nullable the property's schema, which may also allow null
 * @param {string[]} path the property's path in the request body
 * @returns {HTMLElement | null}
 */
function field(nullable, path) {
  const schema = asObjectForm(nullable)
  const id = fieldId(path)
  const { label: text, help } = describe(path, schema)
  const label = h('label', { for: id }, text)
  const hint = help ? h('small', { class: 'muted', id: `${id}-help` }, help) : null
  const describedBy = [hint ? `${id}-help` : null, `${id}-error`].filter(Boolean).join(' ')
  const common = { id, name: path.join('.'), 'aria-describedby': describedBy, 'data-path': path.join('.') }
  const suggested = SUGGESTED[path.join('.')]
  const options = choices(schema)
  if (options) {
    return h('div', { class: 'field', 'data-field': path.join('.') }, label, h('select', { ...common, 'data-kind': 'string' }, options.map((o) => h('option', { value: o, selected: o === schema.default }, o))), hint, errorSlot(id))
  }
  if (schema.type === 'boolean') {
    return h('div', { class: 'field check', 'data-field': path.join('.') }, h('input', { ...common, type: 'checkbox', checked: (suggested ?? schema.default) === true, 'data-kind': 'boolean' }), label, hint, errorSlot(id))
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    const min = schema.minimum ?? schema.exclusiveMinimum
    return h('div', { class: 'field', 'data-field': path.join('.') }, label, h('input', {
      ...common,
      type: 'number',
      inputmode: schema.type === 'integer' ? 'numeric' : 'decimal',
      min,
      max: schema.maximum ?? schema.exclusiveMaximum,
      step: schema.type === 'integer' ? 1 : 'any',
      value: schema.default ?? suggested ?? '',
      // Only an optional number without a default may be left blank: the server then picks (a seed, say).
      placeholder: schema.default === undefined && suggested === undefined ? 'blank: picked by the server' : null,
      'data-kind': schema.type,
    }), hint, errorSlot(id))
  }
  if (schema.type === 'string') {
    return h('div', { class: 'field', 'data-field': path.join('.') }, label, h('input', { ...common, type: schema.pattern?.startsWith('^https?') ? 'url' : 'text', maxlength: schema.maxLength, 'data-kind': 'text', required: true }), hint, errorSlot(id))
  }
  if (schema.type === 'object' && schema.properties) {
    const inner = Object.entries(schema.properties).map(([key, sub]) => field(sub, [...path, key])).filter((control) => control !== null)
    if (inner.length === 0) return null
    const toggle = h('input', { type: 'checkbox', id: `${id}-on`, 'data-enable': path.join('.'), 'aria-describedby': hint ? `${id}-help` : null })
    const body = h('div', { class: 'grid', hidden: true }, inner)
    toggle.addEventListener('change', () => (body.hidden = !toggle.checked))
    return h('fieldset', { class: 'nested', 'data-object': path.join('.'), 'data-field': path.join('.') }, h('legend', {}, toggle, h('label', { for: `${id}-on` }, text)), hint, errorSlot(id), body)
  }
  return null
}

/** @type {(el: Element | null) => el is Control} */
const isControl = (el) => el instanceof HTMLInputElement || el instanceof HTMLSelectElement

/** @param {ParentNode} form */
const controls = (form) => [...form.querySelectorAll('[data-path]')].filter(isControl)

/** @type {(form: ParentNode, selector: string) => Control | null} */
const controlAt = (form, selector) => {
  const el = form.querySelector(selector)
  return isControl(el) ? el : null
}

/**
 * Controls inside an option group that is switched off are not sent, and not checked.
 * @param {Control} control
 */
const inactive = (control) => {
  const group = control.closest('[data-object]')
  return Boolean(group && !one(group, ':scope > legend [data-enable]', HTMLInputElement)?.checked)
}

/**
 * Reads the controls back into a body; nested objects are sent only when switched on.
 * @param {ParentNode} form
 * @param {string} datasetId
 * @returns {JobRequest} drawn from the server's own schema of this body, so that is what the form reads back
 */
function readForm(form, datasetId) {
  /** @type {Record<string, unknown>} */
  const body = { datasetId }
  for (const control of controls(form)) {
    const kind = control.dataset.kind
    let value
    if (kind === 'boolean') value = control instanceof HTMLInputElement && control.checked
    else if (kind === 'string' || kind === 'text') value = control.value || undefined
    else if (control.value.trim() !== '') value = Number(control.value)
    if (value === undefined || inactive(control)) continue
    const groups = (control.dataset.path ?? '').split('.')
    const name = /** @type {string} */ (groups.pop())
    let target = body
    for (const key of groups) target = /** @type {Record<string, unknown>} */ (target[key] ??= {})
    target[name] = value
  }
  return /** @type {JobRequest} */ (body)
}

/**
 * Puts a budget's values into the form's controls (switching option groups on or off).
 * @param {HTMLFormElement} form
 * @param {string} budget a key of BUDGETS
 */
function applyBudget(form, budget) {
  for (const [name, value] of Object.entries(BUDGETS[budget]?.set ?? {})) {
    const toggle = one(form, `[data-enable="${name}"]`, HTMLInputElement)
    if (toggle) {
      toggle.checked = value !== null
      toggle.dispatchEvent(new Event('change'))
      for (const [key, inner] of Object.entries(value ?? {})) {
        const box = controlAt(form, `[data-path="${name}.${key}"]`)
        if (box instanceof HTMLInputElement && box.type === 'checkbox') box.checked = inner === true
        else if (box) box.value = String(inner)
      }
    } else {
      const box = controlAt(form, `[data-path="${name}"]`)
      if (box) box.value = String(value)
    }
  }
}

/** @param {HTMLFormElement} form */
function clearErrors(form) {
  for (const slot of form.querySelectorAll('.field-error')) slot.textContent = ''
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid')
}

/**
 * Shows `message` under the field at `path` (or its nearest enclosing group); false when no field matches.
 * @param {HTMLFormElement} form
 * @param {string} path
 * @param {string} message
 * @returns {Element | boolean} the control marked invalid, true when the field has none, false when no field matches
 */
function showFieldError(form, path, message) {
  const parts = path.split('.')
  for (let n = parts.length; n > 0; n--) {
    const container = form.querySelector(`[data-field="${parts.slice(0, n).join('.')}"]`)
    if (!container) continue
    container.closest('details')?.setAttribute('open', '')
    const slot = container.querySelector(':scope > .field-error')
    if (slot) slot.textContent = message
    const control = container.querySelector(`[data-path="${path}"]`) ?? container.querySelector('[data-enable]') ?? container.querySelector('[data-path]')
    control?.setAttribute('aria-invalid', 'true')
    return control ?? true
  }
  return false
}

/**
 * The field a server complaint is about: Ajv names it (`body/earlyStopping must have required property
 * 'patience'`, `body/epochs must be <= 500`); the job rules start with the option's name (`augment needs …`).
 * @param {string} message
 */
function errorPath(message) {
  const ajv = /^body\/([\w/]+) (.*)$/.exec(message)
  if (ajv) {
    const [, field = '', complaint = ''] = ajv
    const required = /must have required property '(\w+)'/.exec(complaint)
    return { path: [field.replaceAll('/', '.'), required?.[1]].filter(Boolean).join('.'), text: required ? 'This is needed.' : `Must ${complaint.replace(/^must /, '')}.` }
  }
  const option = /^(\w+) (.*)$/.exec(message)?.[1]
  return option ? { path: option, text: message } : null
}

/** @returns {Promise<Record<string, Schema>>} the properties of the job request's schema */
async function jobOptions() {
  const doc = await apiDescription()
  const schema = doc?.paths?.['/jobs']?.post?.requestBody?.content?.['application/json']?.schema
  return schema?.properties ?? FALLBACK
}

/**
 * The start-job form. Simple: dataset, base, a time budget and an estimate of how long it takes. Everything else
 * sits under Advanced, in plain words, prefilled with the server's defaults (read from its OpenAPI document).
 * @param {import('./app.js').PageContext} context
 */
export async function trainPage({ main, params, signal }) {
  const [{ datasets }, properties, rates] = await Promise.all([
    /** @type {Promise<import('./api-types.js').DatasetList>} */ (api('/datasets', { signal })),
    jobOptions(),
    measuredRates(signal),
  ])
  main.append(h('h1', {}, 'Train a model'))
  if (datasets.length === 0) {
    main.append(h('div', { class: 'empty' }, h('p', {}, 'Upload a dataset first: training needs labelled images.'), h('a', { class: 'button', href: '#/upload' }, 'Upload a dataset')))
    return
  }
  const chosen = params.get('dataset') ?? datasets[0]?.id
  const datasetSelect = h('select', { id: 'job-dataset', required: true }, datasets.map((d) => h('option', { value: d.id, selected: d.id === chosen }, `${d.name} (${d.imageCount} images, ${d.classes.length} classes)`)))
  const { datasetId: _datasetId, baseModel: baseSchema, ...options } = properties
  const bases = baseSchema ? choices(baseSchema) ?? ['mobilenet_v2'] : ['mobilenet_v2']
  const baseSelect = h('select', { id: 'job-base', 'aria-describedby': 'job-base-help' }, bases.map((b) => h('option', { value: b, selected: b === (baseSchema?.default ?? bases[0]) }, b)))
  const baseHint = h('span', {}, BASE_HINTS[baseSelect.value] ?? '')
  baseSelect.addEventListener('change', () => (baseHint.textContent = BASE_HINTS[baseSelect.value] ?? ''))
  const budgetChoice = h('fieldset', { class: 'budget', 'aria-describedby': 'budget-help' },
    h('legend', {}, 'Time budget'),
    Object.entries(BUDGETS).map(([key, b]) => h('label', { class: 'budget-option' },
      h('input', { type: 'radio', name: 'budget', value: key, checked: key === 'standard' }),
      h('span', {}, h('strong', {}, b.label), h('small', { class: 'muted' }, b.help)))),
    h('small', { id: 'budget-help', class: 'muted' }, 'Sets the options under Advanced; change them there if you like.'))
  const estimate = h('p', { id: 'job-estimate', class: 'estimate', 'aria-live': 'polite' })
  const status = h('div', { 'aria-live': 'polite' })
  const submit = h('button', { type: 'submit' }, 'Start training')
  const advanced = h('details', { class: 'advanced', id: 'advanced' }, h('summary', {}, 'Advanced options'),
    h('p', { class: 'muted' }, 'Filled in with the server’s defaults and your time budget.'),
    h('div', { class: 'grid' }, Object.entries(options).filter(([, s]) => asObjectForm(s).type !== 'object').map(([name, schema]) => field(schema, [name]))),
    Object.entries(options).filter(([, s]) => asObjectForm(s).type === 'object').map(([name, schema]) => field(schema, [name])))
  /** @type {HTMLFormElement} */
  const form = h(
    'form',
    {
      class: 'panel train-form',
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault()
        clearErrors(form)
        status.replaceChildren()
        // The browser's own checks, shown next to each field rather than in a bubble (which a closed section hides).
        const invalid = controls(form).filter((c) => !inactive(c) && !c.checkValidity())
        for (const control of invalid) showFieldError(form, control.dataset.path ?? '', control.validationMessage)
        if (invalid.length) return invalid[0]?.focus()
        submit.disabled = true
        status.replaceChildren(h('p', {}, 'Queuing…'))
        try {
          /** @type {import('./api-types.js').QueuedJob} */
          const job = await api('/jobs', { method: 'POST', body: { ...readForm(form, datasetSelect.value), baseModel: baseSelect.value } })
          location.hash = `#/jobs/${job.id}`
        } catch (err) {
          const where = err instanceof ApiError && err.code === 'VALIDATION' ? errorPath(err.message) : null
          const control = where && showFieldError(form, where.path, where.text)
          status.replaceChildren(control ? h('p', { class: 'field-error', role: 'alert' }, 'Please fix the field marked above.') : errorBox(err))
          if (control instanceof HTMLElement) control.focus()
          submit.disabled = false
        }
      },
    },
    h('div', { class: 'simple' },
      h('div', { class: 'field' }, h('label', { for: 'job-dataset' }, 'Dataset'), datasetSelect),
      h('div', { class: 'field' }, h('label', { for: 'job-base' }, 'Pretrained base'), baseSelect, h('small', { id: 'job-base-help', class: 'muted' }, 'The pretrained network whose knowledge of images is reused; the server’s default is picked. ', baseHint)),
      budgetChoice),
    advanced,
    h('div', { class: 'row spread submit-row' }, estimate, submit),
    status,
  )
  const refresh = () => {
    const dataset = datasets.find((d) => d.id === datasetSelect.value)
    if (!dataset) return
    const body = readForm(form, dataset.id)
    const { seconds, measured, cached } = estimateSeconds({ dataset, base: baseSelect.value, body, rates })
    estimate.replaceChildren(
      h('span', {}, `${body.earlyStopping ? 'At most about' : 'About'} `, h('strong', {}, duration(seconds))),
      h('small', { class: 'muted' }, measured ? ` measured from this server’s finished jobs${cached ? '; features of this dataset are cached' : ''}` : ' a rough guess: no job has finished on this server yet'),
    )
  }
  for (const radio of budgetChoice.querySelectorAll('input')) radio.addEventListener('change', () => { applyBudget(form, radio.value); refresh() })
  form.addEventListener('input', refresh)
  form.addEventListener('change', refresh)
  main.append(form)
  applyBudget(form, 'standard')
  refresh()
}
