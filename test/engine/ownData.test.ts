/**
 * Your own data (issue 16): image folders (PNG / JPEG, written here with pngjs and jpeg-js), CIFAR
 * binary files, .npy / .npz arrays — read back exactly (pixel values, labels, class names), and
 * every bad input giving an error that names the file (or, in a run, the experiment file's line).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { DataConfig, DataSource } from '../../src/config/types';
import { DataError, encodeNpy, encodeNpz, gather, imageStats, loadSource, prepareData, rowsOf } from '../../src/engine/data';
import { resizeBilinear } from '../../src/engine/data/images';
import { runExperiment } from '../../src/engine/run';
import { locateDataError } from '../../src/engine/data/locate';
import { ExperimentError } from '../../src/config/errors';
import { readRun } from '../../src/runs/store';
import { tempDir, writeExperiment, studentCnn, teacherCnn } from '../helpers/experiments';

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
  train, test, normalize: 'none', shuffleSeed: 0, ...extra,
});

/** A PNG of `w`×`h` from RGBA bytes, written as colour type `colorType` (0 grey, 2 RGB, 4 grey+alpha, 6 RGBA). */
function png(w: number, h: number, rgba: number[], colorType: 0 | 2 | 4 | 6 = 6): Buffer {
  const p = new PNG({ width: w, height: h });
  p.data = Buffer.from(rgba);
  return PNG.sync.write(p, { colorType });
}

function writeFile(file: string, data: Buffer): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return file;
}

/** RGBA bytes of a w×h image whose value at (y, x, k) is f(y, x, k) (alpha 255 unless f gives one for k = 3). */
function rgbaOf(w: number, h: number, f: (y: number, x: number, k: number) => number): number[] {
  const out: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < 4; k++) out.push(k === 3 ? 255 : f(y, x, k));
  return out;
}

// ------------------------------------------------------------------------------------ image folders

void test('image folder: PNG classes → sorted labels, exact pixels (RGB, greyscale, RGBA, 16-bit), class names, round-robin order', () => {
  const dir = tempDir();
  const root = path.join(dir, 'train');
  // class "b_cat" sorts after "a_dog": labels 0 = a_dog, 1 = b_cat.
  const A = rgbaOf(3, 2, (y, x, k) => 10 * y + 3 * x + 50 * k);
  const B = rgbaOf(3, 2, (y, x, k) => 200 - 7 * y - 11 * x - 30 * k);
  writeFile(path.join(root, 'b_cat', '1.png'), png(3, 2, B, 2));
  writeFile(path.join(root, 'a_dog', '1.png'), png(3, 2, A, 2));
  // a greyscale PNG (colour type 0): value 17·(y·3+x)
  const G = rgbaOf(3, 2, (y, x) => 17 * (y * 3 + x));
  writeFile(path.join(root, 'a_dog', '2.png'), png(3, 2, G, 0));
  // RGBA with a transparent pixel: alpha is dropped, the colour kept
  const T = rgbaOf(3, 2, (y, x, k) => 5 + y + x + k);
  T[3] = 0;
  writeFile(path.join(root, 'b_cat', '2.png'), png(3, 2, T, 6));
  // 16-bit greyscale: v16 → round(v16·255/65535)
  const v16 = [0, 257, 1000, 65535, 32768, 12345];
  const p16 = new PNG({ width: 3, height: 2, bitDepth: 16, colorType: 0, inputColorType: 0 });
  p16.data = Buffer.from(new Uint16Array(v16).buffer);
  writeFile(path.join(root, 'b_cat', '3.png'), PNG.sync.write(p16, { bitDepth: 16, colorType: 0, inputColorType: 0 }));
  writeFile(path.join(root, 'b_cat', 'notes.txt'), Buffer.from('not an image, skipped'));
  // a class folder linked in from elsewhere counts as a class; a dangling link is skipped
  writeFile(path.join(dir, 'elsewhere', 'c_eel', '1.png'), png(3, 2, A, 2));
  fs.symlinkSync(path.join(dir, 'elsewhere', 'c_eel'), path.join(root, 'c_eel'));
  fs.symlinkSync(path.join(dir, 'nowhere'), path.join(root, 'd_gone'));

  const ds = loadSource({ format: 'images', path: 'train', channels: 3 }, dir, 'data.train');
  assert.deepEqual(ds.classNames, ['a_dog', 'b_cat', 'c_eel']);
  assert.deepEqual(ds.shape, [2, 3, 3]);
  assert.equal(ds.size, 6);
  assert.equal(ds.maxValue, 255);
  // round-robin: a_dog/1, b_cat/1, c_eel/1, a_dog/2, b_cat/2, b_cat/3
  assert.deepEqual(Array.from(ds.y), [0, 1, 2, 0, 1, 1]);
  const rgb = (src: number[]) => src.filter((_, i) => i % 4 !== 3);
  const per = 2 * 3 * 3;
  const sample = (i: number) => Array.from(ds.x.subarray(i * per, (i + 1) * per));
  assert.deepEqual(sample(0), rgb(A));
  assert.deepEqual(sample(1), rgb(B));
  assert.deepEqual(sample(2), rgb(A), 'the linked class');
  assert.deepEqual(sample(3), rgb(G), 'greyscale repeated on R, G, B');
  assert.deepEqual(sample(4), rgb(T), 'alpha dropped');
  assert.deepEqual(sample(5), v16.flatMap((v) => { const b = Math.floor((v * 255) / 65535 + 0.5); return [b, b, b]; }), '16-bit rescaled');

  // one channel: grey stays exact; colour → 0.299 R + 0.587 G + 0.114 B, rounded
  const grey = loadSource({ format: 'images', path: 'train', channels: 1 }, dir, 'data.train');
  assert.deepEqual(grey.shape, [2, 3, 1]);
  assert.deepEqual(Array.from(grey.x.subarray(3 * 6, 4 * 6)), G.filter((_, i) => i % 4 === 0));
  const luma = (s: number[]) => Array.from({ length: 6 }, (_, p) => Math.round(0.299 * s[p * 4] + 0.587 * s[p * 4 + 1] + 0.114 * s[p * 4 + 2]));
  assert.deepEqual(Array.from(grey.x.subarray(0, 6)), luma(A));
});

void test('image folder: JPEG files decode to the values of an independent decode, and near the source colours', () => {
  const dir = tempDir();
  const src = rgbaOf(16, 16, (y, x, k) => (k === 0 ? 200 : k === 1 ? 40 : 120)); // a flat colour: q100 keeps it within ±2
  const file = writeFile(path.join(dir, 'jpg', 'c0', 'a.jpg'), jpeg.encode({ width: 16, height: 16, data: Buffer.from(src) }, 100).data);
  writeFile(path.join(dir, 'jpg', 'c1', 'b.jpeg'), jpeg.encode({ width: 16, height: 16, data: Buffer.from(rgbaOf(16, 16, (y, x) => 8 * x)) }, 90).data);
  const ds = loadSource({ format: 'images', path: 'jpg' }, dir, 'data.train');
  assert.deepEqual(ds.classNames, ['c0', 'c1']);
  const ref = jpeg.decode(fs.readFileSync(file), { useTArray: true });
  const want = Array.from(ref.data).filter((_, i) => i % 4 !== 3);
  assert.deepEqual(Array.from(ds.x.subarray(0, 16 * 16 * 3)), want);
  for (let i = 0; i < 16 * 16; i++) {
    assert.ok(Math.abs(ds.x[i * 3] - 200) <= 2 && Math.abs(ds.x[i * 3 + 1] - 40) <= 2 && Math.abs(ds.x[i * 3 + 2] - 120) <= 2);
  }
});

void test('bilinear resize (half-pixel centres): 2×2 block means when halving, [0, 25, 75, 100] when doubling [0, 100]', () => {
  // independent expectations: halving samples at the centre of each 2×2 block = its mean
  const src = Float32Array.from({ length: 16 }, (_, i) => (i * 37) % 101);
  const out = resizeBilinear(src, 4, 4, 1, 2, 2);
  const mean = (r: number, c: number) => Math.round((src[r * 4 + c] + src[r * 4 + c + 1] + src[(r + 1) * 4 + c] + src[(r + 1) * 4 + c + 1]) / 4);
  assert.deepEqual(Array.from(out), [mean(0, 0), mean(0, 2), mean(2, 0), mean(2, 2)]);
  const up = resizeBilinear(Float32Array.from([0, 100]), 1, 2, 1, 1, 4);
  assert.deepEqual(Array.from(up), [0, 25, 75, 100]);
  // same size: unchanged
  assert.deepEqual(Array.from(resizeBilinear(src, 4, 4, 1, 4, 4)), Array.from(src));
});

void test('image folder: decoded once; a second load reads no image; a touched file is hashed, not decoded; changed content decodes again', () => {
  const dir = tempDir();
  for (let c = 0; c < 2; c++) for (let i = 0; i < 3; i++) writeFile(path.join(dir, 'f', `k${c}`, `${i}.png`), png(4, 4, rgbaOf(4, 4, (y, x, k) => 20 * c + 5 * i + y + x + k), 2));
  const src: DataSource = { format: 'images', path: 'f', size: [2, 2], channels: 3 };
  const d0 = imageStats.decoded;
  const r0 = imageStats.filesRead;
  const first = loadSource(src, dir, 'data.train');
  assert.equal(imageStats.decoded - d0, 6);
  const d1 = imageStats.decoded;
  const r1 = imageStats.filesRead;
  const second = loadSource(src, dir, 'data.train');
  assert.equal(imageStats.decoded, d1, 'no image decoded');
  assert.equal(imageStats.filesRead, r1, 'no image file read');
  assert.ok(r1 > r0);
  assert.deepEqual(Array.from(second.x), Array.from(first.x));
  assert.deepEqual(Array.from(second.y), Array.from(first.y));
  assert.deepEqual(second.classNames, first.classNames);
  // new mtime, same bytes: hashed again, not decoded
  const f0 = path.join(dir, 'f', 'k0', '0.png');
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(f0, later, later);
  loadSource(src, dir, 'data.train');
  assert.equal(imageStats.decoded, d1);
  assert.equal(imageStats.filesRead, r1 + 1);
  // new content: decoded again, and the new pixels are seen
  fs.writeFileSync(f0, png(4, 4, rgbaOf(4, 4, () => 99), 2));
  const third = loadSource(src, dir, 'data.train');
  assert.ok(imageStats.decoded > d1);
  assert.deepEqual(Array.from(third.x.subarray(0, 12)), new Array(12).fill(99));
});

void test('image folder: test classes map by name to the training labels; a test-only class, an empty class, mixed sizes, bad files are errors naming them', () => {
  const dir = tempDir();
  const img = (v: number, w = 2, h = 2) => png(w, h, rgbaOf(w, h, () => v), 2);
  for (const c of ['ant', 'bee', 'cow']) writeFile(path.join(dir, 'train', c, 'x.png'), img(c.charCodeAt(0)));
  writeFile(path.join(dir, 'test', 'cow', 'y.png'), img(1));
  writeFile(path.join(dir, 'test', 'ant', 'y.png'), img(2));
  const d = prepareData(cfg({ format: 'images', path: 'train' }, { format: 'images', path: 'test' }), dir);
  assert.deepEqual(d.classNames, ['ant', 'bee', 'cow']);
  assert.deepEqual(Array.from(d.test.y), [0, 2], 'test "ant" → 0, "cow" → 2 (the training labels), not 0, 1');
  assert.equal(d.numClasses, 3);

  writeFile(path.join(dir, 'test2', 'dog', 'y.png'), img(1));
  writeFile(path.join(dir, 'test2', 'ant', 'y.png'), img(1));
  throwsDataError(() => prepareData(cfg({ format: 'images', path: 'train' }, { format: 'images', path: 'test2' }), dir),
    'data.test.path', path.join(dir, 'test2', 'dog'), '"dog" is not among the 3 training classes');

  fs.mkdirSync(path.join(dir, 'empty', 'a'), { recursive: true });
  writeFile(path.join(dir, 'empty', 'b', 'x.png'), img(1));
  throwsDataError(() => loadSource({ format: 'images', path: 'empty' }, dir, 'data.train'), 'data.train.path', path.join(dir, 'empty', 'a'), 'has no PNG or JPEG images');

  writeFile(path.join(dir, 'flat', 'x.png'), img(1));
  throwsDataError(() => loadSource({ format: 'images', path: 'flat' }, dir, 'data.train'), 'no class folders', 'found 1 images directly in the folder');
  throwsDataError(() => loadSource({ format: 'images', path: 'nope' }, dir, 'data.train'), 'folder not found');

  writeFile(path.join(dir, 'mixed', 'a', '1.png'), img(1, 2, 2));
  writeFile(path.join(dir, 'mixed', 'b', '1.png'), img(1, 3, 2));
  throwsDataError(() => loadSource({ format: 'images', path: 'mixed' }, dir, 'data.train'), 'data.train.size', 'a/1.png is 2×2', 'b/1.png is 2×3', 'give "size": [H, W]');
  assert.deepEqual(loadSource({ format: 'images', path: 'mixed', size: [2, 2] }, dir, 'data.train').shape, [2, 2, 3], 'with size: resized');

  const good = img(5, 4, 4);
  const bad = writeFile(path.join(dir, 'trunc', 'a', '1.png'), good.subarray(0, good.length - 20));
  throwsDataError(() => loadSource({ format: 'images', path: 'trunc' }, dir, 'data.train'), bad, 'cannot decode this PNG', 'truncated or corrupt');
  const j = jpeg.encode({ width: 8, height: 8, data: Buffer.from(rgbaOf(8, 8, () => 3)) }, 90).data;
  const badJ = writeFile(path.join(dir, 'truncj', 'a', '1.jpg'), j.subarray(0, j.length - 30));
  throwsDataError(() => loadSource({ format: 'images', path: 'truncj' }, dir, 'data.train'), badJ, 'cannot decode this JPEG');
  const notImg = writeFile(path.join(dir, 'fake', 'a', '1.png'), Buffer.from('hello'));
  throwsDataError(() => loadSource({ format: 'images', path: 'fake' }, dir, 'data.train'), notImg, 'not a PNG or JPEG image', '68 65 6c 6c');
});

void test('a run: bad image data is a located error in the experiment file; class names go to run.json', async () => {
  const dir = tempDir();
  const img = (v: number) => png(8, 8, rgbaOf(8, 8, () => v), 0);
  for (const c of ['a', 'b', 'c', 'd']) for (let i = 0; i < 3; i++) writeFile(path.join(dir, 'train', c, `${i}.png`), img(10 * i + c.charCodeAt(0)));
  writeFile(path.join(dir, 'test', 'a', '0.png'), img(1));
  writeFile(path.join(dir, 'test', 'zebra', '0.png'), img(2));
  const exp = {
    name: 'imgs', seeds: [1],
    data: { train: { format: 'images', path: 'train', channels: 1 }, test: { format: 'images', path: 'test', channels: 1 } },
    teacher: teacherCnn, student: studentCnn, knowledge: [], labels: { weight: 1 },
    training: { epochs: 1, batchSize: 8, optimizer: { kind: 'adam', learningRate: 0.01 } }, baseline: false,
  };
  const file = writeExperiment(dir, exp);
  const text = fs.readFileSync(file, 'utf8');
  const line = text.split('\n').findIndex((l) => l.includes('"path": "test"')) + 1;
  // refused by the pre-flight, before any run folder exists
  await assert.rejects(runExperiment({ experiment: file }), (e: Error) => new RegExp(`exp\\.distill\\.json:${line}:\\d+  data\\.test\\.path: .*"zebra" is not among the 4 training classes`).test(e.message));
  assert.equal(fs.existsSync(path.join(dir, '.distill', 'runs')), false, 'no run folder');

  fs.rmSync(path.join(dir, 'test', 'zebra'), { recursive: true });
  const ok = await runExperiment({ experiment: file });
  assert.equal(ok.status, 'completed', ok.error);
  assert.deepEqual(readRun(ok.runDir).classNames, ['a', 'b', 'c', 'd']);
});

// ------------------------------------------------------------------------------------ CIFAR

/** One CIFAR record: label byte(s), then R, G, B planes of 32×32 with value f(plane, pixel). */
function cifarRecord(labels: number[], f: (plane: number, p: number) => number): Buffer {
  const b = Buffer.alloc(labels.length + 3072);
  labels.forEach((l, i) => (b[i] = l));
  for (let k = 0; k < 3; k++) for (let p = 0; p < 1024; p++) b[labels.length + k * 1024 + p] = f(k, p) & 255;
  return b;
}

void test('CIFAR-10: planes → [32, 32, 3], labels, class names from batches.meta.txt, a folder split, limit', () => {
  const dir = tempDir();
  const folder = path.join(dir, 'cifar-10-batches-bin');
  const recs = [[3, 1], [7, 2], [0, 3]].map(([l, s]) => cifarRecord([l], (k, p) => s * 10 + k * 50 + p));
  writeFile(path.join(folder, 'test_batch.bin'), Buffer.concat(recs));
  for (let i = 1; i <= 5; i++) writeFile(path.join(folder, `data_batch_${i}.bin`), Buffer.concat([recs[i % 3]]));
  const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  fs.writeFileSync(path.join(folder, 'batches.meta.txt'), names.join('\n') + '\n\n');
  const ds = loadSource({ format: 'cifar10', path: 'cifar-10-batches-bin/test_batch.bin' }, dir, 'data.test');
  assert.deepEqual(ds.shape, [32, 32, 3]);
  assert.deepEqual(Array.from(ds.y), [3, 7, 0]);
  assert.equal(ds.numClasses, 10);
  assert.deepEqual(ds.classNames, names);
  // pixel (row 2, col 5) of record 1, channel k = 2·10 + k·50 + (2·32 + 5)
  const at = (i: number, r: number, c: number, k: number) => ds.x[i * 3072 + (r * 32 + c) * 3 + k];
  for (let k = 0; k < 3; k++) assert.equal(at(1, 2, 5, k), (20 + k * 50 + 69) & 255);
  const train = loadSource({ format: 'cifar10', path: 'cifar-10-batches-bin', split: 'train' }, dir, 'data.train');
  assert.deepEqual(Array.from(train.y), [7, 0, 3, 7, 0], 'data_batch_1..5 in order');
  assert.equal(loadSource({ format: 'cifar10', path: 'cifar-10-batches-bin', split: 'train', limit: 2 }, dir, 'data.train').size, 2);
  throwsDataError(() => loadSource({ format: 'cifar10', path: 'cifar-10-batches-bin' }, dir, 'data.train'), 'data.train.split', 'say which files');
});

void test('CIFAR-100: fine and coarse labels; truncated files and bad labels name the byte offset', () => {
  const dir = tempDir();
  const file = writeFile(path.join(dir, 'train.bin'), Buffer.concat([cifarRecord([4, 77], () => 1), cifarRecord([19, 3], () => 2)]));
  assert.deepEqual(Array.from(loadSource({ format: 'cifar100', path: 'train.bin' }, dir, 'data.train').y), [77, 3]);
  const coarse = loadSource({ format: 'cifar100', path: 'train.bin', labels: 'coarse' }, dir, 'data.train');
  assert.deepEqual(Array.from(coarse.y), [4, 19]);
  assert.equal(coarse.numClasses, 20);
  assert.equal(coarse.x[3072], 2);

  const cut = writeFile(path.join(dir, 'cut.bin'), fs.readFileSync(file).subarray(0, 3074 + 1000));
  throwsDataError(() => loadSource({ format: 'cifar100', path: 'cut.bin' }, dir, 'data.train'), cut, 'file is 4074 bytes', 'record 1 starts at byte offset 3074',
    'only 1000 of its 3074 bytes');
  const c10 = writeFile(path.join(dir, 'c10.bin'), Buffer.concat([cifarRecord([1], () => 0), cifarRecord([12], () => 0)]));
  throwsDataError(() => loadSource({ format: 'cifar10', path: 'c10.bin' }, dir, 'data.train'), c10, 'record 1 (byte offset 3073)', 'label 12', '0..9');
  // a CIFAR-10 file read as CIFAR-100 is caught by the record size
  throwsDataError(() => loadSource({ format: 'cifar100', path: 'c10.bin' }, dir, 'data.train'), 'not a whole number of 3074-byte cifar100 records');
});

// ------------------------------------------------------------------------------------ NumPy

void test('.npy: uint8 [N, H, W] gets a channel axis; float32 / float64 inputs, int64 / uint8 labels, big-endian; limit', () => {
  const dir = tempDir();
  const x = Array.from({ length: 3 * 2 * 2 }, (_, i) => (i * 23) % 256);
  writeFile(path.join(dir, 'x.npy'), encodeNpy([3, 2, 2], x, 'uint8'));
  writeFile(path.join(dir, 'y.npy'), encodeNpy([3], [2, 0, 5], 'int64'));
  const ds = loadSource({ format: 'npy', inputs: 'x.npy', labels: 'y.npy' }, dir, 'data.train');
  assert.deepEqual(ds.shape, [2, 2, 1]);
  assert.deepEqual(Array.from(ds.x), x);
  assert.deepEqual(Array.from(ds.y), [2, 0, 5]);
  assert.equal(ds.numClasses, 6);
  assert.equal(ds.maxValue, 255);

  const xf = [0.5, -1.25, 3e-3, 7, 1e6, -2];
  writeFile(path.join(dir, 'xf.npy'), encodeNpy([2, 3], xf, 'float64'));
  writeFile(path.join(dir, 'xs.npy'), encodeNpy([2, 3], xf, 'float32'));
  writeFile(path.join(dir, 'yu.npy'), encodeNpy([2], [1, 0], 'uint8'));
  const f64 = loadSource({ format: 'npy', inputs: 'xf.npy', labels: 'yu.npy' }, dir, 'data.train');
  assert.deepEqual(Array.from(f64.x), Array.from(Float32Array.from(xf)));
  assert.deepEqual(f64.shape, [3]);
  assert.equal(f64.maxValue, 1e6);
  assert.deepEqual(Array.from(loadSource({ format: 'npy', inputs: 'xs.npy', labels: 'yu.npy', limit: 1 }, dir, 'data.train').x), Array.from(Float32Array.from(xf.slice(0, 3))));

  // a big-endian float32 file written by hand ('>f4')
  const le = encodeNpy([1, 2], [1.5, -2], 'float32');
  const be = Buffer.from(le);
  be.write("'>f4'", be.indexOf("'<f4'"), 'latin1');
  const off = be.length - 8;
  be.writeFloatBE(1.5, off);
  be.writeFloatBE(-2, off + 4);
  writeFile(path.join(dir, 'be.npy'), be);
  writeFile(path.join(dir, 'y1.npy'), encodeNpy([1], [0], 'int64'));
  assert.deepEqual(Array.from(loadSource({ format: 'npy', inputs: 'be.npy', labels: 'y1.npy' }, dir, 'data.train').x), [1.5, -2]);
});

void test('.npy bad inputs: Fortran order, truncation, not .npy, float labels, count mismatch, unsupported dtype', () => {
  const dir = tempDir();
  const y = writeFile(path.join(dir, 'y.npy'), encodeNpy([2], [0, 1], 'int64'));
  const fort = writeFile(path.join(dir, 'f.npy'), encodeNpy([2, 3], [1, 2, 3, 4, 5, 6], 'float32', { fortran: true }));
  throwsDataError(() => loadSource({ format: 'npy', inputs: 'f.npy', labels: 'y.npy' }, dir, 'data.train'), 'data.train.inputs', fort, 'Fortran', 'only C order', 'np.ascontiguousarray');
  const full = encodeNpy([2, 3], [1, 2, 3, 4, 5, 6], 'float32');
  const cut = writeFile(path.join(dir, 'cut.npy'), full.subarray(0, full.length - 5));
  throwsDataError(() => loadSource({ format: 'npy', inputs: 'cut.npy', labels: 'y.npy' }, dir, 'data.train'), cut, `file is ${full.length - 5} bytes`, `promises ${full.length}`, 'truncated');
  const txt = writeFile(path.join(dir, 'x.txt'), Buffer.from('1,2,3'));
  throwsDataError(() => loadSource({ format: 'npy', inputs: 'x.txt', labels: 'y.npy' }, dir, 'data.train'), txt, 'not a .npy file');
  writeFile(path.join(dir, 'x.npy'), full);
  const yf = writeFile(path.join(dir, 'yf.npy'), encodeNpy([2], [0, 1], 'float32'));
  throwsDataError(() => loadSource({ format: 'npy', inputs: 'x.npy', labels: 'yf.npy' }, dir, 'data.train'), 'data.train.labels', yf, 'expected integer labels, found float32');
  const y3 = writeFile(path.join(dir, 'y3.npy'), encodeNpy([3], [0, 1, 1], 'int64'));
  throwsDataError(() => loadSource({ format: 'npy', inputs: 'x.npy', labels: 'y3.npy' }, dir, 'data.train'), y3, 'has 3 labels', 'has 2 samples');
  const c8 = Buffer.from(full);
  c8.write("'<c8'", c8.indexOf("'<f4'"), 'latin1');
  writeFile(path.join(dir, 'c8.npy'), c8);
  throwsDataError(() => loadSource({ format: 'npy', inputs: 'c8.npy', labels: 'y.npy' }, dir, 'data.train'), "unsupported array type '<c8'");
  void y;
});

void test('.npz: stored and deflated archives, arrays by name (default x / y); missing names listed; corrupt entries refused', () => {
  const dir = tempDir();
  const x = Array.from({ length: 4 * 3 }, (_, i) => i / 4);
  const arrays = { x_train: encodeNpy([4, 3], x, 'float32'), y_train: encodeNpy([4], [3, 1, 0, 2], 'int64'), meta: encodeNpy([1], [7], 'int64') };
  for (const compress of [false, true]) {
    const name = compress ? 'c.npz' : 's.npz';
    writeFile(path.join(dir, name), encodeNpz(arrays, { compress }));
    const ds = loadSource({ format: 'npz', path: name, inputs: 'x_train', labels: 'y_train' }, dir, 'data.train');
    assert.deepEqual(Array.from(ds.x), x);
    assert.deepEqual(Array.from(ds.y), [3, 1, 0, 2]);
  }
  writeFile(path.join(dir, 'xy.npz'), encodeNpz({ x: arrays.x_train, y: arrays.y_train }, { compress: true }));
  assert.equal(loadSource({ format: 'npz', path: 'xy.npz' }, dir, 'data.train').size, 4);
  throwsDataError(() => loadSource({ format: 'npz', path: 'c.npz' }, dir, 'data.train'), 'data.train.inputs', 'no array named "x"', '"x_train", "y_train", "meta"');
  // a flipped byte inside the deflated data: inflate error or CRC mismatch, naming the entry
  const bad = Buffer.from(fs.readFileSync(path.join(dir, 's.npz')));
  bad[200] ^= 0xff;
  const badFile = writeFile(path.join(dir, 'bad.npz'), bad);
  throwsDataError(() => loadSource({ format: 'npz', path: 'bad.npz', inputs: 'x_train', labels: 'y_train' }, dir, 'data.train'), badFile, 'x_train.npy', 'CRC-32');
  const cut = writeFile(path.join(dir, 'cut.npz'), fs.readFileSync(path.join(dir, 'c.npz')).subarray(0, 100));
  throwsDataError(() => loadSource({ format: 'npz', path: 'cut.npz' }, dir, 'data.train'), cut, 'no end-of-central-directory record');
  // an archive zipped by another tool with gzip framing is not an npz
  writeFile(path.join(dir, 'gz.npz'), zlib.gzipSync(Buffer.from('x')));
  throwsDataError(() => loadSource({ format: 'npz', path: 'gz.npz' }, dir, 'data.train'), 'not a zip');
});

// ------------------------------------------------------------------------------------ streaming

void test('a folder larger than data.memoryMB streams from the decoded cache: same values through gather/rowsOf, validation split and normalisation', () => {
  const dir = tempDir();
  for (let c = 0; c < 3; c++) for (let i = 0; i < 20; i++) writeFile(path.join(dir, 'tr', `c${c}`, `${String(i).padStart(2, '0')}.png`), png(6, 6, rgbaOf(6, 6, (y, x, k) => (c * 60 + i * 7 + y * 6 + x + k * 3) % 256), 2));
  for (let c = 0; c < 3; c++) writeFile(path.join(dir, 'te', `c${c}`, '0.png'), png(6, 6, rgbaOf(6, 6, () => c * 9), 2));
  const base = cfg({ format: 'images', path: 'tr' }, { format: 'images', path: 'te' }, { validation: { fraction: 0.25 }, shuffleSeed: 3 });
  for (const normalize of ['scale', 'standardize'] as const) {
    const mem = prepareData({ ...base, normalize }, dir);
    // 60 × 108 float32 = 25 920 bytes: a bound of 0.01 MB (10 485 bytes) streams the training folder
    const st = prepareData({ ...base, normalize, memoryMB: 0.01 }, dir);
    assert.ok(!mem.train.stream && st.train.stream && st.validation!.stream, 'streamed');
    assert.equal(st.train.x.length, 0, 'nothing held');
    assert.deepEqual(st.normalization, mem.normalization);
    for (const split of ['train', 'validation', 'test'] as const) {
      const a = mem[split]!;
      const b = st[split]!;
      assert.deepEqual(Array.from(b.y), Array.from(a.y));
      const idx = Int32Array.from([b.size - 1, 0, Math.floor(b.size / 2), 1]);
      const ga = gather(a, idx);
      const gb = gather(b, idx);
      for (let i = 0; i < ga.x.length; i++) assert.ok(Math.abs(ga.x[i] - gb.x[i]) < 1e-5, `${normalize} ${split} value ${i}`);
      const ra = rowsOf(a, 0, a.size);
      const rb = rowsOf(b, 0, b.size);
      for (let i = 0; i < ra.length; i++) assert.ok(Math.abs(ra[i] - rb[i]) < 1e-5);
    }
  }
});

void test('located: an empty class folder points at data.train.path; mixed sizes without "size" at data.train (the field to add)', () => {
  const dir = tempDir();
  const img = (w: number) => png(w, 2, rgbaOf(w, 2, () => 1), 2);
  writeFile(path.join(dir, 'a', 'x', '1.png'), img(2));
  fs.mkdirSync(path.join(dir, 'a', 'y'));
  writeFile(path.join(dir, 'b', 'x', '1.png'), img(2));
  writeFile(path.join(dir, 'b', 'y', '1.png'), img(3));
  const text = (train: string) => [
    '{',
    '  "data": {',
    `    "train": { "format": "images", "path": "${train}" },`,
    '    "test": { "format": "images", "path": "b", "size": [2, 2] }',
    '  }',
    '}',
  ].join('\n');
  const located = (train: string): string => {
    try {
      prepareData(cfg({ format: 'images', path: train }, { format: 'images', path: 'b', size: [2, 2] }), dir);
    } catch (e) {
      const err = locateDataError(e, 'exp.distill.json', text(train));
      assert.ok(err instanceof ExperimentError, String(err));
      return err.message;
    }
    return 'no error';
  };
  assert.equal(located('a'), `exp.distill.json:3:44  data.train.path: ${path.join(dir, 'a', 'y')}: class folder "y" has no PNG or JPEG images (.png, .jpg, .jpeg)`);
  assert.match(located('b'), /^exp\.distill\.json:3:5  data\.train\.size: .*: the images have different sizes — x\/1\.png is 2×2 \(H×W\), y\/1\.png is 2×3: give "size": \[H, W\] to resize them all$/);
});
