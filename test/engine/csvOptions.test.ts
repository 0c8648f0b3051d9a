/**
 * CSV options (issue 13, point 7): `header` (auto | none | names), `skipLines`, `labelColumn` by name
 * or index, `delimiter`. scikit-learn's own files — wine_data.csv and breast_cancer.csv, whose first
 * line is a shape line `n_samples,n_features,class names…` — load with `"skipLines": 1`; the test
 * writes copies in their exact layout (plausible values from a seeded generator) and reads them back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CsvSource } from '../../src/config/types';
import { loadExperimentText } from '../../src/config/parse';
import { DataError, loadSource, prepareData } from '../../src/engine/data';
import { REPO } from '../helpers/experiments';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-csv-options-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, content: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
}

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

/** A small seeded generator (mulberry32), written out here so the files do not depend on engine code. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SklearnCsv { text: string; cells: string[][]; labels: number[] }

/**
 * A file in scikit-learn's layout (sklearn/datasets/data/*.csv): the shape line
 * `n_samples,n_features,target names…`, then one row per sample of n_features decimals and the
 * integer target, no blank line between, a final newline. `ranges[j]` = [low, high, decimals].
 */
function sklearnCsv(counts: number[], targetNames: string[], ranges: [number, number, number][], seed: number): SklearnCsv {
  const rnd = generator(seed);
  const cells: string[][] = [];
  const labels: number[] = [];
  counts.forEach((count, label) => {
    for (let i = 0; i < count; i++) {
      // Class-dependent means, as in the real files (sorted by class).
      const row = ranges.map(([lo, hi, dec]) => (lo + (hi - lo) * Math.min(1, Math.max(0, 0.3 * label / counts.length + 0.7 * rnd()))).toFixed(dec));
      cells.push(row);
      labels.push(label);
    }
  });
  const n = labels.length;
  const lines = [[String(n), String(ranges.length), ...targetNames].join(',')];
  for (let r = 0; r < n; r++) lines.push([...cells[r], String(labels[r])].join(','));
  return { text: lines.join('\n') + '\n', cells, labels };
}

// The 13 wine features (alcohol … proline) and the 30 breast-cancer features, with their real ranges.
const WINE_RANGES: [number, number, number][] = [
  [11.03, 14.83, 2], [0.74, 5.8, 2], [1.36, 3.23, 2], [10.6, 30, 1], [70, 162, 0], [0.98, 3.88, 2], [0.34, 5.08, 2],
  [0.13, 0.66, 2], [0.41, 3.58, 2], [1.28, 13, 2], [0.48, 1.71, 3], [1.27, 4, 2], [278, 1680, 0],
];
const CANCER_RANGES: [number, number, number][] = Array.from({ length: 30 }, (_, j) => {
  const base: [number, number, number][] = [[6.981, 28.11, 3], [9.71, 39.28, 2], [43.79, 188.5, 2], [143.5, 2501, 1], [0.05263, 0.1634, 5]];
  return base[j % base.length];
});

/** Asserts a dataset holds exactly the file's cells (as float32) and labels. */
function assertHolds(ds: ReturnType<typeof loadSource>, f: SklearnCsv, features: number, classes: number): void {
  assert.equal(ds.size, f.labels.length);
  assert.deepEqual(ds.shape, [features]);
  assert.equal(ds.numClasses, classes);
  assert.deepEqual(Array.from(ds.y), f.labels);
  const want = new Float32Array(f.cells.flat().map(Number));
  assert.equal(ds.x.length, want.length);
  for (let i = 0; i < want.length; i++) assert.equal(ds.x[i], want[i], `value ${i} (row ${Math.floor(i / features)})`);
}

void test("CSV: scikit-learn's wine_data.csv (shape line first) loads with skipLines 1", () => {
  const wine = sklearnCsv([59, 71, 48], ['class_0', 'class_1', 'class_2'], WINE_RANGES, 178);
  const file = write('wine_data.csv', wine.text);
  assert.equal(wine.text.split('\n')[0], '178,13,class_0,class_1,class_2');
  assert.equal(wine.text.split('\n')[1].split(',').length, 14);

  // The documented option: skip the shape line; the label is the last column (the default).
  assertHolds(loadSource({ format: 'csv', path: 'wine_data.csv', skipLines: 1 }, tmp, 'data.train'), wine, 13, 3);
  // Spelled out: no header, the label is column 13.
  assertHolds(loadSource({ format: 'csv', path: 'wine_data.csv', skipLines: 1, header: 'none', labelColumn: 13, delimiter: ',' }, tmp, 'data.train'),
    wine, 13, 3);

  // Without the option the shape line is read as a header; the message says which option skips it.
  throwsDataError(() => loadSource({ format: 'csv', path: 'wine_data.csv' }, tmp, 'data.train'),
    `${file}:2`, 'expected 5 columns, found 14', 'shape line', '"skipLines": 1');
});

void test("CSV: scikit-learn's breast_cancer.csv loads with skipLines 1", () => {
  const cancer = sklearnCsv([212, 357], ['malignant', 'benign'], CANCER_RANGES, 569);
  write('breast_cancer.csv', cancer.text);
  assert.equal(cancer.text.split('\n')[0], '569,30,malignant,benign');
  assertHolds(loadSource({ format: 'csv', path: 'breast_cancer.csv', skipLines: 1 }, tmp, 'data.train'), cancer, 30, 2);
  assertHolds(loadSource({ format: 'csv', path: 'breast_cancer.csv', skipLines: 1, header: 'none', labelColumn: 30 }, tmp, 'data.train'), cancer, 30, 2);
});

void test('CSV options pass the experiment validator and reach the data; bad values are located errors', () => {
  const wine = sklearnCsv([59, 71, 48], ['class_0', 'class_1', 'class_2'], WINE_RANGES, 7);
  write('wine2.csv', wine.text);
  const experiment = {
    name: 'wine', seeds: [1],
    data: {
      train: { format: 'csv', path: 'wine2.csv', skipLines: 1, header: 'none', labelColumn: 13, delimiter: ',' },
      test: { format: 'csv', path: 'wine2.csv', skipLines: 1, limit: 20 },
      normalize: 'none',
    },
    teacher: { module: 'models.ts', export: 'mlp', args: { inputs: 13, hidden: [8], classes: 3 } },
    student: { module: 'models.ts', export: 'mlp', args: { inputs: 13, hidden: [4], classes: 3 } },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.5 }],
    labels: { weight: 0.5 },
    training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
  };
  fs.copyFileSync(path.join(REPO, 'examples', 'models.ts'), path.join(tmp, 'models.ts'));
  const loaded = loadExperimentText(path.join(tmp, 'wine.distill.json'), JSON.stringify(experiment, null, 2));
  assert.deepEqual(loaded.errors, []);
  const src = loaded.config!.data.train as CsvSource;
  assert.equal(src.skipLines, 1);
  assert.equal(src.header, 'none');
  assert.equal(src.delimiter, ',');
  const data = prepareData(loaded.config!.data, tmp);
  assert.equal(data.train.size, 178);
  assert.equal(data.test.size, 20);
  assert.equal(data.numClasses, 3);

  // Bad option values are located errors naming the field and what is expected.
  const bad = (patch: Record<string, unknown>) => loadExperimentText(path.join(tmp, 'bad.distill.json'),
    JSON.stringify({ ...experiment, data: { ...experiment.data, train: { ...experiment.data.train, ...patch } } }, null, 2)).errors;
  const header = bad({ header: 'first' });
  assert.equal(header.length, 1);
  assert.deepEqual(header[0].path, ['data', 'train', 'header']);
  assert.match(header[0].message, /"auto", "none", "names"/);
  const skip = bad({ skipLines: -1 });
  assert.deepEqual(skip[0].path, ['data', 'train', 'skipLines']);
  assert.match(skip[0].message, /≥ 0/);
  const delim = bad({ delimiter: ';;' });
  assert.deepEqual(delim[0].path, ['data', 'train', 'delimiter']);
  assert.match(delim[0].message, /at most 1 character/);
});

void test('CSV: delimiter, header names / none / auto, label by name in the middle, skipLines', () => {
  // Semicolon-separated with a comment line and decimal points; the label column named, in the middle.
  write('semi.csv', '# exported 2024-01-01\nx1;target;x2\n1.5;2;-3\n4;0;5.25\n');
  const semi = loadSource({ format: 'csv', path: 'semi.csv', skipLines: 1, delimiter: ';', labelColumn: 'target' }, tmp, 'data.train');
  assert.deepEqual(Array.from(semi.x), [1.5, -3, 4, 5.25]);
  assert.deepEqual(Array.from(semi.y), [2, 0]);
  // Pipes, which detection would not find.
  write('pipe.csv', 'a|b|y\n1|2|0\n3|4|1\n');
  const pipe = loadSource({ format: 'csv', path: 'pipe.csv', delimiter: '|' }, tmp, 'data.train');
  assert.deepEqual(Array.from(pipe.x), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(pipe.y), [0, 1]);
  throwsDataError(() => loadSource({ format: 'csv', path: 'pipe.csv' }, tmp, 'data.train'), 'data.train.path', 'at least 2 columns');
  // Tab.
  write('tab.csv', '1\t2\t0\n3\t4\t1\n');
  assert.deepEqual(Array.from(loadSource({ format: 'csv', path: 'tab.csv', delimiter: '\t', header: 'none' }, tmp, 'data.train').x), [1, 2, 3, 4]);

  // header "names": a numeric first line is taken as names; "none": a non-numeric one is a bad row.
  write('num.csv', '10,20,30\n1,2,0\n3,4,1\n');
  const names = loadSource({ format: 'csv', path: 'num.csv', header: 'names', labelColumn: '30' }, tmp, 'data.train');
  assert.equal(names.size, 2);
  assert.deepEqual(Array.from(names.y), [0, 1]);
  assert.equal(loadSource({ format: 'csv', path: 'num.csv', header: 'auto' }, tmp, 'data.train').size, 3);
  const named = write('named.csv', 'a,b,y\n1,2,0\n');
  throwsDataError(() => loadSource({ format: 'csv', path: 'named.csv', header: 'none' }, tmp, 'data.train'), `${named}:1`, '"a" is not a number');
  throwsDataError(() => loadSource({ format: 'csv', path: 'named.csv', header: 'none', labelColumn: 'y' }, tmp, 'data.train'),
    'data.train.labelColumn', 'no header row');

  // Line numbers in messages count the skipped lines.
  const skipped = write('skipped.csv', 'junk line\nmore junk\n1,2,0\n3,x,1\n');
  throwsDataError(() => loadSource({ format: 'csv', path: 'skipped.csv', skipLines: 2 }, tmp, 'data.train'), `${skipped}:4`, 'column 1', '"x" is not a number');
  throwsDataError(() => loadSource({ format: 'csv', path: 'skipped.csv', skipLines: 9 }, tmp, 'data.train'), 'data.train.skipLines', 'no line left after skipLines 9');
});
