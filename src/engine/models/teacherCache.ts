/**
 * The outputs of a pre-trained teacher, kept across the runs of one process (the points of a
 * sweep): computed once per teacher file and data, not once per run. Keyed by the model.json's
 * path and modification time and the data section of the experiment; holds the last two.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface TeacherLogits {
  train: Float32Array;
  validation?: Float32Array;
  test: Float32Array;
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
