/**
 * Zero-copy Identity for the wasm backend. tfjs clones every tensor it saves for the backward pass
 * (weights and activations) through the Identity kernel; the stock wasm kernel copies the buffer
 * (0.4 ms for an 800×800 weight, on every step), where the cpu backend shares it. Tensors never
 * change in place in tfjs (a variable's assign swaps buffers), so sharing the buffer with one more
 * reference — as the cpu backend and the wasm Reshape kernel do — is the same value at no cost.
 */
import type { KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { WasmBackendLike } from './util';
import { input, markOurs, runStock, WASM } from './util';

export const KERNEL = 'Identity';

export function identity(args: { inputs: NamedTensorInfoMap; backend: unknown }): TensorInfo {
  const x = input(KERNEL, args.inputs, 'x');
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    return runStock(KERNEL, args);
  }
  (args.backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function identityConfig(): KernelConfig {
  return markOurs({ kernelName: KERNEL, backendName: WASM, kernelFunc: identity as unknown as KernelFunc });
}
