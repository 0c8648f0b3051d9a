/**
 * Exact resume under faults: a run of a student with Dropout and BatchNormalization, augmented
 * images and a feature pair with an adapter, SIGKILLed several times at random moments — in the
 * middle of an epoch, in the middle of a checkpoint write, during the epoch-end evaluation — and
 * resumed each time, ends with the same weights, bit for bit, and the same metrics (as the one
 * reader sees them: the dashboard, the tree and report.json) as the same run left alone. The run
 * also has an adversarial term (issue 18) whose discriminator, its Adam state and its epoch sums
 * must come back from every checkpoint: its loss and accuracy are in the compared step and epoch records.
 *
 * The moments are chosen by the engine's hold points (src/engine/training/faults.ts): at the chosen one the
 * CLI process writes a file and freezes; the test sees the file and SIGKILLs the process. The
 * choice is random; DISTILL_FAULT_SEED=<n> repeats a given one (the seed is printed).
 */
import { processAlive } from '../../src/runs/lock';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { MetricRecord } from '../../src/runs/store';
import { readMetrics, readRun } from '../../src/runs/store';
import { mulberry32 } from '../../src/engine/training/random';
import { readRunView } from '../../src/host/runData';
import { DashboardBuilder, readReport } from '../../src/host/panels/panelData';
import { MetricsTail } from '../../src/runs/store';
import { REPO, teacherCnn, tempDir, writeExperiment } from '../helpers/experiments';


const CLI = path.join(REPO, 'dist', 'cli.js');

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** The student: conv → BatchNormalization → relu → pool → Dropout → dense → Dropout → logits. */
const STUDENT_MODULE = `
export function student(tf) {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', name: 'conv_1' }));
  m.add(tf.layers.batchNormalization({ name: 'bn_1' }));
  m.add(tf.layers.activation({ activation: 'relu', name: 'relu_1' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dropout({ rate: 0.3, name: 'drop_1' }));
  m.add(tf.layers.dense({ units: 12, activation: 'relu', name: 'dense_1' }));
  m.add(tf.layers.dropout({ rate: 0.3, name: 'drop_2' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return m;
}
`;

const EPOCHS = 4;

function experiment(): Record<string, unknown> {
  return {
    name: 'exact-resume',
    seeds: [1],
    data: {
      // 240 images, 48 of them for validation: 12 steps of 16 per epoch
      train: { format: 'synthetic', kind: 'images', samples: 240, classes: 4, shape: [8, 8, 1], seed: 1 },
      test: { format: 'synthetic', kind: 'images', samples: 64, classes: 4, shape: [8, 8, 1], seed: 2 },
      validation: { fraction: 0.2 },
      augment: { shift: 1 },
    },
    teacher: teacherCnn,
    student: { module: 'student.js', export: 'student' },
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 0.5 },
      { kind: 'feature', method: 'fitnet', weight: 0.5, pairs: [{ teacher: 'conv_1', student: 'conv_1' }] },
      { kind: 'adversarial', weight: 0.3, conditional: true, temperature: 2, learningRate: 0.01 },
    ],
    labels: { weight: 0.5 },
    training: { epochs: EPOCHS, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1, checkpointEvery: { steps: 4 } },
    baseline: true,
  };
}

/**
 * Runs the CLI (`run` or `resume`); with a hold, waits (polling, with a deadline) until the process
 * is frozen at the hold point, SIGKILLs it and returns where it stood.
 */
async function attempt(args: string[], hold: string | undefined, holdFile: string): Promise<{ where?: Record<string, unknown>; out: string }> {
  fs.rmSync(holdFile, { force: true });
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DISTILL_HOLD;
  delete env.DISTILL_HOLD_FILE;
  if (hold) Object.assign(env, { DISTILL_HOLD: hold, DISTILL_HOLD_FILE: holdFile });
  // its own process group: SIGKILL takes the CLI and the engine process it forked (the one that holds)
  const child = cp.spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  let exit: string | number | null | undefined;
  const exited = new Promise<string | number | null>((r) => child.on('exit', (c, s) => r((exit = s ?? c))));
  if (!hold) {
    const code = await exited;
    assert.equal(code, 0, `distill ${args.join(' ')}:\n${out}`);
    return { out };
  }
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (fs.existsSync(holdFile)) {
      const text = fs.readFileSync(holdFile, 'utf8');
      if (text.endsWith('}')) {
        const where = JSON.parse(text) as Record<string, unknown>;
        process.kill(-child.pid!, 'SIGKILL');
        assert.equal(await exited, 'SIGKILL');
        // the engine of the group (the process that wrote the hold file) is gone before the next attempt
        const gone = Date.now() + 30_000;
        while (processAlive(Number(where.pid))) {
          assert.ok(Date.now() < gone, 'the engine outlived SIGKILL of its group');
          await new Promise((r) => setTimeout(r, 20));
        }
        return { where, out };
      }
    }
    assert.equal(exit, undefined, `distill ${args.join(' ')} ended (${exit}) before reaching ${hold}:\n${out}`);
    assert.ok(Date.now() < deadline, `distill ${args.join(' ')} did not reach ${hold} in 90 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function runFolder(runsDir: string): string {
  const expDir = path.join(runsDir, 'exact-resume');
  const ids = fs.readdirSync(expDir);
  assert.equal(ids.length, 1, `one run folder in ${expDir}`);
  return path.join(expDir, ids[0]);
}

/** The step and epoch records, without the wall-clock fields (time stamps, epoch seconds). */
function effectiveMetrics(runDir: string): MetricRecord[] {
  return readMetrics(runDir).filter((r) => r.type === 'step' || r.type === 'epoch').map((r) => {
    const { t: _t, ...rest } = r as MetricRecord & { seconds?: number };
    delete (rest as { seconds?: number }).seconds;
    return rest as MetricRecord;
  });
}

function files(dir: string): Record<string, Buffer> {
  return Object.fromEntries(fs.readdirSync(dir, { withFileTypes: true }).filter((f) => f.isFile()).map((f) => f.name).sort()
    .map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

test('SIGKILL mid-epoch, during a checkpoint write and during evaluation, resumed each time: same weights bit for bit and the same metrics as an uninterrupted run',
  { timeout: 240_000 }, async (t) => {
    const seed = Number(process.env.DISTILL_FAULT_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    // 2 jobs × 4 epochs × 12 steps = 96 steps. A process held at the n-th step, checkpoint write
    // (every 4 steps and at epoch ends) or evaluation has run at most 12, 4n or 12n steps: the six
    // processes below (≤ 12 + 12 + 24 + 12 + 24 + 8 = 92 steps) are all killed before the end.
    const holds = [`step:${pick(2, 12)}`, `checkpoint-write:${pick(1, 3)}`, `eval:${pick(1, 2)}`, `step:${pick(1, 12)}`,
      `eval:${pick(1, 2)}`, `checkpoint-write:${pick(1, 2)}`];
    t.diagnostic(`DISTILL_FAULT_SEED=${seed}: ${holds.join(', ')}`);

    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'student.js'), STUDENT_MODULE);
    const file = writeExperiment(dir, experiment());
    const holdFile = path.join(dir, 'held.json');

    const refRuns = path.join(dir, 'reference');
    await attempt(['run', file, '--runs-dir', refRuns], undefined, holdFile);
    const ref = runFolder(refRuns);

    const faultRuns = path.join(dir, 'faulty');
    const stops: string[] = [];
    for (const [i, hold] of holds.entries()) {
      const args = i === 0 ? ['run', file, '--runs-dir', faultRuns] : ['resume', runFolder(faultRuns)];
      const { where } = await attempt(args, hold, holdFile);
      stops.push(JSON.stringify(where));
    }
    t.diagnostic(`killed at: ${stops.join('; ')}`);
    const faulty = runFolder(faultRuns);
    await attempt(['resume', faulty], undefined, holdFile);
    assert.equal(readRun(faulty).status, 'completed');
    assert.equal(readRun(faulty).resumes.length, holds.length);

    for (const job of ['scratch-s1', 'distill-s1']) {
      const a = files(path.join(ref, 'models', job));
      const b = files(path.join(faulty, 'models', job));
      assert.deepEqual(Object.keys(b), Object.keys(a));
      assert.ok(b['weights.bin'].equals(a['weights.bin']), `${job}: the final weights differ from the uninterrupted run's (${stops.join('; ')})`);
    }
    assert.ok(files(path.join(faulty, 'student'))['weights.bin'].equals(files(path.join(ref, 'student'))['weights.bin']));

    const want = effectiveMetrics(ref);
    const got = effectiveMetrics(faulty);
    assert.equal(want.filter((r) => r.type === 'step').length, 2 * EPOCHS * 12);
    assert.deepEqual(got, want);
    // the discriminator's figures are among the compared ones, in every distill step and epoch
    const distillSteps = want.filter((r): r is Extract<MetricRecord, { type: 'step' }> => r.type === 'step' && r.job === 'distill-s1');
    assert.ok(distillSteps.length === EPOCHS * 12 && distillSteps.every((r) => Number.isFinite(r.params?.['adversarial.discAcc'])));
    assert.ok(want.filter((r) => r.type === 'epoch' && r.job === 'distill-s1').every((r) => Number.isFinite((r as { extras?: Record<string, number> }).extras?.['adversarial.discLoss'])));
    // the other readers agree: the tree's view, the dashboard, report.json
    const view = (d: string) => {
      const v = readRunView(d)!;
      return { jobSeries: v.jobSeries, last: v.last, best: v.best, epochs: v.epochs.map((e) => ({ ...e, t: '', seconds: 0 })) };
    };
    assert.deepEqual(view(faulty), view(ref));
    const dashboard = (d: string) => new DashboardBuilder().points(new MetricsTail(d).read());
    assert.deepEqual(dashboard(faulty), dashboard(ref));
    assert.deepEqual(readReport(faulty)!.jobs, readReport(ref)!.jobs);
    assert.deepEqual(readReport(faulty)!.summary, readReport(ref)!.summary);
    // the interrupted run's file holds the records of the killed attempts too (nothing is rewritten)
    assert.ok(readMetrics(faulty).length < fs.readFileSync(path.join(faulty, 'metrics.jsonl'), 'utf8').trim().split('\n').length);
    // mid-epoch checkpoints are dropped once a later one exists; killed writes leave nothing behind
    for (const job of ['scratch-s1', 'distill-s1']) {
      assert.deepEqual(fs.readdirSync(path.join(faulty, 'checkpoints', job)).sort(), ['epoch-0001', 'epoch-0002', 'epoch-0003', 'epoch-0004']);
    }
  });

test('an adversarial run SIGKILLed in its distill job — mid-epoch, in a checkpoint write, in evaluation — resumes to the same discriminator figures and weights',
  { timeout: 240_000 }, async (t) => {
    const seed = Number(process.env.DISTILL_FAULT_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    // no baseline: every hold is in distill-s1 (4 epochs × 12 steps; the four processes run ≤ 12 + 12 + 24 + 12 steps)
    const holds = [`step:${pick(2, 12)}`, `checkpoint-write:${pick(1, 3)}`, `eval:${pick(1, 2)}`, `step:${pick(1, 12)}`];
    t.diagnostic(`DISTILL_FAULT_SEED=${seed}: ${holds.join(', ')}`);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'student.js'), STUDENT_MODULE);
    const file = writeExperiment(dir, { ...experiment(), baseline: false });
    const holdFile = path.join(dir, 'held.json');
    const refRuns = path.join(dir, 'reference');
    await attempt(['run', file, '--runs-dir', refRuns], undefined, holdFile);
    const faultRuns = path.join(dir, 'faulty');
    const stops: string[] = [];
    for (const [i, hold] of holds.entries()) {
      const { where } = await attempt(i === 0 ? ['run', file, '--runs-dir', faultRuns] : ['resume', runFolder(faultRuns)], hold, holdFile);
      assert.equal((where as { job?: string }).job ?? 'distill-s1', 'distill-s1');
      stops.push(JSON.stringify(where));
    }
    t.diagnostic(`killed at: ${stops.join('; ')}`);
    const faulty = runFolder(faultRuns);
    await attempt(['resume', faulty], undefined, holdFile);
    const ref = runFolder(refRuns);
    assert.ok(files(path.join(faulty, 'models', 'distill-s1'))['weights.bin'].equals(files(path.join(ref, 'models', 'distill-s1'))['weights.bin']),
      `the final weights differ from the uninterrupted run's (${stops.join('; ')})`);
    const want = effectiveMetrics(ref);
    assert.deepEqual(effectiveMetrics(faulty), want);
    const steps = want.filter((r): r is Extract<MetricRecord, { type: 'step' }> => r.type === 'step');
    assert.equal(steps.length, EPOCHS * 12);
    assert.ok(steps.every((r) => Number.isFinite(r.params?.['adversarial.discLoss']) && Number.isFinite(r.params?.['adversarial.discAcc'])));
    assert.ok(want.filter((r) => r.type === 'epoch').every((r) => Number.isFinite((r as { extras?: Record<string, number> }).extras?.['adversarial.discAcc'])));
  });

test('issue 18: a quantisation-aware job (4-bit kernels, activation ranges) SIGKILLed mid-epoch and resumed: the same weights, ranges, metrics and int4-qat copy as an uninterrupted run',
  { timeout: 240_000 }, async (t) => {
    const seed = Number(process.env.DISTILL_FAULT_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    // distill-s1 then qat-s1, 2 epochs × 12 steps each: the first process is killed at qat-s1's
    // step 6–10 of epoch 1 (after its step-4 checkpoint, which holds the activation ranges), the
    // second 3–6 steps after it resumed.
    const holds = [`step:${pick(30, 34)}`, `step:${pick(3, 6)}`];
    t.diagnostic(`DISTILL_FAULT_SEED=${seed}: ${holds.join(', ')}`);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'student.js'), STUDENT_MODULE);
    const base = experiment();
    const file = writeExperiment(dir, {
      ...base, baseline: false,
      student: { module: 'student.js', export: 'student', quantize: { bits: 4, aware: true, activations: true } },
      training: { ...(base.training as object), epochs: 2 },
    });
    const holdFile = path.join(dir, 'held.json');
    const refRuns = path.join(dir, 'reference');
    await attempt(['run', file, '--runs-dir', refRuns], undefined, holdFile);
    const ref = runFolder(refRuns);
    const faultRuns = path.join(dir, 'faulty');
    const stops: string[] = [];
    for (const [i, hold] of holds.entries()) {
      const args = i === 0 ? ['run', file, '--runs-dir', faultRuns] : ['resume', runFolder(faultRuns)];
      const { where } = await attempt(args, hold, holdFile);
      stops.push(JSON.stringify(where));
      assert.equal(where?.job, 'qat-s1', `killed in qat-s1 (${JSON.stringify(where)})`);
    }
    t.diagnostic(`killed at: ${stops.join('; ')}`);
    const faulty = runFolder(faultRuns);
    await attempt(['resume', faulty], undefined, holdFile);
    assert.equal(readRun(faulty).status, 'completed');
    assert.deepEqual(Object.keys(readRun(faulty).jobs), ['distill-s1', 'qat-s1']);
    const a = files(path.join(ref, 'models', 'qat-s1'));
    const b = files(path.join(faulty, 'models', 'qat-s1'));
    assert.deepEqual(Object.keys(b), ['model.json', 'qat.json', 'weights.bin']);
    assert.ok(b['weights.bin'].equals(a['weights.bin']), `qat-s1: the final weights differ (${stops.join('; ')})`);
    const ranges = JSON.parse(String(b['qat.json'])) as { ranges: Record<string, { min: number; max: number }> };
    assert.deepEqual(Object.keys(ranges.ranges), ['conv_1', 'dense_1', 'logits']);
    assert.deepEqual(ranges, JSON.parse(String(a['qat.json'])), 'the activation ranges are those of the uninterrupted run');
    assert.ok(files(path.join(faulty, 'student', 'int4-qat'))['weights.bin'].equals(files(path.join(ref, 'student', 'int4-qat'))['weights.bin']));
    assert.deepEqual(effectiveMetrics(faulty), effectiveMetrics(ref));
    const rf = readReport(faulty)!;
    assert.deepEqual(rf.quantizedVariants, readReport(ref)!.quantizedVariants);
    assert.deepEqual(rf.quantizedVariants!.map((q) => [q.dir, q.method, q.bits]), [['student/int4', 'ptq', 4], ['student/int4-qat', 'qat', 4]]);
  });
