/**
 * The synthesised inputs of a data-free run (issue 18): the contract between the engines that
 * write them (the TF.js engine, python/distill_torch) and the readers (the Synthesized Inputs
 * panel, the distill jobs on resume).
 *
 *   <run>/synthesized/
 *     batch-0001.bin    float32 little-endian, [count, ...shape] row-major, channels last
 *                       ([N, H, W, C] for images, [N, D] for vectors) in the teacher's input space
 *     batch-0001.json   { count, labels: number[], bnLoss: { start, end }, classLoss, teacherAcc,
 *                       seconds, curve: [iteration, bnLoss][] (every 10th iteration and the last) }
 *     …
 * Each batch is written once: the .bin first, then its .json, each to a temporary name renamed
 * into place, so a batch exists exactly when its .json does; a killed synthesis resumes at the
 * first batch without one (its random state is derived from `seed` and the batch index alone, so
 * the resumed batch equals the uninterrupted one). Nothing here is rewritten. The shape is
 * run.json-independent: `shape` and `classes` are written once in `synthesized/meta.json`
 * ({ version: 1, shape, classes, samples, batchSize, batches }) before the first batch.
 */
import * as fs from 'fs';
import * as path from 'path';

export const SYNTHESIZED_DIR = 'synthesized';

export interface SynthesizedMeta {
  version: 1;
  /** One input's shape, channels last. */
  shape: number[];
  classes: number;
  samples: number;
  batchSize: number;
  batches: number;
}

export interface SynthesizedBatch {
  count: number;
  labels: number[];
  bnLoss: { start: number; end: number };
  classLoss: number;
  teacherAcc: number;
  seconds: number;
  curve: [number, number][];
}

export const batchName = (index: number): string => `batch-${String(index).padStart(4, '0')}`;

export function readSynthesizedMeta(runDir: string): SynthesizedMeta | undefined {
  const file = path.join(runDir, SYNTHESIZED_DIR, 'meta.json');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as SynthesizedMeta) : undefined;
}

/** The batches written so far (1-based index), in order, stopping at the first missing one. */
export function listSynthesizedBatches(runDir: string): { index: number; info: SynthesizedBatch }[] {
  const out: { index: number; info: SynthesizedBatch }[] = [];
  for (let i = 1; ; i++) {
    const file = path.join(runDir, SYNTHESIZED_DIR, `${batchName(i)}.json`);
    if (!fs.existsSync(file)) return out;
    out.push({ index: i, info: JSON.parse(fs.readFileSync(file, 'utf8')) as SynthesizedBatch });
  }
}

/** One batch's inputs ([count, ...shape] float32). */
export function readSynthesizedInputs(runDir: string, index: number, meta: SynthesizedMeta): Float32Array {
  const buf = fs.readFileSync(path.join(runDir, SYNTHESIZED_DIR, `${batchName(index)}.bin`));
  const per = meta.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  if (values.length % per !== 0) throw new Error(`${batchName(index)}.bin: ${values.length} values is not a whole number of inputs of shape [${meta.shape.join(',')}]`);
  return values;
}
