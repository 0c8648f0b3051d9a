/**
 * Faster Transpose for the wasm backend. The stock kernel walks the output with strided reads one
 * element at a time (≈3 ns per element: transposing an 800×800 weight matrix costs 2 ms, on every
 * Dense backward pass). When the permutation amounts to a batch of 2-D transposes — every matmul
 * transpose and most layout changes — the SIMD kernel (simd/kernels.wat) moves 4×4 blocks instead.
 * Other permutations and dtypes go to the stock kernel.
 */
import type { KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { fastTranspose } from './simd';
import { input, replacingConfig, runStock } from './util';

export const KERNEL = 'Transpose';

type Args = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

export function transpose(args: Args): TensorInfo {
  const x = input(KERNEL, args.inputs, 'x');
  const perm = ((args.attrs ?? {}) as { perm?: number[] }).perm ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  const fast = fastTranspose(args.backend, x, perm);
  if (fast) return fast;
  return runStock(KERNEL, args);
}

export function transposeConfig(): KernelConfig {
  return replacingConfig(KERNEL, transpose);
}
