/**
 * The bridge with the REAL torch engine (python/distill_torch under /usr/bin/python3, Debian's torch):
 * a tiny synthetic experiment through runExperiment — located refusal of a wrong layer (nothing
 * created), a run stopped then resumed to completed — with the run folder held to the run-folder
 * schemas and read by the views (dashboard and compression panel data, `distill list`). Skipped, saying why, where
 * the package is not complete yet (its branches unmerged) or no Python with torch is installed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ExperimentError } from '../../src/config/errors';
import { runExperiment } from '../../src/engine/run';
import { checkCandidate } from '../../src/engine/torch/interpreter';
import { listText } from '../../src/cli/list';
import { compressionData, dashboardData, DashboardBuilder } from '../../src/host/panels/panelData';
import { MetricsTail, readMetrics, readRun } from '../../src/runs/store';
import { runFolderViolations } from '../helpers/runSchemas';
import { REPO, tempDir } from '../helpers/experiments';
import { VECTOR_MODELS_PY } from '../helpers/torchModels';

const PYTHON = '/usr/bin/python3';
const packageReady = fs.existsSync(path.join(REPO, 'python', 'distill_torch', '__main__.py')) && fs.existsSync(path.join(REPO, 'python', 'distill_torch', 'train.py'));
const skip = !packageReady ? 'python/distill_torch is not complete on this branch' : undefined;

const dir = tempDir('distill-torchreal-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(path.join(dir, 'models.py'), VECTOR_MODELS_PY);

function experiment(name: string, samples: number, epochs: number, studentLayer = '1'): string {
  const file = path.join(dir, `${name}.distill.json`);
  fs.writeFileSync(file, JSON.stringify({
    name, engine: 'torch', device: 'cpu',
    data: {
      train: { format: 'synthetic', kind: 'vectors', samples, classes: 4, shape: [8], seed: 1 },
      test: { format: 'synthetic', kind: 'vectors', samples: 128, classes: 4, shape: [8], seed: 2 },
      normalize: 'none',
    },
    teacher: { module: 'models.py', export: 'teacher', train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    student: { module: 'models.py', export: 'student' },
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
      { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: '1', student: studentLayer }] },
    ],
    labels: { weight: 0.1 },
    training: { epochs, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 4 },
  }, null, 2));
  return file;
}

test('real engine: a wrong layer is refused located, before any folder', { skip }, async (t) => {
  if (!(await checkCandidate(PYTHON, 'request')).ok) return t.skip(`${PYTHON} has no torch ≥ 1.13`);
  const file = experiment('real-bad', 256, 1, 'layer9');
  await assert.rejects(runExperiment({ experiment: file, python: PYTHON }), (e: unknown) => {
    assert.ok(e instanceof ExperimentError, String(e));
    assert.deepEqual(e.errors.map((p) => p.path), [['knowledge', 1, 'pairs', 0, 'student']]);
    assert.match(e.errors[0].message, /layer9/);
    return true;
  });
  assert.equal(fs.existsSync(path.join(dir, '.distill', 'runs', 'real-bad')), false);
});

test('real engine: stopped, resumed to completed; the folder keeps the schemas and reads in the views', { skip }, async (t) => {
  if (!(await checkCandidate(PYTHON, 'request')).ok) return t.skip(`${PYTHON} has no torch ≥ 1.13`);
  const file = experiment('real-run', 2048, 3);
  let stop = false;
  const first = await runExperiment({ experiment: file, python: PYTHON, shouldStop: () => stop, emit: (m) => { if (m.type === 'epoch' && m.job === 'scratch-s1') stop = true; } });
  assert.equal(first.status, 'cancelled', first.error);
  assert.equal(readRun(first.runDir).status, 'cancelled');
  const second = await runExperiment({ resume: first.runDir, python: PYTHON });
  assert.equal(second.status, 'completed', second.error);
  const run = readRun(first.runDir);
  assert.equal(run.status, 'completed');
  assert.equal(run.backend?.name, 'cpu');
  assert.ok(run.versions.torch, 'run.json records the torch version');
  assert.deepEqual(Object.values(run.jobs).map((j) => j.status), ['completed', 'completed', 'completed']);
  assert.deepEqual(runFolderViolations(first.runDir), []);
  const events = readMetrics(first.runDir).filter((r) => r.type === 'event').map((r) => (r as { event: string }).event);
  assert.deepEqual([events[0], events.includes('stop'), events.includes('resume')], ['start', true, true]);

  const panel = compressionData(first.runDir, 'real-run', []);
  assert.equal(panel.error, undefined);
  assert.match(panel.backend, /^torch engine · cpu \(torch \S+, Python 3\.\d+\.\d+\)$/);
  assert.deepEqual(panel.columns.map((c) => c.name), ['teacher', 'scratch student', 'distilled student', 'distilled (int8)']);
  const dash = dashboardData(first.runDir, new MetricsTail(first.runDir), new DashboardBuilder(), 'real-run');
  assert.equal(dash.state, 'completed');
  assert.ok(dash.epochs.length >= 7, `every job's epochs (1 + 3 + 3), found ${dash.epochs.length}`);
  const listed = listText(path.join(dir, '.distill', 'runs'), dir);
  assert.match(listed, new RegExp(`${path.basename(first.runDir)}\\s+real-run\\s+completed\\s+torch · cpu\\s+3/3`));
});
