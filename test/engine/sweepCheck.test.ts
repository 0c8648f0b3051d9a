/**
 * Sweep points are checked before a sweep folder exists: a value that only the derivation (or a
 * pair on the derived student) refuses is a located error at that value in `sweep`, from `distill
 * check` and from `distill sweep`, which then creates nothing. `sweep-resume` on a folder that is not
 * a sweep says so before printing anything else.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { checkExperiment } from '../../src/engine/check';
import { formatConfigError } from '../../src/config/parse';
import { REPO, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

const CLI = path.join(REPO, 'dist', 'cli.js');

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** A teacher 16 → 64 → 64 → 4 (trained first); the student derived from it; `sweep` as given. */
function sweepExperiment(sweep: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return syntheticExperiment({
    teacher: {
      module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [64, 64], classes: 4 },
      train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    },
    student: { derive: { width: 0.5 } },
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    sweep,
    ...overrides,
  });
}

/** Line and column (1-based) of the `n`-th occurrence of `needle` in the file. */
function position(file: string, needle: string, n = 0): { line: number; column: number } {
  const text = fs.readFileSync(file, 'utf8');
  let at = -1;
  for (let i = 0; i <= n; i++) at = text.indexOf(needle, at + 1);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function cli(args: string[], cwd: string): { code: number | null; out: string; err: string } {
  const r = cp.spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

void test('check: a sweep width that rounds a layer to zero is an error at that value in "sweep"', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, sweepExperiment({ 'student.derive.width': [0.001, 0.5] }));
  const problems = await checkExperiment(file, 'wasm');
  assert.equal(problems.length, 1, problems.map(formatConfigError).join('\n'));
  const [p] = problems;
  assert.equal(p.severity, 'error');
  assert.deepEqual(p.path, ['sweep', 'student.derive.width', 0]);
  assert.deepEqual({ line: p.location.line, column: p.location.column }, position(file, '0.001'));
  assert.match(p.message, /^student\.derive\.width = 0\.001: width 0\.001 leaves layer "dense_1" \(64 units\) with 0\.064 units, which rounds to zero.* \(sweep point p01\)$/);
});

void test('check: a depth that drops a layer a pair names is an error at the depth value, naming the points', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, sweepExperiment({ 'student.derive.depth': [1, 0.4], 'student.derive.width': [0.25, 0.5] }, {
    knowledge: [{ kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_2', student: 'dense_2' }] }],
  }));
  const problems = await checkExperiment(file, 'wasm');
  assert.equal(problems.length, 1, problems.map(formatConfigError).join('\n'));
  const [p] = problems;
  assert.deepEqual(p.path, ['sweep', 'student.derive.depth', 1]);
  assert.deepEqual({ line: p.location.line, column: p.location.column }, position(file, '0.4'));
  assert.match(p.message, /^student\.derive\.depth = 0\.4: knowledge\[0\]\.pairs\[0\]\.student: .*dense_2.* \(sweep points p03, p04\)$/);
});

void test('check: a rule between fields that only a point breaks (fitnet hint epochs ≥ swept epochs) is at that value', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    knowledge: [{ kind: 'feature', method: 'fitnet', weight: 1, hintEpochs: 2, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }],
    training: { epochs: 3, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    sweep: { 'training.epochs': [2, 3] },
  }));
  const problems = await checkExperiment(file, 'wasm');
  assert.equal(problems.length, 1, problems.map(formatConfigError).join('\n'));
  assert.deepEqual(problems[0].path, ['sweep', 'training.epochs', 0]);
  assert.match(problems[0].message, /^training\.epochs = 2: knowledge\[0\]\.hintEpochs: the hint stage \(2 epochs\) must be shorter than the training.* \(sweep point p01\)$/);
});

void test('distill sweep: a point the derivation refuses stops it before any sweep folder exists', () => {
  const dir = tempDir();
  const file = writeExperiment(dir, sweepExperiment({ 'student.derive.width': [0.001, 0.5] }));
  const sweeps = path.join(dir, 'sweeps');
  const r = cli(['sweep', file, '--sweeps-dir', sweeps, '--backend', 'wasm'], dir);
  assert.equal(r.code, 1, r.out + r.err);
  const { line, column } = position(file, '0.001');
  assert.ok(r.err.includes(`${file}:${line}:${column}  sweep["student.derive.width"][0]: student.derive.width = 0.001: width 0.001 leaves layer "dense_1"`), r.err);
  assert.doesNotMatch(r.out + r.err, /sweep folder/);
  assert.equal(fs.existsSync(sweeps), false, 'no sweep folder');
  assert.equal(fs.existsSync(path.join(dir, '.distill')), false, 'no run folder');
});

void test('distill sweep-resume on a folder that is not a sweep: the error, and no "sweep folder:" line', () => {
  const dir = tempDir();
  const r = cli(['sweep-resume', dir], dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /not a sweep folder \(no sweep\.json\)/);
  assert.doesNotMatch(r.out + r.err, /sweep folder:/);
});
