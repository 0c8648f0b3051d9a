/**
 * report.json, the type of the file (schema/report.schema.json): what the compression bought
 * (parameters, bytes, FLOPs, latency) against what it cost (accuracy, agreement with the teacher),
 * for the teacher, the scratch baseline and the distilled student — per seed (last and best epoch)
 * and as mean ± std over seeds — plus the int8 student and what the run found wrong. Written by an
 * engine (src/engine/report.ts builds the TF.js engine's), read by the host and the CLI.
 */

export interface ReportWarning {
  /** `teacher-near-chance` or `teacher-below-scratch`. */
  kind: 'teacher-near-chance' | 'teacher-below-scratch';
  /** What was measured, one sentence with the figures. */
  message: string;
  /** The likely causes, most likely first. */
  causes: string[];
}

export interface ModelFigures {
  params: number;
  bytes: number;
  flops: number;
  latencyMsPerSample: number;
}

export interface EpochFigures {
  epoch: number;
  testAcc: number;
  testErrors: number;
  valAcc?: number;
  agreement?: number;
  klTeacher?: number;
}

export interface JobReport {
  kind: string;
  seed: number;
  last: EpochFigures;
  /** Best epoch by validation accuracy (by test accuracy when there is no validation split). */
  best: EpochFigures;
}

export interface Stat { mean: number; std: number; n: number }

export interface Report {
  experiment: string;
  runId: string;
  backend: string;
  /** The compared teacher (absent for self-distillation, where the student teaches itself). */
  teacher?: ModelFigures & { testAcc: number; testErrors: number; format?: string };
  student: ModelFigures;
  compression?: { params: number; bytes: number; flops: number; speedup: number };
  scheme: string;
  jobs: Record<string, JobReport>;
  /** Last-epoch figures over seeds (agreement only where every seed measured it). */
  summary: Record<'scratch' | 'distill', { testAcc: Stat; testErrors: Stat; agreement?: Stat } | undefined>;
  exportedJob: string;
  testSize: number;
  /** The int8 copy of the exported student (`student/int8/`), measured on the test split. */
  quantized?: QuantizedFigures;
  /** What the run found wrong (a teacher at chance, below the scratch student); empty when nothing; absent in older reports. */
  warnings?: ReportWarning[];
}

/** The int8 student (per-channel affine int8 weights, float32 activations) against the float one. */
export interface QuantizedFigures {
  /** Folder in the run, `student/int8`. */
  dir: string;
  format: string;
  /** int8 weights + per-channel scales (float32) and zero points (int8). */
  bytes: number;
  /** The float32 student's weight bytes. */
  floatBytes: number;
  /** floatBytes / bytes. */
  compression: number;
  testAcc: number;
  testErrors: number;
  /** Top-1 agreement with the teacher on the test split (when there is a teacher). */
  agreement?: number;
  /** The float32 exported student, measured the same way. */
  floatTestAcc: number;
  floatAgreement?: number;
  /** floatTestAcc − testAcc (points of accuracy lost by quantising, as a fraction). */
  accDrop: number;
}

