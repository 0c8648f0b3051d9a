/**
 * The scheme table: what trains in each kind of job. A job's kind (run.json) picks its learner —
 * the model(s), terms and teacher of one training loop (train.ts runs any learner the same way):
 *
 *   teacher, scratch  the model on the labels alone (a scratch student is evaluated against the teacher)
 *   distill           the student against a fixed teacher (offline; born-again and TA chains: a previous job's model)
 *   online            teacher and students learn together (deep mutual learning)
 *   self              the student with auxiliary heads that learn from its deepest output
 */
import type * as tf from '@tensorflow/tfjs';
import type { AugmentConfig, ExperimentConfig, TrainingConfig } from '../../config/types';
import type { JobKind, JobState } from '../../runs/store';
import type { PreparedData } from '../data';
import { modelInputShape } from '../training/evaluate';
import { buildTerms } from '../knowledge/terms';
import { resolveModel } from '../models';
import { withSeededRandom } from '../training/random';
import { seedFor } from '../training/seeds';
import type { TeacherSource } from '../training/teacherSource';
import type { Learner } from '../training/train';
import { distillLearner, perBatchTeacherLayers } from './distill';
import { onlineLearner } from './online';
import { selfLearner } from './self';

export interface LearnerContext {
  job: string;
  state: JobState;
  config: ExperimentConfig;
  data: PreparedData;
  baseDir: string;
  /** The job's model (built from its seed), its input shape and classes. */
  model: tf.LayersModel;
  inputShape: number[];
  numClasses: number;
  /** The augmentation this job trains with, if any. */
  augment?: AugmentConfig;
  teachers: TeacherSource;
  /** Whether fixed teachers may run in a worker thread. */
  teacherThread: boolean;
  log(message: string): void;
  who(model: string | undefined): string;
}

export interface JobLearner {
  learner: Learner;
  training: TrainingConfig;
}

type LearnerFactory = (ctx: LearnerContext) => Promise<JobLearner>;

/** Labels only: a teacher trained first, or the scratch student (the baseline with the same budget). */
const supervised: LearnerFactory = async ({ state, config: c, model, inputShape, numClasses, teachers }) => {
  const training = state.kind === 'teacher' ? c.teacher!.train! : c.training;
  const evalTeacher = state.kind === 'scratch' && c.teacher && c.scheme.kind !== 'online' && c.scheme.kind !== 'self'
    ? await teachers.fixedTeacher('teacher') : undefined;
  const learner = distillLearner({ student: model, inputShape, terms: buildTerms(c, 'scratch', { student: model }), numClasses,
    teacher: evalTeacher ? { ...evalTeacher, logits: { ...evalTeacher.logits } } : undefined });
  return { learner, training };
};

/** The student against a fixed teacher: the experiment's, or a previous job's final model. */
const distill: LearnerFactory = async ({ job, state, config: c, data, model, inputShape, numClasses, augment, teachers, teacherThread, log }) => {
  const source = state.teacher ?? 'teacher';
  const teacher = await teachers.fixedTeacher(source);
  // adapters are initialised from the job's seed too, so a run is reproducible from its seeds
  const terms = await withSeededRandom(seedFor(state.seed, 'adapters'), () =>
    buildTerms(c, 'distill', { teacher: teacher.model, student: model }, { adapterPrefix: `adapter_${job}`, trainLabels: data.train.y }));
  if (augment) log(`${job}: the training images are augmented (data.augment), so the teacher runs on every batch instead of using its cached outputs`);
  const cachedFeatures = augment ? undefined : teachers.teacherFeatures(source, teacher, [...new Set(terms.flatMap((t) => t.teacherLayers))]);
  const extraTeacherLogits = await teachers.extraTeachers();
  const perBatch = perBatchTeacherLayers({ terms, teacher, teacherPerBatch: Boolean(augment), cachedFeatures });
  // No tapped layer and no augmentation: the thread only fills the training split's logits.
  const fillOnly = perBatch !== undefined && perBatch.length === 0 && !augment;
  const teacherPipe = perBatch && teacherThread ? await teachers.perBatchPipe(job, teacher, perBatch, fillOnly) : undefined;
  try {
    const learner = distillLearner({ student: model, inputShape, terms, teacher, numClasses, extraTeacherLogits,
      teacherPerBatch: Boolean(augment), cachedFeatures, teacherPipe });
    return { learner, training: c.training };
  } catch (e) {
    teacherPipe?.dispose();
    throw e;
  }
};

/** Deep mutual learning: the teacher and `peers − 1` students, each from its own seed. */
const online: LearnerFactory = async ({ state, config: c, data: d, baseDir, model, inputShape, numClasses, who }) => {
  if (c.scheme.kind !== 'online') throw new Error('online job outside scheme online');
  const peers = [{ name: 'teacher', model: await resolveModel(c.teacher!, baseDir, seedFor(state.seed, { peer: 1 })), inputShape: [] as number[] },
    { name: 'student', model, inputShape }];
  for (let k = 2; k < c.scheme.peers; k++) {
    peers.push({ name: `student${k}`, model: await resolveModel(c.student, baseDir, seedFor(state.seed, { peer: k })), inputShape });
  }
  peers[0].inputShape = modelInputShape(peers[0].model, d.shape, who('teacher'));
  const learner = onlineLearner(peers, { labelsWeight: c.labels.weight > 0 ? c.labels.weight : 1, temperature: c.scheme.temperature, data: d, numClasses });
  return { learner, training: c.training };
};

/** Self-distillation: auxiliary heads, initialised from the job's seed. */
const self: LearnerFactory = async ({ state, config: c, data: d, model, inputShape, numClasses }) => {
  if (c.scheme.kind !== 'self') throw new Error('self job outside scheme self');
  const scheme = c.scheme;
  const learner = await withSeededRandom(seedFor(state.seed, 'selfHeads'), () => selfLearner(model, inputShape, scheme, { data: d, numClasses }));
  return { learner, training: c.training };
};

/** Job kind → its learner. */
export const LEARNERS: Record<JobKind, LearnerFactory> = {
  teacher: supervised,
  scratch: supervised,
  distill,
  online,
  self,
  // issue 18: the synthesize job makes inputs; it trains no model of the run.
  synthesize: () => { throw new Error('job synthesize has no learner (data-free synthesis runs it)'); },
};
