/**
 * The Sweep panel's data model (src/host/panels/sweepData.ts) on a sweep folder faked point by
 * point (test/helpers/fakeSweep.ts): statuses as the points' runs say, progress, means over seeds,
 * both Pareto fronts, the fingerprint that tells the panel to refresh, the listing the tree shows,
 * and the run folder `openPoint` opens.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { pointRunDir, sweepPanelData } from '../../src/host/panels/sweepData';
import { parseWebviewMessage } from '../../src/protocol/webviews';
import { paretoFront } from '../../src/runs/pareto';
import { listSweeps, sweepFingerprint, sweepsStamp } from '../../src/runs/sweepList';
import { updateSweep } from '../../src/runs/sweeps';
import { syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';
import { advancePoint, completePoint, failPoint, fakeSweep, startPoint } from '../helpers/fakeSweep';

/** A pid no process has. */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid--) {
    try {
      process.kill(pid, 0);
    } catch {
      return pid;
    }
  }
}

test('statuses, progress, means over seeds and the Pareto fronts follow the sweep folder', () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ name: 'sw', seeds: [1, 2], sweep: { 'training.epochs': [1, 2, 3, 4] } }), 'sw.distill.json');
  const sweepDir = fakeSweep(file);
  assert.deepEqual(listSweeps(file).map((s) => s.sweepDir), [sweepDir], 'the tree lists the sweep under its experiment');
  assert.deepEqual(listSweeps(path.join(dir, 'other.distill.json')), [], 'and not under another');

  let d = sweepPanelData(sweepDir);
  assert.equal(d.title, `sw · sweep ${path.basename(sweepDir)}`);
  assert.deepEqual(d.points.map((p) => [p.id, p.values['training.epochs'], p.status, p.hasRun]),
    [['p01', 1, 'queued', false], ['p02', 2, 'queued', false], ['p03', 3, 'queued', false], ['p04', 4, 'queued', false]]);
  assert.equal(pointRunDir(sweepDir, 'p01'), undefined, 'no run folder before the point starts');

  const fp0 = sweepFingerprint(sweepDir);
  const run1 = startPoint(sweepDir, 0);
  assert.notEqual(sweepFingerprint(sweepDir), fp0, 'starting a point changes the fingerprint');
  const fp1 = sweepFingerprint(sweepDir);
  advancePoint(sweepDir, 0);
  assert.notEqual(sweepFingerprint(sweepDir), fp1, 'an epoch of the running point changes it');
  d = sweepPanelData(sweepDir);
  assert.equal(d.points[0].status, 'running');
  assert.deepEqual(d.points[0].progress, { done: 4, total: 4 }, 'one epoch of each of its 4 jobs (2 seeds × scratch, distill), 1 epoch each');
  assert.equal(pointRunDir(sweepDir, 'p01'), run1);

  // sizes and accuracies: p01 small and good, p02 larger and better, p03 larger and worse (dominated)
  completePoint(sweepDir, 0, { params: 100, bytes: 4000, distilled: [0.8, 0.84], scratch: [0.7, 0.72] });
  startPoint(sweepDir, 1);
  completePoint(sweepDir, 1, { params: 200, bytes: 800, distilled: [0.9, 0.9] });
  startPoint(sweepDir, 2);
  completePoint(sweepDir, 2, { params: 300, bytes: 1200, distilled: [0.85, 0.83] });
  startPoint(sweepDir, 3, deadPid());
  d = sweepPanelData(sweepDir);
  assert.deepEqual(d.points.map((p) => p.status), ['completed', 'completed', 'completed', 'interrupted'], 'a point whose process is gone is interrupted');
  assert.equal(d.points[3].state, 'interrupted (resumable)');
  const [p1, p2, p3, p4] = d.points;
  assert.ok(Math.abs(p1.distilled!.mean - 0.82) < 1e-12 && p1.distilled!.n === 2);
  assert.ok(Math.abs(p1.distilled!.std - Math.sqrt(((0.8 - 0.82) ** 2 + (0.84 - 0.82) ** 2) / 1)) < 1e-12, 'sample std over seeds');
  assert.ok(Math.abs(p1.scratch!.mean - 0.71) < 1e-12);
  assert.equal(p2.scratch, undefined);
  assert.deepEqual([p1.params, p1.bytes, p4.params], [100, 4000, undefined]);
  // by params: p01 (smallest) and p02 (most accurate) on the front, p03 dominated by p02
  assert.deepEqual(d.points.map((p) => p.pareto.params), [true, true, false, false]);
  // by bytes: p02 is the smallest and the most accurate: it alone is on the front
  assert.deepEqual(d.points.map((p) => p.pareto.bytes), [false, true, false, false]);
  // the same as the pure function on the same figures (no second rule)
  assert.deepEqual(d.points.map((p) => p.pareto.params), paretoFront(d.points.map((p) => ({ size: p.params, acc: p.distilled?.mean }))));
  assert.equal(d.teacher?.testAcc, 0.97);
  assert.equal(p3.hasRun, true);

  failPoint(sweepDir, 3, 'out of memory\nstack…');
  d = sweepPanelData(sweepDir);
  assert.equal(d.points[3].status, 'failed');
  assert.equal(d.points[3].error, 'out of memory\nstack…');
});

test('a point run folder outside the sweep folder is never opened; an unreadable folder is an error, not a throw', () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ name: 'sw2', sweep: { 'training.epochs': [1, 2] } }), 'sw2.distill.json');
  const sweepDir = fakeSweep(file);
  startPoint(sweepDir, 0);
  updateSweep(sweepDir, (s) => (s.points[0].runDir = '../../../../elsewhere'));
  assert.equal(pointRunDir(sweepDir, 'p01'), undefined);
  const gone = path.join(dir, 'no-such-sweep');
  const d = sweepPanelData(gone);
  assert.match(d.error ?? '', /not a sweep folder \(no sweep\.json\)/);
  assert.deepEqual(d.points, []);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the sweep panel accepts ready, openPoint with a host-made id and save; nothing else', () => {
  assert.deepEqual(parseWebviewMessage('sweep', { type: 'openPoint', point: 'p07' }), { ok: true, msg: { type: 'openPoint', point: 'p07' } });
  for (const point of ['../p01', 'p', 'p01/x', 7, undefined, 'P01']) {
    const r = parseWebviewMessage('sweep', { type: 'openPoint', point });
    assert.ok(!r.ok && /point id handed out by the host/.test(r.reason), String(point));
  }
  assert.equal(parseWebviewMessage('sweep', { type: 'addPair', teacher: 'a', student: 'b', method: 'fitnet' }).ok, false);
  assert.equal(parseWebviewMessage('dashboard', { type: 'openPoint', point: 'p01' }).ok, false, 'only the sweep panel opens points');
  assert.equal(parseWebviewMessage('sweep', { type: 'save', format: 'csv', name: 'sweep.csv', data: 'a,b\n' }).ok, true);
});

test('the tree\'s stamp of the sweeps roots changes when a sweep is created or its sweep.json rewritten, not otherwise', () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ name: 'sw3', sweep: { 'training.epochs': [1, 2] } }), 'sw3.distill.json');
  const empty = sweepsStamp([file]);
  assert.equal(empty, '', 'no sweeps root yet');
  const sweepDir = fakeSweep(file);
  const one = sweepsStamp([file]);
  assert.notEqual(one, empty);
  assert.equal(sweepsStamp([file]), one, 'stable while nothing changes');
  updateSweep(sweepDir, (s) => (s.status = 'running'));
  const two = sweepsStamp([file]);
  assert.notEqual(two, one, 'sweep.json rewritten');
  fakeSweep(file);
  assert.notEqual(sweepsStamp([file]), two, 'a second sweep');
  fs.rmSync(dir, { recursive: true, force: true });
});
