/**
 * Learning-rate schedules (src/engine/training/schedule.ts) against values computed by hand, and every
 * optimizer kind really stepping with the rate it was given.
 * Run: node --import tsx --test test/unit/schedule.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { learningRateAt, setLearningRate } from '../../src/engine/training/schedule';
import { makeOptimizer } from '../../src/engine/training/train';
import type { OptimizerConfig } from '../../src/config/types';

const close = (a: number, b: number, msg: string, rel = 1e-9) => assert.ok(Math.abs(a - b) <= 1e-12 + rel * Math.abs(b), `${msg}: ${a} vs ${b}`);

void test('constant, warm-up, cosine and step schedules at chosen steps', () => {
  const adam: OptimizerConfig = { kind: 'adam', learningRate: 0.1 };
  // 4 epochs × 10 steps.
  for (const s of [0, 17, 39]) close(learningRateAt(adam, 4, 10, s), 0.1, `constant ${s}`);
  const warm = { ...adam, warmupEpochs: 0.5 }; // 5 steps: 0.02, 0.04, …, 0.1, then constant
  [0.02, 0.04, 0.06, 0.08, 0.1, 0.1].forEach((v, s) => close(learningRateAt(warm, 4, 10, s), v, `warm-up ${s}`));
  const cos = { ...adam, schedule: 'cosine' as const, minLearningRate: 0.01 };
  close(learningRateAt(cos, 4, 10, 0), 0.1, 'cosine start');
  close(learningRateAt(cos, 4, 10, 39), 0.01, 'cosine end');
  close(learningRateAt(cos, 4, 10, 19.5), 0.055, 'cosine midpoint'); // (0.1 + 0.01) / 2
  close(learningRateAt(cos, 4, 10, 13), 0.01 + 0.09 * (1 + Math.cos((Math.PI * 13) / 39)) / 2, 'cosine step 13');
  const cosWarm = { ...cos, warmupEpochs: 1 }; // warm-up 10 steps, then cosine over steps 10..39
  close(learningRateAt(cosWarm, 4, 10, 9), 0.1, 'end of warm-up');
  close(learningRateAt(cosWarm, 4, 10, 10), 0.1, 'cosine starts after the warm-up');
  close(learningRateAt(cosWarm, 4, 10, 39), 0.01, 'cosine ends at the last step');
  const step = { ...adam, schedule: 'step' as const, stepEpochs: 2, gamma: 0.5 };
  [[0, 0.1], [19, 0.1], [20, 0.05], [39, 0.05]].forEach(([s, v]) => close(learningRateAt(step, 4, 10, s), v, `step ${s}`));
  close(learningRateAt({ ...adam, schedule: 'step', stepEpochs: 1 }, 4, 10, 25), 0.1 * 0.1 ** 2, 'default gamma 0.1');
});

void test('every optimizer kind steps with the rate set last (w − lr·g for the first SGD step)', () => {
  for (const kind of ['adam', 'sgd', 'momentum', 'rmsprop'] as const) {
    const opt = makeOptimizer({ kind, learningRate: 0.5, momentum: kind === 'momentum' || kind === 'rmsprop' ? 0.9 : undefined });
    const v = tf.tidy(() => tf.variable(tf.tensor1d([1, -2]), true, `sched_${kind}_${Math.random()}`));
    const g = tf.tensor1d([0.5, 0.25]);
    const step = (lr: number) => {
      setLearningRate(opt, lr);
      const before = v.dataSync().slice();
      opt.applyGradients({ [v.name]: g });
      const after = v.dataSync();
      return [after[0] - before[0], after[1] - before[1]];
    };
    const big = step(0.5);
    const small = step(0.05);
    if (kind === 'sgd') {
      close(big[0], -0.25, 'sgd step at lr 0.5', 1e-6); // float32 weights
      close(small[0], -0.025, 'sgd step at lr 0.05', 1e-6);
    }
    // Whatever the optimizer's own rule, a 10× smaller rate moves the weights far less.
    assert.ok(Math.abs(small[0]) < Math.abs(big[0]) / 3, `${kind}: ${small[0]} vs ${big[0]}`);
    tf.dispose([v, g]);
    opt.dispose();
  }
});
