// @ts-check
/** Loss and accuracy per epoch, train and validation, drawn by uPlot (loaded as /ui/uplot.js). */
import { h } from './dom.js'

/** @typedef {import('./api-types.js').EpochRecord} EpochRecord */
/** @typedef {typeof import('uplot')} UPlot */

const COLORS = { train: '#4f46e5', val: '#f97316' }
const HEIGHT = 220

/**
 * @param {UPlot} UPlot
 * @param {string} title
 * @param {string} key
 * @param {(value: number) => string} format
 */
function chart(UPlot, title, key, format) {
  // A div, not a figure: role img is not allowed on figure, and the canvas needs a text equivalent.
  const box = h('div', { class: 'chart', 'data-chart': key, 'data-points': 0, role: 'img', 'aria-label': `${title}: no epoch yet` }, h('p', { class: 'chart-title' }, title))
  const plot = new UPlot(
    {
      width: 400,
      height: HEIGHT,
      scales: { x: { time: false } },
      // The legend names the series; values under the cursor would read "—" most of the time.
      legend: { live: false },
      axes: [
        { label: 'epoch', stroke: 'currentColor', grid: { stroke: 'rgba(127,127,127,.15)' }, ticks: { stroke: 'rgba(127,127,127,.3)' }, incrs: [1, 2, 5, 10, 20, 50, 100] },
        { stroke: 'currentColor', grid: { stroke: 'rgba(127,127,127,.15)' }, ticks: { stroke: 'rgba(127,127,127,.3)' }, values: (_u, ticks) => ticks.map(format), size: 56 },
      ],
      series: [
        { label: 'epoch' },
        { label: 'train', stroke: COLORS.train, width: 2, points: { size: 5 }, value: (_u, v) => (v == null ? '—' : format(v)) },
        { label: 'validation', stroke: COLORS.val, width: 2, dash: [6, 3], points: { size: 5 }, value: (_u, v) => (v == null ? '—' : format(v)) },
      ],
    },
    [[], [], []],
    box,
  )
  return { box, plot }
}

/**
 * Two charts in `container`; `update(history)` redraws them from the job's per-epoch records
 * (`{epoch, loss, accuracy, valLoss?, valAccuracy?}`). They follow the container's width.
 * @param {HTMLElement} container
 * @returns {{ update(history?: EpochRecord[]): void }}
 */
export function trainingCharts(container) {
  // uPlot comes as a classic script (/ui/uplot.js, from node_modules) that sets a global, not as a module.
  /** @type {UPlot | undefined} */
  const UPlot = Reflect.get(globalThis, 'uPlot')
  if (!UPlot) {
    container.append(h('p', { class: 'muted' }, 'Charts unavailable (uPlot did not load).'))
    return { update() {} }
  }
  const loss = chart(UPlot, 'Loss', 'loss', (v) => v.toFixed(2))
  const accuracy = chart(UPlot, 'Accuracy', 'accuracy', (v) => `${Math.round(v * 100)}%`)
  container.append(loss.box, accuracy.box)
  const fit = () => {
    for (const { box, plot } of [loss, accuracy]) {
      const width = Math.max(240, Math.floor(box.clientWidth))
      if (plot.width !== width) plot.setSize({ width, height: HEIGHT })
    }
  }
  new ResizeObserver(fit).observe(container)
  let shown = -1
  return {
    update(history = []) {
      if (history.length === shown) return
      shown = history.length
      const epochs = history.map((r) => r.epoch)
      /** @param {'loss' | 'valLoss' | 'accuracy' | 'valAccuracy'} name */
      const column = (name) => history.map((r) => r[name] ?? null)
      loss.plot.setData([epochs, column('loss'), column('valLoss')])
      accuracy.plot.setData([epochs, column('accuracy'), column('valAccuracy')])
      for (const { box } of [loss, accuracy]) box.dataset.points = String(history.length)
      // Screen readers get the latest values instead of a canvas.
      const last = history.at(-1)
      if (last) {
        /** @type {(name: string, train: number, val: number | undefined, format: (v: number) => string) => string} */
        const say = (name, train, val, format) => `${name} at epoch ${last.epoch}: train ${format(train)}${typeof val === 'number' ? `, validation ${format(val)}` : ''}`
        loss.box.setAttribute('aria-label', say('Loss', last.loss, last.valLoss, (v) => v.toFixed(3)))
        accuracy.box.setAttribute('aria-label', say('Accuracy', last.accuracy, last.valAccuracy, (v) => `${(v * 100).toFixed(1)}%`))
      }
      fit()
    },
  }
}
