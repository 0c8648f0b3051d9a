/**
 * The outputs of a pre-trained teacher, kept across the runs of one process (the points of a
 * sweep): computed once per teacher file and data, not once per run. Keyed by the model.json's
 * path and modification time and the data section of the experiment; holds the last two.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface TeacherLogits {
  /** Row-major [N, C]; rows marked in `trainMissing` are not computed yet. */
  train: Float32Array;
  /**
   * Rows of `train` still to compute (1 = missing), when the training split is filled on demand
   * (by the first distillation epoch that needs them, see schemes/distill.ts); undefined once complete.
   */
  trainMissing?: Uint8Array;
  /** How many rows `trainMissing` marks. */
  trainMissingCount?: number;
  validation?: Float32Array;
  test: Float32Array;
}

/** Records computed rows of the training-split logits (`rows[k]` is row `idx[k]`, C values each). */
export function fillTrainLogits(l: TeacherLogits, idx: Int32Array, rows: Float32Array, c: number): void {
  const missing = l.trainMissing;
  if (!missing) return;
  let count = l.trainMissingCount ?? 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (!missing[i]) continue;
    l.train.set(rows.subarray(k * c, (k + 1) * c), i * c);
    missing[i] = 0;
    count--;
  }
  l.trainMissingCount = count;
  if (count <= 0) {
    l.trainMissing = undefined;
    l.trainMissingCount = undefined;
  }
}

/** Whether any row of `idx` still lacks its training-split logits. */
export function lacksTrainLogits(l: TeacherLogits, idx: Int32Array): boolean {
  const missing = l.trainMissing;
  if (!missing) return false;
  for (let k = 0; k < idx.length; k++) if (missing[idx[k]]) return true;
  return false;
}

const cache = new Map<string, TeacherLogits>();

/** The cache key of a teacher model.json for this data (undefined when the file is missing). */
export function teacherKey(modelJson: string, data: unknown, baseDir: string): string | undefined {
  const file = path.resolve(baseDir, modelJson);
  if (!fs.existsSync(file)) return undefined;
  return JSON.stringify([file, fs.statSync(file).mtimeMs, path.resolve(baseDir), data]);
}

export function cachedTeacherLogits(key: string | undefined): TeacherLogits | undefined {
  return key === undefined ? undefined : cache.get(key);
}

export function cacheTeacherLogits(key: string | undefined, logits: TeacherLogits): void {
  if (key === undefined) return;
  cache.delete(key);
  cache.set(key, logits);
  while (cache.size > 2) cache.delete(cache.keys().next().value as string);
}
