/**
 * DeepInversion's random jitter and flips (Yin et al. 2020, `data.train.jitter` / `flip` of a
 * `teacher-synthesized` source): at every iteration the batch being optimised is rolled (a circular
 * shift, `torch.roll` as in the paper's code) by (dy, dx) and, with `flip`, mirrored left–right,
 * before the teacher (and the competition's student) see it; the gradient goes back through the
 * roll and the flip to the un-shifted inputs, which are what is kept. The priors (TV, L2) are taken
 * on the kept inputs.
 *
 * The draws form a stream both engines share (python/distill_torch/synthesis.py jitter_draws):
 * batch k's generator is mulberry32 seeded by hashSeed(seed, k, 0x717e) alone (so a resumed batch
 * draws what an uninterrupted one does); iteration i (1-based) takes the stream's values 3i−3, 3i−2,
 * 3i−1 = u_y, u_x, u_f:
 *
 *   dy = ⌊u_y·(2·jitter + 1)⌋ − jitter     (rows;   out[r] = in[(r − dy) mod H])
 *   dx = ⌊u_x·(2·jitter + 1)⌋ − jitter     (columns; out[q] = in[(q − dx) mod W])
 *   flip = u_f < 0.5                       (applied only with `flip`; drawn always, so turning
 *                                           flips on leaves the shifts as they were)
 *
 * One (dy, dx, flip) per iteration for the whole batch, as in the paper's code.
 */
import * as tf from '@tensorflow/tfjs';
import { hashSeed, makeRng } from '../data/rng';

export interface JitterDraw {
  dy: number;
  dx: number;
  flip: boolean;
}

/** The salt of the jitter stream in hashSeed(seed, batch, salt). */
export const JITTER_SALT = 0x717e;

/** The draws of batch `index` (1-based) for iterations 1..`iterations`: element i − 1 is iteration i's. */
export function jitterDraws(seed: number, index: number, iterations: number, jitter: number): JitterDraw[] {
  const rng = makeRng(hashSeed(seed, index, JITTER_SALT));
  const out: JitterDraw[] = [];
  for (let i = 0; i < iterations; i++) {
    const uy = rng();
    const ux = rng();
    const uf = rng();
    out.push({ dy: Math.floor(uy * (2 * jitter + 1)) - jitter, dx: Math.floor(ux * (2 * jitter + 1)) - jitter, flip: uf < 0.5 });
  }
  return out;
}

/** Circular shift of `x` along `axis` by `shift` (out[i] = x[(i − shift) mod n], torch.roll's sense). */
export function rollAxis(x: tf.Tensor, shift: number, axis: number): tf.Tensor {
  const n = x.shape[axis];
  const s = ((shift % n) + n) % n;
  if (s === 0) return x;
  return tf.tidy(() => {
    const head = x.shape.map((d, k) => (k === axis ? n - s : d));
    const tail = x.shape.map((d, k) => (k === axis ? s : d));
    const begin = x.shape.map((_, k) => (k === axis ? n - s : 0));
    return tf.concat([tf.slice(x, begin, tail), tf.slice(x, x.shape.map(() => 0), head)], axis);
  });
}

/**
 * The teacher's view of a batch of images [N, H, W, C] at one iteration: rolled by (dy, dx), then
 * mirrored along W when `flip`. Differentiable (slice, concat, reverse); the identity for a zero
 * draw without a flip. Vectors (rank ≠ 4) are returned as they are (the validator refuses jitter
 * and flip for them).
 */
export function jitterView(x: tf.Tensor, draw: JitterDraw, flip: boolean): tf.Tensor {
  if (x.rank !== 4) return x;
  return tf.tidy(() => {
    let v = rollAxis(rollAxis(x, draw.dy, 1), draw.dx, 2);
    if (flip && draw.flip) v = tf.reverse(v, 2);
    return v === x ? v.clone() : v;
  });
}
