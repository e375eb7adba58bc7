import { AppError } from '../../src/errors.js'
import { planRevision, type RevisableImage } from '../../src/datasets/revision.js'

const image = (label: string, file: string, split?: 'train' | 'val'): RevisableImage => ({
  path: `images/${label}/${file}`,
  label,
  sha256: `${label}-${file}`,
  source: `${label}/${file}`,
  ...(split ? { split } : {}),
})

const IMAGES = [image('cats', 'a.png', 'train'), image('cats', 'b.png', 'val'), image('dogs', 'a.png', 'train'), image('dogs', 'c.png', 'val')]

function problemsOf(run: () => unknown): string[] {
  try {
    run()
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('REVISION_INVALID')
    return ((err as AppError).details as { problems: string[] }).problems
  }
  throw new Error('expected REVISION_INVALID')
}

describe('planRevision', () => {
  it('relabels moved images under their new class, renames on a clash, keeps split and hash, leaves dropped ones out', () => {
    const revised = planRevision(IMAGES, { move: [{ path: 'images/cats/a.png', to: 'dogs' }], drop: ['images/dogs/c.png'] }, { maxClasses: 10 })
    expect(revised.map((r) => [r.image.path, r.from])).toEqual([
      ['images/cats/b.png', 'images/cats/b.png'],
      ['images/dogs/a-1.png', 'images/cats/a.png'],
      ['images/dogs/a.png', 'images/dogs/a.png'],
    ])
    const moved = revised.find((r) => r.from === 'images/cats/a.png')?.image
    expect(moved).toEqual({ ...image('cats', 'a.png', 'train'), path: 'images/dogs/a-1.png', label: 'dogs' })
  })

  it('creates a new class from a move', () => {
    const revised = planRevision(IMAGES, { move: [{ path: 'images/dogs/c.png', to: 'foxes' }] }, { maxClasses: 10 })
    expect(new Set(revised.map((r) => r.image.label))).toEqual(new Set(['cats', 'dogs', 'foxes']))
    expect(revised.find((r) => r.image.label === 'foxes')?.image.path).toBe('images/foxes/c.png')
  })

  it('refuses what would make a broken or pointless dataset, naming every problem', () => {
    expect(problemsOf(() => planRevision(IMAGES, {}, { maxClasses: 10 }))).toEqual([])
    expect(problemsOf(() => planRevision(IMAGES, { drop: ['images/cats/zzz.png', 'images/cats/a.png', 'images/cats/a.png'] }, { maxClasses: 10 }))).toEqual([
      "unknown path 'images/cats/zzz.png'",
      "path 'images/cats/a.png' is named more than once",
    ])
    expect(problemsOf(() => planRevision(IMAGES, { move: [{ path: 'images/cats/a.png', to: 'cats' }] }, { maxClasses: 10 }))).toEqual([
      "'images/cats/a.png' is already in class 'cats'",
    ])
    expect(problemsOf(() => planRevision(IMAGES, { move: [{ path: 'images/cats/a.png', to: '../x' }] }, { maxClasses: 10 }))[0]).toMatch(/invalid class name/)
    expect(problemsOf(() => planRevision(IMAGES, { move: [{ path: 'images/cats/a.png', to: 'Dogs' }] }, { maxClasses: 10 }))[0]).toMatch(/differs only in case/)
    expect(problemsOf(() => planRevision(IMAGES, { drop: ['images/cats/a.png', 'images/cats/b.png'] }, { maxClasses: 10 }))).toEqual([
      "class 'cats' would be left with no image",
      'a dataset needs at least 2 classes with images; the revision leaves 1',
    ])
    expect(problemsOf(() => planRevision(IMAGES, { move: [{ path: 'images/cats/a.png', to: 'birds' }] }, { maxClasses: 2 }))).toEqual([
      'the revision makes 3 classes, more than 2',
    ])
  })
})
