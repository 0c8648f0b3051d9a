/**
 * The teacher thread (worker_threads) and its pipe: the thread computes exactly what the main
 * thread would (logits and tapped features, whole ranges, the shared logits-cache fill); a whole
 * offline run with a per-batch teacher gives the same metrics with the thread as without it, with
 * no tensor leak, also with augmented inputs and a student with dropout (random draws in step
 * order); a thread that cannot start is logged and the run completes in the main thread; stop and
 * resume mid-epoch keep every batch; and the bundled CLI finds dist/teacherThread.js.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { predictLogits } from '../../src/engine/training/evaluate';
import { modelArtifacts } from '../../src/engine/models/fileIO';
import { tapModel } from '../../src/engine/models/taps';
import { predictLogitsShared, TeacherPipe } from '../../src/engine/models/teacherPipe';
import { RandomStream, mulberry32 } from '../../src/engine/training/random';
import { runExperiment } from '../../src/engine/run';
import type { RunResult } from '../../src/engine/run';
import type { Dataset } from '../../src/engine/data';
import { imageExperiment, metricLines, REPO, tempDir, writeExperiment } from '../helpers/experiments';

let backend = 'cpu';
before(async () => {
  backend = (await initBackend('auto')).name;
});

/** The teacher thread serves the wasm and cpu backends only (tfjs-node already uses every core). */
const skipNoThread = () => (TeacherPipe.threadBackend(backend) ? false : `no teacher thread on backend ${backend}`);

/**
 * A test of the teacher thread: skipped, with the reason, on a backend that has none — decided when
 * the test runs, after `before` has picked the backend (an option computed at load time never skips).
 */
function threadTest(name: string, fn: () => unknown): void {
  test(name, async (t) => {
    const reason = skipNoThread();
    if (reason) {
      t.skip(reason);
      return;
    }
    await fn();
  });
}

function teacherModel(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_1' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ units: 16, activation: 'relu', name: 'dense_1' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return m;
}

function randomRows(n: number, per: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n * per }, () => r() * 2 - 1);
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  assert.ok(worst <= tol, `${what}: largest difference ${worst} > ${tol}`);
}

/** mulberry32 as published (Tommy Ettinger), seeded as the engine seeds it: an independent reference. */
function referenceMulberry32(seed: number): () => number {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    let t = (a += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('RandomStream gives mulberry32\'s values, and a fork or a skip lands where drawing would', () => {
  const a = referenceMulberry32(42);
  const s = new RandomStream(42);
  const m = mulberry32(42);
  for (let i = 0; i < 100; i++) {
    const want = a();
    assert.equal(s.next(), want);
    assert.equal(m(), want);
  }
  const fork = s.fork(7);
  for (let i = 0; i < 7; i++) s.next();
  assert.equal(fork.position, s.position);
  for (let i = 0; i < 20; i++) assert.equal(fork.next(), s.next());
  const t = new RandomStream(42);
  t.skip(127);
  assert.equal(t.next(), new RandomStream(42).fork(127).next());
});

threadTest('the thread\'s logits and tapped features equal the main thread\'s; ranges and the shared cache fill too', async () => {
  const model = teacherModel();
  const layers = ['conv_1', 'dense_1'];
  const logs: string[] = [];
  const pipe = await TeacherPipe.start(model, { layers, inputShape: [8, 8, 1], backend, log: (m) => logs.push(m) });
  assert.ok(pipe);
  try {
    await pipe.ready;
    const x = randomRows(37, 64, 1);
    const [r1, r2] = await Promise.all([pipe.result(pipe.submit(x, 37)), pipe.result(pipe.submit(x.subarray(0, 5 * 64), 5))]);
    const main = tf.tidy(() => (tapModel(model, layers).predict(tf.tensor(x, [37, 8, 8, 1])) as tf.Tensor[]).map((t) => ({ shape: t.shape, data: t.dataSync() })));
    assert.equal(r1.outputs.length, 3);
    main.forEach((m, i) => {
      assert.deepEqual(r1.shapes[i], m.shape);
      assertClose(r1.outputs[i], m.data, 1e-5, `output ${i} (${i ? layers[i - 1] : 'logits'})`);
    });
    assertClose(r2.outputs[0], main[0].data.subarray(0, 5 * 4), 1e-5, 'a view of a larger array');

    // a range of rows, and every split at once with both threads, against predictLogits
    const ds = (n: number, seed: number): Dataset => ({ name: `d${seed}`, x: randomRows(n, 64, seed), y: new Int32Array(n), shape: [8, 8, 1], size: n, numClasses: 4, maxValue: 1 });
    const splits = [ds(2600, 2), ds(300, 3), ds(1100, 4)];
    assertClose(await pipe.predictRange(splits[0].x, 2600), predictLogits(model, splits[0], [8, 8, 1]), 1e-5, 'predictRange');
    const shared = await predictLogitsShared(model, splits, [8, 8, 1], pipe, 512);
    splits.forEach((s, i) => assertClose(shared[i], predictLogits(model, s, [8, 8, 1]), 1e-5, `shared fill of split ${i}`));
    assert.deepEqual(logs, []);
  } finally {
    pipe.dispose();
    model.dispose();
  }
});

threadTest('a thread that cannot load its teacher is logged once, rejects its requests, and the main thread fills the cache', async () => {
  const model = teacherModel();
  const artifacts = await modelArtifacts(model);
  const bad = { ...artifacts, weightData: (artifacts.weightData as ArrayBuffer).slice(0, 40) };
  const logs: string[] = [];
  const pipe = TeacherPipe.spawn({ artifacts: bad, layers: [], inputShape: [8, 8, 1], backend: TeacherPipe.threadBackend(backend)! },
    { log: (m) => logs.push(m), label: 'test' });
  const id = pipe.submit(randomRows(3, 64, 5), 3);
  await assert.rejects(pipe.ready, /teacher thread: could not load the teacher/);
  await assert.rejects(pipe.result(id), /teacher thread/);
  await assert.rejects(pipe.result(pipe.submit(randomRows(3, 64, 5), 3)), /teacher thread/, 'later requests are rejected at once');
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0], /^test: the teacher thread stopped \(could not load the teacher: .*\): the teacher runs in the main thread instead$/);
  const d: Dataset = { name: 'd', x: randomRows(700, 64, 6), y: new Int32Array(700), shape: [8, 8, 1], size: 700, numClasses: 4, maxValue: 1 };
  const [logits] = await predictLogitsShared(model, [d], [8, 8, 1], pipe, 512);
  assert.deepEqual(logits, predictLogits(model, d, [8, 8, 1]));
  pipe.dispose();
  model.dispose();
});

threadTest('a forward pass that fails in the thread stops the pipe with one log line; later requests are rejected at once', async () => {
  const model = teacherModel();
  const logs: string[] = [];
  const pipe = (await TeacherPipe.start(model, { layers: ['conv_1'], inputShape: [8, 8, 1], backend, log: (m) => logs.push(m), label: 'test' }))!;
  await pipe.ready;
  assert.ok(pipe.isReady);
  await assert.rejects(pipe.result(pipe.submit(randomRows(3, 64, 7), 4)), /teacher thread: a forward pass failed/); // 3 rows announced as 4
  assert.ok(pipe.failed);
  assert.ok(!pipe.isReady);
  await assert.rejects(pipe.result(pipe.submit(randomRows(3, 64, 7), 3)), /teacher thread/);
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0], /^test: the teacher thread stopped \(a forward pass failed: .*\): the teacher runs in the main thread instead$/);
  pipe.dispose();
  model.dispose();
});

threadTest('an idle thread does not keep the process alive (a pipe nobody disposed)', () => {
  const script = `
    const tf = require('@tensorflow/tfjs');
    const { initBackend } = require(${JSON.stringify(path.join(REPO, 'src/engine/backend'))});
    const { TeacherPipe } = require(${JSON.stringify(path.join(REPO, 'src/engine/models/teacherPipe'))});
    (async () => {
      const b = await initBackend(${JSON.stringify(backend)});
      const m = tf.sequential();
      m.add(tf.layers.dense({ inputShape: [4], units: 2 }));
      const pipe = await TeacherPipe.start(m, { layers: [], inputShape: [4], backend: b.name });
      const r = await pipe.result(pipe.submit(new Float32Array(8), 2));
      console.log('answered', r.shapes[0].join('x'));
    })();`;
  const r = cp.spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, 'exited by itself, not killed by the timeout');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /answered 2x2/);
});

/** Synthetic images, a CNN teacher trained first, FitNet + AT pairs with no feature cache: the teacher runs on every batch. */
function perBatchExperiment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = imageExperiment({}, 320);
  return {
    ...base,
    name: 'teacher-thread',
    data: { ...(base.data as object), validation: { fraction: 0.2 } },
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 1 },
      { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'conv_2', student: 'conv_2' }] },
      { kind: 'feature', method: 'at', weight: 10, pairs: [{ teacher: 'conv_1', student: 'conv_1' }] },
    ],
    teacherCacheMB: 0,
    ...overrides,
  };
}

interface Observed { result: RunResult; logs: string[]; tensorsAtEpoch: number[] }

async function run(exp: Record<string, unknown>, teacherThread: boolean, opts: { dir?: string; shouldStop?: (runDir: string) => boolean } = {}): Promise<Observed> {
  const logs: string[] = [];
  const tensorsAtEpoch: number[] = [];
  let runDir = '';
  const result = await runExperiment({
    experiment: writeExperiment(opts.dir ?? tempDir(), exp), teacherThread,
    emit: (m) => {
      if (m.type === 'log') logs.push(m.message);
      if (m.type === 'started') runDir = m.runDir;
      if (m.type === 'epoch' && m.job === 'distill-s1') tensorsAtEpoch.push(tf.memory().numTensors);
    },
    shouldStop: () => Boolean(opts.shouldStop?.(runDir)),
  });
  return { result, logs, tensorsAtEpoch };
}

function distillSteps(runDir: string): { epoch: number; step: number; losses: Record<string, number> }[] {
  return metricLines(runDir).filter((l) => l.type === 'step' && l.job === 'distill-s1')
    .map((l) => ({ epoch: l.epoch as number, step: l.step as number, losses: l.losses as Record<string, number> }));
}

function distillEpochs(runDir: string): Record<string, unknown>[] {
  return metricLines(runDir).filter((l) => l.type === 'epoch' && l.job === 'distill-s1');
}

/** The same per-step losses and per-epoch figures (to float tolerance). */
function assertSameTraining(a: string, b: string): void {
  const sa = distillSteps(a);
  const sb = distillSteps(b);
  assert.deepEqual(sa.map((s) => [s.epoch, s.step]), sb.map((s) => [s.epoch, s.step]), 'the same steps');
  sa.forEach((s, i) => {
    for (const [k, v] of Object.entries(s.losses)) assertClose([v], [sb[i].losses[k]], 1e-5, `epoch ${s.epoch} step ${s.step} ${k}`);
  });
  const ea = distillEpochs(a);
  const eb = distillEpochs(b);
  assert.equal(ea.length, eb.length);
  ea.forEach((e, i) => {
    for (const k of ['trainAcc', 'valAcc', 'testAcc', 'testErrors', 'agreement', 'klTeacher']) assertClose([e[k] as number], [eb[i][k] as number], 1e-5, `epoch ${e.epoch} ${k}`);
    for (const [k, v] of Object.entries(e.losses as Record<string, number>)) assertClose([v], [(eb[i].losses as Record<string, number>)[k]], 1e-5, `epoch ${e.epoch} loss ${k}`);
  });
}

threadTest('an offline run with a per-batch teacher (FitNet + AT, no feature cache) gives the same metrics with the teacher thread as without, no tensor leak', async () => {
    const on = await run(perBatchExperiment(), true);
    const off = await run(perBatchExperiment(), false);
    assert.equal(on.result.status, 'completed', on.result.error);
    assert.equal(off.result.status, 'completed', off.result.error);
    assert.ok(on.logs.some((l) => /^distill-s1: the teacher runs in a worker thread, one batch ahead of the student$/.test(l)), on.logs.join('\n'));
    assert.ok(!on.logs.some((l) => /teacher thread stopped/.test(l)), on.logs.join('\n'));
    assert.ok(!off.logs.some((l) => /worker thread/.test(l)), off.logs.join('\n'));
    assertSameTraining(on.result.runDir, off.result.runDir);
    assert.equal(on.tensorsAtEpoch.length, 3);
    assert.equal(on.tensorsAtEpoch[2], on.tensorsAtEpoch[1], `tensors steady across epochs (${on.tensorsAtEpoch.join(', ')})`);
  });

threadTest('logits-only KD: the training split is cached during the first epoch by the thread; every epoch and a second seed match the upfront cache', async () => {
    const exp = () => perBatchExperiment({
      seeds: [1, 2],
      knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }],
      // stepsPerEpoch 6 of 8: epoch 1 leaves rows missing, so later epochs still fill some.
      training: { epochs: 3, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1, stepsPerEpoch: 6 },
    });
    const on = await run(exp(), true);
    const off = await run(exp(), false);
    assert.equal(on.result.status, 'completed', on.result.error);
    assert.equal(off.result.status, 'completed', off.result.error);
    assert.ok(on.logs.some((l) => /^caching the outputs of the teacher \(evaluation splits now; the training split during the first epoch/.test(l)), on.logs.join('\n'));
    assert.ok(on.logs.some((l) => /^distill-s1: the teacher's logits of the training split are computed in a worker thread/.test(l)), on.logs.join('\n'));
    assert.ok(!off.logs.some((l) => /worker thread|evaluation splits now/.test(l)), off.logs.join('\n'));
    assertSameTraining(on.result.runDir, off.result.runDir);
    const seed2 = (dir: string) => metricLines(dir).filter((l) => l.type === 'epoch' && l.job === 'distill-s2').map((l) => l.testAcc as number);
    assertClose(seed2(on.result.runDir), seed2(off.result.runDir), 1e-5, 'second seed (reads the cache the first one filled)');
  });

threadTest('augmented inputs and a student with dropout: the batches built ahead draw the same random values (same losses as without the thread)', async () => {
    const exp = () => {
      const e = perBatchExperiment({
        student: { module: 'models.ts', export: 'mlp', args: { inputs: 64, hidden: [16, 12], dropout: 0.3, inputDropout: 0.1, classes: 4 } },
        knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }],
        training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
      });
      (e.data as Record<string, unknown>).augment = { shift: 1 };
      return e;
    };
    const on = await run(exp(), true);
    const off = await run(exp(), false);
    assert.equal(on.result.status, 'completed', on.result.error);
    assert.equal(off.result.status, 'completed', off.result.error);
    assert.ok(on.logs.some((l) => /distill-s1: the teacher runs in a worker thread/.test(l)), on.logs.join('\n'));
    assertSameTraining(on.result.runDir, off.result.runDir);
  });

threadTest('a teacher the thread cannot rebuild (a custom layer class) is logged, and the run completes in the main thread', async () => {
  const dir = tempDir();
  // The custom layer is registered in the engine's process by the model module; the thread never loads that module.
  fs.writeFileSync(path.join(dir, 'custom.ts'), `
import * as tf from '@tensorflow/tfjs';
class TwiceLayer extends tf.layers.Layer {
  static className = 'TestTwice';
  call(inputs: tf.Tensor | tf.Tensor[]) { return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, 2); }
}
tf.serialization.registerClass(TwiceLayer);
export function twiceCnn(_tf: typeof tf): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_1' }));
  m.add(new TwiceLayer({ name: 'twice' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return m;
}
`);
  const o = await run(perBatchExperiment({
    teacher: { module: 'custom.ts', export: 'twiceCnn', train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    knowledge: [{ kind: 'feature', method: 'at', weight: 10, pairs: [{ teacher: 'twice', student: 'conv_1' }] }],
  }), true, { dir });
  assert.equal(o.result.status, 'completed', o.result.error);
  // (the logits-cache fill may finish in the main thread before the thread has even failed: then it says nothing)
  const stopped = o.logs.filter((l) => /^distill-s1: the teacher thread stopped \(could not load the teacher: Unknown layer: TestTwice\b.*\): the teacher runs in the main thread instead$/.test(l));
  assert.equal(stopped.length, 1, o.logs.join('\n'));
  assert.ok(!o.logs.some((l) => /distill-s1: the teacher runs in a worker thread/.test(l)), o.logs.join('\n'));
  assert.equal(distillEpochs(o.result.runDir).length, 3);
  assert.equal(o.tensorsAtEpoch[2], o.tensorsAtEpoch[1], `tensors steady across epochs (${o.tensorsAtEpoch.join(', ')})`);
});

threadTest('stop mid-epoch and resume with the teacher thread: every batch once, the same losses as an uninterrupted run', async () => {
  const straight = await run(perBatchExperiment(), false);
  assert.equal(straight.result.status, 'completed', straight.result.error);
  // stop after step 4 of epoch 2 (8 steps per epoch): checked after each step, once its line is written
  const stopAt = (runDir: string) => Boolean(runDir) && fs.existsSync(path.join(runDir, 'metrics.jsonl')) &&
    distillSteps(runDir).some((s) => s.epoch === 2 && s.step === 4);
  const first = await run(perBatchExperiment(), true, { shouldStop: stopAt });
  assert.equal(first.result.status, 'cancelled', first.result.error);
  const last = distillSteps(first.result.runDir).at(-1)!;
  assert.deepEqual([last.epoch, last.step], [2, 4]);
  const logs: string[] = [];
  const resumed = await runExperiment({ resume: first.result.runDir, teacherThread: true, emit: (m) => { if (m.type === 'log') logs.push(m.message); } });
  assert.equal(resumed.status, 'completed', resumed.error);
  assert.ok(logs.some((l) => /distill-s1: resuming at epoch 2, step 4/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => /distill-s1: the teacher runs in a worker thread/.test(l)), logs.join('\n'));
  assertSameTraining(first.result.runDir, straight.result.runDir);
});

threadTest('the bundled CLI starts dist/teacherThread.js beside it', () => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
  assert.ok(fs.existsSync(path.join(REPO, 'dist', 'teacherThread.js')));
  const dir = tempDir();
  const file = writeExperiment(dir, perBatchExperiment({ training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 5 } }));
  // the CLI's own process: plain node, no tsx (the log lines go to stderr)
  const r = cp.spawnSync('node', [path.join(REPO, 'dist', 'cli.js'), 'run', file, '--backend', backend],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /distill-s1: the teacher runs in a worker thread, one batch ahead of the student/);
  assert.doesNotMatch(r.stderr, /teacher thread stopped/);
});
