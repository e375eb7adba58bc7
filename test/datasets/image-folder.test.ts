import { FileNameAllocator, sanitizeFileName } from '../../src/datasets/file-names.js'
import { checkEntryPath, classNameProblem, planImageFolder } from '../../src/datasets/image-folder.js'

const segments = (p: string) => {
  const checked = checkEntryPath(p)
  if (!checked.ok) throw new Error(`${p}: ${checked.reason}`)
  return checked.segments
}
const plan = (paths: string[]) => planImageFolder(paths.map(segments))

describe('checkEntryPath', () => {
  test.each([
    ['/etc/passwd', 'absolute path'],
    ['\\\\server\\share\\a.png', 'absolute path'],
    ['C:/Users/a.png', 'absolute path'],
    ['cat/../../a.png', "path escapes the archive ('..')"],
    ['cat\\..\\a.png', "path escapes the archive ('..')"],
    ['cat/.hidden.png', 'hidden or system file'],
    ['.git/cat/a.png', 'hidden or system file'],
    ['__MACOSX/cat/._a.png', 'hidden or system file'],
    ['cat/THUMBS.DB', 'hidden or system file'],
    ['cat/desktop.ini', 'hidden or system file'],
  ])('%s → %s', (p, reason) => {
    expect(checkEntryPath(p)).toEqual({ ok: false, reason })
  })

  test('drops ./ and empty segments (tar -C dir .) and normalises to NFC', () => {
    expect(checkEntryPath('./cat//a.png')).toEqual({ ok: true, segments: ['cat', 'a.png'] })
    expect(checkEntryPath('cafe\u0301/a.png')).toEqual({ ok: true, segments: ['caf\u00e9', 'a.png'] })
  })
})

describe('planImageFolder', () => {
  test('plain <class>/<image>, top-level and nested files rejected', () => {
    expect(plan(['cat/a.png', 'dog/b.png', 'c.png', 'dog/x/d.png'])).toEqual({
      placements: [
        { label: 'cat' },
        { label: 'dog' },
        { reason: 'not inside a class folder' },
        { reason: 'nested folder (expected <class>/<image>)' },
      ],
      hasSplit: false,
      stripped: [],
    })
  })

  test('a single class is not mistaken for a wrapper folder', () => {
    expect(plan(['cat/a.png', 'cat/b.png']).placements).toEqual([{ label: 'cat' }, { label: 'cat' }])
  })

  test('strips wrapper folders, then finds the split (case-insensitive, test/ when there is no val/)', () => {
    const result = plan(['data/Train/cat/a.png', 'data/test/cat/b.png', 'data/train/dog/c.png', 'data/extra/dog/d.png'])
    expect(result.stripped).toEqual(['data'])
    expect(result.hasSplit).toBe(true)
    expect(result.placements).toEqual([
      { label: 'cat', split: 'train' },
      { label: 'cat', split: 'val' },
      { label: 'dog', split: 'train' },
      { reason: 'outside the train/ and test/ folders' },
    ])
  })

  test('prefers val/ over test/; a lone train/ is just a wrapper', () => {
    expect(plan(['train/a/1.png', 'val/a/2.png', 'test/a/3.png']).placements).toEqual([
      { label: 'a', split: 'train' },
      { label: 'a', split: 'val' },
      { reason: 'outside the train/ and val/ folders' },
    ])
    expect(plan(['train/a/1.png', 'train/b/2.png'])).toMatchObject({ hasSplit: false, placements: [{ label: 'a' }, { label: 'b' }] })
  })

  test('classes named train and test holding images are classes', () => {
    expect(plan(['train/1.png', 'test/2.png'])).toMatchObject({ hasSplit: false, placements: [{ label: 'train' }, { label: 'test' }] })
  })

  test('unsafe class names are rejected with a reason', () => {
    expect(plan(['a\\b/1.png', 'ok/2.png']).placements[0]).toEqual({ reason: "invalid class name 'a\\b' (contains a path separator or NUL)" })
    expect(classNameProblem('..')).toBe("invalid class name '..'")
    expect(classNameProblem('')).toBe("invalid class name ''")
    expect(classNameProblem('tab\there')).toMatch(/control characters/)
    expect(classNameProblem('Ñandú 🐦 v1.2')).toBeUndefined()
  })
})

describe('file names', () => {
  test('sanitizeFileName keeps letters, digits and .-_ space, nothing else', () => {
    expect(sanitizeFileName('Фото 01_a-b.JPG')).toBe('Фото 01_a-b.JPG')
    expect(sanitizeFileName('a:b*c?"<>|.png')).toBe('a_b_c_____.png')
    expect(sanitizeFileName('..png')).toBe('png')
    expect(sanitizeFileName('...')).toBe('image')
    expect(sanitizeFileName('trailing. ')).toBe('trailing')
    const long = sanitizeFileName(`${'é'.repeat(300)}.jpeg`)
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(200)
    expect(long.endsWith('.jpeg')).toBe(true)
  })

  test('FileNameAllocator dedupes ignoring case, per folder', () => {
    const names = new FileNameAllocator()
    expect(['a.jpg', 'A.jpg', 'a.JPG', 'a-1.jpg'].map((n) => names.allocate('cat', n))).toEqual(['a.jpg', 'A-1.jpg', 'a-2.JPG', 'a-1-1.jpg'])
    expect(names.allocate('dog', 'a.jpg')).toBe('a.jpg')
    expect(names.allocate('CAT', 'b.jpg')).toBe('b.jpg')
    expect(names.allocate('cat', 'B.jpg')).toBe('B-1.jpg')
  })
})
