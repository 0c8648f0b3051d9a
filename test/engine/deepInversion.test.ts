/**
 * DeepInversion (issue 18, data-free; src/engine/synthesis/): the BN-statistics term against a
 * naive loop computation on a hand-built BN teacher, synthesis lowering that term, the priors, and
 * the synthesized/ writer (atomic batches, never rewritten, meta checked on resume).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { bnStatisticsLoss, bnTaps } from '../../src/engine/synthesis/bnStats';
import { batchLabels, competitionTerm, l2Prior, startingNoise, synthesizeBatch, totalVariation } from '../../src/engine/synthesis/deepInversion';
import { ensureSynthesizedMeta, writeSynthesizedBatch } from '../../src/engine/synthesis/synthesizedWriter';
import { listSynthesizedBatches, readSynthesizedInputs, readSynthesizedMeta } from '../../src/runs/synthesized';
import { mulberry32 } from '../../src/engine/training/random';

const H = 3, W = 3, C = 2, F = 3;

/** input [3,3,2] → BN a → 1×1 conv (2→3) → BN b → flatten → dense 4, every weight fixed from a seed. */
function bnTeacher(seed = 7) {
  const r = mulberry32(seed);
  const u = (n: number, lo: number, hi: number) => Array.from({ length: n }, () => lo + (hi - lo) * r());
  const p = {
    a: { gamma: u(C, 0.5, 1.5), beta: u(C, -0.5, 0.5), mean: u(C, 0.2, 0.6), variance: u(C, 0.02, 0.1) },
    kernel: u(C * F, -1, 1), bias: u(F, -0.2, 0.2),
    b: { gamma: u(F, 0.5, 1.5), beta: u(F, -0.5, 0.5), mean: u(F, -0.3, 0.3), variance: u(F, 0.1, 0.5) },
    dense: u(H * W * F * 4, -0.5, 0.5), denseBias: u(4, -0.1, 0.1),
  };
  const input = tf.input({ shape: [H, W, C] });
  const bnA = tf.layers.batchNormalization({ name: 'bn_a' });
  const conv = tf.layers.conv2d({ filters: F, kernelSize: 1, name: 'conv' });
  const bnB = tf.layers.batchNormalization({ name: 'bn_b' });
  const out = tf.layers.dense({ units: 4, name: 'logits' }).apply(tf.layers.flatten().apply(bnB.apply(conv.apply(bnA.apply(input))))) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: `bn_teacher_${seed}` });
  bnA.setWeights([tf.tensor1d(p.a.gamma), tf.tensor1d(p.a.beta), tf.tensor1d(p.a.mean), tf.tensor1d(p.a.variance)]);
  conv.setWeights([tf.tensor4d(p.kernel, [1, 1, C, F]), tf.tensor1d(p.bias)]);
  bnB.setWeights([tf.tensor1d(p.b.gamma), tf.tensor1d(p.b.beta), tf.tensor1d(p.b.mean), tf.tensor1d(p.b.variance)]);
  model.getLayer('logits').setWeights([tf.tensor2d(p.dense, [H * W * F, 4]), tf.tensor1d(p.denseBias)]);
  return { model, p };
}

/** The BN-statistics term with plain loops: BN a in inference mode (ε = 1e-3), the 1×1 conv, both layers' batch statistics. */
function naiveBnLoss(x: number[][][][], p: ReturnType<typeof bnTeacher>['p']): number {
  const n = x.length;
  const stats = (rows: number[][]): number => { // rows: [position][channel]; the layer's two norms
    const ch = rows[0].length;
    let dm = 0, dv = 0;
    for (let c = 0; c < ch; c++) {
      let s = 0;
      for (const r of rows) s += r[c];
      const m = s / rows.length;
      let q = 0;
      for (const r of rows) q += (r[c] - m) * (r[c] - m);
      const v = q / rows.length;
      const mm = ch === C ? p.a.mean[c] : p.b.mean[c];
      const mv = ch === C ? p.a.variance[c] : p.b.variance[c];
      dm += (m - mm) ** 2;
      dv += (v - mv) ** 2;
    }
    return Math.sqrt(dm) + Math.sqrt(dv);
  };
  const inA: number[][] = [];
  const inB: number[][] = [];
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const v = x[i][h][w];
        inA.push(v);
        const normed = v.map((val, c) => p.a.gamma[c] * (val - p.a.mean[c]) / Math.sqrt(p.a.variance[c] + 1e-3) + p.a.beta[c]);
        const y: number[] = [];
        for (let f = 0; f < F; f++) {
          let s = p.bias[f];
          for (let c = 0; c < C; c++) s += normed[c] * p.kernel[c * F + f];
          y.push(s);
        }
        inB.push(y);
      }
    }
  }
  return stats(inA) + stats(inB);
}

test('the BN-statistics term equals a naive loop computation on a hand-built BN teacher', () => {
  const { model, p } = bnTeacher();
  const taps = bnTaps(model);
  assert.deepEqual(taps.layers.map((l) => l.name), ['bn_a', 'bn_b']);
  const r = mulberry32(3);
  const n = 5;
  const x = Array.from({ length: n }, () => Array.from({ length: H }, () => Array.from({ length: W }, () => Array.from({ length: C }, () => r() * 1.2 - 0.1))));
  const xt = tf.tensor4d(x);
  const outs = taps.model.apply(xt, { training: false }) as tf.Tensor[];
  const got = bnStatisticsLoss(outs.slice(1), taps.layers).dataSync()[0];
  const want = naiveBnLoss(x, p);
  assert.ok(Math.abs(got - want) < 1e-4 * Math.max(1, want), `tf ${got} vs naive ${want}`);
  assert.ok(want > 0.05, 'a case where the term is not trivially zero');
  tf.dispose([xt, ...outs]);
  taps.dispose();
  model.dispose();
});

test('the priors and the competition term against hand-computed values', () => {
  // 1 image 2×2×1: [[0, 1], [3, 1]] → down: (3−0)², (1−1)²; right: (1−0)², (1−3)² → 9 + 0 + 1 + 4 = 14
  const img = tf.tensor4d([0, 1, 3, 1], [1, 2, 2, 1]);
  assert.ok(Math.abs(totalVariation(img).dataSync()[0] - 14) < 1e-5);
  // two inputs: ‖(3, 4)‖ = 5, ‖(0, 0)‖ = 0 → mean 2.5
  assert.ok(Math.abs(l2Prior(tf.tensor2d([[3, 4], [0, 0]])).dataSync()[0] - 2.5) < 1e-5);
  // the same logits: JS = 0 → 1; one-hot-like opposite logits at T = 1: JS → ln 2
  const a = tf.tensor2d([[1, 2, 3]]);
  assert.ok(Math.abs(competitionTerm(a, a, 2).dataSync()[0] - 1) < 1e-5);
  const v = competitionTerm(tf.tensor2d([[60, 0]]), tf.tensor2d([[0, 60]]), 1).dataSync()[0];
  assert.ok(Math.abs(v - (1 - Math.log(2))) < 1e-4, String(v));
  assert.deepEqual(batchLabels(2, 10, 4, 3), [1, 2, 0, 1]);
  assert.deepEqual(batchLabels(3, 10, 4, 3), [2, 0]);
  assert.deepEqual(startingNoise(5, 2, 8), startingNoise(5, 2, 8));
  assert.notDeepEqual(startingNoise(5, 2, 8), startingNoise(5, 3, 8));
});

test('synthesis lowers the BN-statistics term over its iterations (seeded), inputs clamped to [0, 1]', async () => {
  const { model } = bnTeacher(11);
  const taps = bnTaps(model);
  const before = tf.memory().numTensors;
  const settings = { batchSize: 16, iterations: 60, learningRate: 0.05, bnWeight: 1, tvWeight: 1e-4, l2Weight: 1e-5, seed: 4 };
  const seen: number[] = [];
  const r = await synthesizeBatch({ taps, shape: [H, W, C], classes: 4, samples: 16, index: 1, settings, range: [0, 1],
    onIteration: (_it, losses) => { seen.push(losses.bn); } });
  assert.equal(seen.length, 60);
  assert.ok(r.bnLoss.end < 0.5 * r.bnLoss.start, `BN term ${r.bnLoss.start} → ${r.bnLoss.end}`);
  assert.equal(r.bnLoss.start, seen[0]);
  assert.equal(r.x.length, 16 * H * W * C);
  assert.ok(r.x.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(r.curve.map(([i]) => i), [10, 20, 30, 40, 50, 60]);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  // the same seed and batch index: the same inputs
  const again = await synthesizeBatch({ taps, shape: [H, W, C], classes: 4, samples: 16, index: 1, settings, range: [0, 1] });
  assert.deepEqual(again.x, r.x);
  taps.dispose();
  model.dispose();
});

test('synthesized/ batches are written atomically, read back, never rewritten; meta must match on resume', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-'));
  const meta = { version: 1 as const, shape: [2, 2, 1], classes: 3, samples: 5, batchSize: 3, batches: 2 };
  ensureSynthesizedMeta(dir, meta);
  ensureSynthesizedMeta(dir, meta); // the same: fine
  assert.throws(() => ensureSynthesizedMeta(dir, { ...meta, samples: 6 }), /meta\.json: samples is 5, but this run's synthesis has 6/);
  const x = Float32Array.from({ length: 12 }, (_, i) => i / 7);
  const info = { count: 3, labels: [0, 1, 2], bnLoss: { start: 2, end: 1 }, classLoss: 0.5, teacherAcc: 1, seconds: 0.1, curve: [[10, 1]] as [number, number][] };
  writeSynthesizedBatch(dir, 1, x, info);
  assert.deepEqual(readSynthesizedMeta(dir), meta);
  assert.deepEqual(listSynthesizedBatches(dir).map((b) => b.index), [1]);
  assert.deepEqual(readSynthesizedInputs(dir, 1, meta), x);
  assert.throws(() => writeSynthesizedBatch(dir, 1, x, info), /already written/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'synthesized')).sort(), ['batch-0001.bin', 'batch-0001.json', 'meta.json']);
});
