/** A job's options as people read them: plain names, "off" for what was not used, groups spelt out. */
import { h } from './dom.js'

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

export const optionName = (key) => NAMES[key] ?? key.replace(/([A-Z])/g, ' $1').toLowerCase().replace(/^./, (c) => c.toUpperCase())

/** One option's value in words. */
export function optionValue(key, value) {
  if (value === null || value === undefined || value === false) return 'off'
  if (value === true) return 'on'
  if (key === 'validationSplit') return `${Math.round(value * 100)}%`
  if (key === 'fineTuneLayers' && value === 0) return 'off'
  if (key === 'labelSmoothing' && value === 0) return 'off'
  if (key === 'earlyStopping') return `after ${value.patience} rounds without improvement in ${value.monitor === 'valAccuracy' ? 'accuracy' : 'loss'}`
  if (key === 'augment') {
    const changes = Object.entries(AUGMENT_WORDS).filter(([k]) => value[k]).map(([, word]) => word)
    return `${value.views} copies per image: ${changes.join(', ') || 'none'}`
  }
  if (key === 'baseModel') return typeof value === 'string' ? value : value.url
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k} ${v}`).join(', ')
  return String(value)
}

/** A definition list of every option. */
export function optionFacts(options = {}) {
  return h('dl', { class: 'facts' }, Object.entries(options).flatMap(([key, value]) => [h('dt', {}, optionName(key)), h('dd', {}, optionValue(key, value))]))
}
