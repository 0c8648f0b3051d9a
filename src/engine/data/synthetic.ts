/**
 * Synthetic classification data, deterministic by seed.
 *
 * The *task* (class prototypes) depends only on `kind`, `classes` and `shape`; the `seed` draws
 * the samples. So a train source with seed 1 and a test source with seed 2 are two independent
 * samples of the same problem (use different seeds, or the test set equals the training set).
 *
 * - `images` (H×W×C, values in [0, 1], maxValue 1): each class has a Gaussian blob at its own
 *   place, stripes of its own orientation and frequency, and its own channel mix. Each sample
 *   jitters the blob, randomises stripe phase and strengths, adds a distractor blob, a brightness
 *   offset and pixel noise, all scaled by `noise` (default 0.3). Learnable by a small CNN/MLP, not
 *   separable by a glance at one pixel.
 * - `vectors` ([D]): Gaussian clusters around class means drawn uniformly in [0, 1]^D; the
 *   within-class spread grows with `noise` and √D so that neighbouring clusters overlap.
 */
import type { SyntheticSource } from '../../config/types';
import { hashSeed, makeGaussian, makeRng, shuffleInPlace } from './rng';
import { Dataset, dataError } from './types';

const TASK_SALT = 0x7a5c;

function balancedLabels(n: number, classes: number, rng: () => number): Int32Array {
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = i % classes;
  return shuffleInPlace(y, rng);
}

function checkSource(src: SyntheticSource, field: string): void {
  const posInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
  if (src.kind !== 'images' && src.kind !== 'vectors') {
    throw dataError(`expected "images" or "vectors", found ${JSON.stringify(src.kind)}`, undefined, `${field}.kind`);
  }
  if (!posInt(src.samples)) throw dataError(`expected a positive integer, found ${JSON.stringify(src.samples)}`, undefined, `${field}.samples`);
  if (!posInt(src.classes) || src.classes < 2) {
    throw dataError(`expected an integer >= 2, found ${JSON.stringify(src.classes)}`, undefined, `${field}.classes`);
  }
  if (!Number.isInteger(src.seed)) throw dataError(`expected an integer, found ${JSON.stringify(src.seed)}`, undefined, `${field}.seed`);
  const want = src.kind === 'images' ? 3 : 1;
  if (!Array.isArray(src.shape) || src.shape.length !== want || !src.shape.every(posInt)) {
    throw dataError(
      `expected ${src.kind === 'images' ? '[H, W, C]' : '[D]'} (positive integers), found ${JSON.stringify(src.shape)}`,
      undefined,
      `${field}.shape`,
    );
  }
  if (src.noise !== undefined && !(typeof src.noise === 'number' && src.noise >= 0 && src.noise <= 1)) {
    throw dataError(`expected a number in 0..1, found ${JSON.stringify(src.noise)}`, undefined, `${field}.noise`);
  }
}

export function generateSynthetic(src: SyntheticSource, field = 'data'): Dataset {
  checkSource(src, field);
  return src.kind === 'images' ? syntheticImages(src) : syntheticVectors(src);
}

function syntheticImages(src: SyntheticSource): Dataset {
  const [H, W, C] = src.shape;
  const K = src.classes;
  const n = src.samples;
  const noise = src.noise ?? 0.3;
  const minHW = Math.min(H, W);

  // Class prototypes (task seed).
  const trng = makeRng(hashSeed(TASK_SALT, 1, K, H, W, C));
  const proto = Array.from({ length: K }, (_, c) => {
    const angle = (Math.PI * (c + 0.5 * trng())) / K;
    const cycles = 1.5 + 2.5 * trng();
    return {
      cx: (0.2 + 0.6 * trng()) * (W - 1),
      cy: (0.2 + 0.6 * trng()) * (H - 1),
      sigma: (0.1 + 0.08 * trng()) * minHW,
      // Stripe wave vector in radians per pixel.
      kx: (Math.cos(angle) * 2 * Math.PI * cycles) / W,
      ky: (Math.sin(angle) * 2 * Math.PI * cycles) / H,
      blobMix: Array.from({ length: C }, () => 0.4 + 0.6 * trng()),
      stripeMix: Array.from({ length: C }, () => 0.4 + 0.6 * trng()),
    };
  });

  const rng = makeRng(hashSeed(src.seed, 0x1a6e));
  const gauss = makeGaussian(rng);
  const y = balancedLabels(n, K, rng);
  const f = H * W * C;
  const x = new Float32Array(n * f);
  const blob = new Float32Array(H * W);
  const distract = new Float32Array(H * W);
  const stripe = new Float32Array(H * W);
  for (let i = 0; i < n; i++) {
    const p = proto[y[i]];
    const jitter = (0.03 + 0.15 * noise) * minHW;
    const bx = p.cx + jitter * gauss();
    const by = p.cy + jitter * gauss();
    const bs = p.sigma * (0.85 + 0.3 * rng());
    const dx = rng() * (W - 1);
    const dy = rng() * (H - 1);
    const ds = (0.08 + 0.1 * rng()) * minHW;
    const phase = 2 * Math.PI * rng();
    const aBlob = 0.45 + 0.35 * rng();
    const aStripe = 0.15 + 0.2 * rng();
    const aDistract = noise * (0.3 + 0.5 * rng());
    const offset = 0.05 + 0.1 * rng() + 0.1 * noise * gauss();
    for (let r = 0, q = 0; r < H; r++) {
      for (let col = 0; col < W; col++, q++) {
        const ex = col - bx;
        const ey = r - by;
        blob[q] = Math.exp(-(ex * ex + ey * ey) / (2 * bs * bs));
        const fx = col - dx;
        const fy = r - dy;
        distract[q] = Math.exp(-(fx * fx + fy * fy) / (2 * ds * ds));
        stripe[q] = 0.5 + 0.5 * Math.sin(p.kx * col + p.ky * r + phase);
      }
    }
    let o = i * f;
    for (let q = 0; q < H * W; q++) {
      for (let ch = 0; ch < C; ch++, o++) {
        let v =
          offset +
          aBlob * p.blobMix[ch] * blob[q] +
          aStripe * p.stripeMix[ch] * stripe[q] +
          aDistract * distract[q] +
          0.5 * noise * gauss();
        if (v < 0) v = 0;
        else if (v > 1) v = 1;
        x[o] = v;
      }
    }
  }
  return {
    name: `synthetic-images(${H}x${W}x${C}, ${K} classes, seed=${src.seed})`,
    x,
    y,
    shape: [H, W, C],
    size: n,
    numClasses: K,
    maxValue: 1,
  };
}

function syntheticVectors(src: SyntheticSource): Dataset {
  const [D] = src.shape;
  const K = src.classes;
  const n = src.samples;
  const noise = src.noise ?? 0.3;

  const trng = makeRng(hashSeed(TASK_SALT, 2, K, D));
  const means = Array.from({ length: K }, () => Float64Array.from({ length: D }, () => trng()));
  // Mean distance between two uniform points in [0,1]^D is about √(D/6); the spread is a
  // fraction of it so that classes overlap (10 classes in 32-D, noise 0.3: nearest-mean accuracy ≈ 86%).
  const spread = noise * Math.sqrt(D / 6) * 0.8;

  const rng = makeRng(hashSeed(src.seed, 0x7ec5));
  const gauss = makeGaussian(rng);
  const y = balancedLabels(n, K, rng);
  const x = new Float32Array(n * D);
  let maxAbs = 0;
  for (let i = 0, o = 0; i < n; i++) {
    const m = means[y[i]];
    for (let d = 0; d < D; d++, o++) {
      const v = m[d] + spread * gauss();
      x[o] = v;
      const a = v < 0 ? -v : v;
      if (a > maxAbs) maxAbs = a;
    }
  }
  return {
    name: `synthetic-vectors(${D}, ${K} classes, seed=${src.seed})`,
    x,
    y,
    shape: [D],
    size: n,
    numClasses: K,
    maxValue: maxAbs > 0 ? maxAbs : 1,
  };
}

