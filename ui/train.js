import { api, apiDescription } from './api.js'
import { errorBox, h } from './dom.js'

/** Used when the server's OpenAPI document cannot be read: the options every imagetune version takes. */
const FALLBACK = {
  epochs: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
  batchSize: { type: 'integer', minimum: 1, maximum: 1024, default: 32 },
  learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.001 },
  validationSplit: { type: 'number', minimum: 0.05, maximum: 0.5, default: 0.2 },
  seed: { type: 'integer', minimum: 0, maximum: 2147483647 },
}
const HELP = {
  epochs: 'passes over the training images',
  batchSize: 'images per gradient step',
  learningRate: 'step size of the optimiser',
  validationSplit: 'share of each class held out to measure the model',
  seed: 'blank: random (recorded in the job, so a run can be repeated)',
  fineTuneLayers: 'top layers of the base unfrozen after the head converges',
}

/** A schema's choice of constants (`anyOf` of `const`/`enum`), or undefined. */
function choices(schema) {
  const options = (schema.anyOf ?? schema.oneOf ?? []).flatMap((s) => (s.const !== undefined ? [s.const] : s.enum ?? []))
  if (schema.enum) options.push(...schema.enum)
  return options.length && options.every((o) => typeof o === 'string') ? options : undefined
}

const words = (name) => name.replace(/([A-Z])/g, ' $1').replace(/^./, (c) => c.toUpperCase())

/** One form control for a schema property, or null for shapes a form cannot express simply. */
function field(name, nullable, path) {
  // A group the API also takes as null ("off", as job documents show it) is drawn as its object form.
  const schema = Array.isArray(nullable.type) && nullable.type.includes('object') ? { ...nullable, type: 'object' } : nullable
  const id = `opt-${path.join('-')}`
  const label = h('label', { for: id }, words(name))
  const help = HELP[name] ?? schema.description
  const hint = help ? h('small', { class: 'muted', id: `${id}-help` }, help) : null
  const common = { id, name: path.join('.'), 'aria-describedby': hint ? `${id}-help` : null, 'data-path': path.join('.') }
  const options = choices(schema)
  if (options) {
    return h('div', { class: 'field' }, label, h('select', { ...common, 'data-kind': 'string' }, options.map((o) => h('option', { value: o, selected: o === schema.default }, o))), hint)
  }
  if (schema.type === 'boolean') {
    return h('div', { class: 'field check' }, h('input', { ...common, type: 'checkbox', checked: schema.default === true, 'data-kind': 'boolean' }), label, hint)
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    const min = schema.minimum ?? schema.exclusiveMinimum
    return h('div', { class: 'field' }, label, h('input', {
      ...common,
      type: 'number',
      inputmode: schema.type === 'integer' ? 'numeric' : 'decimal',
      min,
      max: schema.maximum ?? schema.exclusiveMaximum,
      step: schema.type === 'integer' ? 1 : 'any',
      value: schema.default ?? '',
      placeholder: schema.default === undefined ? 'random' : null,
      'data-kind': schema.type,
    }), hint)
  }
  if (schema.type === 'object' && schema.properties) {
    const inner = Object.entries(schema.properties).map(([key, sub]) => field(key, sub, [...path, key])).filter(Boolean)
    if (inner.length === 0) return null
    const toggle = h('input', { type: 'checkbox', id: `${id}-on`, 'data-enable': true })
    const body = h('div', { class: 'grid', hidden: true }, inner)
    toggle.addEventListener('change', () => (body.hidden = !toggle.checked))
    return h('fieldset', { class: 'nested', 'data-object': path.join('.') }, h('legend', {}, toggle, h('label', { for: `${id}-on` }, words(name))), hint, body)
  }
  return null
}

/** Reads the controls back into a body; nested objects are sent only when one of their fields was set. */
function readForm(form, datasetId) {
  const body = { datasetId }
  for (const control of form.querySelectorAll('[data-path]')) {
    const kind = control.dataset.kind
    let value
    if (kind === 'boolean') value = control.checked
    else if (kind === 'string') value = control.value
    else if (control.value.trim() !== '') value = Number(control.value)
    if (value === undefined) continue
    // An option group (augment, earlyStopping…) is sent only when switched on; off, the server's default applies.
    const group = control.closest('[data-object]')
    if (group && !group.querySelector(':scope > legend [data-enable]').checked) continue
    const path = control.dataset.path.split('.')
    let target = body
    for (const key of path.slice(0, -1)) target = target[key] ??= {}
    target[path.at(-1)] = value
  }
  return body
}

async function jobOptions() {
  const doc = await apiDescription()
  const schema = doc?.paths?.['/jobs']?.post?.requestBody?.content?.['application/json']?.schema
  return schema?.properties ?? FALLBACK
}

/** The start-job form: dataset, then every option the server's schema declares, prefilled with its default. */
export async function trainPage({ main, params, signal }) {
  const [{ datasets }, properties] = await Promise.all([api('/datasets', { signal }), jobOptions()])
  main.append(h('h1', {}, 'Train a model'))
  if (datasets.length === 0) {
    main.append(h('div', { class: 'empty' }, h('p', {}, 'Upload a dataset first.'), h('a', { class: 'button', href: '#/upload' }, 'Upload a dataset')))
    return
  }
  const chosen = params.get('dataset') ?? datasets[0].id
  const datasetSelect = h('select', { id: 'job-dataset', required: true }, datasets.map((d) => h('option', { value: d.id, selected: d.id === chosen }, `${d.name} — ${d.imageCount} images, ${d.classes.length} classes`)))
  const { datasetId: _datasetId, ...options } = properties
  const simple = Object.entries(options).filter(([, s]) => s.type !== 'object' && !s.type?.includes?.('object') && !(s.anyOf && !choices(s)))
  const complex = Object.entries(options).filter(([name]) => !simple.some(([n]) => n === name))
  const status = h('div', { 'aria-live': 'polite' })
  const submit = h('button', { type: 'submit' }, 'Start training')
  const form = h(
    'form',
    {
      class: 'panel',
      onsubmit: async (event) => {
        event.preventDefault()
        if (!form.reportValidity()) return
        submit.disabled = true
        status.replaceChildren(h('p', {}, 'Queuing…'))
        try {
          const job = await api('/jobs', { method: 'POST', body: readForm(form, datasetSelect.value) })
          location.hash = `#/jobs/${job.id}`
        } catch (err) {
          status.replaceChildren(errorBox(err))
          submit.disabled = false
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'job-dataset' }, 'Dataset'), datasetSelect),
    h('div', { class: 'grid' }, simple.map(([name, schema]) => field(name, schema, [name]))),
    complex.length
      ? h('details', { class: 'advanced' }, h('summary', {}, 'Advanced options'), complex.map(([name, schema]) => field(name, schema, [name])))
      : null,
    h('div', { class: 'row end' }, submit),
    status,
  )
  main.append(form)
}
