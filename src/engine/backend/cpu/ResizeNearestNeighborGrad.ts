/**
 * A corrected `ResizeNearestNeighborGrad` for tfjs's pure-JS cpu backend.
 *
 * Why: the stock kernel in @tensorflow/tfjs-backend-cpu 4.22 indexes `dy` with the *images'*
 * batch stride (`b * H * W * C`) instead of dy's own (`b * H' * W' * C`). With an upsampling
 * (H' > H) every sample after the first reads a slice of dy that belongs to an earlier sample,
 * so UpSampling2D (and `tf.image.resizeNearestNeighbor`) train with wrong gradients on cpu for
 * any batch ≥ 2. (The wasm backend's gets the batch right but ignores `halfPixelCenters`:
 * ../wasm/ResizeNearestNeighborGrad.ts.)
 *
 * This kernel is the exact adjoint of the forward `ResizeNearestNeighbor` (../shared/nearestGrad.ts),
 * for any ratio and attributes.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { nearestGradInto, checkNearestGradShapes } from '../shared/nearestGrad';

export const KERNEL = 'ResizeNearestNeighborGrad';
export const CPU = 'cpu';

/** The part of tfjs's MathBackendCPU this kernel uses. */
interface CpuBackendLike {
  data: { get(dataId: unknown): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
}

export function resizeNearestNeighborGrad(args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const { images, dy } = args.inputs;
  if (!images || !dy) throw new Error(`${KERNEL}: expected inputs 'images' and 'dy'`);
  if (images.dtype === 'complex64' || dy.dtype === 'complex64') throw new Error(`${KERNEL}: complex tensors are not supported`);
  checkNearestGradShapes(KERNEL, images.shape, dy.shape);
  const attrs = (args.attrs ?? {}) as { alignCorners?: boolean; halfPixelCenters?: boolean };
  const alignCorners = Boolean(attrs.alignCorners);
  const halfPixelCenters = Boolean(attrs.halfPixelCenters);
  const backend = args.backend as CpuBackendLike;
  const dyValues = backend.data.get(dy.dataId).values as ArrayLike<number>;

  const dx = new Float32Array(images.shape.reduce((p, v) => p * v, 1));
  nearestGradInto(dyValues, dy.shape, dx, images.shape, alignCorners, halfPixelCenters);
  return backend.makeTensorInfo(images.shape, 'float32', dx);
}

const OURS = Symbol.for('distill-studio.kernel');

export const resizeNearestNeighborGradCpuConfig: KernelConfig = Object.assign(
  { kernelName: KERNEL, backendName: CPU, kernelFunc: resizeNearestNeighborGrad as unknown as KernelFunc },
  { [OURS]: true },
);
