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
 * of the inputs: the same arithmetic as on cpu (plain JS loops), moved through the wasm heap. Fine-tuning runs
 * these on a few top layers' small activations, so their speed matters little. Idempotent; call after the wasm
 * backend is registered.
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
