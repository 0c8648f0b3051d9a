/**
 * A corrected `ResizeNearestNeighborGrad` for tfjs's pure-JS cpu backend.
 *
 * Why: the stock kernel in @tensorflow/tfjs-backend-cpu 4.22 indexes `dy` with the *images'*
 * batch stride (`b * H * W * C`) instead of dy's own (`b * H' * W' * C`). With an upsampling
 * (H' > H) every sample after the first reads a slice of dy that belongs to an earlier sample,
 * so UpSampling2D (and `tf.image.resizeNearestNeighbor`) train with wrong gradients on cpu for
 * any batch ≥ 2. The wasm and tensorflow backends are right.
 *
 * This kernel is the exact adjoint of the cpu backend's forward `ResizeNearestNeighbor`: it walks
 * every dy element, computes the source pixel with the same formula the forward pass used
 * (alignCorners, halfPixelCenters, clamping), and adds dy there. Any pixel the forward copied to
 * n outputs therefore receives the sum of those n gradients, for any ratio, not only integers.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';

export const KERNEL = 'ResizeNearestNeighborGrad';
export const CPU = 'cpu';

/** The part of tfjs's MathBackendCPU this kernel uses. */
interface CpuBackendLike {
  data: { get(dataId: unknown): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
}

/** Source index along one axis, exactly as the cpu forward kernel computes it. */
export function nearestSource(dst: number, inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const frac = halfPixelCenters ? ratio * (dst + 0.5) : ratio * dst;
  let src = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  if (halfPixelCenters) src = Math.max(0, src);
  return src;
}

export function resizeNearestNeighborGrad(args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const { images, dy } = args.inputs;
  if (!images || !dy) throw new Error(`${KERNEL}: expected inputs 'images' and 'dy'`);
  if (images.shape.length !== 4 || dy.shape.length !== 4) {
    throw new Error(`${KERNEL}: images [${images.shape}] and dy [${dy.shape}] must both be rank 4 [batch, height, width, channels]`);
  }
  if (images.dtype === 'complex64' || dy.dtype === 'complex64') throw new Error(`${KERNEL}: complex tensors are not supported`);
  const [batch, inH, inW, depth] = images.shape;
  const [dyBatch, outH, outW, dyDepth] = dy.shape;
  if (dyBatch !== batch || dyDepth !== depth) {
    throw new Error(`${KERNEL}: dy [${dy.shape}] does not match images [${images.shape}] in batch or channels`);
  }
  const attrs = (args.attrs ?? {}) as { alignCorners?: boolean; halfPixelCenters?: boolean };
  const alignCorners = Boolean(attrs.alignCorners);
  const halfPixelCenters = Boolean(attrs.halfPixelCenters);
  const backend = args.backend as CpuBackendLike;
  const dyValues = backend.data.get(dy.dataId).values as ArrayLike<number>;

  const srcRow = new Int32Array(outH);
  for (let r = 0; r < outH; r++) srcRow[r] = nearestSource(r, inH, outH, alignCorners, halfPixelCenters);
  const srcCol = new Int32Array(outW);
  for (let c = 0; c < outW; c++) srcCol[c] = nearestSource(c, inW, outW, alignCorners, halfPixelCenters);

  const dx = new Float32Array(batch * inH * inW * depth);
  let i = 0; // dy is walked in order: [b, r, c, d]
  for (let b = 0; b < batch; b++) {
    const dxBatch = b * inH * inW * depth;
    for (let r = 0; r < outH; r++) {
      const dxRow = dxBatch + srcRow[r] * inW * depth;
      for (let c = 0; c < outW; c++) {
        const dxPix = dxRow + srcCol[c] * depth;
        for (let d = 0; d < depth; d++) dx[dxPix + d] += dyValues[i++];
      }
    }
  }
  return backend.makeTensorInfo(images.shape, 'float32', dx);
}

const OURS = Symbol.for('distill-studio.kernel');

export const resizeNearestNeighborGradCpuConfig: KernelConfig = Object.assign(
  { kernelName: KERNEL, backendName: CPU, kernelFunc: resizeNearestNeighborGrad as unknown as KernelFunc },
  { [OURS]: true },
);
