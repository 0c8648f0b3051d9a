/**
 * The engine's data layer: load a `DataSource` into typed arrays, split off a validation set,
 * normalise, and cut deterministic batches. Pure Node + typed arrays (no TensorFlow.js).
 *
 * Memory: a loaded dataset is one Float32Array of features (full MNIST train: 60000×784 floats
 * = 188 MB) plus an Int32Array of labels. `prepareData` normalises in place and only copies when
 * it splits off a validation set; the unsplit training arrays are then dropped.
 */
import * as path from 'node:path';
import type { DataConfig, DataSource } from '../../config/types';
import { loadCsv } from './csv';
import { loadIdxPair } from './idx';
import { loadMnist } from './mnist';
import { shuffledIndices } from './rng';
import { generateSynthetic } from './synthetic';
import { Dataset, dataError, sampleSize } from './types';

export { DataError, dataError, sampleSize } from './types';
export type { Dataset } from './types';
export { makeRng, makeGaussian, hashSeed, shuffledIndices, batchIndices } from './rng';
export { readIdx, parseIdx, encodeIdx, loadIdxPair } from './idx';
export type { IdxArray, IdxDtype } from './idx';
export { loadMnist, mnistDataDir } from './mnist';
export { loadCsv } from './csv';
export { generateSynthetic } from './synthetic';

export interface Normalization {
  /**
   * `scale`: x' = x / scale (the training source's maxValue); `standardize`: x' = (x − mean[j]) / std[j]
   * per feature j (flat index within a sample; std 0 is replaced by 1); `none`: unchanged.
   */
  kind: 'scale' | 'standardize' | 'none';
  scale?: number;
  mean?: number[];
  std?: number[];
}

export interface PreparedData {
  train: Dataset;
  validation?: Dataset;
  test: Dataset;
  numClasses: number;
  /** Per-sample shape, shared by all splits. */
  shape: number[];
  /** Fitted on the training split; applied to all splits. */
  normalization: Normalization;
  /** Non-fatal problems, e.g. a synthetic test set that is identical to the training set. */
  warnings?: string[];
}

/** Loads one source. `baseDir` resolves relative paths; `field` (e.g. `data.train`) names the setting in errors. */
export function loadSource(src: DataSource, baseDir: string, field: string): Dataset {
  if (!src || typeof src !== 'object') throw dataError('expected a data source object', undefined, field);
  switch (src.format) {
    case 'mnist':
      return loadMnist(src.split, { field, limit: src.limit });
    case 'idx': {
      if (typeof src.images !== 'string') throw dataError('expected a path to an IDX image file', undefined, `${field}.images`);
      if (typeof src.labels !== 'string') throw dataError('expected a path to an IDX label file', undefined, `${field}.labels`);
      const images = path.resolve(baseDir, src.images);
      return loadIdxPair(images, path.resolve(baseDir, src.labels), {
        field,
        name: path.basename(images).replace(/\.gz$/, ''),
        limit: src.limit,
      });
    }
    case 'csv':
      if (typeof src.path !== 'string') throw dataError('expected a path to a CSV file', undefined, `${field}.path`);
      return loadCsv(src, baseDir, field);
    case 'synthetic':
      return generateSynthetic(src, field);
    default:
      throw dataError(
        `unknown format ${JSON.stringify((src as { format?: unknown }).format)}; expected "mnist", "idx", "csv" or "synthetic"`,
        undefined,
        `${field}.format`,
      );
  }
}

/** Copies the samples `idx` (in that order) out of `ds`. */
export function gather(ds: Dataset, idx: Int32Array): { x: Float32Array; y: Int32Array } {
  const f = sampleSize(ds.shape);
  const x = new Float32Array(idx.length * f);
  const y = new Int32Array(idx.length);
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j];
    if (i < 0 || i >= ds.size) throw new RangeError(`gather: index ${i} out of range 0..${ds.size - 1}`);
    y[j] = ds.y[i];
    if (f === 1) x[j] = ds.x[i];
    else x.set(ds.x.subarray(i * f, i * f + f), j * f);
  }
  return { x, y };
}

function subset(ds: Dataset, idx: Int32Array, name: string): Dataset {
  const { x, y } = gather(ds, idx);
  return { ...ds, name, x, y, size: idx.length };
}

/**
 * Loads train and test, checks their shapes agree, splits a validation set off the training data
 * (after shuffling with `shuffleSeed`; both parts keep the original order) and normalises all
 * splits with statistics of the training split only.
 */
export function prepareData(cfg: DataConfig, baseDir: string): PreparedData {
  const warnings: string[] = [];
  let train = loadSource(cfg.train, baseDir, 'data.train');
  const test = loadSource(cfg.test, baseDir, 'data.test');

  if (train.shape.join(',') !== test.shape.join(',')) {
    throw dataError(
      `test samples have shape [${test.shape.join(', ')}] but training samples have shape [${train.shape.join(', ')}]; they must agree`,
      undefined,
      'data.test',
    );
  }
  const a = cfg.train;
  const b = cfg.test;
  if (a.format === 'synthetic' && b.format === 'synthetic' && a.seed === b.seed && a.kind === b.kind &&
      a.classes === b.classes && (a.noise ?? 0.3) === (b.noise ?? 0.3) && String(a.shape) === String(b.shape)) {
    warnings.push('data.test uses the same synthetic seed as data.train: the test samples repeat the training samples; use another seed');
  }
  const numClasses = Math.max(train.numClasses, test.numClasses);
  if (numClasses < 2) {
    throw dataError(`found ${numClasses} class(es) in the labels; classification needs at least 2`, undefined, 'data.train');
  }

  let validation: Dataset | undefined;
  const frac = cfg.validation?.fraction;
  if (frac !== undefined) {
    if (!(typeof frac === 'number' && frac > 0 && frac < 1)) {
      throw dataError(`expected a number between 0 and 1 (exclusive), found ${JSON.stringify(frac)}`, undefined, 'data.validation.fraction');
    }
    const nVal = Math.round(train.size * frac);
    if (nVal < 1 || nVal >= train.size) {
      throw dataError(
        `a fraction of ${frac} of ${train.size} training samples leaves ${nVal} for validation and ${train.size - nVal} for training; both need at least 1`,
        undefined,
        'data.validation.fraction',
      );
    }
    const perm = shuffledIndices(train.size, cfg.shuffleSeed ?? 0);
    const valIdx = perm.slice(0, nVal).sort();
    const trainIdx = perm.slice(nVal).sort();
    const whole = train;
    validation = subset(whole, valIdx, `${whole.name}[validation]`);
    train = subset(whole, trainIdx, `${whole.name}[train]`);
  }

  const splits = [train, validation, test].filter((d): d is Dataset => !!d);
  for (const d of splits) d.numClasses = numClasses;
  const normalization = normalize(cfg.normalize ?? 'scale', train, splits);
  return { train, validation, test, numClasses, shape: [...train.shape], normalization, ...(warnings.length ? { warnings } : {}) };
}

/** Fits the normalisation on `train` and applies it in place to every dataset in `all` (which includes `train`). */
function normalize(kind: DataConfig['normalize'], train: Dataset, all: Dataset[]): Normalization {
  switch (kind) {
    case 'none':
      return { kind: 'none' };
    case 'scale': {
      const scale = train.maxValue > 0 ? train.maxValue : 1;
      const inv = 1 / scale;
      for (const d of all) {
        const x = d.x;
        for (let i = 0; i < x.length; i++) x[i] *= inv;
        d.maxValue = d.maxValue * inv;
      }
      return { kind: 'scale', scale };
    }
    case 'standardize': {
      const f = sampleSize(train.shape);
      const x = train.x;
      const n = train.size;
      // Two passes (mean, then squared deviations) in float64: no cancellation for offset data.
      const mean = new Float64Array(f);
      for (let i = 0, o = 0; i < n; i++) for (let j = 0; j < f; j++, o++) mean[j] += x[o];
      for (let j = 0; j < f; j++) mean[j] /= n;
      const sq = new Float64Array(f);
      for (let i = 0, o = 0; i < n; i++) {
        for (let j = 0; j < f; j++, o++) {
          const dv = x[o] - mean[j];
          sq[j] += dv * dv;
        }
      }
      const invStd = new Float64Array(f);
      const std: number[] = new Array(f);
      for (let j = 0; j < f; j++) {
        const s = Math.sqrt(sq[j] / n);
        std[j] = s > 1e-7 * Math.max(1, Math.abs(mean[j])) ? s : 1;
        invStd[j] = 1 / std[j];
      }
      for (const d of all) {
        const dx = d.x;
        let maxAbs = 0;
        for (let i = 0, o = 0; i < d.size; i++) {
          for (let j = 0; j < f; j++, o++) {
            const v = (dx[o] - mean[j]) * invStd[j];
            dx[o] = v;
            const a = v < 0 ? -v : v;
            if (a > maxAbs) maxAbs = a;
          }
        }
        d.maxValue = maxAbs;
      }
      return { kind: 'standardize', mean: Array.from(mean), std };
    }
    default:
      throw dataError(`expected "scale", "standardize" or "none", found ${JSON.stringify(kind)}`, undefined, 'data.normalize');
  }
}
