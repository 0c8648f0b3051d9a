/**
 * CIFAR-10 and CIFAR-100, binary version (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` … `data_batch_5.bin` (train) and
 * `test_batch.bin`, each 10000 records of 3073 bytes: the label (0–9), then 3072 pixel bytes — the
 * 1024 red values of the 32×32 image in row-major order, then the 1024 green, then the 1024 blue.
 * Class names in `batches.meta.txt` (one per line), when it is there.
 *
 * CIFAR-100 (`cifar-100-binary/`): `train.bin` (50000 records) and `test.bin` (10000) of 3074 bytes:
 * the coarse label (0–19), the fine label (0–99), then the 3072 pixel bytes. Class names in
 * `fine_label_names.txt` / `coarse_label_names.txt`.
 *
 * Samples are `[32, 32, 3]` (channels last, as the rest of the engine), values 0..255.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDataFile } from './files';
import { applyLimit, Dataset, dataError } from './types';

const PIXELS = 32 * 32 * 3;

export interface CifarOptions {
  format: 'cifar10' | 'cifar100';
  field: string;
  split?: 'train' | 'test';
  labels?: 'fine' | 'coarse';
  limit?: number;
}

/** The `.bin` files `p` stands for: itself, or (a folder) the files of `split`. */
export function cifarFiles(p: string, o: CifarOptions): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch {
    throw dataError('file or folder not found', p, `${o.field}.path`);
  }
  if (!stat.isDirectory()) return [p];
  if (o.split === undefined) {
    throw dataError('the path is a folder: say which files to read with "split": "train" or "test"', p, `${o.field}.split`);
  }
  const names = o.format === 'cifar10'
    ? (o.split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'])
    : [o.split === 'train' ? 'train.bin' : 'test.bin'];
  const files = names.map((n) => path.join(p, n));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw dataError(`the ${o.format} ${o.split} split needs ${names.join(', ')} in this folder; missing: ${missing.map((f) => path.basename(f)).join(', ')}`, p, `${o.field}.path`);
  }
  return files;
}

/** Class names from the text file beside the data, when it exists and has the right number of lines. */
function classNames(dir: string, o: CifarOptions, classes: number): string[] | undefined {
  const file = path.join(dir, o.format === 'cifar10' ? 'batches.meta.txt' : `${o.labels ?? 'fine'}_label_names.txt`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  return names.length === classes ? names : undefined;
}

/** Loads CIFAR-10 / CIFAR-100 binary files as one Dataset of `[32, 32, 3]` images. */
export function loadCifar(p: string, o: CifarOptions): Dataset {
  const files = cifarFiles(p, o);
  const record = o.format === 'cifar10' ? 1 + PIXELS : 2 + PIXELS;
  const labelAt = o.format === 'cifar10' ? 0 : o.labels === 'coarse' ? 0 : 1;
  const classes = o.format === 'cifar10' ? 10 : o.labels === 'coarse' ? 20 : 100;
  const field = `${o.field}.path`;
  const bufs = files.map((f) => {
    const b = readDataFile(f, field);
    if (b.length === 0) throw dataError(`file is empty; expected ${record}-byte ${o.format} records`, f, field);
    if (b.length % record !== 0) {
      const whole = Math.floor(b.length / record);
      throw dataError(`file is ${b.length} bytes, not a whole number of ${record}-byte ${o.format} records: record ${whole} starts at byte offset ` +
        `${whole * record} and has only ${b.length - whole * record} of its ${record} bytes (truncated, or not ${o.format === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} binary data)`,
      f, field);
    }
    return b;
  });
  const available = bufs.reduce((a, b) => a + b.length / record, 0);
  const n = applyLimit(available, o.limit, o.field);
  const x = new Float32Array(n * PIXELS);
  const y = new Int32Array(n);
  let i = 0;
  for (let k = 0; k < bufs.length && i < n; k++) {
    const b = bufs[k];
    for (let r = 0; r < b.length / record && i < n; r++, i++) {
      const off = r * record;
      const label = b[off + labelAt];
      if (label >= classes) {
        throw dataError(`record ${r} (byte offset ${off + labelAt}) has ${o.labels ?? (o.format === 'cifar10' ? '' : 'fine')} label ${label}; ` +
          `${o.format}${o.format === 'cifar100' ? ` ${o.labels ?? 'fine'}` : ''} labels are 0..${classes - 1}`.replace(/ {2,}/g, ' '), files[k], field);
      }
      y[i] = label;
      const px = off + record - PIXELS;
      const dst = i * PIXELS;
      // planes R, G, B of 1024 values each → pixel-interleaved [32, 32, 3]
      for (let q = 0; q < 1024; q++) {
        x[dst + q * 3] = b[px + q];
        x[dst + q * 3 + 1] = b[px + 1024 + q];
        x[dst + q * 3 + 2] = b[px + 2048 + q];
      }
    }
  }
  const names = classNames(path.dirname(files[0]), o, classes);
  return {
    name: files.length === 1 ? path.basename(files[0]) : `${o.format}/${o.split}`,
    x, y, shape: [32, 32, 3], size: n, numClasses: classes, maxValue: 255, ...(names ? { classNames: names } : {}),
  };
}
