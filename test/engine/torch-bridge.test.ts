/**
 * The worker's bridge to the torch engine (src/engine/torch/bridge.ts) against a FAKE Python engine:
 * a shell script that answers the interpreter check like a Python with torch and, started as
 * `-u -m distill_torch`, runs a small Node script speaking src/protocol/torch.ts (ready, prepared or
 * a located refusal, progress/epoch/checkpoint, done; a crash; waiting for stop). The fake logs
 * every message it receives, its PYTHONPATH and cwd, so the tests check both directions. Runs go
 * through runExperiment (the hook of `"engine": "torch"`), as the CLI's and the extension's do.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ExperimentError } from '../../src/config/errors';
import { runExperiment } from '../../src/engine/run';
import { runTorch } from '../../src/engine/torch/bridge';
import type { EngineToHost } from '../../src/protocol/engine';
import { RESTRICTED_ENV, RESTRICTED_MARK } from '../../src/protocol/engine';
import { readMetrics, readRun } from '../../src/runs/store';
import { LOCK_FILE } from '../../src/runs/lock';
import { REPO, tempDir } from '../helpers/experiments';
import { listText } from '../../src/cli/list';
import { compressionData, isTorchRun } from '../../src/host/panels/panelData';

const dir = tempDir('distill-torchbridge-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The fake engine: behaviour by FAKE_MODE (ok | config | crash | stop | fail), received messages → FAKE_LOG. */
const FAKE_ENGINE = `
import * as fs from 'node:fs';
import * as readline from 'node:readline';
const mode = process.env.FAKE_MODE;
const log = (o) => fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify(o) + '\\n');
const send = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const patchRun = (runDir, patch) => {
  const f = runDir + '/run.json';
  const r = JSON.parse(fs.readFileSync(f, 'utf8'));
  patch(r);
  r.updatedAt = new Date().toISOString();
  fs.writeFileSync(f + '.tmp', JSON.stringify(r, null, 2));
  fs.renameSync(f + '.tmp', f);
};
const record = (runDir, rec) => fs.appendFileSync(runDir + '/metrics.jsonl', JSON.stringify({ ...rec, t: new Date().toISOString() }) + '\\n');
log({ env: { PYTHONPATH: process.env.PYTHONPATH, cwd: process.cwd() } });
send({ type: 'ready', pid: process.pid, versions: { python: '3.11.2', torch: '1.13.0' } });
console.error('fake engine: booted');
let runDir;
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const m = JSON.parse(line);
  log(m);
  if (m.type === 'prepare') {
    if (mode === 'config') {
      send({ type: 'failed', kind: 'config', path: ['knowledge', 0, 'pairs', 0, 'student'], error: 'no layer "layer9" in the student; did you mean "layer2"?' });
      process.exit(1);
    }
    send({ type: 'prepared', backend: { name: 'cpu', versions: { python: '3.11.2', torch: '1.13.0' }, notes: ['threads: 1'], customKernels: [] } });
  } else if (m.type === 'run') {
    runDir = m.runDir;
    patchRun(runDir, (r) => { r.status = 'running'; r.pid = process.pid; r.backend = { name: 'cpu', versions: {}, notes: [], customKernels: [] }; r.versions = { python: '3.11.2', torch: '1.13.0' }; });
    const job = Object.keys(JSON.parse(fs.readFileSync(runDir + '/run.json', 'utf8')).jobs)[0];
    send({ type: 'progress', job, phase: 'distill', epoch: 1, epochs: 1, step: 1, steps: 2, losses: { total: 1.5 }, samplesPerSecond: 100, etaSeconds: 1 });
    if (mode === 'crash') {
      console.error('Traceback (most recent call last):');
      console.error('RuntimeError: boom in the fake engine');
      process.exit(3);
    }
    if (mode === 'fail') {
      patchRun(runDir, (r) => { r.status = 'failed'; r.error = 'loss is NaN'; });
      send({ type: 'failed', runDir, error: 'loss is NaN' });
      process.exit(1);
    }
    if (mode === 'stop') return; // waits for stop
    send({ type: 'epoch', job, epoch: 1, metrics: { valAcc: 0.5 } });
    send({ type: 'checkpoint', job, epoch: 1, path: runDir + '/checkpoints/' + job + '/e0001' });
    console.log('a stray print');
    patchRun(runDir, (r) => { r.status = 'completed'; r.finishedAt = new Date().toISOString(); });
    record(runDir, { type: 'event', event: 'job-done', message: 'completed' });
    send({ type: 'done', runDir, status: 'completed' });
    process.exit(0);
  } else if (m.type === 'stop') {
    if (!runDir) process.exit(0);
    patchRun(runDir, (r) => { r.status = 'cancelled'; });
    send({ type: 'done', runDir, status: 'cancelled' });
    process.exit(0);
  }
});
rl.on('close', () => process.exit(0));
`;
const engineFile = path.join(dir, 'fake-engine.mjs');
fs.writeFileSync(engineFile, FAKE_ENGINE);
const python = path.join(dir, 'fakepython');
fs.writeFileSync(python, [
  '#!/bin/sh',
  `if [ "$1" = "-c" ]; then echo '{"python": "3.11.2", "executable": "${python}", "torch": "1.13.0"}'; exit 0; fi`,
  `if [ "$1" = "-u" ] && [ "$2" = "-m" ] && [ "$3" = "distill_torch" ]; then exec "${process.execPath}" "${engineFile}"; fi`,
  'echo "unexpected arguments: $*" >&2; exit 2',
].join('\n'), { mode: 0o755 });

const EXPERIMENT = {
  name: 'torch-fake',
  engine: 'torch',
  data: {
    train: { format: 'synthetic', kind: 'vectors', samples: 64, classes: 4, shape: [8], seed: 1 },
    test: { format: 'synthetic', kind: 'vectors', samples: 32, classes: 4, shape: [8], seed: 2 },
  },
  teacher: { module: 'models.py', export: 'teacher' },
  student: { module: 'models.py', export: 'student' },
  knowledge: [{ kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'layer2', student: 'layer9' }] }],
  training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
};

let n = 0;
/** A fresh experiment folder; returns the experiment file and the fake's log file, FAKE_MODE set. */
function setup(mode: string): { file: string; fakeLog: string; runsDir: string; text: string } {
  const d = path.join(dir, `case-${++n}`);
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'models.py'), 'import torch\n');
  const file = path.join(d, 'exp.distill.json');
  const text = JSON.stringify(EXPERIMENT, null, 2);
  fs.writeFileSync(file, text);
  const fakeLog = path.join(d, 'fake.log');
  process.env.FAKE_MODE = mode;
  process.env.FAKE_LOG = fakeLog;
  return { file, fakeLog, runsDir: path.join(d, 'runs'), text };
}
const received = (fakeLog: string): Record<string, unknown>[] =>
  fs.existsSync(fakeLog) ? fs.readFileSync(fakeLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
const runFolders = (runsDir: string): string[] => (fs.existsSync(path.join(runsDir, 'torch-fake')) ? fs.readdirSync(path.join(runsDir, 'torch-fake')) : []);

test('a new run: prepare with the snapshot and jobs, then the folder, its lock, started, run; every message relayed', async () => {
  const { file, fakeLog, runsDir } = setup('ok');
  const msgs: EngineToHost[] = [];
  let lockSeen = false;
  const result = await runExperiment({
    experiment: file, runsDir, python, backend: 'wasm',
    emit: (m) => {
      msgs.push(m);
      if (m.type === 'progress') lockSeen = fs.existsSync(path.join(readStarted(msgs), LOCK_FILE));
    },
  });
  assert.equal(result.status, 'completed');
  const runDir = result.runDir;
  assert.equal(path.dirname(path.dirname(runDir)), runsDir);
  assert.ok(lockSeen, 'the folder is locked while Python trains');
  assert.equal(fs.existsSync(path.join(runDir, LOCK_FILE)), false, 'and released at the end');

  const got = received(fakeLog);
  const env = got[0].env as { PYTHONPATH: string; cwd: string };
  assert.equal(env.PYTHONPATH.split(path.delimiter)[0], path.join(REPO, 'python'), 'PYTHONPATH starts with the repository\'s python/');
  assert.equal(env.cwd, path.dirname(file));
  const prepare = got[1] as { type: string; snapshot: { experimentFile: string; config: { engine: string; device: string } }; jobs: Record<string, unknown> };
  assert.equal(prepare.type, 'prepare');
  assert.equal(prepare.snapshot.experimentFile, file);
  assert.equal(prepare.snapshot.config.engine, 'torch');
  assert.equal(prepare.snapshot.config.device, 'auto');
  assert.deepEqual(Object.keys(prepare.jobs), ['scratch-s1', 'distill-s1']);
  assert.deepEqual(got[2], { type: 'run', runDir, resume: false });
  assert.equal(got.length, 3);

  // The folder the worker made: config.json (the snapshot), run.json (as Python left it), the start event first.
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).config.engine, 'torch');
  assert.equal(readRun(runDir).status, 'completed');
  const events = readMetrics(runDir).map((r) => (r.type === 'event' ? r.event : r.type));
  assert.deepEqual(events, ['start', 'job-done']);

  const kinds = msgs.map((m) => m.type);
  assert.deepEqual(kinds.filter((k) => k !== 'log'), ['started', 'progress', 'epoch', 'checkpoint', 'done']);
  const started = msgs.find((m) => m.type === 'started') as Extract<EngineToHost, { type: 'started' }>;
  assert.deepEqual(started, { type: 'started', runDir, runId: path.basename(runDir), backend: 'cpu' });
  const logs = msgs.filter((m) => m.type === 'log').map((m) => (m as { message: string }).message);
  assert.ok(logs.some((l) => l.startsWith(`python: ${python} (as configured; Python 3.11.2, torch 1.13.0)`)), logs.join('\n'));
  assert.ok(logs.includes('fake engine: booted'), 'stderr lines are logs');
  assert.ok(logs.includes('a stray print'), 'a stdout line that is no message is a log');
  assert.deepEqual(msgs.at(-1), { type: 'done', runDir, status: 'completed' });

  // The views read the folder as a torch run: the engine and device, no TF.js per-layer probe.
  assert.match(listText(runsDir, path.dirname(file)), new RegExp(`${path.basename(runDir)}\\s+torch-fake\\s+completed\\s+torch · cpu\\s+0/2`));
  assert.ok(isTorchRun(runDir));
  const panel = compressionData(runDir, 'torch-fake', []);
  assert.equal(panel.backend, 'torch engine · cpu (torch 1.13.0, Python 3.11.2)');
  assert.match(panel.error ?? '', /has no report yet/, 'this fake writes no report.json');
  assert.match(panel.layersNote ?? '', /^per-layer figures: not for torch runs yet/);
});

function readStarted(msgs: EngineToHost[]): string {
  return (msgs.find((m) => m.type === 'started') as { runDir: string }).runDir;
}

test('a refusal of kind config before the folder: an ExperimentError located at its path, nothing created', async () => {
  const { file, runsDir, text } = setup('config');
  await assert.rejects(runExperiment({ experiment: file, runsDir, python }), (e: unknown) => {
    assert.ok(e instanceof ExperimentError);
    assert.equal(e.errors.length, 1);
    const p = e.errors[0];
    assert.deepEqual(p.path, ['knowledge', 0, 'pairs', 0, 'student']);
    assert.equal(p.file, file);
    const offset = text.indexOf('"layer9"');
    const before = text.slice(0, offset).split('\n');
    assert.deepEqual([p.location.line, p.location.column], [before.length, before.at(-1)!.length + 1]);
    assert.equal(p.message, 'no layer "layer9" in the student; did you mean "layer2"?');
    return true;
  });
  assert.deepEqual(runFolders(runsDir), [], 'no run folder');
});

test('Python dying without done or failed: the run is failed in run.json with the exit code and its last stderr lines; resume continues it', async () => {
  const { file, fakeLog, runsDir } = setup('crash');
  const msgs: EngineToHost[] = [];
  const result = await runExperiment({ experiment: file, runsDir, python, emit: (m) => msgs.push(m) });
  assert.equal(result.status, 'failed');
  const run = readRun(result.runDir);
  assert.equal(run.status, 'failed');
  assert.match(run.error!, /^the torch engine \(.*fakepython\) exited with code 3 without saying how the run ended; the last lines of its stderr:\n/);
  assert.match(run.error!, /Traceback \(most recent call last\):\nRuntimeError: boom in the fake engine$/);
  const failed = readMetrics(result.runDir).filter((r) => r.type === 'event' && r.event === 'failed');
  assert.equal(failed.length, 1);
  assert.deepEqual(msgs.at(-1), { type: 'failed', runDir: result.runDir, error: run.error });
  assert.equal(fs.existsSync(path.join(result.runDir, LOCK_FILE)), false);

  // Resume: the folder's own snapshot and jobs, `run` with resume: true, a resume event first.
  fs.rmSync(fakeLog);
  process.env.FAKE_MODE = 'ok';
  fs.writeFileSync(path.join(result.runDir, 'run.json.tmp-99999'), 'half'); // left by a dead writer
  const resumed = await runExperiment({ resume: result.runDir, python });
  assert.equal(resumed.status, 'completed');
  assert.equal(fs.existsSync(path.join(result.runDir, 'run.json.tmp-99999')), false, 'temporary files of a dead writer removed');
  const got = received(fakeLog);
  const prepare = got[1] as { type: string; jobs: Record<string, unknown>; snapshot: { experimentFile: string } };
  assert.equal(prepare.type, 'prepare');
  assert.deepEqual(prepare.jobs, run.jobs);
  assert.equal(prepare.snapshot.experimentFile, file);
  assert.deepEqual(got[2], { type: 'run', runDir: result.runDir, resume: true });
  const events = readMetrics(result.runDir).filter((r) => r.type === 'event').map((r) => (r as { event: string }).event);
  assert.deepEqual(events, ['start', 'failed', 'resume', 'job-done']);
});

test('the run\'s own failure (Python says failed) is relayed as it recorded it', async () => {
  const { file, runsDir } = setup('fail');
  const msgs: EngineToHost[] = [];
  const result = await runExperiment({ experiment: file, runsDir, python, emit: (m) => msgs.push(m) });
  assert.deepEqual(result, { runDir: result.runDir, status: 'failed', error: 'loss is NaN' });
  assert.deepEqual(msgs.at(-1), { type: 'failed', runDir: result.runDir, error: 'loss is NaN' });
  assert.equal(readRun(result.runDir).error, 'loss is NaN', 'run.json as Python wrote it (not overwritten)');
});

test('stop is forwarded: Python checkpoints and says done (cancelled)', async () => {
  const { file, fakeLog, runsDir } = setup('stop');
  let stop = false;
  const result = await runExperiment({
    experiment: file, runsDir, python, shouldStop: () => stop,
    emit: (m) => { if (m.type === 'progress') stop = true; },
  });
  assert.equal(result.status, 'cancelled');
  assert.equal(readRun(result.runDir).status, 'cancelled');
  assert.deepEqual(received(fakeLog).map((m) => m.type ?? 'env'), ['env', 'prepare', 'run', 'stop']);
});

test('Restricted Mode: no Python is started, the refusal carries the mark, located at "engine"', async () => {
  const { file, fakeLog, runsDir, text } = setup('ok');
  const { parseExperimentText } = await import('../../src/config/parse');
  const config = parseExperimentText(text, file).config!;
  await assert.rejects(runTorch({ experimentFile: file, experimentText: text, config, runsDir, python, env: { ...process.env, [RESTRICTED_ENV]: '1' } }), (e: unknown) => {
    assert.ok(e instanceof ExperimentError);
    assert.ok(e.message.includes(RESTRICTED_MARK), e.message);
    assert.deepEqual(e.errors[0].path, ['engine']);
    assert.equal(e.errors[0].location.line, 3);
    return true;
  });
  assert.equal(fs.existsSync(fakeLog), false, 'the fake was never run');
  assert.deepEqual(runFolders(runsDir), []);
});

test('no usable Python: an ExperimentError at "engine" that says what the candidate answered and the fix', async () => {
  const { file, runsDir } = setup('ok');
  const noTorch = path.join(dir, 'notorch');
  fs.writeFileSync(noTorch, '#!/bin/sh\necho \'{"python": "3.11.7", "error": "ModuleNotFoundError: no torch"}\'\n', { mode: 0o755 });
  await assert.rejects(runExperiment({ experiment: file, runsDir, python: noTorch }), (e: unknown) => {
    assert.ok(e instanceof ExperimentError);
    assert.deepEqual(e.errors[0].path, ['engine']);
    assert.equal(e.errors[0].message, `no Python with PyTorch ≥ 1.13 for the torch engine: ${noTorch}: Python 3.11.7 without torch (ModuleNotFoundError: no torch); set distill.pythonPath / --python to an interpreter with PyTorch ≥ 1.13`);
    return true;
  });
  assert.deepEqual(runFolders(runsDir), []);
});

test('check (distill check, Problems): Python prepares and nothing runs; a refusal is the located problem', async () => {
  const { checkExperiment } = await import('../../src/engine/check');
  const ok = setup('ok');
  assert.deepEqual(await checkExperiment(ok.file, undefined, python), []);
  assert.deepEqual(received(ok.fakeLog).map((m) => m.type ?? 'env'), ['env', 'prepare'], 'prepare only: no run');
  assert.deepEqual(runFolders(ok.runsDir), []);

  const bad = setup('config');
  const problems = await checkExperiment(bad.file, undefined, python);
  assert.deepEqual(problems.map((p) => [p.path.join('.'), p.message, p.severity]),
    [['knowledge.0.pairs.0.student', 'no layer "layer9" in the student; did you mean "layer2"?', 'error']]);
});

test('the worker losing its parent forwards stop: Python checkpoints, the run ends cancelled', async () => {
  const cp = await import('node:child_process');
  const { file, fakeLog, runsDir } = setup('stop');
  const worker = cp.fork(path.join(REPO, 'src', 'engine', 'worker.ts'), [], {
    execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env },
  });
  const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
  let runDir = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no started message within 60 s')), 60_000);
    worker.on('message', (m: EngineToHost) => {
      if (m.type === 'ready') worker.send({ type: 'start', experiment: file, runsDir, python });
      if (m.type === 'started') runDir = m.runDir;
      // the fake has received `run` once it sent its first progress: then the parent goes away
      if (m.type === 'progress') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  worker.disconnect();
  assert.equal(await exited, 0);
  assert.deepEqual(received(fakeLog).map((m) => m.type ?? 'env'), ['env', 'prepare', 'run', 'stop']);
  assert.equal(readRun(runDir).status, 'cancelled');
  assert.equal(fs.existsSync(path.join(runDir, LOCK_FILE)), false);
});
