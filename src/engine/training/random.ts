/**
 * Seeded randomness for reproducible runs. TF.js initialisers and dropout draw from Math.random
 * when no seed is given; running model construction and training with Math.random replaced by a
 * seeded generator makes a job reproducible from its seed.
 */

/** mulberry32: a small, fast, well-distributed 32-bit PRNG; returns values in [0, 1). */
export function mulberry32(seed: number): () => number {
  return new RandomStream(seed).next;
}

/**
 * mulberry32's values as a stream that knows its position and can jump: its state moves
 * by the same constant at every draw, so the state `k` draws on is computed without drawing. The
 * training loop uses it to build the next step's batch (whose augmentation draws) before the
 * current step's dropout draws, with exactly the values the usual order would give.
 */
export class RandomStream {
  private state: number;
  private drawn = 0;

  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** The next value in [0, 1), as `mulberry32(seed)` would give it (usable as Math.random). */
  readonly next = (): number => {
    this.drawn++;
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  /** How many values have been drawn (or skipped) so far. */
  get position(): number {
    return this.drawn;
  }

  /** Moves on by `k` values without drawing them. */
  skip(k: number): void {
    this.drawn += k;
    this.state = (this.state + Math.imul(k, 0x6d2b79f5)) >>> 0;
  }

  /** An independent copy that starts `ahead` values further on. */
  fork(ahead = 0): RandomStream {
    const copy = new RandomStream(0);
    copy.state = this.state;
    copy.drawn = this.drawn;
    copy.skip(ahead);
    return copy;
  }
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
