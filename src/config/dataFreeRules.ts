/**
 * The rules of a data-free experiment (issue 18: `data.train` `teacher-synthesized`) that the
 * schema cannot express; rules.ts calls them. Both engines read the same config, so these hold
 * for both. The teacher's BatchNormalization layers are checked by the engine, which has the
 * model (engine/synthesis/dataFreeCheck.ts).
 */
import type { DataSource, ExperimentConfig, TeacherSynthesizedSource } from './types';
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
  // data.augment is allowed: the student jobs augment the synthesised inputs and the teacher runs on
  // every augmented batch (as for real data with augment). It moves pixels: not on vectors (the
  // synthesised inputs have the test split's shape; rules.ts looks at data.train, a real source).
  const aug = config.data.augment;
  if (aug && declaredInputShape(config.data.test) === 'vectors') {
    for (const key of ['shift', 'crop', 'flip'] as const) {
      if (aug[key]) at(['data', 'augment', key], 'augments images, but the synthesised inputs are vectors (the shape of data.test)');
    }
  }
  if (aug?.jobs === 'teacher') {
    at(['data', 'augment', 'jobs'], 'a data-free run trains no teacher, so "jobs": "teacher" augments nothing: use "all" to augment the student jobs\' inputs', 'warning');
  }
  jitterChecks(config, src, at);
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

/**
 * One input's shape as far as the file tells: [H, W, C] images, 'vectors', or undefined (known only
 * once the data are read: idx, npy, npz, image folders without "size"). A data-free run's inputs
 * have the test split's shape.
 */
export function declaredInputShape(src: DataSource): number[] | 'vectors' | undefined {
  switch (src.format) {
    case 'mnist': return [28, 28, 1];
    case 'cifar10': case 'cifar100': return [32, 32, 3];
    case 'synthetic': return src.kind === 'vectors' ? 'vectors' : src.shape;
    case 'csv': return src.shape?.length === 3 ? src.shape : 'vectors';
    case 'images': return src.size ? [src.size[0], src.size[1], 0] : undefined;
    default: return undefined;
  }
}

/**
 * `jitter` and `flip` move pixels of images: refused on vectors, and a jitter must stay below the
 * image's height and width (a roll by the full size is the identity; beyond, the draws wrap). The
 * engines check the shape they read (engine/synthesis/dataFreeCheck.ts, python synthesis.py) when the
 * file does not tell it. Negative or fractional jitter is the schema's (integer, minimum 0).
 */
function jitterChecks(config: ExperimentConfig, src: TeacherSynthesizedSource, at: At): void {
  const jitter = src.jitter ?? 0;
  if (jitter <= 0 && !src.flip) return;
  const shape = declaredInputShape(config.data.test);
  const problem = jitterShapeProblem(jitter, shape);
  if (problem) at(['data', 'train', problem.field], problem.message);
}

/** What is wrong with `jitter` (or, when it is 0, `flip`) for inputs of `shape` (one input's, channels last), if anything. */
export function jitterShapeProblem(jitter: number, shape: number[] | 'vectors' | undefined): { field: 'jitter' | 'flip'; message: string } | undefined {
  if (!shape) return undefined;
  const field = jitter > 0 ? 'jitter' : 'flip';
  if (shape === 'vectors' || shape.length !== 3) {
    return { field, message: `${field} moves the pixels of images [H, W, C], but the inputs are vectors${shape === 'vectors' ? '' : ` of shape [${shape.join(', ')}]`}` +
      (field === 'jitter' ? ': remove "jitter" (or set it to 0)' : ': remove "flip"') };
  }
  if (jitter > 0 && jitter >= Math.min(shape[0], shape[1])) {
    return { field: 'jitter', message: `expected a jitter below the image's height and width (${shape[0]}×${shape[1]}), found ${jitter}` };
  }
  return undefined;
}
