/**
 * A closed output pipe ends the output, not the run: `distill sweep … 2>&1 | head -3` (the issue's
 * case) and `distill run … 2>&1 >/dev/null | head -1` (stderr alone) leave completed runs and exit with the run's own code, where
 * an uncaught EPIPE used to kill the process and leave run.json `queued` / sweep.json `running`.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { listRuns, readRun } from '../../src/runs/store';
import { readSweep } from '../../src/runs/sweeps';
import { REPO, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

const CLI = path.join(REPO, 'dist', 'cli.js');

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** Runs `distill <args> <redirect> | head -<lines>` in a shell; returns what head printed and distill's exit code. */
function pipedIntoHead(args: string[], redirect: string, lines: number, cwd: string): { shown: string; code: number } {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const shown = cp.execFileSync('/bin/sh', ['-c', `(${quoted} ${redirect}; echo $? > code) | head -${lines}`], { cwd, encoding: 'utf8', timeout: 300_000 });
  return { shown, code: Number(fs.readFileSync(path.join(cwd, 'code'), 'utf8').trim()) };
}

const small = (overrides: Record<string, unknown> = {}) => syntheticExperiment({
  training: { epochs: 2, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
  ...overrides,
});

void test('distill sweep … 2>&1 | head -3: the sweep and every point complete, exit 0', () => {
  const dir = tempDir();
  writeExperiment(dir, small({ student: { derive: { width: 0.5 } }, sweep: { 'student.derive.width': [0.25, 0.5] } }));
  const { shown, code } = pipedIntoHead(['sweep', 'exp.distill.json', '--backend', 'wasm'], '2>&1', 3, dir);
  assert.equal(shown.trim().split('\n').length, 3, shown);
  assert.equal(code, 0, `distill exited ${code}`);
  const root = path.join(dir, '.distill', 'sweeps', 'synthetic-test');
  const [id] = fs.readdirSync(root);
  const sweep = readSweep(path.join(root, id));
  assert.equal(sweep.status, 'completed');
  assert.deepEqual(sweep.points.map((p) => p.status), ['completed', 'completed']);
  for (const p of sweep.points) {
    assert.equal(readRun(path.join(root, id, p.runDir!)).status, 'completed');
    assert.ok(fs.existsSync(path.join(root, id, p.runDir!, 'report.json')));
  }
});

void test('distill run … 2>&1 >/dev/null | head -1 (stderr closed: the progress and log lines): the run completes, exit 0', () => {
  const dir = tempDir();
  writeExperiment(dir, small());
  const { shown, code } = pipedIntoHead(['run', 'exp.distill.json', '--backend', 'wasm'], '2>&1 >/dev/null', 1, dir);
  assert.ok(shown.trim().length > 0, 'head read a line');
  assert.equal(code, 0, `distill exited ${code}`);
  const runs = listRuns(path.join(dir, '.distill', 'runs'));
  assert.equal(runs.length, 1);
  assert.equal(runs[0].run.status, 'completed');
  assert.ok(fs.existsSync(path.join(runs[0].runDir, 'report.json')));
});
