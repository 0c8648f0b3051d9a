/**
 * report.json: what the compression bought (parameters, bytes, FLOPs, latency) against what it
 * cost (accuracy, agreement with the teacher), for the teacher, the scratch baseline and the
 * distilled student — per seed (last and best epoch) and as mean ± std over seeds.
 */
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../../config/types';
import type { PreparedData } from '../data';
import type { Evaluation } from '../training/evaluate';
import * as fs from 'fs';
import { loadLayersModelFromFile, readModelArtifacts, saveQuantizedCopy } from '../models/fileIO';
import { INT8_FORMAT, quantFormat, quantizeArtifacts } from '../models/quantize';
import type { ActivationRange } from '../models/fakeQuant';
import { weightFormatOf } from '../models/weightFormat';
import { evaluateLogits, modelInputShape, outputWidth, predictLogits } from '../training/evaluate';
import { measureLatency, modelStats } from '../metrics/modelStats';
import type { EpochRecord } from '../../runs/store';
import { readMetrics, readRun } from '../../runs/store';
import type { EpochFigures, JobReport, ModelFigures, QuantizedFigures, Report } from '../../runs/report';
import { stat } from '../../runs/report';
import { isFinalJob } from '../../runs/finalJobs';
import { perClassReport } from './perClass';
import type { PerClass } from '../../runs/report';
import { LARGE_BATCH } from '../../runs/latencyNote';


function figures(r: EpochRecord): EpochFigures {
  return {
    epoch: r.epoch, testAcc: r.testAcc, testErrors: r.testErrors,
    ...(r.valAcc !== undefined ? { valAcc: r.valAcc } : {}),
    ...(r.agreement !== undefined ? { agreement: r.agreement, klTeacher: r.klTeacher } : {}),
  };
}

export async function modelFigures(model: tf.LayersModel, inputShape: number[]): Promise<ModelFigures> {
  const s = modelStats(model);
  const lat = await measureLatency(model, inputShape, { batch: 1, warmup: 5, runs: 30 });
  const big = await measureLatency(model, inputShape, { batch: LARGE_BATCH, warmup: 2, runs: 10 });
  return { params: s.params, bytes: s.bytes, flops: s.flops, latencyMsPerSample: lat.msPerSample,
    latencyBatch: { batch: big.batch, msPerSample: big.msPerSample } };
}

/** The epoch records of a run's metrics.jsonl (what the report is made of), read once per report. */
export function readEpochRecords(runDir: string): EpochRecord[] {
  return readMetrics(runDir).filter((r): r is EpochRecord => r.type === 'epoch');
}

export async function buildReport(runDir: string, config: ExperimentConfig, teacher: tf.LayersModel | undefined, teacherInput: number[],
  teacherEval: Evaluation | undefined, data: PreparedData, epochs: EpochRecord[] = readEpochRecords(runDir)): Promise<Report> {
  const run = readRun(runDir);
  const jobs: Record<string, JobReport> = {};
  for (const [job, state] of Object.entries(run.jobs)) {
    // Only the final distilled students (not ta-chain assistants, not earlier born-again generations).
    const final = isFinalJob(state);
    if (state.kind === 'teacher' || !(state.kind === 'scratch' || final)) continue;
    const mine = epochs.filter((r) => r.job === job).sort((a, b) => a.epoch - b.epoch);
    if (mine.length === 0) continue;
    const last = mine[mine.length - 1];
    const key = (r: EpochRecord) => r.valAcc ?? r.testAcc;
    const best = mine.reduce((a, b) => (key(b) > key(a) ? b : a));
    jobs[job] = { kind: state.kind === 'scratch' ? 'scratch' : 'distill', seed: state.seed, last: figures(last), best: figures(best) };
  }
  const summarize = (kind: 'scratch' | 'distill') => {
    const rows = Object.values(jobs).filter((j) => j.kind === kind);
    if (rows.length === 0) return undefined;
    return {
      testAcc: stat(rows.map((r) => r.last.testAcc)),
      testErrors: stat(rows.map((r) => r.last.testErrors)),
      ...(rows.every((r) => r.last.agreement !== undefined) ? { agreement: stat(rows.map((r) => r.last.agreement!)) } : {}),
    };
  };
  const distilled = Object.entries(jobs).filter(([, j]) => j.kind === 'distill');
  const pick = (j: JobReport) => j.last.valAcc ?? j.last.testAcc;
  if (distilled.length === 0) throw new Error(`${runDir}: no distilled student finished, nothing to report`);
  const exportedJob = distilled.reduce((a, b) => (pick(b[1]) > pick(a[1]) ? b : a))[0];

  const studentModel = await loadLayersModelFromFile(path.join(runDir, 'models', exportedJob, 'model.json'));
  let student: ModelFigures;
  try {
    const shape = studentModel.inputs[0].shape.slice(1).map((d, i) => d ?? data.shape[i]);
    student = await modelFigures(studentModel, shape);
  } finally {
    studentModel.dispose();
  }
  const teacherFig = teacher ? await modelFigures(teacher, teacherInput) : undefined;
  // An int8 teacher model.json counts at its stored size, with its format (loading dequantised it).
  const teacherStored = teacherFig && config.teacher && 'model' in config.teacher && !config.teacher.train
    ? weightFormatOf(path.resolve(path.dirname(run.experimentFile), config.teacher.model)) : undefined;
  if (teacherFig && teacherStored?.format === INT8_FORMAT) teacherFig.bytes = teacherStored.bytes;
  // Per class: the last epoch of every reported job, pooled over seeds by kind.
  const lastPerClass = (kind: 'scratch' | 'distill'): PerClass[] => Object.entries(jobs).filter(([, j]) => j.kind === kind)
    .map(([job, j]) => epochs.find((r) => r.job === job && r.epoch === j.last.epoch)?.perClass).filter((p): p is PerClass => !!p);
  const perClass = perClassReport({
    classes: data.numClasses, classNames: data.classNames, teacher: teacherEval?.perClass,
    scratch: lastPerClass('scratch'), distill: lastPerClass('distill'),
  });
  return {
    experiment: config.name,
    runId: run.id,
    backend: run.backend?.name ?? 'unknown',
    scheme: config.scheme.kind,
    ...(teacherFig && teacherEval ? {
      teacher: { ...teacherFig, testAcc: teacherEval.acc, testErrors: teacherEval.errors, ...(teacherStored?.format === INT8_FORMAT ? { format: INT8_FORMAT } : {}) },
      compression: {
        params: teacherFig.params / student.params,
        bytes: teacherFig.bytes / student.bytes,
        flops: teacherFig.flops / Math.max(1, student.flops),
        speedup: teacherFig.latencyMsPerSample / Math.max(1e-9, student.latencyMsPerSample),
        ...(teacherFig.latencyBatch && student.latencyBatch
          ? { speedupBatch: teacherFig.latencyBatch.msPerSample / Math.max(1e-9, student.latencyBatch.msPerSample) } : {}),
      },
    } : {}),
    student,
    jobs,
    summary: { scratch: summarize('scratch'), distill: summarize('distill') },
    exportedJob,
    testSize: data.test.size,
    ...(perClass ? { perClass } : {}),
  };
}

/**
 * Writes the int8 copy of the exported student (`student/int8/`, once) and measures it on the test
 * split against the float32 student: bytes, accuracy, agreement with the teacher.
 */
/** The float model's figures on the test split, when they were measured already. */
export type FloatFigures = { acc: number; agreement?: number };

/**
 * Writes (once: a resumed report reuses it) the `bits`-bit copy of `srcDir`'s model into
 * `runDir/rel` — with a quantisation-aware copy's activation ranges when given — and measures it on
 * the test split against its float model (measured too, unless `measured` has its figures).
 */
export async function quantizedCopyFigures(runDir: string, srcDir: string, rel: string, bits: 8 | 4, data: PreparedData,
  teacherTestLogits: Float32Array | undefined, opts: { activations?: Record<string, ActivationRange>; measured?: FloatFigures } = {}): Promise<QuantizedFigures> {
  const src = path.join(srcDir, 'model.json');
  const dir = path.join(runDir, rel);
  let sizes: { bytes: number; floatBytes: number };
  if (fs.existsSync(path.join(dir, 'model.json'))) {
    const a = readModelArtifacts(src);
    sizes = quantizeArtifacts(a.weightSpecs ?? [], a.weightData as ArrayBuffer, bits);
  } else {
    sizes = saveQuantizedCopy(src, dir, { bits, activations: opts.activations });
  }
  const f: FloatFigures = opts.measured ?? await measureModelFile(src, data, teacherTestLogits);
  const q = await measureModelFile(path.join(dir, 'model.json'), data, teacherTestLogits);
  return {
    dir: rel, format: quantFormat(bits), bytes: sizes.bytes, floatBytes: sizes.floatBytes, compression: sizes.floatBytes / sizes.bytes,
    testAcc: q.acc, testErrors: q.errors, ...(q.agreement !== undefined ? { agreement: q.agreement } : {}),
    floatTestAcc: f.acc, ...(f.agreement !== undefined ? { floatAgreement: f.agreement } : {}), accDrop: f.acc - q.acc,
  };
}

/** Test-split accuracy (and agreement with the teacher) of the model at `file`, as loaded (int8/int4 copies dequantised). */
export async function measureModelFile(file: string, data: PreparedData, teacherTestLogits?: Float32Array): Promise<Evaluation> {
  const model = await loadLayersModelFromFile(file);
  try {
    const logits = predictLogits(model, data.test, modelInputShape(model, data.shape, file));
    return evaluateLogits(logits, data.test.y, outputWidth(model), teacherTestLogits);
  } finally {
    model.dispose();
  }
}

export async function quantizedFigures(runDir: string, data: PreparedData, teacherTestLogits?: Float32Array): Promise<QuantizedFigures> {
  return quantizedCopyFigures(runDir, path.join(runDir, 'student'), 'student/int8', 8, data, teacherTestLogits);
}
