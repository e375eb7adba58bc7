import { DEFAULT_PROJECT_ID } from '../contract/projects.js'
import type { BlobStore } from './blob-store.js'
import { createModelStore, type ModelStore } from './models.js'
import { projectStore } from './project-store.js'

/** Never in a model or project id (`[a-z0-9-]`), so a qualified id splits one way only. */
const SEPARATOR = '~'

/**
 * How the one predictor of a process names a project's model: the model id for `default` (so its ids and loaded
 * models are as before projects), `<projectId>~<modelId>` for any other. The predictor never parses it; the store
 * below finds the model's files with it.
 */
export function qualifiedModelId(projectId: string, modelId: string): string {
  return projectId === DEFAULT_PROJECT_ID ? modelId : `${projectId}${SEPARATOR}${modelId}`
}

/**
 * The models of every project, by qualified id, for the predictor (and its threads): each id is read from its own
 * project's model repository. Only the services, which check a model's project first, hand qualified ids out.
 */
export function createProjectModelStore(root: BlobStore): Pick<ModelStore, 'getMetadata' | 'load'> {
  const stores = new Map<string, ModelStore>()
  const locate = (qualified: string) => {
    const at = qualified.indexOf(SEPARATOR)
    const projectId = at < 0 ? DEFAULT_PROJECT_ID : qualified.slice(0, at)
    let models = stores.get(projectId)
    if (!models) {
      models = createModelStore(projectStore(root, projectId))
      stores.set(projectId, models)
    }
    return { models, id: at < 0 ? qualified : qualified.slice(at + 1) }
  }
  return {
    async getMetadata(qualified) {
      const { models, id } = locate(qualified)
      return models.getMetadata(id)
    },
    async load(qualified) {
      const { models, id } = locate(qualified)
      return models.load(id)
    },
  }
}
