/**
 * A data problem as a located error of the experiment file: a `DataError` names its setting
 * (`data.train.path`, `data.test.size`, …); the error points at that value, or at the nearest
 * part of the file that exists (e.g. `data.train` when `size` is not written).
 */
import { ExperimentError, locate } from '../../config/errors';
import type { JsonPath } from '../../config/errors';
import { DataError } from './types';

/** The JSON path of a DataError's field (`data.train.path` → `['data', 'train', 'path']`). */
export function fieldPath(field: string): JsonPath {
  return field.split('.').filter((s) => s !== '');
}

/** `e` as an ExperimentError located in `text` when it is a DataError naming a `data.…` setting; else `e`. */
export function locateDataError(e: unknown, file: string, text: string): unknown {
  if (!(e instanceof DataError) || !e.field || !e.field.startsWith('data.')) return e;
  const p = fieldPath(e.field);
  // The message starts with "field: "; the located error shows the path itself.
  const message = e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
  return new ExperimentError([{ file, path: p, location: locate(text, p), message, severity: 'error' }]);
}
