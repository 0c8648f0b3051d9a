/**
 * `distill list` by what its argument means — an experiment file (its runs and its sweeps' runs,
 * marked with the sweep), a sweep folder, a runs folder, nothing (runs and sweeps of ./.distill) —
 * and one status rule for every view: a killed sweep point is `interrupted (resumable)` in `list`
 * and in `sweep-report` alike. Run folders are written by the store, owners are real (dead) pids.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { ExperimentConfig } from '../../src/config/types';
import { createRun, updateRun } from '../../src/runs/store';
import type { RunStatus } from '../../src/runs/store';
import type { SweepJson } from '../../src/runs/sweeps';
import { sweepSummary } from '../../src/runs/sweeps';
import { sweepTable } from '../../src/cli/sweep';
import { listText } from '../../src/cli/list';
import { runState, stateLabel } from '../../src/runs/state';
import { REPO, tempDir } from '../helpers/experiments';

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** `distill …` through the built CLI, in `cwd`: its stdout (it must exit 0). */
function distill(args: string[], cwd: string): string {
  const r = cp.spawnSync(process.execPath, [path.join(REPO, 'dist', 'cli.js'), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = cp.spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

function run(runsDir: string, experimentFile: string, name: string, status: RunStatus, pid?: number): string {
  const dir = createRun(runsDir, { experimentFile, experimentText: '{}', config: { name } as ExperimentConfig },
    { 'distill-s1': { kind: 'distill', seed: 1, status: 'pending', epochs: 1, completedEpochs: 0 } });
  updateRun(dir, (r) => {
    r.status = status;
    if (pid !== undefined) r.pid = pid;
  });
  return dir;
}

/** A folder with experiments a and b, a run of each, and a sweep of a: p01 killed mid-run, p02 pending. */
function workspace() {
  const dir = tempDir();
  const a = path.join(dir, 'a.distill.json');
  const b = path.join(dir, 'b.distill.json');
  fs.writeFileSync(a, '{}');
  fs.writeFileSync(b, '{}');
  const runsDir = path.join(dir, '.distill', 'runs');
  const runA = run(runsDir, a, 'a', 'completed');
  const runB = run(runsDir, b, 'b', 'failed');
  const sweepDir = path.join(dir, '.distill', 'sweeps', 'a', '20260101-000000');
  const killed = run(path.join(sweepDir, 'runs'), a, 'a', 'running', deadPid());
  const now = new Date().toISOString();
  const sweep: SweepJson = {
    name: 'a', id: '20260101-000000', experimentFile: a, experimentText: '{}', axes: { 'student.derive.width': [0.25, 0.5] }, seeds: [1],
    status: 'running', pid: deadPid(), createdAt: now, updatedAt: now,
    points: [
      { id: 'p01', values: { 'student.derive.width': 0.25 }, status: 'running', runDir: path.relative(sweepDir, killed) },
      { id: 'p02', values: { 'student.derive.width': 0.5 }, status: 'pending' },
    ],
  };
  fs.writeFileSync(path.join(sweepDir, 'sweep.json'), JSON.stringify(sweep));
  return { dir, a, runA, runB, sweepDir, killed };
}

const rowOf = (text: string, runDir: string, cwd: string): string | undefined =>
  text.split('\n').find((l) => l.endsWith(path.relative(cwd, runDir)));

void test('list <experiment>: its runs and its sweep runs (marked with the sweep and point), never another experiment\'s', () => {
  const w = workspace();
  const text = listText(w.a, w.dir);
  assert.ok(rowOf(text, w.runA, w.dir), text);
  assert.equal(rowOf(text, w.runB, w.dir), undefined, text);
  assert.match(rowOf(text, w.killed, w.dir) ?? '', /a\/20260101-000000 p01 +interrupted \(resumable\)/, text);
});

void test('list <sweep folder>, list <sweep runs folder>, plain list: the sweep runs are there', () => {
  const w = workspace();
  const bySweep = listText(w.sweepDir, w.dir);
  assert.match(rowOf(bySweep, w.killed, w.dir) ?? '', /a\/20260101-000000 p01 +interrupted \(resumable\)/, bySweep);
  assert.equal(bySweep.trim().split('\n').length, 3, bySweep); // header, rule, one run
  const byRuns = listText(path.join(w.sweepDir, 'runs'), w.dir);
  assert.ok(rowOf(byRuns, w.killed, w.dir), byRuns);
  const plain = listText(undefined, w.dir);
  for (const r of [w.runA, w.runB, w.killed]) assert.ok(rowOf(plain, r, w.dir), plain);
  assert.match(rowOf(plain, w.runB, w.dir) ?? '', /failed \(resumable\)/);
  // The workspace folder, or its .distill folder, means the same as plain list there.
  for (const t of [w.dir, path.join(w.dir, '.distill')]) {
    const text = listText(t, w.dir);
    for (const r of [w.runA, w.runB, w.killed]) assert.ok(rowOf(text, r, w.dir), text);
  }
  const byRunsRoot = listText(path.join(w.dir, '.distill', 'runs'), w.dir);
  assert.ok(rowOf(byRunsRoot, w.runA, w.dir) && rowOf(byRunsRoot, w.runB, w.dir), byRunsRoot);
});

void test('sweep-report and list agree: the killed point is interrupted (resumable), the sweep too', () => {
  const w = workspace();
  const s = sweepSummary(w.sweepDir);
  const p01 = s.rows.find((r) => r.point === 'p01')!;
  assert.equal(p01.state, 'interrupted (resumable)');
  assert.equal(s.rows.find((r) => r.point === 'p02')!.state, 'pending');
  assert.equal(s.state, 'interrupted (resumable)');
  const table = sweepTable(s);
  assert.match(table.split('\n').find((l) => l.startsWith('p01'))!, /interrupted \(resumable\)/);
  assert.match(table, /\(interrupted \(resumable\); p01 interrupted \(resumable\), p02 pending\)/);
  assert.match(rowOf(listText(w.sweepDir, w.dir), w.killed, w.dir)!, new RegExp(p01.state.replace(/[()]/g, '\\$&')));
});

void test('the run-state rule: running with a dead owner is interrupted; failed, cancelled and interrupted are resumable', () => {
  assert.equal(runState({ status: 'running', pid: deadPid() }), 'interrupted');
  assert.equal(runState({ status: 'running', pid: process.pid }), 'running');
  assert.equal(runState({ status: 'completed', pid: deadPid() }), 'completed');
  assert.deepEqual((['queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted'] as const).map(stateLabel),
    ['queued', 'running', 'completed', 'failed (resumable)', 'cancelled (resumable)', 'interrupted (resumable)']);
});

void test('the distill command: list by experiment, by sweep folder and plain; sweep-report agrees with list', () => {
  const w = workspace();
  const byExperiment = distill(['list', 'a.distill.json'], w.dir);
  assert.ok(rowOf(byExperiment, w.runA, w.dir), byExperiment);
  assert.equal(rowOf(byExperiment, w.runB, w.dir), undefined, byExperiment);
  assert.match(rowOf(byExperiment, w.killed, w.dir) ?? '', /p01 +interrupted \(resumable\)/, byExperiment);
  assert.match(rowOf(distill(['list', w.sweepDir], w.dir), w.killed, w.dir) ?? '', /interrupted \(resumable\)/);
  assert.ok(rowOf(distill(['list'], w.dir), w.killed, w.dir));
  const report = distill(['sweep-report', w.sweepDir], w.dir);
  assert.match(report.split('\n').find((l) => l.startsWith('p01')) ?? '', /interrupted \(resumable\)/, report);
  assert.match(distill(['--help'], w.dir), /distill list \[experiment\.distill\.json \| sweep-folder \| runs-dir \| run-folder\]/);
});
