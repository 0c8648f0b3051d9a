/**
 * Learning-rate schedules (training.optimizer.schedule): the rate of every step is a function of
 * the global step alone, so a resumed run continues on the same curve (nothing to checkpoint).
 *
 *   warm-up   linear from lr/W to lr over the first warmupEpochs (W steps)
 *   constant  lr
 *   cosine    minLr + (lr − minLr)·(1 + cos(π·p))/2, p from 0 after the warm-up to 1 at the last step
 *   step      lr·gamma^⌊epoch / stepEpochs⌋ (epoch counted from 0, as PyTorch's StepLR)
 */
import type * as tf from '@tensorflow/tfjs';
import type { OptimizerConfig } from '../../config/types';

/** The learning rate of the step numbered `globalStep` (0-based) of a training of `epochs` × `stepsPerEpoch`. */
export function learningRateAt(opt: OptimizerConfig, epochs: number, stepsPerEpoch: number, globalStep: number): number {
  const lr = opt.learningRate;
  const total = Math.max(1, epochs * stepsPerEpoch);
  const warm = Math.round((opt.warmupEpochs ?? 0) * stepsPerEpoch);
  if (globalStep < warm) return (lr * (globalStep + 1)) / warm;
  switch (opt.schedule ?? 'constant') {
    case 'constant':
      return lr;
    case 'cosine': {
      const min = opt.minLearningRate ?? 0;
      const span = Math.max(1, total - 1 - warm);
      const p = Math.min(1, (globalStep - warm) / span);
      return min + ((lr - min) * (1 + Math.cos(Math.PI * p))) / 2;
    }
    case 'step': {
      const epoch = Math.floor(globalStep / stepsPerEpoch);
      return lr * (opt.gamma ?? 0.1) ** Math.floor(epoch / Math.max(1, opt.stepEpochs ?? epochs));
    }
  }
}

/** Sets a tfjs optimizer's learning rate for its next step (Adam, SGD, momentum, RMSProp). */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as tf.Optimizer & { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === lr) return;
  // SGD and momentum keep -lr as a scalar tensor: setLearningRate replaces it; the others read the field.
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}
