/**
 * issue 18: the report's further quantised copies beside `quantized` (the post-training int8 copy
 * of the exported student, report.ts):
 *   - post-training int4 of the exported student, `student/int4/`, when `student.quantize.bits` is 4;
 *   - the quantisation-aware student, `student/int<bits>-qat/`: the first seed's `qat-s<seed>` float
 *     weights quantised by the same rule, with its activation ranges (models/<job>/qat.json).
 * Each copy is written once (a resumed report reuses it) and measured on the test split like
 * `quantized`: bytes, test accuracy, agreement with the teacher, against its float model (the
 * exported student; for the qat row the qat job's float weights without fake quantisation).
 * `qat` is the qat jobs' last-epoch test accuracy over seeds (their fake-quantised forward pass).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { ExperimentConfig } from '../../config/types';
import type { PreparedData } from '../data';
import type { FloatFigures } from './report';
import { quantizedCopyFigures, readEpochRecords } from './report';
import type { EpochRecord } from '../../runs/store';
import { readRun } from '../../runs/store';
import type { QuantizedFigures, Report } from '../../runs/report';
import { stat } from '../../runs/report';
import type { QatFile } from '../training/qat';
import { QAT_FILE, qatJobs } from '../training/qat';

/** The `bits`-bit copy of `srcDir`'s model as a row: quantizedCopyFigures (report.ts) with how it was made. */
async function variant(runDir: string, srcDir: string, rel: string, bits: 8 | 4, data: PreparedData, teacherTestLogits: Float32Array | undefined,
  extra: Pick<QuantizedFigures, 'method' | 'activations' | 'job'>, activations?: QatFile['ranges'], measured?: FloatFigures): Promise<QuantizedFigures> {
  return { ...(await quantizedCopyFigures(runDir, srcDir, rel, bits, data, teacherTestLogits, { activations, measured })), bits, ...extra };
}

/**
 * The report fields `quantizedVariants` and `qat` of a run (empty when it has neither). `exported`:
 * the exported float student's figures as `quantized` measured them (not measured again for int4).
 */
export async function quantizedVariants(runDir: string, config: ExperimentConfig, data: PreparedData, teacherTestLogits: Float32Array | undefined,
  log: (m: string) => void = () => undefined, exported?: QuantizedFigures, epochs: EpochRecord[] = readEpochRecords(runDir)): Promise<Pick<Report, 'quantizedVariants' | 'qat'>> {
  const q = config.student.quantize;
  const rows: QuantizedFigures[] = [];
  if (q?.bits === 4) {
    const measured = exported && { acc: exported.floatTestAcc, ...(exported.floatAgreement !== undefined ? { agreement: exported.floatAgreement } : {}) };
    rows.push(await variant(runDir, path.join(runDir, 'student'), 'student/int4', 4, data, teacherTestLogits, { method: 'ptq' }, undefined, measured));
  }
  const jobs = readRun(runDir).jobs;
  const qat = qatJobs(jobs).filter((j) => jobs[j].status === 'completed');
  let summary: Report['qat'];
  if (qat.length > 0) {
    const first = qat[0];
    const modelDir = path.join(runDir, 'models', first);
    const file = JSON.parse(fs.readFileSync(path.join(modelDir, QAT_FILE), 'utf8')) as QatFile;
    rows.push(await variant(runDir, modelDir, `student/int${file.bits}-qat`, file.bits, data, teacherTestLogits,
      { method: 'qat', activations: file.activations, job: first }, file.activations ? file.ranges : undefined));
    const last = qat.map((j) => epochs.filter((r) => r.job === j).sort((a, b) => a.epoch - b.epoch).pop()).filter((r): r is EpochRecord => !!r);
    summary = { testAcc: stat(last.map((r) => r.testAcc)), testErrors: stat(last.map((r) => r.testErrors)), bits: file.bits, activations: file.activations };
  }
  for (const r of rows) {
    log(`${r.dir} (${r.method === 'qat' ? 'quantisation-aware' : 'post-training'}, int${r.bits}): ${r.bytes} bytes (${r.compression.toFixed(2)}× smaller), ` +
      `test accuracy ${(r.testAcc * 100).toFixed(2)}% (its float model ${(r.floatTestAcc * 100).toFixed(2)}%)`);
  }
  return { ...(rows.length ? { quantizedVariants: rows } : {}), ...(summary ? { qat: summary } : {}) };
}
