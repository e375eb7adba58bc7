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

describe('planRevision with added images', () => {
  it('files added images under their class after moves, sanitised and renamed on a clash, with their own hash', () => {
    const revised = planRevision(
      IMAGES,
      { move: [{ path: 'images/dogs/a.png', to: 'cats' }], add: { to: 'cats', images: [{ name: 'a.png', sha256: 'new-1' }, { name: 'dir/../we ird?.png', sha256: 'new-2' }] } },
      { maxClasses: 10 },
    )
    expect(revised.filter((r) => r.added !== undefined).map((r) => [r.image.path, r.image.sha256, r.added])).toEqual([
      ['images/cats/a-2.png', 'new-1', 0],
      ['images/cats/we ird_.png', 'new-2', 1],
    ])
    expect(revised.find((r) => r.from === 'images/dogs/a.png')?.image.path).toBe('images/cats/a-1.png')
    expect(revised.find((r) => r.added === 0)?.image).toEqual({ path: 'images/cats/a-2.png', label: 'cats', sha256: 'new-1', source: 'a.png' })
  })

  it('makes a new class of the target, and checks its name like a move target', () => {
    const revised = planRevision(IMAGES, { add: { to: 'birds', images: [{ name: 'x.png', sha256: 'h' }] } }, { maxClasses: 10 })
    expect(revised.map((r) => r.image.path)).toContain('images/birds/x.png')
    expect(problemsOf(() => planRevision(IMAGES, { add: { to: 'Cats', images: [{ name: 'x.png', sha256: 'h' }] } }, { maxClasses: 10 }))).toEqual([
      "class 'Cats' differs only in case from class 'cats'",
    ])
    expect(problemsOf(() => planRevision(IMAGES, { add: { to: 'birds', images: [{ name: 'x.png', sha256: 'h' }] } }, { maxClasses: 2 }))).toEqual([
      'the revision makes 3 classes, more than 2',
    ])
    expect(problemsOf(() => planRevision(IMAGES, { add: { to: 'birds', images: [] } }, { maxClasses: 10 }))).toEqual([])
  })
})
