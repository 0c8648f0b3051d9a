/**
 * One live owner per run folder and per sweep folder (runs/lock.ts): two `distill resume` of one run
 * started at once — exactly one trains, the other is refused naming the owner; a lock left by a
 * dead process (or by a pid now reused by another process) is taken over; a live owner is never
 * displaced; a second `sweep-resume` is refused; `list`'s "is the owner alive" follows the same rule.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runExperiment } from '../../src/engine/run';
import type { EngineToHost } from '../../src/protocol/engine';
import { isOwnerAlive, readRun } from '../../src/runs/store';
import type { RunJson } from '../../src/runs/store';
import { FolderLockedError, LOCK_FILE, lockSweep, processStartTime } from '../../src/runs/lock';
import { runSweep } from '../../src/engine/sweep';
import { createSweep } from '../../src/runs/sweeps';
import { metricLines, REPO, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

const CLI = path.join(REPO, 'dist', 'cli.js');

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** A run stopped right after its first distillation epoch: cancelled, resumable. */
async function stoppedRun(overrides: Record<string, unknown> = {}): Promise<string> {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ baseline: false, ...overrides }));
  let epochs = 0;
  const r = await runExperiment({
    experiment: file, teacherThread: false,
    emit: (m) => { if (m.type === 'epoch' && m.job === 'distill-s1') epochs++; },
    shouldStop: () => epochs > 0,
  });
  assert.equal(r.status, 'cancelled');
  assert.equal(fs.existsSync(path.join(r.runDir, LOCK_FILE)), false, 'the lock is released when the run stops');
  return r.runDir;
}

/** A pid that is certainly dead: a process that has exited. */
function deadPid(): number {
  const r = cp.spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function writeLock(runDir: string, owner: { pid: number; pidStart?: number; host?: string; since?: string }): void {
  fs.writeFileSync(path.join(runDir, LOCK_FILE), JSON.stringify({ host: os.hostname(), since: '2026-01-01T00:00:00.000Z', ...owner }));
}

function exited(child: cp.ChildProcess): Promise<number | null> {
  return new Promise((r) => child.on('exit', (code) => r(code)));
}

test('two `distill resume` of one run at once: exactly one trains, the other is refused naming the owner', async () => {
  // Long enough (4 epochs of 512 steps) that the first resume still trains when the second starts.
  const runDir = await stoppedRun({
    data: {
      train: { format: 'synthetic', kind: 'vectors', samples: 8192, classes: 4, shape: [16], seed: 1 },
      test: { format: 'synthetic', kind: 'vectors', samples: 256, classes: 4, shape: [16], seed: 2 },
      normalize: 'none',
    },
    teacher: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [32], classes: 4 },
      train: { epochs: 1, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    training: { epochs: 4, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.005 }, logEvery: 8 },
  });
  const before = readRun(runDir);
  const spawn = () => {
    const child = cp.spawn(process.execPath, [CLI, 'resume', runDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISTILL_TEACHER_THREAD: '0' } });
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    child.stderr!.on('data', (d) => (out += String(d)));
    return { child, code: exited(child), out: () => out };
  };
  const a = spawn();
  const b = spawn();
  const codes = await Promise.all([a.code, b.code]);
  const outs = [a.out(), b.out()];
  const winner = codes.indexOf(0);
  assert.ok(winner >= 0, `one resume completes: ${codes.join(', ')}\n${outs.join('\n----\n')}`);
  const loser = 1 - winner;
  assert.equal(codes[loser], 1, outs[loser]);
  // the owner is the winning CLI's engine process (the CLI trains through a forked engine)
  const owner = new RegExp(`run ${path.basename(runDir)} is being trained by pid (\\d+) since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC`).exec(outs[loser]);
  assert.ok(owner, outs[loser]);
  assert.notEqual(Number(owner[1]), (winner === 0 ? b : a).child.pid, 'not the refused process itself');
  assert.match(outs[winner], /student \(distilled\)/);

  const run = readRun(runDir);
  assert.equal(run.status, 'completed');
  assert.equal(run.resumes.length, before.resumes.length + 1, 'one resume recorded');
  const lines = metricLines(runDir);
  assert.equal(lines.filter((l) => l.event === 'resume').length, 1, 'one resume event');
  const keys = lines.filter((l) => l.type === 'epoch').map((l) => `${String(l.job)}|${String(l.epoch)}`);
  assert.deepEqual(keys, [...new Set(keys)], 'no epoch written twice');
  assert.equal(lines.filter((l) => l.type === 'event' && l.event === 'job-done' && l.job === undefined).length, 1, 'one end-of-run event');
  assert.equal(fs.existsSync(path.join(runDir, LOCK_FILE)), false, 'the lock is released at the end');
});

test('a live owner is never displaced: resume refuses, and nothing in the folder changes', async () => {
  const runDir = await stoppedRun();
  writeLock(runDir, { pid: process.pid, pidStart: processStartTime(process.pid) });
  const runBefore = fs.readFileSync(path.join(runDir, 'run.json'), 'utf8');
  const metricsBefore = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8');
  await assert.rejects(runExperiment({ resume: runDir, teacherThread: false }), (e: unknown) => {
    assert.ok(e instanceof FolderLockedError);
    assert.match((e as Error).message, new RegExp(`^run ${path.basename(runDir)} is being trained by pid ${process.pid} since 2026-01-01 00:00:00 UTC`));
    return true;
  });
  assert.equal(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'), runBefore);
  assert.equal(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8'), metricsBefore);
  assert.ok(fs.existsSync(path.join(runDir, LOCK_FILE)), 'the owner keeps its lock');
  // The extension's worker says so as a `locked` failure (its Resume is not offered again).
  const child = cp.fork(path.join(REPO, 'dist', 'worker.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const messages: EngineToHost[] = [];
  child.on('message', (m) => {
    messages.push(m as EngineToHost);
    if ((m as EngineToHost).type === 'ready') child.send({ type: 'start', resume: runDir });
  });
  assert.equal(await exited(child), 1);
  const failed = messages.find((m) => m.type === 'failed') as Extract<EngineToHost, { type: 'failed' }>;
  assert.equal(failed?.kind, 'locked', JSON.stringify(messages));
  assert.match(failed.error, new RegExp(`^run ${path.basename(runDir)} is being trained by pid ${process.pid} since `));
  assert.equal(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'), runBefore);
  // The CLI says the same, exit code 1.
  const r = cp.spawnSync(process.execPath, [CLI, 'resume', runDir], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is being trained by pid \d+ since 2026-01-01 00:00:00 UTC/);
});

test('a lock left by a dead process, or by a pid now reused by another process, is taken over', async () => {
  const runDir = await stoppedRun();
  writeLock(runDir, { pid: deadPid() });
  // What a writer killed mid-write leaves: a temporary checkpoint folder and a temporary run.json.
  const tmpCkpt = path.join(runDir, 'checkpoints', 'distill-s1', '.tmp-epoch-0002-99999-1');
  fs.mkdirSync(tmpCkpt, { recursive: true });
  fs.writeFileSync(path.join(tmpCkpt, 'weights.bin'), Buffer.alloc(100));
  fs.writeFileSync(path.join(runDir, 'run.json.tmp-99999'), '{"id": "x", "sta');
  const logs: string[] = [];
  const r = await runExperiment({ resume: runDir, teacherThread: false, emit: (m) => { if (m.type === 'log') logs.push(m.message); } });
  assert.equal(r.status, 'completed');
  assert.ok(logs.some((l) => /previous owner, pid \d+, is gone; taking over/.test(l)), logs.join('\n'));
  assert.ok(logs.includes(`removed temporary files left by an interrupted write: ${path.join('checkpoints', 'distill-s1', '.tmp-epoch-0002-99999-1')}, run.json.tmp-99999`), logs.join('\n'));
  assert.equal(fs.existsSync(tmpCkpt), false);
  assert.equal(fs.existsSync(path.join(runDir, LOCK_FILE)), false);

  const start = processStartTime(process.pid);
  if (start === undefined) return; // no /proc: start times are not recorded
  const runDir2 = await stoppedRun();
  // Our own pid, alive, but recorded with another start time: the pid was reused, the owner is gone.
  writeLock(runDir2, { pid: process.pid, pidStart: start - 1 });
  assert.equal((await runExperiment({ resume: runDir2, teacherThread: false })).status, 'completed');
});

test('`list` and the extension use the same rule: a reused pid is not the owner', () => {
  const run = { pid: process.pid, host: os.hostname() } as RunJson;
  assert.equal(isOwnerAlive(run), true);
  const start = processStartTime(process.pid);
  if (start !== undefined) {
    assert.equal(isOwnerAlive({ ...run, pidStart: start }), true);
    assert.equal(isOwnerAlive({ ...run, pidStart: start + 7 }), false);
  }
  assert.equal(isOwnerAlive({ ...run, pid: deadPid() }), false);
});

test('many processes breaking one stale lock at once: exactly one takes it', async () => {
  const dir = tempDir();
  writeLock(dir, { pid: deadPid() });
  const release = path.join(dir, 'release');
  const script = path.join(dir, 'take.ts');
  fs.writeFileSync(script, `
    import * as fs from 'fs';
    import { lockFolder } from ${JSON.stringify(path.join(REPO, 'src', 'runs', 'lock.ts'))};
    try {
      const l = lockFolder(${JSON.stringify(dir)}, (o) => 'held by ' + o.pid);
      process.stdout.write('won\\n');
      const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(release)})) { clearInterval(t); l.release(); } }, 20);
    } catch (e) {
      process.stdout.write('refused: ' + (e as Error).message + '\\n');
    }
  `);
  const n = 4;
  const outs: string[] = Array(n).fill('');
  const children = Array.from({ length: n }, (_, i) => {
    const c = cp.spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    c.stdout!.on('data', (d) => (outs[i] += String(d)));
    return exited(c);
  });
  const deadline = Date.now() + 60_000;
  while (outs.filter((o) => o.includes('\n')).length < n) {
    assert.ok(Date.now() < deadline, `outcomes: ${JSON.stringify(outs)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  fs.writeFileSync(release, '');
  await Promise.all(children);
  const won = outs.filter((o) => o.startsWith('won'));
  assert.equal(won.length, 1, JSON.stringify(outs));
  for (const o of outs.filter((x) => !x.startsWith('won'))) assert.match(o, /^refused: held by \d+/);
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false, 'released by its owner');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(LOCK_FILE)), [], 'no temporary lock files left');
});

test('a second sweep-resume of a sweep that a live process runs is refused', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ sweep: { 'training.epochs': [1, 2] } }));
  const sweepDir = createSweep(file);
  const held = lockSweep(sweepDir);
  try {
    await assert.rejects(runSweep(sweepDir), (e: Error) => new RegExp(`^sweep ${path.basename(sweepDir)} is being run by pid ${process.pid} since `).test(e.message));
    assert.equal(JSON.parse(fs.readFileSync(path.join(sweepDir, 'sweep.json'), 'utf8')).status, 'queued', 'sweep.json untouched');
  } finally {
    held.release();
  }
  const r = cp.spawnSync(process.execPath, [CLI, 'sweep-resume', sweepDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.existsSync(path.join(sweepDir, LOCK_FILE)), false);
});
