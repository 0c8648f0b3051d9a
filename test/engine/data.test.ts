import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { DataConfig, DataSource } from '../../src/config/types';
import {
  batchIndices,
  DataError,
  encodeIdx,
  gather,
  generateSynthetic,
  loadSource,
  makeRng,
  prepareData,
  readIdx,
  shuffledIndices,
  type Dataset,
} from '../../src/engine/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-data-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
}

/** Asserts that `fn` throws a DataError whose message contains every fragment. */
function throwsDataError(fn: () => unknown, ...fragments: string[]): DataError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${String(caught)}`);
  for (const f of fragments) assert.ok(caught.message.includes(f), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(f)}`);
  return caught;
}

const cfg = (train: DataSource, test: DataSource, extra: Partial<DataConfig> = {}): DataConfig => ({
  train,
  test,
  normalize: 'none',
  shuffleSeed: 0,
  ...extra,
});

// ---------------------------------------------------------------- IDX

const IMG = Array.from({ length: 3 * 2 * 2 }, (_, i) => (i * 21) % 256); // 3 images of 2×2
const LBL = [2, 0, 1];

void test('IDX: raw round trip (ubyte images + labels)', () => {
  const images = write('raw-images-idx3-ubyte', encodeIdx([3, 2, 2], IMG));
  const labels = write('raw-labels-idx1-ubyte', encodeIdx([3], LBL));
  const arr = readIdx(images);
  assert.equal(arr.dtype, 0x08);
  assert.deepEqual(arr.dims, [3, 2, 2]);
  assert.deepEqual(Array.from(arr.data), IMG);
  const ds = loadSource({ format: 'idx', images: 'raw-images-idx3-ubyte', labels: 'raw-labels-idx1-ubyte' }, tmp, 'data.train');
  assert.equal(ds.size, 3);
  assert.deepEqual(ds.shape, [2, 2, 1]);
  assert.deepEqual(Array.from(ds.x), IMG);
  assert.deepEqual(Array.from(ds.y), LBL);
  assert.equal(ds.numClasses, 3);
  assert.equal(ds.maxValue, 255);
  assert.ok(fs.existsSync(labels));
});

void test('IDX: gzip round trip (Fashion-MNIST style .gz) and limit', () => {
  write('fashion-images-idx3-ubyte.gz', encodeIdx([3, 2, 2], IMG, { gzip: true }));
  write('fashion-labels-idx1-ubyte.gz', encodeIdx([3], LBL, { gzip: true }));
  const src: DataSource = { format: 'idx', images: 'fashion-images-idx3-ubyte.gz', labels: 'fashion-labels-idx1-ubyte.gz' };
  const ds = loadSource(src, tmp, 'data.train');
  assert.deepEqual(Array.from(ds.x), IMG);
  assert.deepEqual(Array.from(ds.y), LBL);
  const two = loadSource({ ...src, limit: 2 }, tmp, 'data.train');
  assert.equal(two.size, 2);
  assert.deepEqual(Array.from(two.x), IMG.slice(0, 8));
  assert.deepEqual(Array.from(two.y), [2, 0]);
});

void test('IDX: multi-byte dtypes are big-endian', () => {
  const f32 = [1.5, -2.25, 1e6, 0];
  const i16 = [-300, 12345, 0, 7];
  const i32 = [-70000, 2 ** 30, 3, 4];
  const f64 = [Math.PI, -1e-300, 2, 3];
  assert.deepEqual(Array.from(readIdx(write('f32.idx', encodeIdx([2, 2], f32, { dtype: 0x0d }))).data), f32);
  assert.deepEqual(Array.from(readIdx(write('i16.idx', encodeIdx([2, 2], i16, { dtype: 0x0b }))).data), i16);
  assert.deepEqual(Array.from(readIdx(write('i32.idx.gz', encodeIdx([4], i32, { dtype: 0x0c, gzip: true }))).data), i32);
  assert.deepEqual(Array.from(readIdx(write('f64.idx', encodeIdx([1, 4], f64, { dtype: 0x0e }))).data), f64);
  // Float images: maxValue is the largest magnitude, not 255.
  write('f32-images', encodeIdx([2, 2], f32, { dtype: 0x0d }));
  write('f32-labels', encodeIdx([2], [0, 1]));
  const ds = loadSource({ format: 'idx', images: 'f32-images', labels: 'f32-labels' }, tmp, 'data.train');
  assert.deepEqual(ds.shape, [2]);
  assert.equal(ds.maxValue, 1e6);
});

void test('IDX: a truncated file is a DataError naming the file, the field and the byte counts', () => {
  const full = encodeIdx([3, 2, 2], IMG); // 16-byte header + 12 bytes = 28
  const file = write('trunc-images-idx3-ubyte', full.subarray(0, full.length - 5));
  write('trunc-labels-idx1-ubyte', encodeIdx([3], LBL));
  const err = throwsDataError(
    () => loadSource({ format: 'idx', images: 'trunc-images-idx3-ubyte', labels: 'trunc-labels-idx1-ubyte' }, tmp, 'data.train'),
    'data.train.images',
    file,
    'file is 23 bytes, header promises 28',
    'truncated',
  );
  assert.equal(err.file, file);
  assert.equal(err.field, 'data.train.images');

  // Same for a gzipped file whose content is truncated …
  const gz = write('trunc.gz', zlib.gzipSync(full.subarray(0, 20)));
  throwsDataError(() => readIdx(gz, 'data.test.images'), gz, 'file is 20 bytes, header promises 28');
  // … and for a gzip stream that is itself cut short.
  const cut = zlib.gzipSync(full);
  const bad = write('cut.gz', cut.subarray(0, cut.length - 10));
  throwsDataError(() => readIdx(bad, 'data.test.images'), bad, 'gzip', 'truncated or corrupt');
  // A header that promises more dimensions than the file holds.
  const hdr = write('short-header', Buffer.from([0, 0, 8, 3, 0, 0]));
  throwsDataError(() => readIdx(hdr), hdr, 'file is 6 bytes', 'header of 3 dimensions (16 bytes)');
});

void test('IDX: wrong magic and unknown dtype are DataErrors', () => {
  const png = write('not-idx.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
  throwsDataError(() => readIdx(png, 'data.train.images'), 'data.train.images', png, 'not an IDX file', '0x89 0x50');
  const dt = write('bad-dtype', Buffer.from([0, 0, 0x42, 1, 0, 0, 0, 0]));
  throwsDataError(() => readIdx(dt), dt, 'unknown IDX data type byte 0x42');
  throwsDataError(() => readIdx(path.join(tmp, 'missing-file')), 'missing-file', 'file not found');
});

void test('IDX: image/label count mismatch and non-1-D labels', () => {
  write('mm-images', encodeIdx([3, 2, 2], IMG));
  write('mm-labels', encodeIdx([2], [0, 1]));
  throwsDataError(
    () => loadSource({ format: 'idx', images: 'mm-images', labels: 'mm-labels' }, tmp, 'data.test'),
    'data.test.labels',
    'has 2 labels',
    'has 3 images',
  );
  throwsDataError(
    () => loadSource({ format: 'idx', images: 'mm-images', labels: 'mm-images' }, tmp, 'data.test'),
    'data.test.labels',
    'expected a 1-D IDX label file',
  );
});

// ---------------------------------------------------------------- MNIST

void test('MNIST train: 60000 × [28,28,1], labels 0..9, known checksums', () => {
  const ds = loadSource({ format: 'mnist', split: 'train' }, tmp, 'data.train');
  assert.equal(ds.size, 60000);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.equal(ds.x.length, 60000 * 784);
  assert.equal(ds.y.length, 60000);
  assert.equal(ds.numClasses, 10);
  assert.equal(ds.maxValue, 255);
  assert.deepEqual(Array.from(ds.y.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  const counts = new Array(10).fill(0);
  for (const v of ds.y) counts[v]++;
  // Per-digit counts of the MNIST training set.
  assert.deepEqual(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  // Sum of the raw pixel values of the first 10 images (computed from the IDX bytes).
  let sum = 0;
  for (let i = 0; i < 7840; i++) sum += ds.x[i];
  assert.equal(sum, 234304);
});

void test('MNIST test: 10000 samples, limit keeps the first N', () => {
  const ds = loadSource({ format: 'mnist', split: 'test' }, tmp, 'data.test');
  assert.equal(ds.size, 10000);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.deepEqual(Array.from(ds.y.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  const small = loadSource({ format: 'mnist', split: 'test', limit: 5 }, tmp, 'data.test');
  assert.equal(small.size, 5);
  assert.equal(small.x.length, 5 * 784);
  assert.deepEqual(Array.from(small.x), Array.from(ds.x.subarray(0, 5 * 784)));
  assert.equal(small.numClasses, 10);
  throwsDataError(() => loadSource({ format: 'mnist', split: 'test', limit: 0 }, tmp, 'data.test'), 'data.test.limit', 'positive integer');
});

// ---------------------------------------------------------------- CSV

void test('CSV: header row, label by name, by index and default last', () => {
  write('h.csv', 'label,a,b\n1,0.5,2\n0,1.5,-4\n\n2,3,8\n');
  const byName = loadSource({ format: 'csv', path: 'h.csv', labelColumn: 'label' }, tmp, 'data.train');
  assert.equal(byName.size, 3);
  assert.deepEqual(byName.shape, [2]);
  assert.deepEqual(Array.from(byName.x), [0.5, 2, 1.5, -4, 3, 8]);
  assert.deepEqual(Array.from(byName.y), [1, 0, 2]);
  assert.equal(byName.numClasses, 3);
  assert.equal(byName.maxValue, 8);
  const byIndex = loadSource({ format: 'csv', path: 'h.csv', labelColumn: 0 }, tmp, 'data.train');
  assert.deepEqual(Array.from(byIndex.y), [1, 0, 2]);
  // Default: the last column is the label.
  write('last.csv', 'a,b,y\n0.5,2,1\n1.5,-4,0\n');
  const last = loadSource({ format: 'csv', path: 'last.csv' }, tmp, 'data.train');
  assert.deepEqual(Array.from(last.x), [0.5, 2, 1.5, -4]);
  assert.deepEqual(Array.from(last.y), [1, 0]);
});

void test('CSV: no header (detected and explicit), shape, limit, gzip', () => {
  write('nh.csv', '1,2,3,4,0\r\n5,6,7,8,1\r\n9,10,11,12,1\r\n');
  const ds = loadSource({ format: 'csv', path: 'nh.csv', shape: [2, 2, 1] }, tmp, 'data.train');
  assert.equal(ds.size, 3);
  assert.deepEqual(ds.shape, [2, 2, 1]);
  assert.deepEqual(Array.from(ds.y), [0, 1, 1]);
  assert.deepEqual(Array.from(ds.x.subarray(0, 4)), [1, 2, 3, 4]);
  const limited = loadSource({ format: 'csv', path: 'nh.csv', limit: 2, header: false }, tmp, 'data.train');
  assert.equal(limited.size, 2);
  write('nh.csv.gz', zlib.gzipSync(fs.readFileSync(path.join(tmp, 'nh.csv'))));
  const gz = loadSource({ format: 'csv', path: 'nh.csv.gz' }, tmp, 'data.train');
  assert.deepEqual(Array.from(gz.x), Array.from(loadSource({ format: 'csv', path: 'nh.csv' }, tmp, 'data.train').x));
  // header: true forces the first row to be a header even though it is numeric.
  const forced = loadSource({ format: 'csv', path: 'nh.csv', header: true }, tmp, 'data.train');
  assert.equal(forced.size, 2);
  throwsDataError(
    () => loadSource({ format: 'csv', path: 'nh.csv', shape: [3, 3] }, tmp, 'data.train'),
    'data.train.shape',
    'holds 9 values but each row has 4 feature columns',
  );
  throwsDataError(
    () => loadSource({ format: 'csv', path: 'nh.csv', labelColumn: 'y' }, tmp, 'data.train'),
    'data.train.labelColumn',
    'no header row',
  );
  throwsDataError(() => loadSource({ format: 'csv', path: 'nh.csv', labelColumn: 7 }, tmp, 'data.train'), 'labelColumn 7 is out of range');
});

void test('CSV: a bad cell names file:line and the column', () => {
  const file = write('bad.csv', 'x1,x2,label\n1,2,0\n3,oops,1\n');
  const err = throwsDataError(
    () => loadSource({ format: 'csv', path: 'bad.csv' }, tmp, 'data.train'),
    'data.train.path',
    `${file}:3`,
    'column "x2"',
    '"oops" is not a number',
  );
  assert.equal(err.file, file);
  write('empty-cell.csv', '1,2,0\n3,,1\n');
  throwsDataError(() => loadSource({ format: 'csv', path: 'empty-cell.csv' }, tmp, 'data.test'), 'empty-cell.csv:2', 'column 1', '"" is not a number');
  write('ragged.csv', 'a,b,label\n1,2,0\n1,2\n');
  throwsDataError(() => loadSource({ format: 'csv', path: 'ragged.csv' }, tmp, 'data.train'), 'ragged.csv:3', 'expected 3 columns, found 2');
});

void test('CSV: labels must be non-negative integers', () => {
  write('neg.csv', 'a,b,label\n1,2,0\n3,4,-1\n');
  throwsDataError(
    () => loadSource({ format: 'csv', path: 'neg.csv' }, tmp, 'data.train'),
    'neg.csv:3',
    'column "label"',
    'label "-1" is not a non-negative integer',
  );
  write('frac.csv', '1,2,0.5\n');
  throwsDataError(() => loadSource({ format: 'csv', path: 'frac.csv' }, tmp, 'data.train'), 'frac.csv:1', 'label "0.5"');
  throwsDataError(() => loadSource({ format: 'csv', path: 'nope.csv' }, tmp, 'data.train'), 'data.train.path', 'nope.csv', 'file not found');
});

// ---------------------------------------------------------------- synthetic

function nearestCentroidAccuracy(train: Dataset, test: Dataset): number {
  const f = train.x.length / train.size;
  const K = train.numClasses;
  const c = Array.from({ length: K }, () => new Float64Array(f));
  const n = new Array(K).fill(0);
  for (let i = 0; i < train.size; i++) {
    n[train.y[i]]++;
    for (let j = 0; j < f; j++) c[train.y[i]][j] += train.x[i * f + j];
  }
  c.forEach((v, k) => v.forEach((_, j) => (v[j] /= n[k])));
  let ok = 0;
  for (let i = 0; i < test.size; i++) {
    let best = -1;
    let bd = Infinity;
    for (let k = 0; k < K; k++) {
      let d = 0;
      for (let j = 0; j < f; j++) d += (test.x[i * f + j] - c[k][j]) ** 2;
      if (d < bd) [bd, best] = [d, k];
    }
    if (best === test.y[i]) ok++;
  }
  return ok / test.size;
}

void test('synthetic: deterministic by seed, different across seeds', () => {
  for (const kind of ['images', 'vectors'] as const) {
    const shape = kind === 'images' ? [12, 10, 2] : [16];
    const src = { format: 'synthetic', kind, samples: 50, classes: 4, shape, seed: 7 } as const;
    const a = loadSource({ ...src, shape: [...shape] }, tmp, 'data.train');
    const b = loadSource({ ...src, shape: [...shape] }, tmp, 'data.train');
    const c = loadSource({ ...src, shape: [...shape], seed: 8 }, tmp, 'data.train');
    assert.deepEqual(a.shape, shape);
    assert.equal(a.size, 50);
    assert.equal(a.numClasses, 4);
    assert.deepEqual(a.x, b.x);
    assert.deepEqual(a.y, b.y);
    assert.notDeepEqual(a.x, c.x);
    // Balanced classes.
    const counts = new Array(4).fill(0);
    for (const v of a.y) counts[v]++;
    assert.deepEqual(counts.sort(), [12, 12, 13, 13]);
    if (kind === 'images') {
      assert.equal(a.maxValue, 1);
      assert.ok(a.x.every((v) => v >= 0 && v <= 1));
    }
  }
  throwsDataError(
    () => loadSource({ format: 'synthetic', kind: 'images', samples: 5, classes: 3, shape: [8], seed: 1 }, tmp, 'data.train'),
    'data.train.shape',
    '[H, W, C]',
  );
});

void test('synthetic: learnable but not trivial (nearest-centroid accuracy on a fresh seed)', () => {
  const imgs = (seed: number, samples: number) =>
    generateSynthetic({ format: 'synthetic', kind: 'images', samples, classes: 10, shape: [16, 16, 1], seed });
  const accI = nearestCentroidAccuracy(imgs(1, 1000), imgs(2, 500));
  assert.ok(accI > 0.35 && accI < 0.95, `images accuracy ${accI}`);
  const vecs = (seed: number, samples: number) =>
    generateSynthetic({ format: 'synthetic', kind: 'vectors', samples, classes: 10, shape: [32], seed });
  const accV = nearestCentroidAccuracy(vecs(1, 1000), vecs(2, 500));
  assert.ok(accV > 0.5 && accV < 0.99, `vectors accuracy ${accV}`);
});

// ---------------------------------------------------------------- prepareData

/** CSV whose single feature is the row index, so splits can be traced back. */
function indexCsv(name: string, n: number, offset = 0): string {
  const rows = Array.from({ length: n }, (_, i) => `${i + offset},${i % 3}`);
  write(name, 'id,label\n' + rows.join('\n') + '\n');
  return name;
}

void test('prepareData: validation split sizes, disjointness, determinism', () => {
  const src: DataSource = { format: 'csv', path: indexCsv('ids.csv', 100) };
  const p = prepareData(cfg(src, src, { validation: { fraction: 0.2 }, shuffleSeed: 3 }), tmp);
  assert.ok(p.validation);
  assert.equal(p.validation.size, 20);
  assert.equal(p.train.size, 80);
  assert.equal(p.test.size, 100);
  assert.equal(p.numClasses, 3);
  assert.deepEqual(p.shape, [1]);
  const tr = Array.from(p.train.x);
  const va = Array.from(p.validation.x);
  assert.equal(new Set([...tr, ...va]).size, 100, 'train and validation are disjoint and cover everything');
  // Labels travel with their samples.
  for (let i = 0; i < p.train.size; i++) assert.equal(p.train.y[i], tr[i] % 3);
  for (let i = 0; i < p.validation.size; i++) assert.equal(p.validation.y[i], va[i] % 3);
  // The validation set is a shuffled pick, not the tail.
  assert.notDeepEqual(va, Array.from({ length: 20 }, (_, i) => 80 + i));
  const again = prepareData(cfg(src, src, { validation: { fraction: 0.2 }, shuffleSeed: 3 }), tmp);
  assert.deepEqual(Array.from(again.validation!.x), va);
  const other = prepareData(cfg(src, src, { validation: { fraction: 0.2 }, shuffleSeed: 4 }), tmp);
  assert.notDeepEqual(Array.from(other.validation!.x), va);
  throwsDataError(() => prepareData(cfg(src, src, { validation: { fraction: 1.5 } }), tmp), 'data.validation.fraction');
});

void test('prepareData: standardize is fitted on the training split only', () => {
  const train: DataSource = { format: 'csv', path: indexCsv('std-train.csv', 50) }; // values 0..49
  const test: DataSource = { format: 'csv', path: indexCsv('std-test.csv', 10, 1000) }; // values 1000..1009
  const p = prepareData(cfg(train, test, { normalize: 'standardize', validation: { fraction: 0.2 }, shuffleSeed: 1 }), tmp);
  const valRaw = Array.from(prepareData(cfg(train, test, { validation: { fraction: 0.2 }, shuffleSeed: 1 }), tmp).validation!.x);
  const trainRaw = Array.from({ length: 50 }, (_, i) => i).filter((v) => !valRaw.includes(v));
  const mean = trainRaw.reduce((a, b) => a + b, 0) / trainRaw.length;
  const std = Math.sqrt(trainRaw.reduce((a, b) => a + (b - mean) ** 2, 0) / trainRaw.length);
  assert.equal(p.normalization.kind, 'standardize');
  assert.ok(Math.abs(p.normalization.mean![0] - mean) < 1e-9, `mean ${p.normalization.mean![0]} vs ${mean}`);
  assert.ok(Math.abs(p.normalization.std![0] - std) < 1e-9);
  // Training split: zero mean, unit variance.
  const tr = Array.from(p.train.x);
  const m = tr.reduce((a, b) => a + b, 0) / tr.length;
  const v = tr.reduce((a, b) => a + (b - m) ** 2, 0) / tr.length;
  assert.ok(Math.abs(m) < 1e-5 && Math.abs(v - 1) < 1e-5);
  // Validation and test: the same transform, not their own statistics.
  assert.ok(Math.abs(p.validation!.x[0] - (valRaw[0] - mean) / std) < 1e-4);
  for (let i = 0; i < 10; i++) assert.ok(Math.abs(p.test.x[i] - (1000 + i - mean) / std) < 1e-3);
});

void test('prepareData: scale divides by the training maximum; shapes must agree', () => {
  const p = prepareData(
    cfg({ format: 'mnist', split: 'train', limit: 100 }, { format: 'mnist', split: 'test', limit: 50 }, { normalize: 'scale' }),
    tmp,
  );
  assert.deepEqual(p.normalization, { kind: 'scale', scale: 255 });
  assert.equal(p.train.size, 100);
  assert.equal(p.test.size, 50);
  assert.equal(p.numClasses, 10);
  assert.ok(p.train.x.every((v) => v >= 0 && v <= 1));
  assert.equal(Math.max(...p.train.x), 1);
  const vectors: DataSource = { format: 'synthetic', kind: 'vectors', samples: 10, classes: 2, shape: [784], seed: 1 };
  throwsDataError(
    () => prepareData(cfg({ format: 'mnist', split: 'train', limit: 10 }, vectors), tmp),
    'data.test',
    'shape [784]',
    'shape [28, 28, 1]',
  );
  // Same synthetic seed for train and test: a warning.
  const syn: DataSource = { format: 'synthetic', kind: 'vectors', samples: 10, classes: 2, shape: [4], seed: 1 };
  assert.equal(prepareData(cfg(syn, syn), tmp).warnings?.length, 1);
  assert.equal(prepareData(cfg(syn, { ...syn, seed: 2 }), tmp).warnings, undefined);
});

// ---------------------------------------------------------------- rng / batches / gather

void test('makeRng and shuffledIndices are deterministic', () => {
  const a = makeRng(42);
  const b = makeRng(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((v) => v >= 0 && v < 1));
  assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, makeRng(43)));
  const p = shuffledIndices(100, 5);
  assert.deepEqual(Array.from(p).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(p, shuffledIndices(100, 5));
  assert.notDeepEqual(p, shuffledIndices(100, 6));
});

void test('batchIndices: deterministic per (seed, epoch), a permutation, last partial batch kept', () => {
  const b = batchIndices(10, 3, 1, 0);
  assert.deepEqual(b.map((x) => x.length), [3, 3, 3, 1]);
  const all = b.flatMap((x) => Array.from(x));
  assert.deepEqual([...all].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(batchIndices(10, 3, 1, 0).map((x) => Array.from(x)), b.map((x) => Array.from(x)));
  const flat = (seed: number, epoch: number) => batchIndices(1000, 64, seed, epoch).flatMap((x) => Array.from(x));
  assert.notDeepEqual(flat(1, 0), flat(1, 1));
  assert.notDeepEqual(flat(1, 0), flat(2, 0));
  assert.equal(batchIndices(1000, 64, 1, 0).length, 16);
  assert.deepEqual(batchIndices(0, 4, 1, 0), []);
});

void test('gather copies samples in index order', () => {
  write('g.csv', '1,2,0\n3,4,1\n5,6,2\n');
  const ds = loadSource({ format: 'csv', path: 'g.csv' }, tmp, 'data.train');
  const g = gather(ds, Int32Array.from([2, 0]));
  assert.deepEqual(Array.from(g.x), [5, 6, 1, 2]);
  assert.deepEqual(Array.from(g.y), [2, 0]);
  g.x[0] = 99;
  assert.equal(ds.x[4], 5, 'gather copies');
});
