/**
 * A data-free run's execution (issue 18): which data and which teachers each job uses, the
 * `synthesize` job, and report.json's `dataFree`. run.ts hands its jobs here when data.train is
 * `teacher-synthesized`:
 *
 *   synthesize        DeepInversion from the teacher into synthesized/ (synthesizeJob.ts)
 *   distill-s<seed>   the student on the synthesised inputs (labels = their target labels), the
 *                     experiment's terms; the test split is real
 *   scratch-s<seed>   on the reference when there is one (job `data: "reference"`), else on the
 *                     synthesised inputs
 *   real-s<seed>      (with a reference) the same distillation on the real data
 */
import * as path from 'path';
import type { ExperimentConfig, TeacherSynthesizedSource } from '../../config/types';
import type { EngineToHost } from '../../protocol/engine';
import type { DataFreeReport } from '../../runs/report';
import { stat } from '../../runs/report';
import type { EpochRecord, JobState, MetricsLog } from '../../runs/store';
import { readRun } from '../../runs/store';
import { listSynthesizedBatches, readSynthesizedInputs, readSynthesizedMeta } from '../../runs/synthesized';
import type { Dataset, PreparedData } from '../data';
import { resolveModel } from '../models';
import { modelInputShape } from '../training/evaluate';
import type { TeacherSource } from '../training/teacherSource';
import type { ProgressClock } from '../training/train';
import { runSynthesis } from './synthesizeJob';

/** The synthesised training split (in the teacher's input space, already normalised) over the base data's test split. */
export function synthesizedData(runDir: string, base: PreparedData): PreparedData {
  const meta = readSynthesizedMeta(runDir);
  const batches = listSynthesizedBatches(runDir);
  if (!meta || batches.length < meta.batches) {
    throw new Error(`${path.join(runDir, 'synthesized')}: ${batches.length} of ${meta?.batches ?? '?'} batches written; the synthesize job has not finished`);
  }
  const per = meta.shape.reduce((a, b) => a * b, 1);
  const size = batches.reduce((n, b) => n + b.info.count, 0);
  const x = new Float32Array(size * per);
  const y = new Int32Array(size);
  let at = 0;
  for (const b of batches) {
    const values = readSynthesizedInputs(runDir, b.index, meta);
    if (values.length !== b.info.count * per) throw new Error(`synthesized/batch-${String(b.index).padStart(4, '0')}.bin: ${values.length} values, its .json promises ${b.info.count} inputs of ${per}`);
    x.set(values, at * per);
    y.set(b.info.labels, at);
    at += b.info.count;
  }
  let maxValue = 0;
  for (let i = 0; i < x.length; i++) if (x[i] > maxValue) maxValue = x[i];
  const train: Dataset = { name: 'synthesized', x, y, shape: [...meta.shape], size, numClasses: base.numClasses, maxValue };
  const { validation: _v, ...rest } = base;
  return { ...rest, train };
}

/** report.json's `dataFree`: the synthesis's figures and (with a reference) the real-data distillation over seeds. */
export function dataFreeReport(runDir: string, config: ExperimentConfig, epochs: EpochRecord[]): DataFreeReport {
  const src = config.data.train as TeacherSynthesizedSource;
  const batches = listSynthesizedBatches(runDir);
  const count = batches.reduce((n, b) => n + b.info.count, 0);
  const mean = (f: (b: (typeof batches)[number]) => number) => batches.reduce((s, b) => s + f(b), 0) / Math.max(1, batches.length);
  const out: DataFreeReport = {
    samples: count, batches: batches.length,
    bnLoss: { start: mean((b) => b.info.bnLoss.start), end: mean((b) => b.info.bnLoss.end) },
    teacherAcc: batches.reduce((s, b) => s + b.info.teacherAcc * b.info.count, 0) / Math.max(1, count),
  };
  if (src.reference) {
    const run = readRun(runDir);
    const last = Object.entries(run.jobs).filter(([j, s]) => j.startsWith('real-') && s.data === 'reference' && s.kind === 'distill')
      .map(([j]) => epochs.filter((r) => r.job === j).sort((a, b) => a.epoch - b.epoch).pop())
      .filter((r): r is EpochRecord => !!r);
    if (last.length) {
      out.reference = { format: src.reference.format, distill: { testAcc: stat(last.map((r) => r.testAcc)), testErrors: stat(last.map((r) => r.testErrors)) } };
    }
  }
  return out;
}

export interface DataFreeSessionOptions {
  runDir: string;
  config: ExperimentConfig;
  baseDir: string;
  /** The base data (prepareData of a data-free config: the reference, or the test source in its place). */
  base: PreparedData;
  /** The run's teachers over the base data. */
  teachers: TeacherSource;
  /**
   * Makes the teachers over other data (the synthesised split); `config` is the run's with
   * data.train naming this run's synthesised set, so that the teacher's outputs cached in memory
   * for the base data (keyed by the config's data) are never taken for the synthesised inputs'.
   */
  makeTeachers: (data: PreparedData, config: ExperimentConfig) => TeacherSource;
  metrics: MetricsLog;
  clock: ProgressClock;
  emit: (m: EngineToHost) => void;
  shouldStop: () => boolean;
}

/** What a data-free run's jobs train on, and its synthesize job. */
export class DataFreeSession {
  private synth?: { data: PreparedData; teachers: TeacherSource };

  constructor(private readonly o: DataFreeSessionOptions) {}

  /** The data a job trains on. */
  dataFor(state: JobState): PreparedData {
    return this.usesReference(state) ? this.o.base : this.synthesized().data;
  }

  /** The fixed teachers over that data. */
  teachersFor(state: JobState): TeacherSource {
    return this.usesReference(state) ? this.o.teachers : this.synthesized().teachers;
  }

  private usesReference(state: JobState): boolean {
    if (state.data === 'reference' && !this.o.base.dataFree?.reference) throw new Error(`job ${state.kind}-s${state.seed} trains on data.train.reference, which the experiment has not`);
    return state.data === 'reference';
  }

  private synthesized(): { data: PreparedData; teachers: TeacherSource } {
    if (!this.synth) {
      const data = synthesizedData(this.o.runDir, this.o.base);
      this.o.emit({ type: 'log', level: 'info', message: `data-free: training on ${data.train.size} synthesised inputs; test ${data.test.size} (real)` });
      const src = this.o.config.data.train as TeacherSynthesizedSource;
      const keyed = { ...this.o.config, data: { ...this.o.config.data, train: { ...src, synthesizedIn: path.resolve(this.o.runDir) } as TeacherSynthesizedSource } };
      this.synth = { data, teachers: this.o.makeTeachers(data, keyed) };
    }
    return this.synth;
  }

  /** Runs (or continues) the synthesize job. */
  async synthesize(job: string): Promise<'completed' | 'cancelled'> {
    const { config, base } = this.o;
    const teacher = await this.o.teachers.fixedTeacher('teacher');
    const src = config.data.train as TeacherSynthesizedSource;
    const makeStudent = src.competition ? () => resolveModel(config.student, this.o.baseDir, config.seeds[0]) : undefined;
    let studentInputShape: number[] | undefined;
    if (makeStudent) {
      const probe = await makeStudent();
      studentInputShape = modelInputShape(probe, base.shape, 'student');
      probe.dispose();
    }
    return runSynthesis({
      runDir: this.o.runDir, job, config, teacher: teacher.model, shape: base.shape, teacherInputShape: teacher.inputShape, studentInputShape,
      normalization: base.normalization, makeStudent, metrics: this.o.metrics, clock: this.o.clock, emit: this.o.emit, shouldStop: this.o.shouldStop,
    });
  }

  dispose(): void {
    this.synth?.teachers.dispose();
  }
}

/** Steps of one epoch of a data-free run's job (for the progress clock): synthesis iterations per batch, else batches of its data. */
export function dataFreeStepsPerEpoch(config: ExperimentConfig, state: JobState, base: PreparedData): number {
  const src = config.data.train as TeacherSynthesizedSource;
  if (state.kind === 'synthesize') return src.iterations ?? 200;
  const n = state.data === 'reference' ? base.train.size : src.samples;
  const full = Math.ceil(n / config.training.batchSize);
  return config.training.stepsPerEpoch ? Math.min(full, config.training.stepsPerEpoch) : full;
}
