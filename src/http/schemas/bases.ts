import { Type } from 'typebox'
import { BASE_NAME_PATTERN } from '../../contract/jobs.js'

export const BaseNameParamsSchema = Type.Object({ name: Type.String({ pattern: BASE_NAME_PATTERN }) })

export const UploadedBaseSchema = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('layers'), Type.Literal('graph')], { description: 'layers: a LayersModel (fine-tunable); graph: a GraphModel (head-only)' }),
  inputSize: Type.Integer(),
  featureLayer: Type.String({ description: 'layer or node the features are taken at' }),
  featureSize: Type.Integer(),
  preprocessing: Type.String(),
  createdAt: Type.String(),
  bytes: Type.Integer({ description: 'model.json and weights' }),
})

export const BaseListSchema = Type.Object({
  builtin: Type.Array(Type.String(), { description: 'bundled bases, usable as baseModel by name' }),
  uploaded: Type.Array(UploadedBaseSchema),
})
