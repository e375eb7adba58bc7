import * as tf from '@tensorflow/tfjs'

/**
 * Gradient kernels the wasm backend lacks in tfjs 4.22, without which no convolution can be trained there:
 * the filter gradient of a convolution and both gradients of a depthwise convolution.
 */
export const WASM_MISSING_GRAD_KERNELS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'] as const

interface WasmLike extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo
}

/**
 * Registers each missing kernel for the 'wasm' backend as the cpu backend's own kernel function run on copies
 * of the inputs: the same arithmetic as on cpu (plain JS loops), moved through the wasm heap. The filter gradient
 * of a 1×1 stride-1 convolution (most of MobileNetV2's weights) is one matrix product instead, xᵀ·dy, run by wasm's
 * own BatchMatMul: the JS loops take seconds per batch there. Idempotent; call after the wasm backend is registered.
 */
export function registerWasmGradKernels(): void {
  for (const kernelName of WASM_MISSING_GRAD_KERNELS) {
    const registered = tf.getKernelsForBackend('wasm').some((k) => k.kernelName === kernelName)
    if (registered) continue
    const cpuKernel = tf.getKernel(kernelName, 'cpu')
    if (!cpuKernel) throw new Error(`the cpu backend has no ${kernelName} kernel to lend to wasm`)
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const wasm = backend as WasmLike
        if (kernelName === 'Conv2DBackpropFilter') {
          const fast = pointwiseFilterGrad(inputs, wasm, attrs)
          if (fast) return fast
        }
        const cpu = tf.findBackend('cpu')
        const moved: Record<string, tf.TensorInfo> = {}
        try {
          for (const [name, info] of Object.entries(inputs)) {
            if (!info) continue
            const values = wasm.readSync(info.dataId)
            moved[name] = { dataId: cpu.write(values, info.shape, info.dtype), shape: info.shape, dtype: info.dtype }
          }
          const out = cpuKernel.kernelFunc({ inputs: moved, backend: cpu, attrs }) as tf.TensorInfo
          try {
            return wasm.makeOutput(out.shape, out.dtype, undefined, cpu.readSync(out.dataId))
          } finally {
            cpu.disposeData(out.dataId)
          }
        } finally {
          for (const info of Object.values(moved)) cpu.disposeData(info.dataId)
        }
      },
    })
  }
}

/** dW of a 1×1, stride-1, unpadded NHWC convolution: x as [1, n·h·w, in]ᵀ times dy as [1, n·h·w, out]. */
function pointwiseFilterGrad(inputs: tf.NamedTensorInfoMap, backend: WasmLike, attrs: tf.NamedAttrMap | undefined): tf.TensorInfo | undefined {
  const { x, dy } = inputs
  const { strides, pad, dataFormat, filterShape } = (attrs ?? {}) as { strides?: number | number[]; pad?: unknown; dataFormat?: string; filterShape?: number[] }
  const unitStride = strides === 1 || (Array.isArray(strides) && strides.every((s) => s === 1))
  if (!x || !dy || !filterShape || filterShape[0] !== 1 || filterShape[1] !== 1 || !unitStride || typeof pad !== 'string' || dataFormat === 'NCHW') {
    return undefined
  }
  const [n, h, w, cin] = x.shape as [number, number, number, number]
  const cout = dy.shape[3]!
  const matMul = tf.getKernel('BatchMatMul', 'wasm')
  if (!matMul) return undefined
  const out = matMul.kernelFunc({
    inputs: { a: { ...x, shape: [1, n * h * w, cin] }, b: { ...dy, shape: [1, n * h * w, cout] } },
    backend,
    attrs: { transposeA: true, transposeB: false },
  }) as tf.TensorInfo
  return { dataId: out.dataId, shape: filterShape, dtype: out.dtype }
}
