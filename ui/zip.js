// @ts-check
/**
 * A folder picked or dropped in the browser becomes one .zip (stored, not compressed: photos are compressed
 * already) that POST /datasets reads like any other archive. Each file is read once for its CRC-32; the zip
 * itself is a Blob of headers and the original File objects, so the browser never holds a second copy.
 */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** @param {Uint8Array} bytes */
function crc32(bytes) {
  let crc = 0xffffffff
  // Casts, not `?? 0`: both indexes are in range, and this runs once per byte of every image.
  for (let i = 0; i < bytes.length; i++) crc = /** @type {number} */ (CRC_TABLE[(crc ^ /** @type {number} */ (bytes[i])) & 0xff]) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

const UTF8_NAMES = 0x0800
/** Zip32 without extensions: each file and the whole archive stay under 4 GiB. */
const ZIP32_MAX = 0xffffffff

/**
 * @param {Array<{ path: string, file: File }>} entries `/`-separated paths relative to the archive root
 * @returns {Promise<Blob>} the zip
 */
export async function zipFiles(entries) {
  const encoder = new TextEncoder()
  /** @type {BlobPart[]} */
  const parts = []
  /** @type {Array<DataView<ArrayBuffer> | Uint8Array<ArrayBuffer>>} */
  const central = []
  let offset = 0
  if (entries.length > 0xffff) throw new Error('more than 65,535 files; upload a .tar.gz instead')
  for (const { path, file } of entries) {
    if (file.size > ZIP32_MAX) throw new Error(`${path} is over 4 GiB`)
    const name = encoder.encode(path)
    const crc = crc32(new Uint8Array(await file.arrayBuffer()))
    const local = new DataView(new ArrayBuffer(30))
    local.setUint32(0, 0x04034b50, true)
    local.setUint16(4, 20, true)
    local.setUint16(6, UTF8_NAMES, true)
    local.setUint32(14, crc, true)
    local.setUint32(18, file.size, true)
    local.setUint32(22, file.size, true)
    local.setUint16(26, name.length, true)
    parts.push(local, name, file)
    const entry = new DataView(new ArrayBuffer(46))
    entry.setUint32(0, 0x02014b50, true)
    entry.setUint16(4, 20, true)
    entry.setUint16(6, 20, true)
    entry.setUint16(8, UTF8_NAMES, true)
    entry.setUint32(16, crc, true)
    entry.setUint32(20, file.size, true)
    entry.setUint32(24, file.size, true)
    entry.setUint16(28, name.length, true)
    entry.setUint32(42, offset, true)
    central.push(entry, name)
    offset += 30 + name.length + file.size
    if (offset > ZIP32_MAX) throw new Error('the folder is over 4 GiB; upload a .tar.gz instead')
  }
  const centralSize = central.reduce((sum, part) => sum + part.byteLength, 0)
  const end = new DataView(new ArrayBuffer(22))
  end.setUint32(0, 0x06054b50, true)
  end.setUint16(8, entries.length, true)
  end.setUint16(10, entries.length, true)
  end.setUint32(12, centralSize, true)
  end.setUint32(16, offset, true)
  return new Blob([...parts, ...central, end], { type: 'application/zip' })
}
