/**
 * Registers the project's corrections to tfjs's pure-JS cpu backend (see each kernel's file for
 * the defect it fixes). Registering a kernel for 'cpu' needs no initialised backend, so this runs
 * on every `initBackend` call, whichever backend is chosen: the cpu backend is also used
 * implicitly (tfjs's default) and as the last fallback.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';
import { resizeNearestNeighborGradCpuConfig } from './ResizeNearestNeighborGrad';

const FIXES: KernelConfig[] = [resizeNearestNeighborGradCpuConfig];

/** Replaces the defective stock cpu kernels with ours (idempotent); returns the names now ours. */
export function registerCpuKernels(): string[] {
  for (const cfg of FIXES) {
    if (tf.getKernel(cfg.kernelName, cfg.backendName) === cfg) continue;
    if (tf.getKernel(cfg.kernelName, cfg.backendName)) tf.unregisterKernel(cfg.kernelName, cfg.backendName);
    tf.registerKernel(cfg);
  }
  return FIXES.map((cfg) => cfg.kernelName);
}
