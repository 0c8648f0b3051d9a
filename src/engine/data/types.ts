/**
 * Shared types of the data layer: an in-memory labelled dataset and the error every loader throws.
 * Pure Node + typed arrays; no TensorFlow.js here.
 */

/** A labelled dataset held as flat typed arrays (sample-major: sample i is `x[i*f .. (i+1)*f)`, f = prod(shape)). */
export interface Dataset {
  /** e.g. `mnist/train`, `synthetic-images(seed=1)`, `digits.csv`. */
  name: string;
  /** Features, `size * prod(shape)` values, row-major per sample. Raw values until `prepareData` normalises them. */
  x: Float32Array;
  /** Integer class labels, one per sample, `0 <= y[i] < numClasses`. */
  y: Int32Array;
  /** Per-sample shape, e.g. `[28, 28, 1]` or `[64]`. */
  shape: number[];
  /** Number of samples. */
  size: number;
  numClasses: number;
  /** Max raw value, e.g. 255 for 8-bit images (the divisor of the `scale` normalisation). */
  maxValue: number;
  /** Names of the classes, by label (image folders, CIFAR with its names file). */
  classNames?: string[];
  /** What loading did, for the run's log (e.g. images decoded per second, or read from the decode cache). */
  note?: string;
  /**
   * Set when the samples are not held in memory (an image folder larger than `data.memoryMB`): `x` is
   * then empty and rows are read from disk through `rowsOf` / `gather` (data/index.ts).
   */
  stream?: RowStream;
}

/** Reads raw rows (uint8 values as floats) of a file of fixed-size samples. */
export interface RowReader {
  /** Values per row. */
  readonly features: number;
  /** Rows a pass over the split may hold at once as float32 within the memory bound (≥ 1). */
  readonly maxRows: number;
  /**
   * Writes rows `rows` (file row numbers, any order) to `out`: the k-th row to row position
   * `dest[k]` of `out` (default k). Reads are grouped by runs of consecutive row numbers.
   */
  read(rows: ArrayLike<number>, out: Float32Array, dest?: ArrayLike<number>): void;
}

/** How a streamed split reads its samples. */
export interface RowStream {
  rows: RowReader;
  /** File row of each sample of this split (absent: sample i is row i). */
  index?: Int32Array;
  /** Normalisation applied to the values as they are read: x' = (x − sub[j]) · mul[j], j the feature (or one value for all). */
  norm?: { sub: number | Float32Array; mul: number | Float32Array };
}

/**
 * A problem with a data file or data setting. The message names the setting (`field`, e.g.
 * `data.train.images`), the file and what was expected, e.g.
 * `data.train.images: /x/train-images-idx3-ubyte: file is 1234 bytes, header promises 47040016`.
 */
export class DataError extends Error {
  constructor(
    message: string,
    public readonly file?: string,
    public readonly field?: string,
  ) {
    super(message);
    this.name = 'DataError';
  }
}

/** Builds a `DataError` whose message is `field: file: what` (parts that are absent are left out). */
export function dataError(what: string, file?: string, field?: string): DataError {
  const prefix = [field, file].filter((s): s is string => !!s).join(': ');
  return new DataError(prefix ? `${prefix}: ${what}` : what, file, field);
}

/** Number of values per sample. */
export function sampleSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Checks a `limit` setting and returns the number of samples to keep out of `available`. */
export function applyLimit(available: number, limit: number | undefined, field: string, file?: string): number {
  if (limit === undefined) return available;
  if (!Number.isInteger(limit) || limit <= 0) {
    throw dataError(`limit must be a positive integer, found ${String(limit)}`, file, `${field}.limit`);
  }
  return Math.min(available, limit);
}
