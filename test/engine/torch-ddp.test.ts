/**
 * Data-parallel torch runs through the bridge (issue 15): runExperiment with `processes: 2` (what
 * the CLI's `--processes 2` sends) on the REAL engine — a teacher job, then the scratch and
 * distilled students (the teacher's model, written by rank 0, read by both ranks) — completes with
 * a schema-valid folder whose backend notes say 2 processes, each step recorded once (rank 0
 * alone writes). A global batch the processes cannot share is refused located before any folder;
 * the TF.js engine refuses `--processes`. Skipped, saying why, without a Python that has torch.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ExperimentError } from '../../src/config/errors';
import { runExperiment } from '../../src/engine/run';
import { checkCandidate } from '../../src/engine/torch/interpreter';
import { readMetrics, readRun } from '../../src/runs/store';
import { runFolderViolations } from '../helpers/runSchemas';
import { REPO, tempDir } from '../helpers/experiments';
import { VECTOR_MODELS_PY } from '../helpers/torchModels';

const PYTHON = '/usr/bin/python3';
const skip = fs.existsSync(path.join(REPO, 'python', 'distill_torch', 'distributed.py')) ? undefined : 'python/distill_torch/distributed.py is not on this branch';

const dir = tempDir('distill-torchddp-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(path.join(dir, 'models.py'), VECTOR_MODELS_PY);

function experiment(name: string, batchSize: number, engine: 'torch' | 'tfjs' = 'torch'): string {
  const file = path.join(dir, `${name}.distill.json`);
  const models = engine === 'torch'
    ? { teacher: { module: 'models.py', export: 'teacher', train: { epochs: 1, batchSize, optimizer: { kind: 'adam', learningRate: 0.01 } } }, student: { module: 'models.py', export: 'student' } }
    : { teacher: { model: 'teacher/model.json' }, student: { module: 'models.ts', export: 'student' } };
  fs.writeFileSync(file, JSON.stringify({
    name, ...(engine === 'torch' ? { engine, device: 'cpu' } : {}),
    data: {
      train: { format: 'synthetic', kind: 'vectors', samples: 256, classes: 4, shape: [8], seed: 1 },
      test: { format: 'synthetic', kind: 'vectors', samples: 128, classes: 4, shape: [8], seed: 2 },
      normalize: 'none',
    },
    ...models,
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 2, batchSize, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
  }, null, 2));
  return file;
}

test('--processes 2: a torch run with two processes completes; one writer; the folder keeps the schemas', { skip }, async (t) => {
  if (!(await checkCandidate(PYTHON, 'request')).ok) return t.skip(`${PYTHON} has no torch ≥ 1.13`);
  const logs: string[] = [];
  const res = await runExperiment({ experiment: experiment('ddp-run', 32), python: PYTHON, processes: 2, emit: (m) => { if (m.type === 'log') logs.push(m.message); } });
  assert.equal(res.status, 'completed', res.error);
  const run = readRun(res.runDir);
  assert.equal(run.status, 'completed');
  assert.ok(run.backend?.notes.includes('distributed: 2 processes (gloo), global batch split evenly'), JSON.stringify(run.backend?.notes));
  assert.ok(logs.some((l) => l.startsWith('distributed: 2 processes (gloo)')), logs.join('\n'));
  assert.deepEqual(Object.values(run.jobs).map((j) => j.status), ['completed', 'completed', 'completed']);
  assert.deepEqual(runFolderViolations(res.runDir), []);
  const steps = readMetrics(res.runDir).filter((r) => r.type === 'step').map((r) => { const s = r as { job: string; globalStep: number }; return `${s.job}#${s.globalStep}`; });
  // the teacher's training logs every 20 steps (its own logEvery): its last step only; scratch and distill every step
  assert.equal(steps.length, 1 + 2 * 16, 'teacher 1 record, scratch and distill 2 epochs of 8 steps: each once');
  assert.equal(new Set(steps).size, steps.length);
  assert.ok(fs.existsSync(path.join(res.runDir, 'report.json')));

  // The same experiment in one process: every recorded figure of every step agrees within
  // |a − b| ≤ 1e-4·|a| + 1e-6 (python/tests/test_distributed.py says why; float32 summation order only).
  const one = await runExperiment({ experiment: experiment('ddp-run', 32), python: PYTHON });
  assert.equal(one.status, 'completed', one.error);
  const curve = (runDir: string): Map<string, Record<string, number>> => new Map(readMetrics(runDir)
    .filter((r) => r.type === 'step')
    .map((r) => { const s = r as { job: string; globalStep: number; losses: Record<string, number> }; return [`${s.job}#${s.globalStep}`, s.losses]; }));
  const a = curve(one.runDir);
  const b = curve(res.runDir);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let worst = 0;
  for (const [key, losses] of a) {
    for (const [term, v] of Object.entries(losses)) {
      const d = Math.abs(v - b.get(key)![term]);
      worst = Math.max(worst, d / Math.max(Math.abs(v), 1e-12));
      assert.ok(d <= 1e-4 * Math.abs(v) + 1e-6, `${key} ${term}: 1 process ${v}, 2 processes ${b.get(key)![term]}`);
    }
  }
  t.diagnostic(`largest relative difference of a step's loss, 2 processes vs 1: ${worst.toExponential(2)}`);
});

test('--processes 3 with batchSize 32: refused at training.batchSize before any folder', { skip }, async (t) => {
  if (!(await checkCandidate(PYTHON, 'request')).ok) return t.skip(`${PYTHON} has no torch ≥ 1.13`);
  await assert.rejects(runExperiment({ experiment: experiment('ddp-bad', 32), python: PYTHON, processes: 3 }), (e: unknown) => {
    assert.ok(e instanceof ExperimentError, String(e));
    assert.deepEqual(e.errors[0].path, ['training', 'batchSize']);
    assert.match(e.errors[0].message, /global batch of 3 processes/);
    return true;
  });
  assert.equal(fs.existsSync(path.join(dir, '.distill', 'runs', 'ddp-bad')), false);
});

test('--processes 2 on a TF.js experiment is refused, saying to set the torch engine', async () => {
  // the files a TF.js experiment names must exist to pass loading; the refusal comes before they are read
  fs.mkdirSync(path.join(dir, 'teacher'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'teacher', 'model.json'), '{}');
  fs.writeFileSync(path.join(dir, 'models.ts'), 'export {};\n');
  await assert.rejects(runExperiment({ experiment: experiment('ddp-tfjs', 32, 'tfjs'), processes: 2 }), /data-parallel runs need the torch engine/);
});
