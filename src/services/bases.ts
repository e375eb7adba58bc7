import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { detectArchiveFormat, EntryUnreadable, readArchiveEntries, type ArchiveLimits } from '../datasets/archive-entries.js'
import { checkEntryPath } from '../datasets/image-folder.js'
import type { BaseModelRef as JobBaseRef } from '../contract/jobs.js'
import { publishDir } from '../atomic-write.js'
import { AppError } from '../errors.js'
import { BUILTIN_BASE_IDS, isBuiltinBase, loadBase, type BaseModelRef } from '../ml/bases.js'
import type { Preprocessing } from '../contract/jobs.js'
import { fetchBytes } from '../net/fetch-image.js'
import { checkedAddress, systemResolver, type AddressCheck } from '../net/ssrf-guard.js'
import type { TrainingQueue } from '../queue/producer.js'
import type { BaseStore, StoredBase } from '../storage/bases.js'

/** What the uploader may declare beside the archive; see `BaseModelRef`. */
export interface BaseDeclaration {
  name: string
  featureLayer?: string | undefined
  inputSize?: number | undefined
  preprocessing?: Preprocessing | undefined
}

const MODEL_JSON = 'model.json'
/** A tfjs model is model.json plus weight shards; anything near this many files is not one. */
const MAX_BASE_FILES = 256

/**
 * Stores an uploaded tfjs model (a zip, tar or tar.gz of model.json + weight files, flat, optionally inside one
 * folder) as a base named `decl.name`, after proving it works: every weight file model.json names is there, and
 * the model loads and cuts to a feature vector of a known input size exactly as a job will load it (`loadBase`).
 * @throws AppError ARCHIVE_INVALID / PAYLOAD_TOO_LARGE (the archive), BASE_MODEL_INVALID (the model, with the
 *   reason), BASE_EXISTS, VALIDATION (a built-in's name)
 */
export async function uploadBase(
  archive: string,
  decl: BaseDeclaration,
  deps: { store: BaseStore; basesDir: string; limits: Omit<ArchiveLimits, 'maxFiles'> },
): Promise<StoredBase> {
  if (isBuiltinBase(decl.name)) throw new AppError('VALIDATION', `'${decl.name}' is a built-in base; choose another name`)
  const format = await detectArchiveFormat(archive)
  return deps.store.publish(decl.name, async (staging) => {
    const incoming = path.join(staging, 'incoming')
    await mkdir(incoming)
    const files = await unpack(archive, format, incoming, deps.limits)
    const modelJson = files.get(MODEL_JSON)
    if (!modelJson) throw invalid(`the archive has no ${MODEL_JSON} (found: ${[...files.keys()].slice(0, 10).join(', ') || 'no files'})`)
    const needed = weightPaths(await readFile(modelJson, 'utf8'))
    const missing = needed.filter((p) => !files.has(p))
    if (missing.length > 0) throw invalid(`${MODEL_JSON} names weight files the archive lacks: ${missing.slice(0, 10).join(', ')}`)

    // Named by content: a name reused for other weights gets other feature-cache keys (see StoredBase.modelDir).
    const hash = createHash('sha256')
    let bytes = 0
    for (const name of [MODEL_JSON, ...needed]) {
      const data = await readFile(files.get(name)!)
      hash.update(name).update(data)
      bytes += data.length
    }
    const modelDir = `model-${hash.digest('hex').slice(0, 16)}`
    await rename(incoming, path.join(staging, modelDir))

    const ref: BaseModelRef = {
      url: path.join(staging, modelDir, MODEL_JSON),
      ...(decl.inputSize ? { inputSize: decl.inputSize } : {}),
      ...(decl.featureLayer ? { featureLayer: decl.featureLayer } : {}),
      ...(decl.preprocessing ? { preprocessing: decl.preprocessing } : {}),
    }
    const base = await loadBase(ref, deps.basesDir)
    try {
      return {
        name: decl.name,
        kind: base.kind,
        inputSize: base.inputSize,
        featureLayer: base.featureLayer,
        featureSize: base.featureSize,
        preprocessing: base.preprocessing,
        createdAt: new Date().toISOString(),
        bytes,
        modelDir,
      }
    } finally {
      base.dispose()
    }
  })
}

/** The bundled bases, usable as `baseModel` by name. */
function builtinBaseNames(): string[] {
  return [...BUILTIN_BASE_IDS]
}

/**
 * The `loadBase` reference of a stored base: its model.json by local path, with what was declared at upload, keyed
 * by name and content folder so every worker's copy shares one feature cache.
 */
function storedBaseRef(base: StoredBase, modelFile: string): BaseModelRef {
  return {
    url: modelFile,
    contentKey: `uploaded/${base.name}/${base.modelDir}`,
    inputSize: base.inputSize,
    featureLayer: base.featureLayer,
    preprocessing: base.preprocessing as Preprocessing,
  }
}

/** An uploaded base as the API shows it: where its files sit in the store is the store's business. */
export type BaseView = Omit<StoredBase, 'modelDir'>

export interface BaseServiceDeps {
  /** The project these uploaded bases belong to. */
  projectId: string
  bases: BaseStore
  /** Whether a queued or running job trains on a base. */
  queue: Pick<TrainingQueue, 'isBaseInUse'>
  /** This process's `<DATA_DIR>/bases`: extracted bundled bases, staging for uploads. */
  basesDir: string
  limits: Omit<ArchiveLimits, 'maxFiles'>
  /**
   * Whether a job's `baseModel.url` may name what only this machine reaches: a file path (or `file://`), or an
   * http(s) host that resolves to a loopback, private, link-local or metadata address. Only in open mode: with keys,
   * the disk holds every project's models and bases, and the worker's network is not the callers'.
   */
  localUrls: boolean
}

export interface BaseService {
  /** See `uploadBase`. */
  upload(archive: string, decl: BaseDeclaration): Promise<BaseView>
  /** The bundled bases by name, and the uploaded ones. */
  list(): Promise<{ builtin: string[]; uploaded: BaseView[] }>
  /** @throws AppError BASE_NOT_FOUND, BASE_IN_USE while a queued or running job trains on it */
  remove(name: string): Promise<void>
  /**
   * Checks a job's `baseModel` before it is queued: a built-in, a URL, or an uploaded base that exists and, being a
   * GraphModel, is trained head-only; a file path or an address inside the network only where `localUrls`.
   * @throws AppError BASE_NOT_FOUND, OPTIONS_INVALID, URL_FORBIDDEN
   */
  checkForJob(ref: JobBaseRef, fineTuneLayers: number): Promise<void>
}

/**
 * A base URL a worker may fetch for any caller: http(s), to a host outside the service's network (the SSRF guard of
 * webhooks and predictions by URL). Checked when the job is queued; the model is fetched when the job starts.
 * @throws AppError URL_FORBIDDEN, VALIDATION (not a URL, or a host that does not resolve)
 */
async function checkPublicUrl(url: string): Promise<void> {
  if (!/^https?:\/\//i.test(url)) {
    throw new AppError('URL_FORBIDDEN', "baseModel.url must be an http(s) URL: a file path reads the server's disk, which every project shares; upload the model with POST /bases")
  }
  let hostname: string
  try {
    hostname = new URL(url).hostname
  } catch {
    throw new AppError('VALIDATION', `baseModel.url is not a URL: ${url}`)
  }
  try {
    await checkedAddress(hostname, { allowHosts: new Set(), resolve: systemResolver })
  } catch (err) {
    if (err instanceof AppError && err.code === 'IMAGE_FETCH_FAILED') throw new AppError('VALIDATION', `baseModel.url: ${err.message}`)
    throw err
  }
}

/** Where and how much a worker fetches of a job's URL base through the SSRF guard. */
export interface GuardedFetch {
  /** This process's `<DATA_DIR>/bases/fetched`: the fetched models, each in a folder named by its content. */
  dir: string
  /** Largest model file read, bytes. */
  maxFileBytes: number
  /** The addresses the API checked the URL against (no host allowed inside the network): the same again. */
  check: AddressCheck
}

/** One model file, weights included; a slow server gets this long per file, not for the whole model. */
const BASE_FILE_FETCH_MS = 120_000

/**
 * Fetches a job's http(s) base (model.json, then the weight files it names beside it) through `src/net`: each host
 * resolved once, every address checked, the socket connected to the checked one, each redirect checked again. The
 * API checked the URL when the job was queued, but a name can resolve elsewhere by the time a worker fetches it (DNS
 * rebinding), and tfjs's own fetch would look it up again. The files go to a folder named by their content, which
 * tfjs (and each feature thread) then loads by path; `contentKey` keeps the URL naming the feature cache.
 * @throws AppError URL_FORBIDDEN (not http(s), or a host inside the service's network), BASE_MODEL_INVALID
 */
export async function fetchUrlBase(ref: Exclude<JobBaseRef, string>, guarded: GuardedFetch): Promise<BaseModelRef> {
  if (!/^https?:\/\//i.test(ref.url)) throw new AppError('URL_FORBIDDEN', 'baseModel.url must be an http(s) URL when the service runs with keys')
  const fetchFile = async (url: string) => {
    try {
      return await fetchBytes(url, { ...guarded.check, maxBytes: guarded.maxFileBytes, timeoutMs: BASE_FILE_FETCH_MS })
    } catch (err) {
      if (err instanceof AppError && err.code === 'URL_FORBIDDEN') throw err
      throw invalid(`cannot load base model from ${ref.url}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const modelJson = await fetchFile(ref.url)
  const files = new Map<string, Uint8Array>([[MODEL_JSON, modelJson]])
  for (const name of weightPaths(Buffer.from(modelJson).toString('utf8'))) files.set(name, await fetchFile(new URL(name, ref.url).href))
  const hash = createHash('sha256')
  for (const [name, data] of files) hash.update(name).update(data)
  const dir = path.join(guarded.dir, `model-${hash.digest('hex').slice(0, 16)}`)
  if (!(await stat(dir).then(() => true, () => false))) {
    try {
      await publishDir(dir, async (staging) => {
        for (const [name, data] of files) await writeFile(path.join(staging, name), data)
      })
    } catch (err) {
      // Another job of this machine published the same content first: its copy is as good as ours.
      if (!(await stat(dir).then(() => true, () => false))) throw err
    }
  }
  return { ...ref, url: path.join(dir, MODEL_JSON), contentKey: ref.url }
}

/** An uploaded base's name: any string that names no built-in (URLs come as objects). */
const isUploadedName = (ref: JobBaseRef): ref is string => typeof ref === 'string' && !isBuiltinBase(ref)

/**
 * A job's `baseModel` as `loadBase` takes it: an uploaded base's name becomes its model.json on this process's disk
 * (fetched first from a remote store) with what was declared at upload. With `guarded` (jobs queued with keys), a
 * URL base is fetched here through the SSRF guard (`fetchUrlBase`) rather than by tfjs.
 * @throws AppError BASE_NOT_FOUND; with `guarded`, URL_FORBIDDEN and BASE_MODEL_INVALID (see `fetchUrlBase`)
 */
export async function resolveJobBase(bases: Pick<BaseStore, 'get' | 'localModelFile'>, ref: JobBaseRef, guarded?: GuardedFetch): Promise<BaseModelRef> {
  if (typeof ref === 'object' && guarded) return fetchUrlBase(ref, guarded)
  if (!isUploadedName(ref)) return ref as BaseModelRef // a built-in or a URL, carried as is by the queue payload
  const stored = await bases.get(ref)
  // DELETE /bases refuses while a job is queued, so this is a base removed by hand: a retry cannot bring it back.
  if (!stored) throw new AppError('BASE_NOT_FOUND', `no uploaded base '${ref}' (deleted?)`)
  return storedBaseRef(stored, await bases.localModelFile(stored))
}

const view = ({ modelDir: _modelDir, ...rest }: StoredBase): BaseView => rest

/** The bases of one project: the bundled ones and those uploaded with `POST /bases`. */
export function createBaseService(deps: BaseServiceDeps): BaseService {
  const { projectId, bases, queue } = deps
  return {
    upload: async (archive, decl) => view(await uploadBase(archive, decl, { store: bases, basesDir: deps.basesDir, limits: deps.limits })),
    list: async () => ({ builtin: builtinBaseNames(), uploaded: (await bases.list()).map(view) }),
    async remove(name) {
      if (!(await bases.get(name))) throw new AppError('BASE_NOT_FOUND', `no uploaded base '${name}'`)
      if (await queue.isBaseInUse(name, projectId)) throw new AppError('BASE_IN_USE', `base '${name}' is used by a queued or running job`)
      await bases.remove(name)
    },
    async checkForJob(ref, fineTuneLayers) {
      if (typeof ref === 'object' && !deps.localUrls) await checkPublicUrl(ref.url)
      if (!isUploadedName(ref)) return
      const uploaded = await bases.get(ref)
      if (!uploaded) throw new AppError('BASE_NOT_FOUND', `no base '${ref}': a built-in (${builtinBaseNames().join(', ')}) or one uploaded with POST /bases`)
      if (uploaded.kind === 'graph' && fineTuneLayers > 0) {
        throw new AppError('OPTIONS_INVALID', `base '${ref}' is a GraphModel: head-only training, fineTuneLayers must be 0`)
      }
    },
  }
}

/** Writes every file of the archive into `dir` by its base name; the archive must be flat (one wrapping folder at most). */
async function unpack(archive: string, format: Awaited<ReturnType<typeof detectArchiveFormat>>, dir: string, limits: Omit<ArchiveLimits, 'maxFiles'>) {
  const entries: { segments: string[]; file: string }[] = []
  for await (const entry of readArchiveEntries(archive, format, { ...limits, maxFiles: MAX_BASE_FILES })) {
    if (entry.kind === 'directory') continue
    const checked = checkEntryPath(entry.path)
    if (!checked.ok) {
      // Hidden and system files (__MACOSX, .DS_Store) ride along in zips made on a desktop.
      if (checked.reason === 'hidden or system file') continue
      throw new AppError('ARCHIVE_INVALID', `unsafe path in the archive: ${entry.path} (${checked.reason})`)
    }
    if (entry.kind !== 'file') throw new AppError('ARCHIVE_INVALID', `${entry.path} is not a regular file`)
    if (entry.unreadable) throw new AppError('ARCHIVE_INVALID', `${entry.path}: ${entry.unreadable}`)
    let data: Buffer
    try {
      data = await entry.read()
    } catch (err) {
      if (err instanceof EntryUnreadable) throw new AppError('ARCHIVE_INVALID', `${entry.path}: ${err.message}`)
      throw err
    }
    const file = path.join(dir, String(entries.length))
    await writeFile(file, data)
    entries.push({ segments: checked.segments, file })
  }
  const wrapper = entries[0]?.segments.length === 2 ? entries[0].segments[0] : undefined
  const files = new Map<string, string>()
  for (const { segments, file } of entries) {
    const inside = wrapper !== undefined && segments.length === 2 && segments[0] === wrapper ? segments.slice(1) : segments
    if (inside.length !== 1) throw new AppError('ARCHIVE_INVALID', `the archive must hold model.json and its weight files side by side; found ${segments.join('/')}`)
    const name = inside[0]!
    if (files.has(name)) throw new AppError('ARCHIVE_INVALID', `${name} appears twice in the archive`)
    const target = path.join(dir, name)
    await rename(file, target)
    files.set(name, target)
  }
  return files
}

/** The weight file paths model.json's weightsManifest names (`./` stripped). */
function weightPaths(json: string): string[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (err) {
    throw invalid(`${MODEL_JSON} is not JSON: ${(err as Error).message}`)
  }
  const manifest = (parsed as { weightsManifest?: unknown }).weightsManifest
  if (typeof parsed !== 'object' || parsed === null || !('modelTopology' in parsed) || !Array.isArray(manifest)) {
    throw invalid(`${MODEL_JSON} is not a tfjs model (needs modelTopology and weightsManifest)`)
  }
  const paths = manifest.flatMap((group: { paths?: unknown }) => (Array.isArray(group.paths) ? group.paths : []))
  if (!paths.every((p): p is string => typeof p === 'string' && /^(\.\/)?[^/\\]+$/.test(p) && !p.startsWith('..'))) {
    throw invalid(`${MODEL_JSON} names weight files outside its folder`)
  }
  return [...new Set(paths.map((p) => p.replace(/^\.\//, '')))]
}

function invalid(message: string): AppError {
  return new AppError('BASE_MODEL_INVALID', message)
}
