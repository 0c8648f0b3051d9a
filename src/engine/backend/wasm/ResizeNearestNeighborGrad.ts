/**
 * A corrected `ResizeNearestNeighborGrad` for the wasm backend ("fix" kernel, always on).
 *
 * Why: tfjs-backend-wasm 4.22's kernel takes only `alignCorners`; it drops `halfPixelCenters`,
 * so `tf.image.resizeNearestNeighbor(x, size, false, true)` (the TF2 / Keras `resize` convention,
 * which the forward kernel honours) gets the gradient of a different resize: wrong pixels, and a
 * max error near 2 on a 3×3→5×8 case. UpSampling2D never sets it, so the stock kernel stays for
 * every call without `halfPixelCenters`; with it, the exact adjoint (../shared/nearestGrad.ts) runs
 * on the backend's heap.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { checkNearestGradShapes, nearestGradInto } from '../shared/nearestGrad';
import type { WasmHeapBackend } from './simd';
import { heapOffset } from './simd';
import { assertFloat32, input, replacingConfig, runStock } from './util';

export const KERNEL = 'ResizeNearestNeighborGrad';

type Args = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

/** The backend's linear memory (where every tensor's buffer lives). */
function heap(be: WasmHeapBackend): ArrayBuffer {
  const memory = be.wasm.asm?.memory ?? be.wasm.wasmMemory;
  if (!memory) throw new Error(`${KERNEL}: the wasm backend's memory is not reachable`);
  return memory.buffer;
}

export function resizeNearestNeighborGrad(args: Args): TensorInfo {
  const attrs = (args.attrs ?? {}) as { alignCorners?: boolean; halfPixelCenters?: boolean };
  if (!attrs.halfPixelCenters) return runStock(KERNEL, args);
  const images = input(KERNEL, args.inputs, 'images');
  const dy = input(KERNEL, args.inputs, 'dy');
  assertFloat32(KERNEL, dy);
  checkNearestGradShapes(KERNEL, images.shape, dy.shape);
  const be = args.backend as WasmHeapBackend;
  const dx = be.makeOutput(images.shape, 'float32');
  // Views made after makeOutput (which may grow the memory and detach older views).
  const n = tf.util.sizeFromShape(images.shape);
  const dxView = new Float32Array(heap(be), heapOffset(be, dx), n);
  dxView.fill(0);
  const dyView = new Float32Array(heap(be), heapOffset(be, dy), tf.util.sizeFromShape(dy.shape));
  nearestGradInto(dyView, dy.shape, dxView, images.shape, Boolean(attrs.alignCorners), true);
  return dx;
}

export function resizeNearestNeighborGradConfig(): KernelConfig {
  return replacingConfig(KERNEL, resizeNearestNeighborGrad);
}
