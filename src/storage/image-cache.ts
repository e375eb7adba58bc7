import type { BlobStore } from './blob-store.js'
import type { DatasetImage, DatasetStore } from './datasets.js'

/** Reads a dataset's image bytes. */
export type ImageReader = (datasetId: string, image: DatasetImage) => Promise<Buffer>

/**
 * Reads dataset images through this process's disk when the store is remote: each image is fetched from the store
 * once and kept under `cache/images/<sha256>` (content-addressed, so a revision or a re-upload of the same photo
 * is not fetched again). Where DATA_DIR is the store, images are read in place.
 */
export function cachedImageReader(datasets: DatasetStore, shared: BlobStore, local: BlobStore): ImageReader {
  if (!shared.remote) return (datasetId, image) => datasets.readImage(datasetId, image)
  return async (datasetId, image) => {
    const key = `cache/images/${image.sha256.slice(0, 2)}/${image.sha256}`
    const cached = await local.get(key)
    if (cached) return cached
    const bytes = await datasets.readImage(datasetId, image)
    await local.put(key, bytes)
    return bytes
  }
}
