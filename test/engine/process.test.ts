/**
 * The engine as a separate process, the way the extension and the CLI use it: the typed worker
 * protocol through a real `child_process.fork`, stop → cancelled → resume, SIGKILL mid-epoch →
 * resume with metrics intact and not duplicated, Ctrl-C in the CLI.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { EngineToHost } from '../../src/protocol/engine';
import { isEngineToHost } from '../../src/protocol/engine';
import { isOwnerAlive, readMetrics, readRun } from '../../src/runs/store';
import { listCheckpoints } from '../../src/engine/runs/checkpoints';
import { REPO, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

const WORKER = path.join(REPO, 'dist', 'worker.js');
const CLI = path.join(REPO, 'dist', 'cli.js');

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** An experiment long enough (≈ 2k steps) to be interrupted in the middle of a student epoch. */
function longExperiment(): Record<string, unknown> {
  return syntheticExperiment({
    baseline: false,
    data: {
      train: { format: 'synthetic', kind: 'vectors', samples: 8192, classes: 4, shape: [16], seed: 1 },
      test: { format: 'synthetic', kind: 'vectors', samples: 256, classes: 4, shape: [16], seed: 2 },
      normalize: 'none',
    },
    teacher: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [32], classes: 4 },
      train: { epochs: 1, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    training: { epochs: 4, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.005 }, logEvery: 1 },
  });
}

interface Worker { child: cp.ChildProcess; messages: EngineToHost[]; waitFor(pred: (m: EngineToHost) => boolean): Promise<EngineToHost>; exited: Promise<number | string | null> }

function forkWorker(): Worker {
  const child = cp.fork(WORKER, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const messages: EngineToHost[] = [];
  const waiters: { pred: (m: EngineToHost) => boolean; resolve: (m: EngineToHost) => void }[] = [];
  child.on('message', (m: unknown) => {
    assert.ok(isEngineToHost(m), `typed message: ${JSON.stringify(m)}`);
    messages.push(m);
    for (const w of waiters.splice(0)) {
      if (w.pred(m)) w.resolve(m);
      else waiters.push(w);
    }
  });
  const exited = new Promise<number | string | null>((r) => child.on('exit', (code, signal) => r(signal ?? code)));
  return {
    child, messages, exited,
    waitFor: (pred) => {
      const hit = messages.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve });
        void exited.then((code) => reject(new Error(`worker exited (${code}) before the expected message; got: ${messages.map((m) => m.type).join(',')}`)));
      });
    },
  };
}

test('worker protocol through a forked process: ready → started → progress/epoch/checkpoint → done', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment());
  const w = forkWorker();
  const ready = await w.waitFor((m) => m.type === 'ready');
  assert.equal((ready as Extract<EngineToHost, { type: 'ready' }>).pid, w.child.pid);
  w.child.send({ type: 'bogus' });
  w.child.send({ type: 'start', experiment: file });
  const done = await w.waitFor((m) => m.type === 'done') as Extract<EngineToHost, { type: 'done' }>;
  assert.equal(done.status, 'completed');
  assert.equal(await w.exited, 0);
  const types = w.messages.map((m) => m.type);
  assert.equal(types[0], 'ready');
  assert.ok(types.indexOf('started') < types.indexOf('progress'));
  for (const t of ['progress', 'epoch', 'checkpoint', 'log']) assert.ok(types.includes(t as EngineToHost['type']), t);
  assert.ok(w.messages.some((m) => m.type === 'log' && m.level === 'warn' && /malformed/.test(m.message)), 'malformed message reported');
  const p = w.messages.find((m) => m.type === 'progress' && m.job === 'distill-s1') as Extract<EngineToHost, { type: 'progress' }>;
  assert.ok('kd' in p.losses && 'labels' in p.losses && 'total' in p.losses);
  assert.equal(readRun(done.runDir).status, 'completed');
});

test('worker: an invalid experiment fails with the located error, before any run folder exists', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'bad.distill.json');
  fs.writeFileSync(file, '{\n  "name": "x",\n  "seeds": [1,\n}');
  const w = forkWorker();
  await w.waitFor((m) => m.type === 'ready');
  w.child.send({ type: 'start', experiment: file });
  const failed = await w.waitFor((m) => m.type === 'failed') as Extract<EngineToHost, { type: 'failed' }>;
  assert.match(failed.error, /bad\.distill\.json:\d+:\d+/);
  assert.equal(await w.exited, 1);
  assert.equal(fs.existsSync(path.join(dir, '.distill')), false);
});

test('worker: stop → checkpoint → cancelled; resume in a new worker → completed', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, longExperiment());
  const w = forkWorker();
  await w.waitFor((m) => m.type === 'ready');
  w.child.send({ type: 'start', experiment: file });
  await w.waitFor((m) => m.type === 'progress' && m.job === 'distill-s1' && m.epoch === 2);
  w.child.send({ type: 'stop' });
  const done = await w.waitFor((m) => m.type === 'done') as Extract<EngineToHost, { type: 'done' }>;
  assert.equal(done.status, 'cancelled');
  await w.exited;
  const run = readRun(done.runDir);
  assert.equal(run.status, 'cancelled');
  const ck = listCheckpoints(done.runDir, 'distill-s1');
  const last = ck[ck.length - 1].state;
  assert.equal(last.epoch, 2);
  assert.equal(last.epochEnd, false, 'mid-epoch checkpoint');

  const w2 = forkWorker();
  await w2.waitFor((m) => m.type === 'ready');
  w2.child.send({ type: 'start', resume: done.runDir });
  const done2 = await w2.waitFor((m) => m.type === 'done') as Extract<EngineToHost, { type: 'done' }>;
  assert.equal(done2.status, 'completed');
  assertMetricsConsistent(done.runDir, 4);
});

/** As the one reader sees metrics.jsonl (resume markers applied): every record once, none missing. */
function assertMetricsConsistent(runDir: string, epochs: number): void {
  const lines = readMetrics(runDir) as unknown as Record<string, unknown>[];
  const keys = new Set<string>();
  for (const l of lines) {
    if (l.type !== 'step' && l.type !== 'epoch') continue;
    const key = `${l.type}|${l.job}|${l.epoch}|${l.step ?? ''}`;
    assert.ok(!keys.has(key), `duplicate metrics record ${key}`);
    keys.add(key);
  }
  const distillEpochs = lines.filter((l) => l.type === 'epoch' && l.job === 'distill-s1').map((l) => l.epoch);
  assert.deepEqual(distillEpochs, Array.from({ length: epochs }, (_, i) => i + 1));
  // every step of every epoch is logged exactly once (logEvery 1)
  const steps = lines.filter((l) => l.type === 'step' && l.job === 'distill-s1');
  assert.equal(steps.length, epochs * 512);
}

test('SIGKILL mid-epoch: the run is resumable, metrics written before the kill are intact and read once each', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, longExperiment());
  // its own process group: SIGKILL takes the CLI and the engine it forked, as a killed terminal does
  const child = cp.spawn(process.execPath, [CLI, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<string | number | null>((r) => child.on('exit', (c, s) => r(s ?? c)));
  const runsRoot = path.join(dir, '.distill', 'runs', 'synthetic-test');
  let runDir = '';
  const deadline = Date.now() + 120_000;
  for (;;) {
    assert.ok(Date.now() < deadline, `timed out waiting for epoch 1; stderr: ${stderr}`);
    if (fs.existsSync(runsRoot) && fs.readdirSync(runsRoot).length) {
      runDir = path.join(runsRoot, fs.readdirSync(runsRoot)[0]);
      const metricsFile = path.join(runDir, 'metrics.jsonl');
      // the folder exists a moment before its files are written
      const text = fs.existsSync(metricsFile) ? fs.readFileSync(metricsFile, 'utf8') : '';
      if (text.includes('"type":"step","job":"distill-s1","epoch":2')) break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  process.kill(-child.pid!, 'SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  // the engine process of the group is gone too once the run's owner is dead (poll: the kernel reaps it)
  const dead = Date.now() + 30_000;
  while (isOwnerAlive(readRun(runDir))) {
    assert.ok(Date.now() < dead, 'the engine process outlived SIGKILL of its group');
    await new Promise((r) => setTimeout(r, 20));
  }
  const before = fs.readFileSync(path.join(runDir, 'metrics.jsonl'));
  const run = readRun(runDir);
  assert.equal(run.status, 'running');
  assert.equal(isOwnerAlive(run), false, 'owner process is gone');

  const list = cp.execFileSync(process.execPath, [CLI, 'list', path.join(dir, '.distill', 'runs')], { encoding: 'utf8' });
  assert.match(list, /interrupted \(resumable\)/);

  const res = cp.spawnSync(process.execPath, [CLI, 'resume', runDir], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr + res.stdout);
  assert.match(res.stdout, /student \(distilled\)/);
  const after = fs.readFileSync(path.join(runDir, 'metrics.jsonl'));
  // nothing already written was rewritten: the old bytes are a prefix of the new file
  assert.ok(after.subarray(0, before.length).equals(before), 'metrics written before the kill are intact');
  assertMetricsConsistent(runDir, 4);
  assert.equal(readRun(runDir).status, 'completed');
  assert.equal(readRun(runDir).resumes.length, 1);
});

test('CLI: Ctrl-C stops cleanly with a resumable run', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, longExperiment());
  const child = cp.spawn(process.execPath, [CLI, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<string | number | null>((r) => child.on('exit', (c, s) => r(s ?? c)));
  const deadline = Date.now() + 120_000;
  while (!/distill-s1 epoch 1:/.test(out)) {
    assert.ok(Date.now() < deadline, out);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGINT');
  assert.equal(await exited, 130);
  assert.match(out, /distill resume /);
  const runDir = out.match(/run folder: (.*)/)![1].trim();
  assert.equal(readRun(runDir).status, 'cancelled');
});
