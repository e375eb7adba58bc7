// @ts-check
/** A job's options as people read them: plain names, "off" for what was not used, groups spelt out. */
import { h } from './dom.js'

/** @type {Record<string, string>} */
const NAMES = {
  baseModel: 'Pretrained base',
  epochs: 'Training rounds',
  batchSize: 'Images per step',
  learningRate: 'Learning rate',
  validationSplit: 'Share kept for checking',
  seed: 'Random seed',
  optimizer: 'Optimizer',
  labelSmoothing: 'Label smoothing',
  dropout: 'Dropout',
  hiddenUnits: 'Size of the new layer',
  earlyStopping: 'Stop when it stops improving',
  classWeights: 'Class balance',
  augment: 'Varied copies of training images',
  fineTuneLayers: 'Fine-tuned base layers',
  refit: 'Retrained on every image at the end',
}
const AUGMENT_WORDS = { flip: 'mirrored', crop: 'cropped', rotate: 'rotated', brightness: 'brightness', contrast: 'contrast' }

/** @type {(key: string) => string} */
export const optionName = (key) => NAMES[key] ?? key.replace(/([A-Z])/g, ' $1').toLowerCase().replace(/^./, (c) => c.toUpperCase())

/**
 * One option's value in words.
 * @param {string} key the option's name in the job request
 * @param {unknown} value as a job document or a model's `params` holds it
 */
export function optionValue(key, value) {
  if (value === null || value === undefined || value === false) return 'off'
  if (value === true) return 'on'
  if (key === 'validationSplit' && typeof value === 'number') return `${Math.round(value * 100)}%`
  if (key === 'fineTuneLayers' && value === 0) return 'off'
  if (key === 'labelSmoothing' && value === 0) return 'off'
  if (typeof value !== 'object') return String(value)
  const group = /** @type {Record<string, unknown>} */ (value)
  if (key === 'earlyStopping') return `after ${group.patience} rounds without improvement in ${group.monitor === 'valAccuracy' ? 'accuracy' : 'loss'}`
  if (key === 'augment') {
    const changes = Object.entries(AUGMENT_WORDS).filter(([k]) => group[k]).map(([, word]) => word)
    return `${group.views} copies per image: ${changes.join(', ') || 'none'}`
  }
  if (key === 'baseModel') return String(group.url)
  return Object.entries(group).map(([k, v]) => `${k} ${v}`).join(', ')
}

/**
 * A definition list of every option.
 * @param {unknown} [options] a job's `options` or a model's `params`: an object of options
 */
export function optionFacts(options = {}) {
  return h('dl', { class: 'facts' }, Object.entries(options ?? {}).flatMap(([key, value]) => [h('dt', {}, optionName(key)), h('dd', {}, optionValue(key, value))]))
}
