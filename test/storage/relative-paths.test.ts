/** A job's failure as its project reads it: DATA_DIR's paths relative to the project, other folders untouched. */
import { dataLayout } from '../../src/storage/layout.js'
import { relativeToProject } from '../../src/storage/repositories.js'

const layout = dataLayout('/srv/data.v1')

test("paths inside the project's folder read relative to it, the rest of DATA_DIR relative to DATA_DIR", () => {
  const message = "ENOENT: open '/srv/data.v1/projects/p1/bases/uploaded/t/model-ab/w.bin' (cached in /srv/data.v1/bases/fetched/m)"
  expect(relativeToProject(message, layout, 'p1')).toBe("ENOENT: open 'bases/uploaded/t/model-ab/w.bin' (cached in bases/fetched/m)")
  expect(relativeToProject('no space left in /srv/data.v1', layout, 'p1')).toBe('no space left in .')
  expect(relativeToProject('at /srv/data.v1/datasets/a/manifest.json', layout, 'default')).toBe('at datasets/a/manifest.json')
})

test('a folder whose name only starts like DATA_DIR is left alone', () => {
  expect(relativeToProject('read /srv/data.v12/x and /srv/data.v1-old/y', layout, 'p1')).toBe('read /srv/data.v12/x and /srv/data.v1-old/y')
})
