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
import { loadCifar } from './cifar';
import { loadImageFolder } from './images';
import { loadNpyPair, loadNpz } from './npy';

export { DataError, dataError, sampleSize } from './types';
export { streamStats } from './stream';
export type { Dataset } from './types';
export { makeRng, makeGaussian, hashSeed, shuffledIndices, batchIndices } from './rng';
export { readIdx, parseIdx, encodeIdx, loadIdxPair } from './idx';
export type { IdxArray, IdxDtype } from './idx';
export { loadMnist, mnistDataDir } from './mnist';
export { loadCsv } from './csv';
export { generateSynthetic } from './synthetic';
export { loadCifar } from './cifar';
export { loadImageFolder, decodeImage, imageStats } from './images';
export { loadNpyPair, loadNpz, parseNpy, encodeNpy, encodeNpz } from './npy';

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
  /** Class names by label, when the data has them (image folders, CIFAR). */
  classNames?: string[];
  /** What loading did (decode speed, cache, streaming), for the run's log. */
  notes?: string[];
  /**
   * issue 18: a data-free run's base data: `train` is the reference (`reference: true`), or the
   * test source standing in for it (its shape, classes and scale); the synthesised training split
   * is engine/synthesis/dataFree.ts's.
   */
  dataFree?: { reference: boolean };
}

/** What loading one source may need from the rest of the data settings. */
export interface LoadContext {
  /** The training split's class names: a test image folder's classes are looked up among them. */
  trainClasses?: string[];
  /** data.memoryMB in bytes. */
  memoryBytes?: number;
}

/** Loads one source. `baseDir` resolves relative paths; `field` (e.g. `data.train`) names the setting in errors. */
export function loadSource(src: DataSource, baseDir: string, field: string, ctx: LoadContext = {}): Dataset {
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
    // issue 16: image folders, CIFAR binary files, NumPy arrays
    case 'images':
      if (typeof src.path !== 'string') throw dataError('expected the path of a folder with one subfolder per class', undefined, `${field}.path`);
      return loadImageFolder({
        field, dir: path.resolve(baseDir, src.path), size: src.size, channels: src.channels ?? 3, limit: src.limit,
        cacheRoot: baseDir, memoryBytes: ctx.memoryBytes ?? 1024 * (1 << 20), trainClasses: ctx.trainClasses,
      });
    case 'cifar10':
    case 'cifar100':
      if (typeof src.path !== 'string') throw dataError('expected the path of a .bin file or of its folder', undefined, `${field}.path`);
      return loadCifar(path.resolve(baseDir, src.path), {
        format: src.format, field, split: src.split, labels: src.format === 'cifar100' ? src.labels : undefined, limit: src.limit,
      });
    case 'npy':
      if (typeof src.inputs !== 'string') throw dataError('expected the path of the inputs .npy file', undefined, `${field}.inputs`);
      if (typeof src.labels !== 'string') throw dataError('expected the path of the labels .npy file', undefined, `${field}.labels`);
      return loadNpyPair(path.resolve(baseDir, src.inputs), path.resolve(baseDir, src.labels), { field, limit: src.limit });
    case 'npz':
      if (typeof src.path !== 'string') throw dataError('expected the path of an .npz file', undefined, `${field}.path`);
      return loadNpz(path.resolve(baseDir, src.path), { field, inputs: src.inputs ?? 'x', labels: src.labels ?? 'y', limit: src.limit });
    default:
      throw dataError(
        `unknown format ${JSON.stringify((src as { format?: unknown }).format)}; expected "mnist", "idx", "csv", "synthetic", "images", "cifar10", "cifar100", "npy" or "npz"`,
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
  if (ds.stream) {
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j];
      if (i < 0 || i >= ds.size) throw new RangeError(`gather: index ${i} out of range 0..${ds.size - 1}`);
      y[j] = ds.y[i];
    }
    readStreamed(ds, idx, x);
    return { x, y };
  }
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
  if (ds.stream) {
    // A streamed split stays on disk: the subset is a list of the file's rows.
    const index = ds.stream.index ? Int32Array.from(idx, (i) => ds.stream!.index![i]) : Int32Array.from(idx);
    return { ...ds, name, y: Int32Array.from(idx, (i) => ds.y[i]), size: idx.length, stream: { ...ds.stream, index } };
  }
  const { x, y } = gather(ds, idx);
  return { ...ds, name, x, y, size: idx.length };
}

/**
 * The features of samples `start .. start+n` of `ds`, row-major: a view on `ds.x` when the split is
 * in memory, else read from disk (normalised) into a new array.
 */
export function rowsOf(ds: Dataset, start: number, n: number): Float32Array {
  const f = sampleSize(ds.shape);
  if (!ds.stream) return ds.x.subarray(start * f, (start + n) * f);
  const idx = new Int32Array(n);
  for (let k = 0; k < n; k++) idx[k] = start + k;
  const out = new Float32Array(n * f);
  readStreamed(ds, idx, out);
  return out;
}

/** Samples a pass over `ds` reads at a time: `wanted`, or fewer when the split streams within a memory bound. */
export function streamChunk(ds: Dataset, wanted: number): number {
  return ds.stream ? Math.max(1, Math.min(wanted, ds.stream.rows.maxRows)) : wanted;
}

/** Reads the samples `idx` of a streamed split into `out`, normalised. */
function readStreamed(ds: Dataset, idx: Int32Array, out: Float32Array): void {
  const st = ds.stream!;
  const f = sampleSize(ds.shape);
  // Reading in file order groups consecutive rows into one read; the values go to their batch position.
  const rows = st.index ? Int32Array.from(idx, (i) => st.index![i]) : idx;
  const order = Int32Array.from(rows.keys()).sort((a, b) => rows[a] - rows[b]);
  st.rows.read(Int32Array.from(order, (k) => rows[k]), out, order);
  const norm = st.norm;
  if (!norm) return;
  const { sub, mul } = norm;
  if (typeof sub === 'number' && typeof mul === 'number') {
    for (let i = 0; i < idx.length * f; i++) out[i] = (out[i] - sub) * mul;
  } else {
    for (let k = 0, o = 0; k < idx.length; k++) {
      for (let j = 0; j < f; j++, o++) out[o] = (out[o] - (typeof sub === 'number' ? sub : sub[j])) * (typeof mul === 'number' ? mul : mul[j]);
    }
  }
}

/**
 * Loads train and test, checks their shapes agree, splits a validation set off the training data
 * (after shuffling with `shuffleSeed`; both parts keep the original order) and normalises all
 * splits with statistics of the training split only.
 */
export function prepareData(cfg: DataConfig, baseDir: string): PreparedData {
  const warnings: string[] = [];
  const memoryBytes = (cfg.memoryMB ?? 1024) * (1 << 20);
  // issue 18: synthesised inputs are made by the run's `synthesize` job (engine/synthesis/dataFree.ts), not
  // loaded here; what is loaded is the reference (the real-data jobs train on it), or without one the
  // test source in its place (its shape, classes and scale; no job trains on it).
  if (cfg.train.format === 'teacher-synthesized') {
    const { reference } = cfg.train;
    return { ...prepareData({ ...cfg, train: reference ?? cfg.test }, baseDir), dataFree: { reference: Boolean(reference) } };
  }
  let train = loadSource(cfg.train, baseDir, 'data.train', { memoryBytes });
  // A test image folder without `size` is resized like the training folder.
  const testSrc = cfg.test.format === 'images' && cfg.train.format === 'images' && !cfg.test.size && cfg.train.size
    ? { ...cfg.test, size: cfg.train.size } : cfg.test;
  const test = loadSource(testSrc, baseDir, 'data.test', { memoryBytes, trainClasses: train.classNames });

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
  const classNames = train.classNames?.length === numClasses ? train.classNames : undefined;
  const notes = [train.note, test.note].filter((s): s is string => !!s);
  return { train, validation, test, numClasses, shape: [...train.shape], normalization, ...(warnings.length ? { warnings } : {}),
    ...(classNames ? { classNames } : {}), ...(notes.length ? { notes } : {}) };
}

/** Fits the normalisation on `train` and applies it in place to every dataset in `all` (which includes `train`). */
function normalize(kind: DataConfig['normalize'], train: Dataset, all: Dataset[]): Normalization {
  if (all.some((d) => d.stream)) return normalizeStreamed(kind, train, all);
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

/**
 * The normalisation of splits of which some stream from disk: fitted the same way (scale: the
 * source maximum; standardize: per-feature mean and std in float64, in chunked passes), applied to
 * in-memory splits in place and to streamed ones as their rows are read.
 */
function normalizeStreamed(kind: DataConfig['normalize'], train: Dataset, all: Dataset[]): Normalization {
  const f = sampleSize(train.shape);
  const apply = (sub: number | Float32Array, mul: number | Float32Array): void => {
    for (const d of all) {
      if (d.stream) {
        d.stream = { ...d.stream, norm: { sub, mul } };
        continue;
      }
      for (let i = 0, o = 0; i < d.size; i++) {
        for (let j = 0; j < f; j++, o++) d.x[o] = (d.x[o] - (typeof sub === 'number' ? sub : sub[j])) * (typeof mul === 'number' ? mul : mul[j]);
      }
    }
  };
  const chunks = function* (d: Dataset): Generator<Float32Array> {
    const step = streamChunk(d, 4096);
    for (let s = 0; s < d.size; s += step) yield rowsOf(d, s, Math.min(step, d.size - s));
  };
  switch (kind) {
    case 'none':
      return { kind: 'none' };
    case 'scale': {
      const scale = train.maxValue > 0 ? train.maxValue : 1;
      apply(0, 1 / scale);
      for (const d of all) d.maxValue /= scale;
      return { kind: 'scale', scale };
    }
    case 'standardize': {
      const mean = new Float64Array(f);
      for (const x of chunks(train)) for (let o = 0; o < x.length; o++) mean[o % f] += x[o];
      for (let j = 0; j < f; j++) mean[j] /= train.size;
      const sq = new Float64Array(f);
      for (const x of chunks(train)) {
        for (let o = 0; o < x.length; o++) {
          const dv = x[o] - mean[o % f];
          sq[o % f] += dv * dv;
        }
      }
      const std: number[] = new Array(f);
      const inv = new Float32Array(f);
      for (let j = 0; j < f; j++) {
        const s = Math.sqrt(sq[j] / train.size);
        std[j] = s > 1e-7 * Math.max(1, Math.abs(mean[j])) ? s : 1;
        inv[j] = 1 / std[j];
      }
      apply(Float32Array.from(mean), inv);
      for (const d of all) {
        let maxAbs = 0;
        for (const x of d.stream ? chunks(d) : [d.x]) for (let o = 0; o < x.length; o++) maxAbs = Math.max(maxAbs, Math.abs(x[o]));
        d.maxValue = maxAbs;
      }
      return { kind: 'standardize', mean: Array.from(mean), std };
    }
    default:
      throw dataError(`expected "scale", "standardize" or "none", found ${JSON.stringify(kind)}`, undefined, 'data.normalize');
  }
}
