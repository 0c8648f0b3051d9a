/**
 * ReLU's gradient in one pass on the wasm backend. tfjs differentiates Relu as
 * `dy · cast(step(x))`: three kernels and two temporaries over every activation (≈0.8 ms of a CNN
 * student's step). `DistillReluGrad` computes the same values (bit for bit, NaN and −0 included)
 * with the SIMD kernel (simd/kernels.wat `reluGrad`).
 *
 * tfjs has no ReluGrad kernel to replace, so Relu's gradient is re-registered: it runs
 * `DistillReluGrad` where the active backend has it (wasm with our speed kernels) and tfjs's own
 * formula everywhere else (cpu, tfjs-node, or `speed: false`).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { WasmHeapBackend } from './simd';
import { heapOffset, simdKernels } from './simd';
import { assertFloat32, input, markOurs, WASM } from './util';

export const KERNEL = 'DistillReluGrad';

type Args = { inputs: NamedTensorInfoMap; backend: unknown };

export function reluGrad(args: Args): TensorInfo {
  const dy = input(KERNEL, args.inputs, 'dy');
  const x = input(KERNEL, args.inputs, 'x');
  assertFloat32(KERNEL, dy, x);
  if (!tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`${KERNEL}: dy [${dy.shape}] and x [${x.shape}] differ`);
  const k = simdKernels(args.backend);
  if (!k) throw new Error(`${KERNEL}: the SIMD kernels are not available`);
  const be = args.backend as WasmHeapBackend;
  const dx = be.makeOutput(x.shape, 'float32');
  k.reluGrad(heapOffset(be, dy), heapOffset(be, x), heapOffset(be, dx), tf.util.sizeFromShape(x.shape));
  return dx;
}

export function reluGradConfig(): KernelConfig {
  return markOurs({ kernelName: KERNEL, backendName: WASM, kernelFunc: reluGrad as unknown as KernelFunc });
}

let gradientRegistered = false;

/** dy·step(x): with DistillReluGrad where the active backend has it, else tfjs's own formula. */
function reluBackward(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return tf.getKernel(KERNEL, tf.getBackend()) && dy.dtype === 'float32' && x.dtype === 'float32' && simdKernels(tf.backend())
    ? tf.engine().runKernel(KERNEL, { dy, x }) as tf.Tensor
    : tf.mul(dy, tf.cast(tf.step(x), 'float32'));
}

/**
 * Re-registers Relu's gradient to use DistillReluGrad where the backend has it (idempotent), and
 * gives DistillReluGrad its own gradient (second derivatives: linear in dy, and step(x) has none).
 */
export function registerReluGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => reluBackward(dy as tf.Tensor, saved[0]) }),
  });
  tf.registerGradient({
    kernelName: KERNEL,
    inputsToSave: ['x'],
    gradFunc: (ddx, saved) => ({ dy: () => reluBackward(ddx as tf.Tensor, saved[0]), x: () => tf.zerosLike(saved[0]) }),
  });
}
