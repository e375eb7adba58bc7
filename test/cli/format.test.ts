import { confusionTable } from '../../src/cli/commands/models.js'
import { describeProgress, type Job } from '../../src/cli/commands/jobs.js'
import { formatBytes, formatDuration, renderBar } from '../../src/cli/progress-bar.js'
import { formatTable } from '../../src/cli/table.js'

test('the bar fills in proportion and clamps', () => {
  expect(renderBar(0, 10)).toBe('[..........]')
  expect(renderBar(0.46, 10)).toBe('[#####.....]')
  expect(renderBar(1.7, 4)).toBe('[####]')
  expect(renderBar(-1, 4)).toBe('[....]')
})

test('durations and sizes read like a person writes them', () => {
  expect([formatDuration(null), formatDuration(4.4), formatDuration(185), formatDuration(3720)]).toEqual(['?', '4s', '3m05s', '1h02m'])
  expect([formatBytes(512), formatBytes(1536), formatBytes(5 * 1024 ** 3)]).toEqual(['512 B', '1.5 KiB', '5.0 GiB'])
})

test('tables pad columns, right-align numbers and show missing values as -', () => {
  expect(formatTable(['class', 'f1'], [['daisy', 0.5], ['sunflowers', null]])).toBe(['class          f1', '----------  -----', 'daisy       0.500', 'sunflowers      -'].join('\n'))
  expect(confusionTable(['a', 'b'], [[3, 1], [0, 12]])).toBe(['true \\ predicted  a   b', '----------------  -  --', 'a                 3   1', 'b                 0  12'].join('\n'))
})

test('a job line has phase, bar, epoch, loss, accuracy and ETA', () => {
  const job = {
    status: 'active',
    phase: 'training',
    progress: { epoch: 2, epochs: 4, percent: 61.5, etaSeconds: 12 },
    history: [{ epoch: 2, loss: 0.25, accuracy: 0.875, valAccuracy: 0.9, seconds: 1 }],
  } as Job
  expect(describeProgress(job)).toBe(`training   ${renderBar(0.615)}  61% epoch 2/4 loss 0.2500 acc 0.875 val_acc 0.900 ETA 12s`)
  expect(describeProgress({ ...job, status: 'completed', progress: { ...job.progress, percent: 100 } })).not.toContain('ETA')
})
