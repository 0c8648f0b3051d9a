/**
 * Registers the project's kernels for the wasm backend.
 *
 * - "missing" kernels: tfjs-backend-wasm 4.22 has none, training a conv net fails without them.
 * - "fix" kernels: wrap stock forward convolutions whose 'same' padding is wrong for 1×k / k×1
 *   filters with stride > 1 (see SamePadding.ts), and nearest resizing's gradient, which ignores
 *   `halfPixelCenters` (ResizeNearestNeighborGrad.ts); always on.
 * - "speed" kernels: replace stock kernels with faster compositions; `speed: false` puts the stock
 *   kernels back (benchmarks compare both in one process).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';
import { batchMatMulConfig } from './BatchMatMul';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput';
import { samePaddingConfigs } from './SamePadding';
import { resizeNearestNeighborGradConfig } from './ResizeNearestNeighborGrad';
import { setSimdKernelsEnabled } from './simd';
import { transposeConfig } from './Transpose';
import { maxPoolGradConfig } from './MaxPoolGrad';
import { identityConfig } from './Identity';
import { addConfig } from './Add';
import { sumConfig } from './Sum';
import { registerReluGradient, reluGradConfig } from './ReluGrad';
import { isOurs, stockKernel, WASM } from './util';

/** Stock kernels our compositions call; saved before anything of ours can shadow them. */
const BUILDING_BLOCKS = [
  'Add',
  'BatchMatMul',
  'Conv2D',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNative',
  'Fill',
  'FusedConv2D',
  'Identity',
  'MaxPoolGrad',
  'ResizeNearestNeighborGrad',
  'FusedDepthwiseConv2D',
  'PadV2',
  'Reverse',
  'Slice',
  'Sum',
  'Transpose',
];

const MISSING: Array<() => KernelConfig> = [
  () => conv2DBackpropFilterConfig,
  () => depthwiseConv2dNativeBackpropFilterConfig,
  () => depthwiseConv2dNativeBackpropInputConfig,
];

const FIX: Array<() => KernelConfig> = [...samePaddingConfigs, resizeNearestNeighborGradConfig];

const SPEED: Array<() => KernelConfig> = [
  batchMatMulConfig, conv2DBackpropInputConfig, transposeConfig, maxPoolGradConfig, identityConfig, addConfig, sumConfig,
];

/** Speed kernels with no stock counterpart: registered with `speed`, removed without. */
const SPEED_NEW: Array<() => KernelConfig> = [reluGradConfig];

function register(cfg: KernelConfig): void {
  if (tf.getKernel(cfg.kernelName, WASM)) tf.unregisterKernel(cfg.kernelName, WASM);
  tf.registerKernel(cfg);
}

/**
 * Registers our wasm kernels and returns the names of those now active (idempotent).
 * The missing and fix kernels are always registered; with `speed: false` the stock versions of
 * the kernels we would speed up are (re)instated.
 * Requires `@tensorflow/tfjs-backend-wasm` to have been loaded (it registers the stock kernels).
 */
export function registerWasmKernels(options: { speed: boolean }): string[] {
  for (const name of BUILDING_BLOCKS) {
    if (!stockKernel(name)) {
      throw new Error(`wasm kernel '${name}' not registered: load @tensorflow/tfjs-backend-wasm before registerWasmKernels()`);
    }
  }
  setSimdKernelsEnabled(options.speed);
  const active: string[] = [];
  for (const make of MISSING) {
    const cfg = make();
    const current = tf.getKernel(cfg.kernelName, WASM);
    // If a later tfjs ships its own kernel, prefer it.
    if (current && !isOurs(current)) continue;
    if (current !== cfg) register(cfg);
    active.push(cfg.kernelName);
  }
  for (const make of FIX) {
    const cfg = make();
    if (!isOurs(tf.getKernel(cfg.kernelName, WASM))) register(cfg);
    active.push(cfg.kernelName);
  }
  for (const make of SPEED) {
    const cfg = make();
    const current = tf.getKernel(cfg.kernelName, WASM);
    if (options.speed) {
      if (!isOurs(current)) register(cfg);
      active.push(cfg.kernelName);
    } else if (isOurs(current)) {
      const stock = stockKernel(cfg.kernelName);
      if (stock) register(stock);
    }
  }
  for (const make of SPEED_NEW) {
    const cfg = make();
    const current = tf.getKernel(cfg.kernelName, WASM);
    if (options.speed) {
      if (!current) register(cfg);
      active.push(cfg.kernelName);
    } else if (current) {
      tf.unregisterKernel(cfg.kernelName, WASM);
    }
  }
  registerReluGradient();
  return active;
}
