/**
 * report.json, the type of the file (schema/report.schema.json): what the compression bought
 * (parameters, bytes, FLOPs, latency) against what it cost (accuracy, agreement with the teacher),
 * for the teacher, the scratch baseline and the distilled student — per seed (last and best epoch)
 * and as mean ± std over seeds — plus the int8 student and what the run found wrong. Written by an
 * engine (src/engine/results/report.ts builds the TF.js engine's), read by the host and the CLI.
 */

export interface ReportWarning {
  /** `teacher-near-chance`, `teacher-below-scratch`, or (issue 18) `discriminator-wins`: an adversarial term's discriminator averaged ≥ 99 % accuracy over an epoch. */
  kind: 'teacher-near-chance' | 'teacher-below-scratch' | 'discriminator-wins';
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
  /** Latency per sample at a larger batch (batch 1 is overhead-bound); absent in older reports. */
  latencyBatch?: { batch: number; msPerSample: number };
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
  compression?: { params: number; bytes: number; flops: number; speedup: number; speedupBatch?: number };
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
  /** Per-class test accuracy and confusion matrices (teacher, scratch, distilled; last epoch, seeds pooled) and the largest drops. */
  perClass?: PerClassReport;
  /**
   * issue 18: further quantised copies beside `quantized` (post-training int8 of the exported
   * student): post-training int4 (`student/int4`, when `student.quantize.bits` is 4; in the torch
   * engine at 8 bits, `student/int8-ptq`, the shared rule beside torch's own qnnpack `quantized`) and the
   * quantisation-aware student's (`student/int<bits>-qat`, first seed's `qat-s<seed>`). Rows in
   * that order. `summary`-like figures over seeds of the QAT jobs are in `qat`.
   */
  quantizedVariants?: QuantizedFigures[];
  /** issue 18: the QAT jobs' last-epoch test accuracy over seeds (fake-quantised forward pass). */
  qat?: { testAcc: Stat; testErrors: Stat; bits: number; activations: boolean };
  /** issue 18: a data-free run (data.train `teacher-synthesized`). */
  dataFree?: DataFreeReport;
}

/** What the synthesised inputs were and how distilling on them compares with real data. */
export interface DataFreeReport {
  samples: number;
  batches: number;
  /** The BN-statistics term, mean over batches, at the first and the last iteration. */
  bnLoss: { start: number; end: number };
  /** The teacher's accuracy on the synthesised inputs against their target labels. */
  teacherAcc: number;
  /** With `reference`: its format and the real-data distillation (`real-s<seed>`) last-epoch figures over seeds. */
  reference?: { format: string; distill: { testAcc: Stat; testErrors: Stat } };
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
  /** issue 18: bits of the kernels (absent = 8) and how they got there (absent = `ptq`). */
  bits?: 8 | 4;
  method?: 'ptq' | 'qat';
  /** qat: activations fake-quantised too. */
  activations?: boolean;
  /** qat: the job whose model was quantised (its float accuracy is `floatTestAcc`). */
  job?: string;
}

/** Per-class figures of one evaluation. */
export interface PerClass {
  /** Accuracy of each class (correct / samples of that class); null for a class with no test sample. */
  acc: (number | null)[];
  /** counts[true][predicted]. */
  confusion: number[][];
}

/** A class where the student loses against its reference (the teacher, or the scratch student without one). */
export interface ClassGap {
  class: number;
  name: string;
  /** Test samples of the class. */
  support: number;
  teacher?: number;
  scratch?: number;
  distill: number;
  /** reference − distill accuracy (points as a fraction; positive: the student loses). */
  drop: number;
}

/** The per-class part of report.json. */
export interface PerClassReport {
  classNames: string[];
  /** Test samples per class. */
  support: number[];
  teacher?: PerClass;
  /** Over seeds, last epoch: confusion matrices summed (accuracy from the sum). */
  scratch?: PerClass;
  distill?: PerClass;
  /** Against: `teacher` when there is one, else `scratch`. */
  reference: 'teacher' | 'scratch' | 'none';
  /** Every class with a test sample, the largest drop first (ties: lower class index first). */
  gaps: ClassGap[];
}

/** Mean, sample standard deviation and count (over seeds). */
export function stat(values: number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n };
}
