import * as tf from '@tensorflow/tfjs'

/**
 * Gradient kernels the wasm backend lacks in tfjs 4.22, without which no convolution can be trained there:
 * the filter gradient of a convolution and both gradients of a depthwise convolution. Also the kernels it has but
 * runs far slower than a rewrite into its fast ones: a transposed operand of a matrix product (every dense
 * gradient), 1×1 convolution gradients.
 */
export const WASM_MISSING_GRAD_KERNELS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'] as const

interface WasmLike extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo
}

interface Args {
  inputs: tf.NamedTensorInfoMap
  backend: tf.KernelBackend
  attrs?: tf.NamedAttrMap
}

/** Our kernel functions, so a second registration call can tell them from tfjs's own. */
const ours = new WeakSet<tf.KernelFunc>()

/**
 * Registers each missing kernel for the 'wasm' backend as the cpu backend's own kernel function run on copies of
 * the inputs: the same arithmetic as on cpu (plain JS loops), moved through the wasm heap. Both gradients of a 1×1,
 * stride-1 convolution (most of MobileNetV2's weights) become forward convolutions that wasm runs with XNNPACK
 * (its own Conv2DBackpropInput and a BatchMatMul are ~30× slower there). Idempotent; call after the wasm backend is
 * registered.
 */
export function registerWasmGradKernels(): void {
  for (const kernelName of WASM_MISSING_GRAD_KERNELS) {
    const existing = tf.getKernel(kernelName, 'wasm')
    if (existing) continue
    const viaCpu = lendCpuKernel(kernelName)
    const kernelFunc: tf.KernelFunc =
      kernelName === 'Conv2DBackpropFilter' ? (args) => pointwiseFilterGrad(args as Args) ?? viaCpu(args) : viaCpu
    ours.add(kernelFunc)
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc })
  }
  wrapNative('Conv2DBackpropInput', (native) => (args) => pointwiseInputGrad(args as Args) ?? native(args))
  wrapNative('BatchMatMul', (native) => (args) => untransposedMatMul(args as Args, native))
}

/** Replaces the wasm kernel `name` with `wrap(its function)`, once (a second call finds ours in place). */
function wrapNative(name: string, wrap: (native: tf.KernelFunc) => tf.KernelFunc): void {
  const native = tf.getKernel(name, 'wasm')
  if (!native || ours.has(native.kernelFunc)) return
  const kernelFunc = wrap(native.kernelFunc)
  ours.add(kernelFunc)
  tf.unregisterKernel(name, 'wasm')
  tf.registerKernel({ ...native, kernelFunc })
}

/**
 * A matrix product with a transposed operand as an explicit transpose, then the plain product: wasm's own
 * transposed products are 5–9× slower (bench: `[32, 480]ᵀ · [32, 128]`, the hidden layer's weight gradient, 1.18 ms
 * vs 0.13 ms), and they are in every dense layer's gradient. Same sums in the same order: equal results.
 */
function untransposedMatMul({ inputs, backend, attrs }: Args, native: tf.KernelFunc): tf.TensorInfo | tf.TensorInfo[] {
  const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean }
  const { a, b } = inputs
  if (!a || !b || (!transposeA && !transposeB)) return native({ inputs, backend, ...(attrs && { attrs }) })
  const flip = (m: tf.TensorInfo) => {
    const perm = m.shape.map((_, i) => i)
    perm.push(...perm.splice(-2).reverse())
    return wasmKernel('Transpose')({ inputs: { x: m }, backend, attrs: { perm } }) as tf.TensorInfo
  }
  const ta = transposeA ? flip(a) : a
  const tb = transposeB ? flip(b) : b
  try {
    return native({ inputs: { ...inputs, a: ta, b: tb }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } })
  } finally {
    if (ta !== a) backend.disposeData(ta.dataId)
    if (tb !== b) backend.disposeData(tb.dataId)
  }
}

function lendCpuKernel(kernelName: string): tf.KernelFunc {
  const cpuKernel = tf.getKernel(kernelName, 'cpu')
  if (!cpuKernel) throw new Error(`the cpu backend has no ${kernelName} kernel to lend to wasm`)
  return ({ inputs, backend, attrs }) => {
    const wasm = backend as WasmLike
    const cpu = tf.findBackend('cpu')
    const moved: Record<string, tf.TensorInfo> = {}
    try {
      for (const [name, info] of Object.entries(inputs)) {
        if (!info) continue
        moved[name] = { dataId: cpu.write(wasm.readSync(info.dataId), info.shape, info.dtype), shape: info.shape, dtype: info.dtype }
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
  }
}

/** True for a 1×1 filter, unit strides and dilations, no explicit padding, NHWC: the convolution is a matrix product. */
function isPointwise(filterShape: readonly number[] | undefined, attrs: tf.NamedAttrMap | undefined): boolean {
  const { strides, pad, dataFormat, dilations } = (attrs ?? {}) as { strides?: unknown; pad?: unknown; dataFormat?: unknown; dilations?: unknown }
  const unit = (v: unknown) => v === undefined || v === 1 || (Array.isArray(v) && v.every((s) => s === 1))
  return filterShape?.[0] === 1 && filterShape[1] === 1 && unit(strides) && unit(dilations) && typeof pad === 'string' && dataFormat !== 'NCHW'
}

function wasmKernel(name: string): tf.KernelFunc {
  const kernel = tf.getKernel(name, 'wasm')
  if (!kernel) throw new Error(`the wasm backend has no ${name} kernel`)
  return kernel.kernelFunc
}

/** Forward 1×1 convolution of `x` (NHWC) with `filter` `[1, 1, in, out]` on wasm (XNNPACK). */
function conv1x1(backend: tf.KernelBackend, x: tf.TensorInfo, filter: tf.TensorInfo): tf.TensorInfo {
  return wasmKernel('Conv2D')({
    inputs: { x, filter },
    backend,
    attrs: { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined as unknown as string },
  }) as tf.TensorInfo
}

/** `m` `[rows, cols]` → `[cols, rows]` on wasm; the caller disposes the result. */
function transpose2d(backend: tf.KernelBackend, m: tf.TensorInfo, rows: number, cols: number): tf.TensorInfo {
  return wasmKernel('Transpose')({ inputs: { x: { ...m, shape: [rows, cols] } }, backend, attrs: { perm: [1, 0] } }) as tf.TensorInfo
}

/**
 * dW[i, o] = Σₚ x[p, i] · dy[p, o] over the n·h·w positions p: a 1×1 convolution of xᵀ, seen as a 1 × in image
 * with n·h·w channels, by dy seen as a `[1, 1, n·h·w, out]` filter.
 */
function pointwiseFilterGrad({ inputs, backend, attrs }: Args): tf.TensorInfo | undefined {
  const { x, dy } = inputs
  const filterShape = (attrs as { filterShape?: number[] } | undefined)?.filterShape
  if (!x || !dy || !filterShape || !isPointwise(filterShape, attrs) || x.dtype !== 'float32') return undefined
  const [n, h, w, cin] = x.shape as [number, number, number, number]
  const positions = n * h * w
  const xT = transpose2d(backend, x, positions, cin)
  try {
    const out = conv1x1(backend, { ...xT, shape: [1, 1, cin, positions] }, { ...dy, shape: [1, 1, positions, dy.shape[3]!] })
    return { ...out, shape: filterShape }
  } finally {
    backend.disposeData(xT.dataId)
  }
}

/** dx = dy · Wᵀ: a 1×1 convolution of dy by the filter transposed to `[1, 1, out, in]`. */
function pointwiseInputGrad({ inputs, backend, attrs }: Args): tf.TensorInfo | undefined {
  const { dy, filter } = inputs
  if (!dy || !filter || !isPointwise(filter.shape, attrs) || filter.dtype !== 'float32') return undefined
  const [, , cin, cout] = filter.shape as [number, number, number, number]
  const wT = transpose2d(backend, filter, cin, cout)
  try {
    return conv1x1(backend, dy, { ...wT, shape: [1, 1, cout, cin] })
  } finally {
    backend.disposeData(wT.dataId)
  }
}
