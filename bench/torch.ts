/**
 * `npm run bench:torch`: the PyTorch engine (python/distill_torch, experiments with
 * `"engine": "torch"`) against the plain PyTorch KD loop of bench/peer_torch.py, in the same run,
 * on the MNIST pairs of `npm run bench`: MLP 784-1200-1200-10 → 784-800-800-10 and CNN conv 32/64 →
 * conv 8/16 (examples/torch/models.py builds the same architectures as peer_torch.py). One KD
 * epoch over the full MNIST training split, 938 steps of 64, loss CE + T²·KL at T = 4, Adam 1e-3.
 *
 * Rows per pair:
 *   - the engine's first run: the teacher runs on this data for the first time (the plain loop runs
 *     it every batch); target ≤ 1.05× the plain loop;
 *   - a later run of the same experiment: the teacher's outputs read from the disk cache
 *     (<runs>/.cache/teacher-outputs); target ≤ 0.7× the plain loop;
 *   - the TF.js engine on the same experiment (same data, knowledge, training; the models as
 *     examples/models.ts and a model.json teacher of the same architecture), first and later run,
 *     so a user sees what switching engines buys.
 * Both engines run as a user's run does: an engine process forked through src/cli/engineClient
 * (the CLI's path), a run folder in a temporary runs folder. An engine's epoch time runs from its
 * `started` message (data and models loaded, the run folder created) to the progress message of
 * the distilled student's last step of epoch 1, so it includes whatever the engine does before its
 * first step (the teacher's outputs over the splits, a cache read) and excludes the evaluation
 * after it. On this shared machine another process's burst of work can slow one epoch several
 * times over (two OpenMP threads fighting for two cores), so the torch engine's runs are
 * interleaved with single plain-loop epochs of the same pair — plain, first run, plain, later run,
 * … plain, `--repeats` times (default 2) — and the fastest sample of each kind is compared; every
 * sample is printed.
 *
 *   npm run bench:torch [-- --json] [-- --no-tfjs | --no-torch] [-- --pairs MLP,CNN] [-- --threads 2] [-- --repeats 2]
 *
 * Needs a Python with torch (DISTILL_PYTHON, else /usr/bin/python3, else python3 on PATH) and the
 * engine package in python/distill_torch; without it, it stops with a message saying so.
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { runInEngine } from '../src/cli/engineClient';
import { mnistDataDir } from '../src/engine/data';
import { saveLayersModel } from '../src/engine/models/fileIO';
import type { StartRequest } from '../src/protocol/engine';
import { cnn as tfjsCnn, mlp as tfjsMlp } from '../examples/models';

const ROOT = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const JSON_OUT = argv.includes('--json');
const WITH_TFJS = !argv.includes('--no-tfjs');
/** Only the plain loop and the TF.js engine (checks this harness where the torch engine is absent). */
const WITH_TORCH = !argv.includes('--no-torch');
const THREADS = Number(flag('threads') ?? 2);
type PairName = 'MLP' | 'CNN';
const PAIRS = (flag('pairs') ?? 'MLP,CNN').split(',').map((s) => s.trim().toUpperCase()) as PairName[];
/** Interleaved repeats of (plain, first run, plain, later run) per pair; the fastest of each kind is compared. */
const REPEATS = Math.max(1, Number(flag('repeats') ?? 2));
const TARGET_FIRST = 1.05;
const TARGET_LATER = 0.7;
const log = (s: string) => process.stderr.write(s + '\n');

/** The pairs: factory arguments of examples/torch/models.py and examples/models.ts (same layers as peer_torch.py's). */
const PAIR_MODELS: Record<PairName, { teacher: Record<string, unknown>; student: Record<string, unknown>; torchExport: string; tfjsExport: string }> = {
  MLP: { teacher: { hidden: [1200, 1200] }, student: { hidden: [800, 800] }, torchExport: 'mlp', tfjsExport: 'mlp' },
  CNN: { teacher: { filters: [32, 64], dense: 0 }, student: { filters: [8, 16], dense: 0 }, torchExport: 'cnn', tfjsExport: 'cnn' },
};

class BenchSetupError extends Error {}

/** The interpreter the bench uses: DISTILL_PYTHON, else the first of /usr/bin/python3 and PATH's python3 that imports torch. */
function torchPython(): string {
  const explicit = process.env.DISTILL_PYTHON;
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'python3'));
  const candidates = explicit ? [explicit] : ['/usr/bin/python3', ...onPath.filter((p) => fs.existsSync(p))];
  const tried: string[] = [];
  for (const py of [...new Set(candidates)]) {
    const r = cp.spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
    tried.push(`${py}: ${(r.error?.message ?? r.stderr.trim().split('\n').pop()) || `exit ${r.status}`}`);
  }
  throw new BenchSetupError(`bench:torch: no Python with torch (tried ${tried.join('; ') || 'nothing: no python3 found'}). ` +
    'Install python3-torch and libopenblas0-openmp (Debian), or set DISTILL_PYTHON.');
}

/** Stops with a clear message when the engine package is not in this checkout or does not import. */
function checkEngine(python: string): void {
  const pkg = path.join(ROOT, 'python', 'distill_torch');
  const missing = ['__main__.py', 'engine.py', 'train.py'].filter((f) => !fs.existsSync(path.join(pkg, f)));
  if (missing.length) {
    throw new BenchSetupError(`bench:torch: the PyTorch engine is missing from this checkout: no ${missing.map((f) => `python/distill_torch/${f}`).join(', ')} ` +
      '(issue 14; they come with the engine\'s branches). Nothing was measured.');
  }
  const r = cp.spawnSync(python, ['-c', 'import distill_torch.engine, distill_torch.train'], {
    encoding: 'utf8', env: { ...process.env, PYTHONPATH: [path.join(ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) },
  });
  if (r.status !== 0) {
    throw new BenchSetupError(`bench:torch: ${python} cannot import the engine (distill_torch.engine, .train) from python/: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

interface Plain { torch: string; threads: number; epochSeconds: Record<string, number> }

/** peer_torch.py's standard KD epoch of one pair (teacher forward every batch), nothing else. */
function plainLoop(python: string, pair: PairName): Plain {
  const res = cp.spawnSync(python, [path.join(__dirname, 'peer_torch.py'), '--epoch-only', '--pairs', pair, '--threads', String(THREADS), '--mnist', mnistDataDir()],
    { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (res.status !== 0) throw new Error(`peer_torch.py failed (${res.status}): ${res.stderr.slice(-800)}`);
  const j = JSON.parse(res.stdout) as Plain;
  if (!j.epochSeconds?.[pair]) throw new Error('peer_torch.py printed no epochSeconds (MNIST files not found?)');
  return j;
}

interface TimedRun {
  /** `started` → the last step of epoch 1 of the distilled student, seconds. */
  epochSeconds: number;
  /** `started` → its first step. */
  beforeStepsSeconds: number;
  steps: number;
  backend: string;
  status: string;
  /** The engine's log lines about the teacher's outputs and their cache. */
  cacheLogs: string[];
}

/** One run through an engine process; `stopAfterEpoch` asks it to stop once epoch 1's steps are done (only the epoch is measured). */
async function timedRun(experiment: string, runsDir: string, python: string, stopAfterEpoch: boolean): Promise<TimedRun> {
  let started = 0;
  let first = 0;
  let last = 0;
  let steps = 0;
  let backend = '';
  const cacheLogs: string[] = [];
  // `python` is the CLI's --python (issue 14); an engine that does not know it discovers its own.
  const req = { experiment, runsDir, python } as Omit<StartRequest, 'type'>;
  const handle: ReturnType<typeof runInEngine> = runInEngine(req, (m) => {
    const now = performance.now();
    if (m.type === 'started') {
      started = now;
      backend = m.backend;
    } else if (m.type === 'log' && /teacher outputs|cache/i.test(m.message)) cacheLogs.push(m.message);
    else if (m.type === 'progress' && m.phase === 'distill' && m.epoch === 1) {
      if (!first) first = now;
      steps = m.steps;
      if (m.step === m.steps && !last) {
        last = now;
        if (stopAfterEpoch) handle.stop();
      }
    }
  });
  const r = await handle.result;
  if (!last || !started) throw new Error(`bench run of ${path.basename(experiment)} ended ${r.status} before its first epoch: ${r.error ?? 'no error given'}`);
  if (r.status === 'failed') throw new Error(`bench run of ${path.basename(experiment)} failed after its first epoch: ${r.error ?? ''}`);
  return { epochSeconds: (last - started) / 1000, beforeStepsSeconds: (first - started) / 1000, steps, backend, status: r.status, cacheLogs };
}

interface EngineEpoch {
  engine: 'torch' | 'tfjs';
  backend: string;
  /** run.json backend notes of the first run (threads, precision). */
  notes: string[];
  /** Every repeat's first run (no teacher outputs on disk yet) and later run (read from disk). */
  first: TimedRun[];
  later: TimedRun[];
  /** Every later run's log says the teacher's outputs came from the disk cache. */
  fromDisk: boolean;
}

const fastest = (runs: TimedRun[]): TimedRun => runs.reduce((a, b) => (b.epochSeconds < a.epochSeconds ? b : a));

/** The same experiment for either engine: only `engine` and where the models come from differ. */
function experimentFor(engine: 'torch' | 'tfjs', pair: PairName): Record<string, unknown> {
  const m = PAIR_MODELS[pair];
  const models = engine === 'torch'
    ? { teacher: { module: 'models.py', export: m.torchExport, args: m.teacher, weights: 'teacher.pt' }, student: { module: 'models.py', export: m.torchExport, args: m.student } }
    : { teacher: { model: 'teacher/model.json' }, student: { module: 'models.ts', export: m.tfjsExport, args: m.student } };
  return {
    name: `bench-${engine}-${pair.toLowerCase()}`,
    ...(engine === 'torch' ? { engine: 'torch' } : {}),
    data: { train: { format: 'mnist', split: 'train' }, test: { format: 'mnist', split: 'test', limit: 1000 } },
    ...models,
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }],
    labels: { weight: 1 },
    training: { epochs: 1, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.001 }, logEvery: 100 },
    baseline: false,
  };
}

/** A fixed random teacher of the pair in the engine's format, beside the experiment. */
async function writeTeacher(engine: 'torch' | 'tfjs', pair: PairName, dir: string, python: string): Promise<void> {
  const m = PAIR_MODELS[pair];
  if (engine === 'torch') {
    fs.copyFileSync(path.join(ROOT, 'examples', 'torch', 'models.py'), path.join(dir, 'models.py'));
    const code = 'import json, sys, torch\nsys.path.insert(0, sys.argv[1])\nimport models\ntorch.manual_seed(0)\n' +
      'torch.save(getattr(models, sys.argv[2])(**json.loads(sys.argv[3])).state_dict(), sys.argv[4])\n';
    const r = cp.spawnSync(python, ['-c', code, dir, m.torchExport, JSON.stringify(m.teacher), path.join(dir, 'teacher.pt')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`writing the torch teacher failed: ${r.stderr.slice(-500)}`);
  } else {
    fs.copyFileSync(path.join(ROOT, 'examples', 'models.ts'), path.join(dir, 'models.ts'));
    const teacher = pair === 'MLP' ? tfjsMlp(tf, m.teacher) : tfjsCnn(tf, m.teacher as Parameters<typeof tfjsCnn>[1]);
    await saveLayersModel(teacher, path.join(dir, 'teacher'));
    teacher.dispose();
  }
}

/** A temporary folder with the pair's experiment for `engine` and its teacher; a fresh runs folder (no cache) per call of `runs()`. */
async function benchFolder(engine: 'torch' | 'tfjs', pair: PairName, python: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `distill-bench-${engine}-`));
  await writeTeacher(engine, pair, dir, python);
  const exp = experimentFor(engine, pair);
  const file = path.join(dir, 'e.distill.json');
  fs.writeFileSync(file, JSON.stringify(exp, null, 2));
  let n = 0;
  return {
    /** A first run then a later run of the same experiment in a new runs folder. */
    async first(): Promise<{ run: TimedRun; runsDir: string; notes: string[] }> {
      const runsDir = path.join(dir, `runs-${++n}`);
      log(`  ${engine} ${pair}: first run…`);
      const run = await timedRun(file, runsDir, python, false);
      if (run.status !== 'completed') throw new Error(`bench run ${engine} ${pair}: ${run.status}`);
      const expDir = path.join(runsDir, String(exp.name));
      const runJson = path.join(expDir, fs.readdirSync(expDir)[0], 'run.json');
      const notes = (JSON.parse(fs.readFileSync(runJson, 'utf8')) as { backend?: { notes?: string[] } }).backend?.notes ?? [];
      return { run, runsDir, notes };
    },
    async later(runsDir: string): Promise<TimedRun> {
      log(`  ${engine} ${pair}: a later run (teacher outputs from the disk cache)…`);
      return timedRun(file, runsDir, python, true);
    },
    dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

// Both engines say "teacher outputs read from <file>" when a later run takes them from disk.
const readFromDisk = (r: TimedRun) => r.cacheLogs.some((l) => /teacher outputs read from/i.test(l));

/**
 * The torch engine's runs interleaved with the plain loop's epochs — plain, first run, plain,
 * later run, … plain — `REPEATS` times, so a burst of load from other processes on this shared
 * machine shows as one slow sample rather than a wrong ratio; the fastest of each kind is compared.
 */
async function torchAgainstPlain(pair: PairName, python: string): Promise<{ engine: EngineEpoch; plain: number[]; plainInfo: Plain }> {
  const folder = await benchFolder('torch', pair, python);
  const plain: number[] = [];
  let plainInfo: Plain | undefined;
  const measurePlain = () => {
    log(`  plain loop ${pair}…`);
    plainInfo = plainLoop(python, pair);
    plain.push(plainInfo.epochSeconds[pair]);
  };
  const first: TimedRun[] = [];
  const later: TimedRun[] = [];
  let notes: string[] = [];
  try {
    for (let r = 0; r < REPEATS; r++) {
      measurePlain();
      const f = await folder.first();
      first.push(f.run);
      notes = f.notes;
      measurePlain();
      later.push(await folder.later(f.runsDir));
    }
    measurePlain();
  } finally {
    folder.dispose();
  }
  return { engine: { engine: 'torch', backend: first[0].backend, notes, first, later, fromDisk: later.every(readFromDisk) }, plain, plainInfo: plainInfo! };
}

/** The TF.js engine on the same experiment, once (no target: what switching engines buys). */
async function tfjsOnce(pair: PairName, python: string): Promise<EngineEpoch> {
  const folder = await benchFolder('tfjs', pair, python);
  try {
    const f = await folder.first();
    const later = await folder.later(f.runsDir);
    return { engine: 'tfjs', backend: f.run.backend, notes: f.notes, first: [f.run], later: [later], fromDisk: readFromDisk(later) };
  } finally {
    folder.dispose();
  }
}

(async () => {
  const python = torchPython();
  // The torch engine's intra-op threads, as many as the plain loop's (its default is os.cpu_count()).
  process.env.DISTILL_THREADS ??= String(THREADS);
  if (WITH_TORCH) checkEngine(python);
  log(`bench:torch — ${python}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}, pairs ${PAIRS.join(', ')}, ${REPEATS} repeats`);
  const torchRuns: Partial<Record<PairName, EngineEpoch>> = {};
  const tfjsRuns: Partial<Record<PairName, EngineEpoch>> = {};
  const plainRuns: Partial<Record<PairName, number[]>> = {};
  let plainInfo: Plain | undefined;
  for (const pair of PAIRS) {
    if (WITH_TORCH) {
      const r = await torchAgainstPlain(pair, python);
      torchRuns[pair] = r.engine;
      plainRuns[pair] = r.plain;
      plainInfo = r.plainInfo;
    } else {
      plainInfo = plainLoop(python, pair);
      plainRuns[pair] = [plainInfo.epochSeconds[pair]];
    }
  }
  if (WITH_TFJS) for (const pair of PAIRS) tfjsRuns[pair] = await tfjsOnce(pair, python);
  const plain = (pair: PairName) => Math.min(...plainRuns[pair]!);

  const result = {
    python, torch: plainInfo?.torch, plainThreads: plainInfo?.threads, repeats: REPEATS,
    plainEpochSeconds: plainRuns, torchEngine: torchRuns, tfjsEngine: tfjsRuns, loadAverage: os.loadavg()[0],
    targets: { firstRun: TARGET_FIRST, laterRun: TARGET_LATER },
  };
  if (JSON_OUT) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
  const verdict = (ratio: number, target: number) => `${ratio.toFixed(2)}× ${ratio <= target ? '✓' : '✗'} (≤ ${target})`;
  console.log('| KD epoch, full MNIST (fastest of the repeats) | plain PyTorch loop (s) | torch engine (s) | torch ÷ plain | TF.js engine (s) | TF.js ÷ torch |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const pair of PAIRS) {
    const t = torchRuns[pair];
    const j = tfjsRuns[pair];
    const p = plain(pair);
    const row = (label: string, pick: (e: EngineEpoch) => TimedRun[], target: number) => {
      const ts = t ? fastest(pick(t)).epochSeconds : undefined;
      const js = j ? fastest(pick(j)).epochSeconds : undefined;
      console.log(`| ${pair}, ${label} | ${f(p)} | ${f(ts)} | ${ts === undefined ? '—' : verdict(ts / p, target)} | ${f(js)} | ${f(js !== undefined && ts !== undefined ? js / ts : undefined, 2)} |`);
    };
    row('first run', (e) => e.first, TARGET_FIRST);
    row(`later run, teacher outputs from disk${!t || t.fromDisk ? '' : ' (not confirmed by the torch engine\'s log)'}`, (e) => e.later, TARGET_LATER);
  }
  const list = (xs: number[]) => xs.map((x) => f(x)).join(', ');
  console.log(`\nPlain loop (bench/peer_torch.py): torch ${plainInfo?.torch}, ${plainInfo?.threads} threads, teacher forward every batch. Every sample, in order ` +
    `(plain, first run, plain, later run, …, plain):`);
  for (const pair of PAIRS) {
    const t = torchRuns[pair];
    console.log(`- ${pair}: plain ${list(plainRuns[pair]!)} s` + (t ? `; torch engine first runs ${list(t.first.map((r) => r.epochSeconds))} s, later runs ${list(t.later.map((r) => r.epochSeconds))} s` : ''));
  }
  for (const pair of PAIRS) {
    for (const e of [torchRuns[pair], tfjsRuns[pair]]) {
      if (!e) continue;
      const fr = fastest(e.first);
      const lr = fastest(e.later);
      console.log(`${e.engine} engine ${pair} (${e.backend}${e.notes.length ? `; ${e.notes.join(', ')}` : ''}): fastest first run ${f(fr.beforeStepsSeconds)} s before its first step + ` +
        `${fr.steps} steps; fastest later run ${f(lr.beforeStepsSeconds)} s before its first step` +
        `${lr.cacheLogs.length ? ` (log: ${lr.cacheLogs.map((l) => `"${l}"`).join('; ')})` : ''}.`);
    }
  }
  console.log(`Load average at the end: ${os.loadavg()[0].toFixed(2)} (${os.cpus().length} cores); figures from a loaded machine are noisy.`);
})().catch((e: unknown) => {
  console.error(e instanceof BenchSetupError ? e.message : e);
  process.exitCode = 1;
});
