/** Deterministic randomness for data: seeded PRNG, shuffles and per-epoch batches. */

/** Mixes integers into a 32-bit seed (a murmur3-style finaliser over the parts). */
export function hashSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    // Non-integer / huge seeds: fold the float's bits in so nearby values still differ.
    const v = Number.isInteger(p) && Math.abs(p) < 2 ** 31 ? p | 0 : Math.floor(p * 65536) ^ Math.floor(p / 4294967296);
    h = Math.imul(h ^ v, 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, deterministic PRNG giving numbers in [0, 1). */
export function makeRng(seed: number): () => number {
  let a = (Number.isInteger(seed) ? seed : hashSeed(seed)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a uniform rng (Box–Muller; caches the second value). */
export function makeGaussian(rng: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u <= 1e-12) u = rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Fisher–Yates in place with the given rng. */
export function shuffleInPlace(a: Int32Array, rng: () => number): Int32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** A permutation of 0..n-1, deterministic in `seed`. */
export function shuffledIndices(n: number, seed: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return shuffleInPlace(a, makeRng(seed));
}

/**
 * The batches of one epoch: a permutation of 0..n-1 (deterministic in `(seed, epoch)`, different
 * across epochs) cut into `batchSize` chunks; the last, partial batch is kept. The batches are views
 * on one buffer.
 */
export function batchIndices(n: number, batchSize: number, seed: number, epoch: number): Int32Array[] {
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batchSize must be a positive integer, found ${batchSize}`);
  const perm = shuffledIndices(n, hashSeed(seed, epoch, 0x0ba7c4));
  const out: Int32Array[] = [];
  for (let s = 0; s < n; s += batchSize) out.push(perm.subarray(s, Math.min(n, s + batchSize)));
  return out;
}
