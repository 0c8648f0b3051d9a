/**
 * Faster Add for the wasm backend where one side is a vector broadcast over the rows of the other:
 * a layer's bias add, which training runs unfused (conv or matmul, then Add, then the activation).
 * The stock kernel's broadcasting loop costs ≈0.9 ms for the student conv's [64,28,28,8] + [8];
 * the SIMD kernel (simd/kernels.wat `addRows`) streams it once. Every other Add goes to the stock
 * kernel; float32 addition is commutative, so the result is the same bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { WasmHeapBackend } from './simd';
import { heapOffset, simdKernels } from './simd';
import { input, replacingConfig, runStock } from './util';

export const KERNEL = 'Add';

type Args = { inputs: NamedTensorInfoMap; backend: unknown };

/** Whether `v` is a [..1.., C] vector broadcast along every row of `m` ([..., C]). */
function broadcastsOverRows(m: TensorInfo, v: TensorInfo): boolean {
  const c = m.shape[m.shape.length - 1];
  if (m.shape.length < 2 || v.shape.length > m.shape.length || c === undefined || c === 0) return false;
  if (v.shape[v.shape.length - 1] !== c) return false;
  return v.shape.slice(0, -1).every((d) => d === 1) && tf.util.sizeFromShape(m.shape) > c;
}

export function add(args: Args): TensorInfo {
  const a = input(KERNEL, args.inputs, 'a');
  const b = input(KERNEL, args.inputs, 'b');
  const k = a.dtype === 'float32' && b.dtype === 'float32' ? simdKernels(args.backend) : undefined;
  if (k) {
    const [m, v] = broadcastsOverRows(a, b) ? [a, b] : broadcastsOverRows(b, a) ? [b, a] : [undefined, undefined];
    if (m && v) {
      const be = args.backend as WasmHeapBackend;
      const c = m.shape[m.shape.length - 1];
      const out = be.makeOutput(m.shape, 'float32');
      k.addRows(heapOffset(be, m), heapOffset(be, v), heapOffset(be, out), tf.util.sizeFromShape(m.shape) / c, c);
      return out;
    }
  }
  return runStock(KERNEL, args);
}

export function addConfig(): KernelConfig {
  return replacingConfig(KERNEL, add);
}
