import { AppError } from '../errors.js'
import type { Predictor } from '../ml/predictor.js'
import type { AliasStore } from '../storage/aliases.js'
import type { BlobStream } from '../storage/blob-store.js'
import type { ModelMetadata, ModelStore } from '../storage/models.js'
import { qualifiedModelId } from '../storage/project-models.js'

export interface ModelServiceDeps {
  /** The project these models belong to. */
  projectId: string
  models: ModelStore
  aliases: AliasStore
  /** Drops a deleted model from every prediction thread. */
  predictor: Pick<Predictor, 'evict'>
}

export interface ModelService {
  /** Newest first. */
  list(): Promise<ModelMetadata[]>
  /** @throws AppError MODEL_NOT_FOUND */
  get(id: string): Promise<ModelMetadata>
  /** Sets the display name. @throws AppError MODEL_NOT_FOUND */
  rename(id: string, name: string): Promise<ModelMetadata>
  /**
   * Deletes the model. One that aliases point at is MODEL_IN_USE (`details.aliases`) unless `force`, which deletes
   * those aliases first, so an alias never points at a deleted model.
   * @returns the aliases removed with it
   * @throws AppError MODEL_NOT_FOUND, MODEL_IN_USE
   */
  remove(id: string, opts: { force: boolean }): Promise<string[]>
  /** One of the model's files (model.json, a weights file). @throws AppError MODEL_NOT_FOUND, NOT_FOUND */
  openFile(id: string, file: string): Promise<BlobStream>
  /** Alias name → model id, by name. */
  listAliases(): Promise<{ name: string; modelId: string }[]>
  /** @throws AppError ALIAS_NOT_FOUND */
  getAlias(name: string): Promise<string>
  /** Creates or moves the alias in one step. @throws AppError MODEL_NOT_FOUND */
  setAlias(name: string, modelId: string): Promise<void>
  /** The model stays. @throws AppError ALIAS_NOT_FOUND */
  removeAlias(name: string): Promise<void>
}

/** The trained models of one project, their files and their aliases. */
export function createModelService(deps: ModelServiceDeps): ModelService {
  const { projectId, models, aliases, predictor } = deps

  async function get(id: string): Promise<ModelMetadata> {
    const metadata = await models.getMetadata(id)
    if (!metadata) throw new AppError('MODEL_NOT_FOUND', `no model ${id}`)
    return metadata
  }

  return {
    list: () => models.list(),
    get,
    async rename(id, name) {
      const renamed = await models.rename(id, name)
      if (!renamed) throw new AppError('MODEL_NOT_FOUND', `no model ${id}`)
      return renamed
    },
    async remove(id, { force }) {
      await get(id)
      const named = Object.entries(await aliases.list()).filter(([, target]) => target === id).map(([name]) => name)
      if (named.length > 0 && !force) {
        throw new AppError('MODEL_IN_USE', `model ${id} is the target of alias(es) ${named.join(', ')}: move or delete them first, or delete with ?force=true`, { aliases: named })
      }
      const removed = force ? await aliases.removeTargeting(id) : []
      await predictor.evict(qualifiedModelId(projectId, id))
      await models.remove(id)
      return removed
    },
    async openFile(id, file) {
      await get(id)
      const opened = await models.openFile(id, file)
      if (!opened) throw new AppError('NOT_FOUND', `model ${id} has no file ${file}`)
      return opened
    },
    listAliases: async () => Object.entries(await aliases.list()).map(([name, modelId]) => ({ name, modelId })),
    async getAlias(name) {
      const modelId = await aliases.get(name)
      if (!modelId) throw new AppError('ALIAS_NOT_FOUND', `no alias ${name}`)
      return modelId
    },
    async setAlias(name, modelId) {
      await get(modelId)
      await aliases.set(name, modelId)
    },
    async removeAlias(name) {
      if (!(await aliases.remove(name))) throw new AppError('ALIAS_NOT_FOUND', `no alias ${name}`)
    },
  }
}
