/**
 * A full or read-only disk under the runs folder (a small tmpfs, mounted here; skipped with the
 * reason where mounting is not allowed): the run ends `failed` with "disk full while writing <file>
 * (needed ≈ N MB, free M MB)", no temporary file or folder is left, the last complete checkpoint
 * stays and the run resumes to completion once there is space; on an already full disk no run
 * folder is made and the CLI says why; when even run.json cannot be written, the CLI says that.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runExperiment } from '../../src/engine/run';
import { readMetrics, readRun } from '../../src/runs/store';
import { listCheckpoints } from '../../src/engine/runs/checkpoints';
import { metricLines, REPO, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

const CLI = path.join(REPO, 'dist', 'cli.js');

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** Mounts a tmpfs of `size` (e.g. `1m`) on a new folder; undefined + the reason where that is not allowed. */
function mountTmpfs(size: string): { dir?: string; reason?: string } {
  const dir = tempDir('distill-tmpfs-');
  const r = cp.spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { reason: `cannot mount a tmpfs here (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})` };
  return { dir };
}

function remount(dir: string, options: string): void {
  // `ro` is refused (EBUSY) while a file is open for writing: the engine closes its files after
  // each write, so a later try succeeds.
  for (let i = 0; ; i++) {
    const r = cp.spawnSync('mount', ['-o', `remount,${options}`, dir], { encoding: 'utf8' });
    if (r.status === 0) return;
    if (i > 200) throw new Error(`remount ${options} failed: ${r.stderr}`);
    cp.spawnSync('sleep', ['0.01']);
  }
}

function unmount(dir: string): void {
  cp.spawnSync('umount', ['-l', dir]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Names of temporary files and folders anywhere under `dir`. */
function temporaries(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => /(^|[/\\])\.tmp-|\.tmp-\d+/.test(p));
}

function folderBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? folderBytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size), 0);
}

/** A teacher of ≈ 21.6 k parameters (≈ 260 KB per Adam checkpoint): a 1 MB disk fills during its epochs. */
function bigExperiment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return syntheticExperiment({
    teacher: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [1024], classes: 4 },
      train: { epochs: 4, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    student: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [32], classes: 4 } },
    ...overrides,
  });
}

test('disk full mid-run: failed with the file and the figures, no temporary files, resumable once space is freed', async (t) => {
  const m = mountTmpfs('1m');
  if (!m.dir) return t.skip(m.reason);
  try {
    const file = writeExperiment(tempDir(), bigExperiment());
    const logs: string[] = [];
    const r = await runExperiment({ experiment: file, runsDir: m.dir, teacherThread: false, emit: (x) => { if (x.type === 'log') logs.push(`${x.level}: ${x.message}`); } });
    assert.equal(r.status, 'failed', r.error);
    // The pre-flight saw it coming.
    assert.ok(logs.some((l) => /^warn: the disk of .* has [\d.]+ MB free; this run needs about [\d.]+ MB \(checkpoints ≈/.test(l)), logs.join('\n'));
    const hit = /^disk full while writing (\S+) \(needed ≈ ([\d.]+) MB, free ([\d.]+) MB\); the last complete checkpoint is kept: free some space, then resume the run$/.exec(r.error!);
    assert.ok(hit, r.error);
    t.diagnostic(r.error!);
    const [, written, needed, free] = hit;
    assert.ok(Number(free) < Number(needed), `free ${free} < needed ${needed}`);
    const run = readRun(r.runDir);
    assert.equal(run.status, 'failed');
    assert.equal(run.error, r.error);
    assert.deepEqual(temporaries(r.runDir), [], 'temporary files and folders removed');
    assert.equal(fs.existsSync(path.join(r.runDir, '.owner.lock')), false, 'the lock is released when the run fails');
    const ck = /^checkpoints[/\\]([^/\\]+)[/\\]/.exec(written);
    if (ck) {
      // needed = the size of the checkpoint being written: that of the job's previous one (same tensors) ± a few bytes of state.json
      const previous = listCheckpoints(r.runDir, ck[1]);
      assert.ok(previous.length > 0, 'earlier checkpoints are intact');
      const bytes = folderBytes(previous[previous.length - 1].dir);
      assert.ok(Math.abs(Number(needed) - bytes / 1048576) <= 0.006, `needed ≈ ${needed} MB, the previous checkpoint has ${bytes} bytes`);
    }
    const failedEvents = metricLines(r.runDir).filter((l) => l.event === 'failed');
    assert.equal(failedEvents.length, 1);

    // Free the space (a larger disk), resume: completes from the last complete checkpoint.
    remount(m.dir, 'size=64m');
    const resumed = await runExperiment({ resume: r.runDir, teacherThread: false });
    assert.equal(resumed.status, 'completed', resumed.error);
    // through the one metrics reader: what the killed write logged past its checkpoint is superseded
    const epochs = readMetrics(r.runDir).filter((l) => l.type === 'epoch');
    const keys = epochs.map((l) => `${l.job}|${l.epoch}`);
    assert.deepEqual(keys, [...new Set(keys)], 'no epoch recorded twice');
    assert.deepEqual(epochs.filter((l) => l.job === 'teacher').map((l) => l.epoch), [1, 2, 3, 4]);
    assert.deepEqual(temporaries(r.runDir), []);
  } finally {
    unmount(m.dir);
  }
});

test('an already full disk: no run folder, and the CLI says disk full with the file', async (t) => {
  const m = mountTmpfs('1m');
  if (!m.dir) return t.skip(m.reason);
  try {
    // Fill it.
    const filler = path.join(m.dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(4096, 1));
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    const file = writeExperiment(tempDir(), bigExperiment());
    const res = cp.spawnSync(process.execPath, [CLI, 'run', file, '--runs-dir', m.dir], { encoding: 'utf8', env: { ...process.env, DISTILL_TEACHER_THREAD: '0' } });
    assert.equal(res.status, 1, res.stdout + res.stderr);
    t.diagnostic(res.stderr.trim());
    // By hand: teacher 16·1024+1024+1024·4+4 = 21 508 parameters, student 16·32+32+32·4+4 = 676; Adam keeps 2 slots, so a
    // checkpoint is 3 × 4 bytes a parameter: 4 teacher epochs + 2 × 2 student epochs = (4·21 508 + 4·676) · 12 B = 1 064 832 B.
    assert.match(res.stdout + res.stderr, /warn: the disk of .* has 0\.00 MB free; this run needs about [\d.]+ MB \(checkpoints ≈ 1\.02 MB, /);
    assert.match(res.stderr, /^distill: disk full while writing \S+[/\\]synthetic-test[/\\]\d{8}-\d{6}[/\\]config\.json \(needed ≈ [\d.]+ MB, free 0\.00 MB\); no run folder was created$/m);
    const exp = path.join(m.dir, 'synthetic-test');
    assert.deepEqual(fs.existsSync(exp) ? fs.readdirSync(exp) : [], [], 'no run folder');
    assert.deepEqual(temporaries(m.dir), []);
  } finally {
    unmount(m.dir);
  }
});

test('the disk turns read-only mid-run: run.json cannot be marked, the CLI says so; resumable once writable', async (t) => {
  const m = mountTmpfs('64m');
  if (!m.dir) return t.skip(m.reason);
  try {
    const file = writeExperiment(tempDir(), bigExperiment({
      training: { epochs: 40, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
    }));
    const child = cp.spawn(process.execPath, [CLI, 'run', file, '--runs-dir', m.dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISTILL_TEACHER_THREAD: '0' } });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    child.stderr!.on('data', (d) => (err += String(d)));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const deadline = Date.now() + 120_000;
    while (!/distill-s1 epoch 1:/.test(out + err)) { // the progress lines go to stderr
      assert.ok(Date.now() < deadline, out + err);
      await new Promise((r) => setTimeout(r, 20));
    }
    remount(m.dir, 'ro');
    assert.equal(await exited, 1, out + err);
    t.diagnostic(err.split('\n').filter((l) => l.startsWith('run failed')).join('\n'));
    assert.match(err, /^run failed: read-only file system while writing \S+; the last complete checkpoint is kept: make the file system writable, then resume the run; run\.json could not be marked failed \(read-only file system while writing run\.json\): it still says "running" \(listed as interrupted, resumable\)$/m);
    const runDir = /run folder \(kept, resumable\): (\S+)/.exec(err)![1];
    assert.equal(readRun(runDir).status, 'running');
    const list = cp.spawnSync(process.execPath, [CLI, 'list', m.dir], { encoding: 'utf8' });
    assert.match(list.stdout, /interrupted \(resumable\)/);

    remount(m.dir, 'rw');
    const res = cp.spawnSync(process.execPath, [CLI, 'resume', runDir], { encoding: 'utf8', env: { ...process.env, DISTILL_TEACHER_THREAD: '0' } });
    assert.equal(res.status, 0, res.stdout + res.stderr);
    assert.equal(readRun(runDir).status, 'completed');
    assert.deepEqual(temporaries(runDir), []);
  } finally {
    unmount(m.dir);
  }
});

test('`distill export` onto a full disk: says which file, leaves nothing behind', async (t) => {
  const m = mountTmpfs('1m');
  if (!m.dir) return t.skip(m.reason);
  try {
    const r = await runExperiment({ experiment: writeExperiment(tempDir(), bigExperiment({ baseline: false })), teacherThread: false });
    assert.equal(r.status, 'completed', r.error);
    // Fill the disk, then free 8 KiB: room for model.json (≈ 1 KiB), not for the teacher's 84 KiB of weights.
    const filler = path.join(m.dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(4096, 1));
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    fs.truncateSync(filler, fs.statSync(filler).size - 8192);
    const out = path.join(m.dir, 'out');
    const res = cp.spawnSync(process.execPath, [CLI, 'export', r.runDir, out, '--job', 'teacher'], { encoding: 'utf8' });
    assert.equal(res.status, 1, res.stdout + res.stderr);
    t.diagnostic(res.stderr.trim());
    const weights = fs.statSync(path.join(r.runDir, 'models', 'teacher', 'weights.bin')).size;
    assert.equal(weights, 21508 * 4);
    assert.match(res.stderr, new RegExp(`^distill: disk full while writing ${out.replace(/[/\\]/g, '[/\\\\]')}[/\\\\]weights\\.bin \\(needed ≈ ${(weights / 1048576).toFixed(2)} MB, free 0\\.0\\d MB\\); nothing was exported$`, 'm'));
    assert.deepEqual(fs.readdirSync(out), [], 'no partial export');
  } finally {
    unmount(m.dir);
  }
});
