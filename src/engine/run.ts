/**
 * One experiment run, start to end: validate, pick the backend, load data and models, train the
 * teacher when asked, then per seed the scratch baseline and the distilled student, export the
 * student and write the report. Every step is recorded in the run folder, so a run that was
 * stopped or killed continues with `resumeRun` from where its files say it was.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { BackendName, ExperimentConfig } from '../config/types';
import { ExperimentError, loadExperiment } from '../config/parse';
import type { EngineToHost } from '../protocol/engine';
import { initBackend } from './backend';
import { prepareData } from './data';
import type { PreparedData } from './data';
import { modelInputShape, outputWidth, predictLogits, evaluateLogits } from './evaluate';
import { buildLossTerms } from './losses/registry';
import { describeSpec, resolveModel } from './models';
import { loadLayersModelFromFile, saveLayersModel } from './models/fileIO';
import { ProgressClock, stepsPerEpoch, trainJob } from './train';
import type { JobKind, JobState, RunJson, RunStatus } from './runs/store';
import { createRun, MetricsLog, readRun, readSnapshot, updateRun } from './runs/store';
import { buildReport } from './report';

export interface RunOptions {
  /** The experiment file to run (a new run folder is created). */
  experiment?: string;
  /** An existing run folder to continue. */
  resume?: string;
  /** Root of run folders; default `<experiment dir>/.distill/runs`. */
  runsDir?: string;
  /** Overrides the experiment's `backend`. */
  backend?: BackendName;
  emit?: (msg: EngineToHost) => void;
  shouldStop?: () => boolean;
}

export interface RunResult {
  runDir: string;
  status: RunStatus;
  error?: string;
}

export function defaultRunsDir(experimentFile: string): string {
  return path.join(path.dirname(path.resolve(experimentFile)), '.distill', 'runs');
}

/** The jobs of an experiment, in the order they run. */
export function planJobs(config: ExperimentConfig): Record<string, JobState> {
  const jobs: Record<string, JobState> = {};
  const t = config.teacher.train;
  if (t) jobs.teacher = { kind: 'teacher', seed: config.seeds[0], status: 'pending', epochs: t.epochs, completedEpochs: 0 };
  for (const seed of config.seeds) {
    if (config.baseline) jobs[`scratch-s${seed}`] = { kind: 'scratch', seed, status: 'pending', epochs: config.training.epochs, completedEpochs: 0 };
    jobs[`distill-s${seed}`] = { kind: 'distill', seed, status: 'pending', epochs: config.training.epochs, completedEpochs: 0 };
  }
  return jobs;
}

/** Runs an experiment (or resumes a run). Never throws for training failures: they end in `failed`. */
export async function runExperiment(opts: RunOptions): Promise<RunResult> {
  const emit = opts.emit ?? (() => undefined);
  const shouldStop = opts.shouldStop ?? (() => false);
  let runDir: string;
  let config: ExperimentConfig;
  let experimentFile: string;

  if (opts.resume) {
    runDir = path.resolve(opts.resume);
    const run = readRun(runDir);
    if (run.status === 'completed') {
      emit({ type: 'log', level: 'info', message: `${runDir}: already completed; nothing to resume` });
      return { runDir, status: 'completed' };
    }
    const snap = readSnapshot(runDir);
    config = snap.config;
    experimentFile = snap.experimentFile;
    new MetricsLog(runDir).append({ type: 'event', event: 'resume', message: `resumed from status ${run.status}`, t: new Date().toISOString() });
    updateRun(runDir, (r) => {
      r.resumes.push(new Date().toISOString());
      r.error = undefined;
    });
  } else {
    if (!opts.experiment) throw new Error('runExperiment: give an experiment file or a run folder to resume');
    experimentFile = path.resolve(opts.experiment);
    const loaded = loadExperiment(experimentFile);
    if (!loaded.config || loaded.errors.some((e) => e.severity === 'error')) throw new ExperimentError(loaded.errors);
    config = loaded.config;
    const runsDir = opts.runsDir ? path.resolve(opts.runsDir) : defaultRunsDir(experimentFile);
    runDir = createRun(runsDir, { experimentFile, experimentText: loaded.text ?? '', config }, planJobs(config));
    new MetricsLog(runDir).append({ type: 'event', event: 'start', t: new Date().toISOString() });
  }

  try {
    const backend = await initBackend(opts.backend ?? config.backend);
    updateRun(runDir, (r) => {
      r.status = 'running';
      r.pid = process.pid;
      r.startedAt = r.startedAt ?? new Date().toISOString();
      r.backend = { name: backend.name, versions: backend.versions, notes: backend.notes, customKernels: backend.customKernels };
      r.versions = { node: process.version, ...backend.versions };
    });
    emit({ type: 'started', runDir, runId: path.basename(runDir), backend: backend.name });
    for (const n of backend.notes) emit({ type: 'log', level: 'info', message: `backend: ${n}` });
    const status = await execute(runDir, config, experimentFile, emit, shouldStop);
    updateRun(runDir, (r) => {
      r.status = status;
      if (status === 'completed') r.finishedAt = new Date().toISOString();
    });
    new MetricsLog(runDir).append({ type: 'event', event: status === 'completed' ? 'job-done' : 'stop', message: status, t: new Date().toISOString() });
    emit({ type: 'done', runDir, status });
    return { runDir, status };
  } catch (e) {
    const error = (e as Error).message || String(e);
    updateRun(runDir, (r) => {
      r.status = 'failed';
      r.error = error;
    });
    new MetricsLog(runDir).append({ type: 'event', event: 'failed', message: error, t: new Date().toISOString() });
    emit({ type: 'failed', runDir, error });
    return { runDir, status: 'failed', error };
  }
}

async function execute(runDir: string, config: ExperimentConfig, experimentFile: string,
  emit: (m: EngineToHost) => void, shouldStop: () => boolean): Promise<'completed' | 'cancelled'> {
  const baseDir = path.dirname(experimentFile);
  emit({ type: 'log', level: 'info', message: 'loading data' });
  const data = prepareData(config.data, baseDir);
  emit({
    type: 'log', level: 'info',
    message: `data: train ${data.train.size}, validation ${data.validation?.size ?? 0}, test ${data.test.size}, ` +
      `${data.numClasses} classes, samples [${data.shape.join(', ')}]`,
  });
  const metrics = new MetricsLog(runDir);
  const run = readRun(runDir);
  const clock = new ProgressClock(0, 0);
  for (const j of Object.values(run.jobs)) {
    const epochs = j.epochs;
    const steps = stepsPerEpoch(data.train.size, j.kind === 'teacher' && config.teacher.train ? config.teacher.train : config.training);
    clock.totalSteps += epochs * steps;
    clock.doneSteps += j.completedEpochs * steps;
  }

  // --- teacher -----------------------------------------------------------------------------
  const teacherDir = path.join(runDir, 'models', 'teacher');
  let teacher: tf.LayersModel;
  if (config.teacher.train && run.jobs.teacher?.status === 'completed') {
    teacher = await loadLayersModelFromFile(path.join(teacherDir, 'model.json'));
  } else {
    teacher = await resolveModel(config.teacher, baseDir, config.seeds[0]);
  }
  const teacherInput = modelInputShape(teacher, data.shape, `teacher (${describeSpec(config.teacher)})`);
  checkClasses(teacher, data, `teacher (${describeSpec(config.teacher)})`);
  if (config.teacher.train && run.jobs.teacher?.status !== 'completed') {
    const status = await runJob(runDir, 'teacher', 'teacher', config.seeds[0], teacher, teacherInput, data,
      config.teacher.train, buildLossTerms(config, 'teacher'), undefined, metrics, clock, emit, shouldStop);
    if (status === 'cancelled') return 'cancelled';
  }
  emit({ type: 'log', level: 'info', message: 'caching teacher outputs' });
  const teacherLogits = {
    train: predictLogits(teacher, data.train, teacherInput),
    validation: data.validation ? predictLogits(teacher, data.validation, teacherInput) : undefined,
    test: predictLogits(teacher, data.test, teacherInput),
  };
  const teacherEval = evaluateLogits(teacherLogits.test, data.test.y, outputWidth(teacher));
  emit({ type: 'log', level: 'info', message: `teacher test accuracy ${(teacherEval.acc * 100).toFixed(2)}% (${teacherEval.errors} errors)` });

  // --- students ------------------------------------------------------------------------------
  for (const [job, state] of Object.entries(readRun(runDir).jobs)) {
    if (state.kind === 'teacher' || state.status === 'completed') continue;
    if (shouldStop()) return 'cancelled';
    const student = await resolveModel(config.student, baseDir, state.seed);
    try {
      const who = `student (${describeSpec(config.student)})`;
      const input = modelInputShape(student, data.shape, who);
      if (outputWidth(student) !== outputWidth(teacher)) {
        throw new Error(`${who}: its output has ${outputWidth(student)} units, the teacher's has ${outputWidth(teacher)}; ` +
          'response-based distillation needs the same classes on both');
      }
      const terms = buildLossTerms(config, state.kind === 'distill' ? 'distill' : 'scratch');
      const status = await runJob(runDir, job, state.kind, state.seed, student, input, data, config.training, terms,
        state.kind === 'distill' ? teacherLogits : { ...teacherLogits, train: undefined },
        metrics, clock, emit, shouldStop);
      if (status === 'cancelled') return 'cancelled';
    } finally {
      student.dispose();
    }
  }

  // --- export + report -----------------------------------------------------------------------
  const report = await buildReport(runDir, config, teacher, teacherInput, teacherEval, data);
  exportStudent(runDir, report.exportedJob);
  fs.writeFileSync(path.join(runDir, 'report.json'), JSON.stringify(report, null, 2));
  teacher.dispose();
  return 'completed';
}

function checkClasses(model: tf.LayersModel, data: PreparedData, who: string): void {
  const width = outputWidth(model);
  if (data.numClasses > width) {
    throw new Error(`data: labels go up to ${data.numClasses - 1}, but the ${who} has ${width} outputs ` +
      `(labels must be in 0..${width - 1})`);
  }
}

async function runJob(runDir: string, job: string, kind: JobKind, seed: number, model: tf.LayersModel, inputShape: number[],
  data: PreparedData, training: ExperimentConfig['training'], terms: ReturnType<typeof buildLossTerms>,
  teacherLogits: { train?: Float32Array; validation?: Float32Array; test: Float32Array } | undefined,
  metrics: MetricsLog, clock: ProgressClock, emit: (m: EngineToHost) => void, shouldStop: () => boolean): Promise<'completed' | 'cancelled'> {
  updateRun(runDir, (r) => {
    r.jobs[job].status = 'running';
  });
  emit({ type: 'log', level: 'info', message: `${job}: ${terms.map((t) => `${t.weight}·${t.name}`).join(' + ')}, ${training.epochs} epochs` });
  const status = await trainJob({
    runDir, job, kind, seed, model, inputShape, data, training, terms,
    teacherLogits: teacherLogits?.train ? { train: teacherLogits.train } : undefined,
    evalTeacherLogits: teacherLogits ? { validation: teacherLogits.validation, test: teacherLogits.test } : undefined,
    metrics, clock, emit, shouldStop,
  });
  if (status === 'completed') {
    const dir = path.join(runDir, 'models', job);
    if (!fs.existsSync(dir)) await saveLayersModel(model, dir);
    updateRun(runDir, (r) => {
      r.jobs[job].status = 'completed';
    });
    metrics.append({ type: 'event', event: 'job-done', job, t: new Date().toISOString() });
  }
  return status;
}

/** Copies the chosen distilled student's final model to `student/` (once). */
function exportStudent(runDir: string, job: string): void {
  const dest = path.join(runDir, 'student');
  if (fs.existsSync(dest)) return;
  const src = path.join(runDir, 'models', job);
  const tmp = path.join(runDir, `.tmp-student-${process.pid}`);
  fs.cpSync(src, tmp, { recursive: true });
  fs.writeFileSync(path.join(tmp, 'source.json'), JSON.stringify({ job }, null, 2));
  fs.renameSync(tmp, dest);
}

export type { RunJson };
