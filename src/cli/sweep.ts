/**
 * `distill sweep <experiment>`, `distill sweep-resume <sweep-folder>`, `distill sweep-report <sweep-folder>`.
 */
import * as path from 'path';
import type { BackendName } from '../config/types';
import type { EngineToHost } from '../protocol/engine';
import type { SweepSummary } from '../runs/sweeps';
import { ExperimentError, formatConfigError } from '../config/errors';
import { createSweep, loadSweepPlan, readSweep, sweepSummary } from '../runs/sweeps';
import { EngineConfigError, probeEngine, runInEngine } from './engineClient';
import { ProgressBar } from './progress';
import { bytes, human, pct, table } from './format';
import type { ClusterConfig } from '../config/types';
import type { ExecutorKind } from './sweepExecutors';
import { candidatesTable, frontTable } from '../runs/searchText';

export interface SweepArgs {
  target: string;
  backend?: BackendName;
  /** The torch engine's Python (`--python`), for `"engine": "torch"` experiments. */
  python?: string;
  yes?: boolean;
  maxPoints?: number;
  sweepsDir?: string;
  json?: boolean;
  /** `--executor local|slurm` (absent: the points one after another in one engine process). */
  executor?: ExecutorKind;
  parallel?: number;
  /** `--partition`, `--time`, … over the experiment's `cluster` section. */
  cluster?: ClusterConfig;
}

const pm = (s: { mean: number; std: number; n: number } | undefined): string =>
  !s ? '—' : s.n > 1 ? `${pct(s.mean)} ± ${(s.std * 100).toFixed(2)}` : pct(s.mean);

/** The size-vs-accuracy table of a sweep; Pareto-front points marked ◆. */
export function sweepTable(s: SweepSummary): string {
  const keys = Object.keys(s.axes);
  const head = ['point', ...keys, 'params', 'bytes', 'FLOPs', 'distilled acc', 'scratch acc', 'Δ pts', 'agreement', 'int8 bytes', 'int8 acc', 'int8 Δ', 'Pareto'];
  const rows = [head];
  if (s.teacher) {
    rows.push(['teacher', ...keys.map(() => ''), human(s.teacher.params), bytes(s.teacher.bytes), human(s.teacher.flops), pct(s.teacher.testAcc),
      '', '', '', '', '', '']);
  }
  for (const r of s.rows) {
    const delta = r.distilled && r.scratch ? (r.distilled.mean - r.scratch.mean) * 100 : undefined;
    rows.push([
      r.point, ...keys.map((k) => String(r.values[k])),
      r.params !== undefined ? human(r.params) : r.state, r.bytes !== undefined ? bytes(r.bytes) : '—', r.flops !== undefined ? human(r.flops) : '—',
      pm(r.distilled), pm(r.scratch), delta === undefined ? '—' : `${delta >= 0 ? '+' : ''}${delta.toFixed(2)}`,
      pm(r.agreement), r.int8 ? bytes(r.int8.bytes) : '—', r.int8 ? pct(r.int8.testAcc) : '—',
      r.int8 ? `${r.int8.testAcc >= r.int8.floatTestAcc ? '+' : ''}${((r.int8.testAcc - r.int8.floatTestAcc) * 100).toFixed(2)}` : '—', r.pareto ? '◆' : '',
    ]);
  }
  const n = s.seeds.length;
  // issue 18: a search adds its candidates and its last rung's front (src/runs/searchText.ts)
  if (s.search) rows[0].splice(1 + keys.length, 0, 'rung', 'candidate');
  if (s.search) s.rows.forEach((r, i) => rows[i + 1 + (s.teacher ? 1 : 0)].splice(1 + keys.length, 0, r.rung !== undefined ? String(r.rung) : '', r.candidate ?? ''));
  if (s.search && s.teacher) rows[1].splice(1 + keys.length, 0, '', '');
  const search = s.search ? `\n\nsearch candidates:\n${candidatesTable(s.search, keys)}\n\n${frontTable({ axes: s.axes, search: s.search })}` : '';
  const states = s.rows.filter((r) => r.state !== 'completed').map((r) => `${r.point} ${r.state}`);
  return `${table(rows)}\n\nsweep ${s.name}/${s.id} (${s.state}${states.length ? `; ${states.join(', ')}` : ''}): ${s.rows.length} points, ${n} seed${n === 1 ? '' : 's'} each (${s.seeds.join(', ')}); ` +
    'accuracies are last-epoch test accuracy, mean ± std over seeds (std in points); Δ = distilled − scratch (points); ' +
    'int8 = the exported (best-validation) seed\'s student with int8 weights, int8 Δ = its accuracy minus the same float student\'s; ' +
    '◆ = Pareto front (no other point is as small and at least as accurate, distilled' + (s.search ? '; of a search, among its last rung' : '') + ').' + search;
}

/** Runs `sweep` (new) or `sweep-resume` in an engine process; returns the exit code. */
export async function cmdSweep(a: SweepArgs, resume: boolean): Promise<number> {
  let dir: string;
  const backend = { ...(a.backend ? { backend: a.backend } : {}), ...(a.python ? { python: a.python } : {}) };
  if (resume) {
    dir = path.resolve(a.target);
    readSweep(dir); // a folder without sweep.json is refused before anything is printed
  } else {
    // Before the sweep folder exists: the plan (its size), then everything `check` finds — the base
    // experiment and every point (derived students, pairs, values the fields refuse), located.
    const opts = { sweepsDir: a.sweepsDir, maxPoints: a.maxPoints, yes: a.yes };
    loadSweepPlan(a.target, opts);
    const problems = await probeEngine({ kind: 'check', experimentFile: path.resolve(a.target), ...backend });
    if (problems.some((e) => e.severity === 'error')) throw new ExperimentError(problems);
    for (const w of problems) console.error(formatConfigError(w));
    dir = createSweep(a.target, opts);
  }
  // sweep-resume keeps the executor the sweep ran with, unless told another (a search too: each rung
  // through it, src/cli/searchExecutors.ts)
  const executor = a.executor ?? (resume ? readSweep(dir).executor?.kind : undefined);
  if (executor) return await sweepWithExecutor(dir, executor, a);
  const bar = new ProgressBar();
  bar.log(`sweep folder: ${dir}`);
  let stops = 0;
  let stop = (): void => undefined;
  const onSigint = (): void => {
    stops++;
    if (stops === 1) {
      bar.log('stopping: finishing the current step and writing a checkpoint (Ctrl-C again to quit at once)');
      stop();
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const emit = (m: EngineToHost): void => {
    switch (m.type) {
      case 'progress': bar.update(m); break;
      case 'started': bar.log(`run folder: ${m.runDir}`); break;
      case 'log': if (m.level !== 'debug') bar.log(`${m.level === 'info' ? '' : `${m.level}: `}${m.message}`); break;
      case 'epoch': {
        const e = m.metrics;
        bar.log(`${m.job} epoch ${m.epoch}: loss ${e['loss.total']?.toFixed(4)}  test ${pct(e.testAcc)}` +
          `${e.agreement !== undefined ? `  agreement ${pct(e.agreement)}` : ''}  ${e.seconds.toFixed(1)} s`);
        break;
      }
      default: break;
    }
  };
  let result;
  try {
    const engine = runInEngine({ sweep: dir, ...backend }, emit);
    stop = engine.stop;
    result = await engine.result;
  } finally {
    bar.done();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  // refused before any point ran (an invalid point, a sweep another process runs), or the engine failed
  if (result.kind === 'config') throw new EngineConfigError(result.error);
  if (result.status === 'failed' && result.runDir === undefined) throw new Error(result.error);
  return sweepOutcome(dir);
}

/** The sweep's table, and what to do when it did not complete; the exit code. */
function sweepOutcome(dir: string): number {
  const sweep = readSweep(dir);
  console.log(`\n${sweepTable(sweepSummary(dir, sweep))}\n\nsweep folder: ${dir}`);
  if (sweep.status === 'completed') return 0;
  const failed = sweep.points.filter((p) => p.status === 'failed');
  for (const p of failed) console.error(`${p.id} failed: ${p.error ?? 'unknown error'}`);
  console.log(`sweep ${sweep.status}; continue with:\n  distill sweep-resume ${dir}`);
  return sweep.status === 'cancelled' ? 130 : 1;
}

/** `--executor local|slurm` (issue 15, src/cli/sweepExecutors.ts): the points side by side, or as a Slurm job array; a search's rung by rung. */
async function sweepWithExecutor(dir: string, kind: ExecutorKind, a: SweepArgs): Promise<number> {
  const { runLocal, runSlurm } = await import('./sweepExecutors');
  const { runSearchWithExecutor } = await import('./searchExecutors');
  console.log(`sweep folder: ${dir}`);
  const recorded = readSweep(dir).executor;
  const parallel = a.parallel ?? (recorded?.kind === kind ? recorded.parallel : undefined); // sweep-resume: as before
  const o = { kind, cluster: a.cluster ?? {}, ...(parallel ? { parallel } : {}), ...(a.backend ? { backend: a.backend } : {}), ...(a.python ? { python: a.python } : {}) };
  const log = (line: string): void => console.log(line);
  if (readSweep(dir).search) await runSearchWithExecutor(dir, o, log); // issue 18: rung by rung
  else await (kind === 'slurm' ? runSlurm(dir, o, log) : runLocal(dir, o, log));
  return sweepOutcome(dir);
}

/**
 * `distill sweep-point <sweep-folder> <index>`: exactly that point, in an engine process, into the
 * sweep folder (a Slurm array task; idempotent: a completed point is skipped, a failed or
 * cancelled one resumed). Ctrl-C / SIGINT stops it cleanly. Exit 0 completed, 130 cancelled, 1 failed.
 */
export async function cmdSweepPoint(a: SweepArgs, index: number): Promise<number> {
  const dir = path.resolve(a.target);
  const sweep = readSweep(dir);
  if (index >= sweep.points.length) throw new Error(`${dir}: no point ${index} (the sweep has ${sweep.points.length} points, indices 0–${sweep.points.length - 1})`);
  const id = sweep.points[index].id;
  let stop = (): void => undefined;
  let stops = 0;
  const onSignal = (): void => {
    stops++;
    if (stops === 1) {
      console.log(`[${id}] stopping: finishing the current step and writing a checkpoint`);
      stop();
    } else process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let result;
  try {
    const engine = runInEngine({ sweep: dir, point: index, ...(a.backend ? { backend: a.backend } : {}), ...(a.python ? { python: a.python } : {}) }, (m) => {
      switch (m.type) {
        case 'started': console.log(`[${id}] run folder: ${m.runDir}`); break;
        case 'log': if (m.level !== 'debug') console.log(`[${id}] ${m.level === 'info' ? '' : `${m.level}: `}${m.message.trim()}`); break;
        case 'epoch': console.log(`[${id}] ${m.job} epoch ${m.epoch}: loss ${m.metrics['loss.total']?.toFixed(4)}  test ${pct(m.metrics.testAcc)}  ${m.metrics.seconds.toFixed(1)} s`); break;
        default: break;
      }
    });
    stop = engine.stop;
    result = await engine.result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (result.kind === 'config') throw new EngineConfigError(result.error);
  const p = readSweep(dir).points[index];
  console.log(`[${id}] ${p.status}${p.error ? `: ${p.error}` : ''}${p.runDir ? ` (run folder ${path.join(dir, p.runDir)})` : ''}`);
  if (result.status === 'failed' && !p.runDir) throw new Error(result.error);
  return p.status === 'completed' ? 0 : p.status === 'cancelled' ? 130 : 1;
}

export async function cmdSweepReport(a: SweepArgs): Promise<number> {
  const s = sweepSummary(path.resolve(a.target));
  console.log(a.json ? JSON.stringify(s, null, 2) : sweepTable(s));
  return 0;
}
