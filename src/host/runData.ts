/**
 * What the host shows about a run, read from its folder (the source of truth): run.json, the
 * step and epoch records of metrics.jsonl, report.json. Cached per run folder and re-read only
 * when run.json or metrics.jsonl changed (size/mtime), so views can ask often.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SYNTHESIZE_JOB } from '../protocol/jobWords';
import type { Report } from '../runs/report';
import type { EpochRecord, RunJson, StepRecord } from '../runs/store';
import { readMetrics, readRun } from '../runs/store';
import { runState } from '../runs/state';
import { isFinalJob } from '../runs/finalJobs';
import type { RunState } from '../runs/state';

/** `interrupted`: run.json says running but its owner process is gone (a closed window, a kill) — the one rule of src/runs/state.ts. */
export type { RunState };
export { runState };

export interface RunView {
  runDir: string;
  run: RunJson;
  state: RunState;
  /** The job whose step losses are shown (the latest distill job with steps, else the latest job). */
  focusJob?: string;
  /** Per loss term (`kd`, `kd#2`, `labels`, `total`): the focus job's step values, in order. */
  series: Record<string, number[]>;
  /** Per job: its step-loss series (for the inline charts, which prefer distill jobs). */
  jobSeries: Record<string, Record<string, number[]>>;
  epochs: EpochRecord[];
  /** Best test/validation accuracy of a distilled student (else of any job). */
  best?: { job: string; epoch: number; acc: number; metric: 'valAcc' | 'testAcc' };
  report?: Report;
  /** Where the run is (last step record). */
  last?: { job: string; epoch: number; step: number };
}

interface CacheEntry { key: string; view: RunView }
const cache = new Map<string, CacheEntry>();

function stamp(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return '-';
  }
}

/** Reads (or returns the cached) view of a run folder; undefined when it is not a run folder. */
export function readRunView(runDir: string): RunView | undefined {
  const key = ['run.json', 'metrics.jsonl', 'report.json'].map((f) => stamp(path.join(runDir, f))).join('|');
  const hit = cache.get(runDir);
  if (hit && hit.key === key) {
    // the owner may have died since: recompute the state only
    hit.view.state = runState(hit.view.run);
    return hit.view;
  }
  let run: RunJson;
  try {
    run = readRun(runDir);
  } catch {
    cache.delete(runDir);
    return undefined;
  }
  const view = buildView(runDir, run);
  cache.set(runDir, { key, view });
  return view;
}

export function forgetRun(runDir: string): void {
  cache.delete(runDir);
}

function buildView(runDir: string, run: RunJson): RunView {
  const jobSeries: Record<string, Record<string, number[]>> = {};
  const epochs: EpochRecord[] = [];
  let lastStep: StepRecord | undefined;
  const stepOrder: string[] = [];
  for (const r of readMetrics(runDir)) {
    if (r.type === 'step') {
      const js = (jobSeries[r.job] ??= {});
      for (const [term, v] of Object.entries(r.losses)) (js[term] ??= []).push(v);
      lastStep = r;
      if (stepOrder[stepOrder.length - 1] !== r.job) stepOrder.push(r.job);
    } else if (r.type === 'epoch') {
      epochs.push(r);
    }
  }
  const isDistill = (job: string) => run.jobs[job]?.kind === 'distill' || job.startsWith('distill');
  const distillJobs = stepOrder.filter(isDistill);
  const focusJob = distillJobs[distillJobs.length - 1] ?? stepOrder[stepOrder.length - 1];

  // The run's best: among its final distilled students (not a ta-chain assistant, not an earlier
  // born-again generation); before one has an epoch, among any distill job; else any job.
  const isFinal = (job: string) => (run.jobs[job] ? isFinalJob(run.jobs[job]) : job.startsWith('distill'));
  let best: RunView['best'];
  const candidates = epochs.some((e) => isFinal(e.job)) ? epochs.filter((e) => isFinal(e.job))
    // issue 18: the synthesis's epoch records are the teacher's accuracy on its own batches, never a run's best
    : epochs.some((e) => isDistill(e.job)) ? epochs.filter((e) => isDistill(e.job)) : epochs.filter((e) => e.job !== SYNTHESIZE_JOB);
  for (const e of candidates) {
    const metric = e.valAcc !== undefined ? 'valAcc' : 'testAcc';
    const acc = e[metric] ?? e.testAcc;
    if (!best || acc > best.acc) best = { job: e.job, epoch: e.epoch, acc, metric };
  }

  let report: Report | undefined;
  try {
    report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as Report;
  } catch {
    report = undefined;
  }
  return {
    runDir, run, state: runState(run), focusJob,
    series: focusJob ? jobSeries[focusJob] : {}, jobSeries, epochs, best, report,
    last: lastStep ? { job: lastStep.job, epoch: lastStep.epoch, step: lastStep.step } : undefined,
  };
}

/** The series of one loss term for the inline charts: from the latest distill job that has it, else any job. */
export function termSeries(view: RunView, term: string): number[] | undefined {
  if (view.focusJob && view.series[term]) return view.series[term];
  const jobs = Object.keys(view.jobSeries).reverse();
  for (const job of jobs) if (view.jobSeries[job][term]) return view.jobSeries[job][term];
  return undefined;
}

export function runDuration(run: RunJson): number | undefined {
  const start = run.startedAt ?? run.createdAt;
  const end = run.finishedAt ?? (run.status === 'running' ? new Date().toISOString() : run.updatedAt);
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) ? ms : undefined;
}
