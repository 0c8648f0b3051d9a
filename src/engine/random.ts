/**
 * Seeded randomness for reproducible runs. TF.js initialisers and dropout draw from Math.random
 * when no seed is given; running model construction and training with Math.random replaced by a
 * seeded generator makes a job reproducible from its seed.
 */

/** mulberry32: a small, fast, well-distributed 32-bit PRNG; returns values in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs fn with Math.random seeded; restores it afterwards (also when fn throws). */
export async function withSeededRandom<T>(seed: number, fn: () => Promise<T> | T): Promise<T> {
  const original = Math.random;
  Math.random = mulberry32(seed);
  try {
    return await fn();
  } finally {
    Math.random = original;
  }
}
