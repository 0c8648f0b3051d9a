/**
 * The rules of a data-free experiment (issue 18: `data.train` `teacher-synthesized`) that the
 * schema cannot express; rules.ts calls them. Both engines read the same config, so these hold
 * for both. The teacher's BatchNormalization layers are checked by the engine, which has the
 * model (engine/synthesis/dataFreeCheck.ts).
 */
import type { ExperimentConfig } from './types';
import type { JsonPath } from './errors';

type At = (path: JsonPath, message: string, severity?: 'error' | 'warning') => void;

export function dataFreeChecks(config: ExperimentConfig, at: At): void {
  const src = config.data.train;
  if (src.format !== 'teacher-synthesized') return;
  if (config.scheme.kind !== 'offline') {
    at(['scheme', 'kind'], `data-free distillation (data.train "teacher-synthesized") synthesises its inputs from a fixed, trained teacher: ` +
      `it needs scheme "offline", found "${config.scheme.kind}"`);
  }
  if (config.teacher?.train) {
    at(['teacher', 'train'], 'data-free distillation (data.train "teacher-synthesized") has no training data to train the teacher on: ' +
      'give a teacher trained elsewhere (remove "train")');
  } else if (config.teacher && 'module' in config.teacher && !config.teacher.weights) {
    at(['teacher', 'module'], 'a teacher built from a module without "train" has untrained weights; DeepInversion needs a trained teacher ' +
      '(its BatchNormalization statistics): give a trained model (teacher.model, or "weights" with the torch engine)', 'warning');
  }
  if (config.data.augment) {
    at(['data', 'augment'], 'data-free distillation (data.train "teacher-synthesized"): the synthesised inputs are not augmented; remove "augment"');
  }
  if (config.data.normalize === 'standardize') {
    // The synthesised inputs live in the teacher's input space; "standardize" would fit statistics on
    // real training data, which a data-free run does not have (a reference is only for comparison).
    at(['data', 'normalize'], 'data-free distillation (data.train "teacher-synthesized") has no training data to fit "standardize" on: ' +
      'use "scale" (inputs synthesised in [0, 1]) or "none"');
  }
  if (config.data.validation) {
    at(['data', 'validation'], 'data-free distillation (data.train "teacher-synthesized") has no real training data to hold out a validation split from: remove "validation"');
  }
  const classesHint = src.samples < 2 ? 'at least 2' : undefined;
  if (classesHint) at(['data', 'train', 'samples'], `expected ${classesHint} samples (one per class at least), found ${src.samples}`);
  const batches = Math.ceil(src.samples / (src.batchSize ?? 128));
  if (src.competition && batches < 2) {
    at(['data', 'train', 'competition'], `the competition term applies from the second batch on, but ${src.samples} samples in batches of ` +
      `${src.batchSize ?? 128} make one batch: it never applies`, 'warning');
  }
}
