/**
 * Every seed a job derives from its own (`seeds` in the experiment), in one place. Each purpose gets
 * its own stream, so that adding a use of randomness in one place never shifts the draws of another;
 * the values are fixed by the checkpoints and run folders already written (changing one would make
 * a resumed run differ from the run it continues).
 *
 * Data-dependent streams (the batch order of an epoch, augmentation of a batch, synthetic data) are
 * keyed by `hashSeed` over (seed, epoch, step, purpose tag) in data/rng.ts.
 */
export type SeedPurpose =
  /** Adapters and other distillation heads built with a job's terms. */
  | 'adapters'
  /** The auxiliary heads of self-distillation. */
  | 'selfHeads'
  /** Dropout and anything else a job's model draws from Math.random while it trains (saved in checkpoints). */
  | 'training'
  /** The k-th peer model of online distillation (1: the teacher; 2, 3, …: further students). */
  | { peer: number };

export function seedFor(seed: number, purpose: SeedPurpose): number {
  if (typeof purpose === 'object') return seed * 1000 + purpose.peer;
  switch (purpose) {
    case 'adapters': return seed * 7919 + 1;
    case 'selfHeads': return seed * 7919 + 2;
    case 'training': return seed * 7919 + 17;
  }
}
