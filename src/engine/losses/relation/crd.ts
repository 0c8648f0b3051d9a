import * as tf from '@tensorflow/tfjs';
import { formatShape } from '../../../methods/catalogue';

/** The ε of the paper's code, in the NCE posterior's denominator. */
export const NCE_EPS = 1e-7;

/** Rows divided by their L2 norm (the embedding heads' last step): x / sqrt(max(Σx², 1e-24)). */
export function l2Rows(x: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24))) as tf.Tensor2D);
}

export interface CrdNceOptions {
  /** τ of exp(⟨·,·⟩/τ) (the paper: 0.07). */
  temperature: number;
  /** N: samples in the training split (the noise distribution is uniform, P_n = 1/N). */
  n: number;
  /** The normalising constants Z_s, Z_t (fixed at the first step, `crdNormalisers`). */
  zs: number;
  zt: number;
}

/** exp(⟨m_bk, v_b⟩/τ): [B,K+1] scores of each sample's embedding against its K+1 memory rows. */
function scores(memory: tf.Tensor3D, v: tf.Tensor2D, temperature: number): tf.Tensor2D {
  const [b, d] = v.shape;
  return tf.exp(tf.div(tf.reshape(tf.matMul(memory, tf.reshape(v, [b, d, 1])), [b, -1]), temperature)) as tf.Tensor2D;
}

/**
 * The paper's normalising constants, taken once on the first batch: Z = mean(exp(⟨m, v⟩/τ)) · N
 * over every score of the batch, for each direction (student anchor / teacher anchor).
 */
export function crdNormalisers(es: tf.Tensor2D, et: tf.Tensor2D, memS: tf.Tensor3D, memT: tf.Tensor3D, temperature: number, n: number): { zs: number; zt: number } {
  return tf.tidy(() => {
    const zs = tf.mul(tf.mean(scores(memT, l2Rows(es), temperature)), n).dataSync()[0];
    const zt = tf.mul(tf.mean(scores(memS, l2Rows(et), temperature)), n).dataSync()[0];
    return { zs, zt };
  });
}

/** The NCE loss of one direction: −(1/B) Σ_b [log h(pos) + Σ_k log(1 − h(neg_k))], h(x) = P/(P + K·P_n + ε). */
function nce(p: tf.Tensor2D, n: number): tf.Scalar {
  const [b, k1] = p.shape;
  const kPn = (k1 - 1) / n;
  const pos = tf.slice(p, [0, 0], [b, 1]);
  const neg = tf.slice(p, [0, 1], [b, k1 - 1]);
  const logD1 = tf.log(tf.div(pos, tf.add(pos, kPn + NCE_EPS)));
  const logD0 = tf.log(tf.div(tf.scalar(kPn), tf.add(neg, kPn + NCE_EPS)));
  return tf.div(tf.neg(tf.add(tf.sum(logD1), tf.sum(logD0))), b) as tf.Scalar;
}

/**
 * Contrastive representation distillation, Tian, Krishnan & Isola, "Contrastive Representation
 * Distillation", ICLR 2020. With the embeddings e_s = g_s(f_s)/‖·‖, e_t = g_t(f_t)/‖·‖ (trained
 * linear heads) and, for each sample b, K+1 rows of the memory banks — row 0 the sample itself
 * (the positive), rows 1..K samples of other classes (the negatives):
 *
 *   P_s(b,k) = exp(⟨M_t[b,k], e_s(b)⟩/τ) / Z_s      (the student's embedding against the teacher's memory)
 *   P_t(b,k) = exp(⟨M_s[b,k], e_t(b)⟩/τ) / Z_t      (and the other way round)
 *   h(P)     = P / (P + K/N + ε)
 *   L_NCE(P) = −(1/B) Σ_b [log h(P(b,0)) + Σ_{k≥1} log(1 − h(P(b,k)))]
 *   L_CRD    = L_NCE(P_s) + L_NCE(P_t)
 *
 * (noise-contrastive estimation with K negatives from the uniform noise P_n = 1/N; Z fixed at the
 * first step). The memory rows are constants here: the banks are updated after the step
 * (`updateMemory`). `es`, `et`: the heads' raw outputs [B,D]; `memS`, `memT`: [B,K+1,D].
 */
export function crdLoss(es: tf.Tensor, et: tf.Tensor, memS: tf.Tensor, memT: tf.Tensor, o: CrdNceOptions): tf.Scalar {
  if (es.rank !== 2 || et.rank !== 2 || es.shape[1] !== et.shape[1] || es.shape[0] !== et.shape[0]) {
    throw new Error(`crd: expected student and teacher embeddings of one shape [B,D], found ${formatShape(es.shape)} and ${formatShape(et.shape)}`);
  }
  const [b, d] = es.shape as [number, number];
  for (const m of [memS, memT]) {
    if (m.rank !== 3 || m.shape[0] !== b || m.shape[2] !== d || (m.shape[1] ?? 0) < 2) {
      throw new Error(`crd: expected memory rows [${b},K+1,${d}] with K ≥ 1, found ${formatShape(m.shape)}`);
    }
  }
  if (!(o.temperature > 0)) throw new Error(`crd: temperature must be a positive number, found ${o.temperature}`);
  return tf.tidy(() => {
    const ps = tf.div(scores(memT as tf.Tensor3D, l2Rows(es), o.temperature), o.zs) as tf.Tensor2D;
    const pt = tf.div(scores(memS as tf.Tensor3D, l2Rows(et), o.temperature), o.zt) as tf.Tensor2D;
    return tf.add(nce(ps, o.n), nce(pt, o.n)) as tf.Scalar;
  });
}

/** FNV-1a over the batch's row indices: the seed of its negatives (the same batch draws the same ones). */
function batchSeed(idx: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < idx.length; i++) {
    h ^= idx[i] & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= idx[i] >>> 16;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32 (as src/engine/training/random.ts), local so the negatives never draw from the job's stream. */
function prng(seed: number): () => number {
  let s = seed ^ 0x9e3779b9;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The memory rows of a batch: [B, K+1] indices into the training split, row b = the sample itself,
 * then K samples of *other* classes (the paper's "exact" mode), drawn uniformly with replacement
 * from a generator seeded by the batch's indices — deterministic, so a resumed run draws the
 * negatives an uninterrupted one would, and the job's own random stream is left alone.
 */
export function sampleContrast(idx: ArrayLike<number>, labels: ArrayLike<number>, k: number): Int32Array {
  const n = labels.length;
  const out = new Int32Array(idx.length * (k + 1));
  const r = prng(batchSeed(idx));
  for (let b = 0; b < idx.length; b++) {
    const y = labels[idx[b]];
    out[b * (k + 1)] = idx[b];
    for (let j = 1; j <= k; j++) {
      let c: number;
      let tries = 0;
      do {
        c = Math.floor(r() * n);
        if (++tries > 1_000_000) throw new Error(`crd: no sample of a class other than ${y} in the training split to contrast with`);
      } while (labels[c] === y);
      out[b * (k + 1) + j] = c;
    }
  }
  return out;
}

/** Gathers rows `rows` of a [N,D] bank into [rows.length·D]. */
export function gatherMemory(bank: Float32Array, d: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) out.set(bank.subarray(rows[i] * d, rows[i] * d + d), i * d);
  return out;
}

/**
 * The paper's memory update, in place: M[i] ← normalise₂(m·M[i] + (1 − m)·e), for each sample i of
 * the batch and its new (normalised) embedding e.
 */
export function updateMemory(bank: Float32Array, d: number, idx: ArrayLike<number>, embeddings: Float32Array, momentum: number): void {
  for (let b = 0; b < idx.length; b++) {
    const row = bank.subarray(idx[b] * d, idx[b] * d + d);
    let norm = 0;
    for (let j = 0; j < d; j++) {
      row[j] = momentum * row[j] + (1 - momentum) * embeddings[b * d + j];
      norm += row[j] * row[j];
    }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < d; j++) row[j] /= norm;
  }
}

/** The paper's initial banks: uniform in [−1/√(D/3), 1/√(D/3)], from a seeded generator. */
export function initialMemory(n: number, d: number, seed: number): Float32Array {
  const r = prng(seed);
  const stdv = 1 / Math.sqrt(d / 3);
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++) out[i] = r() * 2 * stdv - stdv;
  return out;
}

/** Bytes of the two banks, 2·N·D float32 (held on the host, and once more in the checkpointed model). */
export function memoryBytes(n: number, d: number): number {
  return 2 * n * d * 4;
}
