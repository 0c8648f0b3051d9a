/**
 * Offline distillation (also each stage of born-again and teacher-assistant chains): a fixed
 * teacher, a student, and the experiment's loss terms. The teacher's logits are cached for the
 * whole training split when no teacher layer is tapped; otherwise the teacher runs on each batch
 * (outside the gradient tape) and its tapped features feed the feature/relation terms. Given a
 * teacher pipe, that per-batch pass runs in the teacher thread, one batch ahead of the student.
 *
 * The training split's logits may be filled on demand (`logits.trainMissing`): then the teacher
 * runs on every batch with a missing row — in the thread, while the student trains — and records
 * its logits, so the first epoch fills the cache and later epochs, seeds and jobs read it.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, HostBatch, Learner, StepLoss } from '../training/train';
import type { Term, TermContext } from '../knowledge/terms';
import { adapterVariables, disposeTerms } from '../knowledge/terms';
import { tapModel } from '../models/taps';
import { gatherRows } from '../training/ops';
import { gatherHalfRows } from '../training/f16';
import type { TeacherPipe } from '../models/teacherPipe';
import type { TeacherLogits } from '../models/teacherCache';
import { fillTrainLogits, lacksTrainLogits } from '../models/teacherCache';

/** A fixed teacher: its model and, computed once, its logits of every split. */
export interface FixedTeacher {
  model: tf.LayersModel;
  inputShape: number[];
  logits: TeacherLogits;
}

export interface DistillOptions {
  student: tf.LayersModel;
  inputShape: number[];
  terms: Term[];
  teacher?: FixedTeacher;
  /** Further fixed teachers' training-split logits (multi-kd), in config order. */
  extraTeacherLogits?: Float32Array[];
  numClasses: number;
  /** Run the teacher on every batch instead of using its cached logits (augmented inputs change). */
  teacherPerBatch?: boolean;
  /** The teacher's tapped features over the training split (float16), by layer; used when complete. */
  cachedFeatures?: Map<string, CachedFeature>;
  /**
   * A thread holding the teacher with the layers of `perBatchTeacherLayers` tapped: the per-batch
   * teacher pass runs there, one batch ahead (the main thread computes what it could not). The
   * learner disposes it.
   */
  teacherPipe?: TeacherPipe;
}

/** One tapped teacher layer over the training split: [N, ...shape] as float16. */
export interface CachedFeature {
  data: Uint16Array;
  shape: number[];
}

const unique = (xs: string[]) => [...new Set(xs)];

type TeacherOptions = Pick<DistillOptions, 'terms' | 'teacher' | 'teacherPerBatch' | 'cachedFeatures'>;

/** Where a distilled student's teacher outputs come from, derived once from the options. */
function teacherPlan(o: TeacherOptions) {
  const teacherLayers = unique(o.terms.flatMap((t) => t.teacherLayers));
  const fromCache = !o.teacherPerBatch && teacherLayers.length > 0 && teacherLayers.every((l) => o.cachedFeatures?.has(l));
  // A teacher given only for evaluation (the scratch baseline's agreement) is not run per batch.
  const needsTeacher = Boolean(o.teacher) && o.terms.some((t) => t.needsTeacher);
  /** The teacher's features come from its pass on each batch (not from the feature cache). */
  const featuresPerBatch = Boolean(o.teacher) && !fromCache && (teacherLayers.length > 0 || Boolean(o.teacherPerBatch));
  /** The layers tapped when it runs per batch ([]: logits only, to fill the logits cache), or undefined when it never does. */
  const tapped = !needsTeacher ? undefined
    : featuresPerBatch ? teacherLayers
    : o.teacher!.logits.trainMissing ? [] : undefined;
  return { teacherLayers, fromCache, needsTeacher, featuresPerBatch, tapped };
}

/**
 * The teacher layers tapped on every batch when the teacher runs per batch (none: logits only), or
 * undefined when it does not (its outputs come from the caches, or no term needs the teacher).
 */
export function perBatchTeacherLayers(o: TeacherOptions): string[] | undefined {
  return teacherPlan(o).tapped;
}

export function distillLearner(o: DistillOptions): Learner {
  const studentLayers = unique(o.terms.flatMap((t) => t.studentLayers));
  const studentTap = tapModel(o.student, studentLayers);
  const { teacherLayers, fromCache, needsTeacher, featuresPerBatch, tapped } = teacherPlan(o);
  const teacherTap = o.teacher && tapped ? tapModel(o.teacher.model, tapped) : undefined;
  /** Whether the teacher must run on `idx`: every batch, or (filling the logits cache) one that lacks logits. */
  const runsOn = (idx: Int32Array) => featuresPerBatch || (!o.teacherPerBatch && Boolean(o.teacher) && lacksTrainLogits(o.teacher!.logits, idx));
  const c = o.numClasses;
  const pipe = needsTeacher && teacherTap ? o.teacherPipe : undefined;
  if (!pipe) o.teacherPipe?.dispose();
  /**
   * Requests for the batches handed over by `prefetch`, oldest first, matched in `prepare` by their
   * `x` array (the next step's batch is handed over before this step's `prepare`).
   */
  const ahead: { x: Float32Array; id: number }[] = [];
  /** The teacher's outputs on `batch` from the thread, when it was prefetched and the thread answered. */
  const fromThread = async (batch: Batch): Promise<tf.Tensor[] | undefined> => {
    const k = ahead.findIndex((a) => a.x === batch.x);
    if (k < 0 || !pipe) return undefined;
    const older = ahead.splice(0, k + 1);
    const mine = older.pop()!;
    for (const a of older) pipe.discard(a.id); // their batches never came (built again)
    try {
      const r = await pipe.result(mine.id);
      return r.outputs.map((v, i) => tf.tensor(v, r.shapes[i]));
    } catch {
      return undefined; // the pipe has logged why; the main thread computes the teacher from now on
    }
  };
  let prepared: { zt?: tf.Tensor; features: Map<string, tf.Tensor>; extra: tf.Tensor[] } | undefined;
  const pairLabels: Record<string, string[]> = {};
  for (const t of o.terms) if (t.pairLabels.length) pairLabels[t.name] = t.pairLabels;

  return {
    model: o.student,
    inputShape: o.inputShape,
    variables: [...o.student.trainableWeights.map((w) => w.read() as tf.Variable), ...adapterVariables(o.terms)],
    extras: o.terms.flatMap((t) => t.adapters),
    termNames: o.terms.map((t) => t.name),
    pairLabels,
    ...(pipe ? {
      prefetch(batch: HostBatch) {
        // A thread not serving (still starting, or failed) is not asked: the main thread computes that batch.
        if (pipe.failed || !pipe.isReady || !runsOn(batch.idx)) return;
        if (ahead.length >= 2) pipe.discard(ahead.shift()!.id);
        ahead.push({ x: batch.x, id: pipe.submit(batch.x, batch.idx.length) });
      },
    } : {}),
    async prepare(batch: Batch) {
      const n = batch.idx.length;
      const features = new Map<string, tf.Tensor>();
      let zt: tf.Tensor | undefined;
      if (needsTeacher && teacherTap && o.teacher && runsOn(batch.idx)) {
        let outs = await fromThread(batch);
        if (!outs) {
          const x = tf.reshape(batch.xs, [n, ...o.teacher.inputShape]);
          const out = teacherTap.predict(x, { batchSize: n });
          outs = Array.isArray(out) ? out : [out];
          x.dispose();
        }
        zt = outs[0];
        if (featuresPerBatch) teacherLayers.forEach((l, i) => features.set(l, outs[i + 1]));
        // Un-augmented inputs: these are the split's logits, recorded for every later epoch.
        if (!o.teacherPerBatch) {
          fillTrainLogits(o.teacher.logits, batch.idx, zt.dataSync() as Float32Array, c);
          // All cached and nothing else to run per batch: the thread's copy of the teacher can go.
          if (!featuresPerBatch && !o.teacher.logits.trainMissing) pipe?.dispose();
        }
      } else if (needsTeacher && o.teacher) {
        zt = tf.tensor2d(gatherRows(o.teacher.logits.train, batch.idx, c), [n, c]);
      }
      if (needsTeacher && o.teacher && !featuresPerBatch) {
        if (fromCache) {
          for (const l of teacherLayers) {
            const f = o.cachedFeatures!.get(l)!;
            const per = f.shape.reduce((a, b) => a * b, 1);
            features.set(l, tf.tensor(gatherHalfRows(f.data, batch.idx, per), [n, ...f.shape]));
          }
        }
      }
      const extra = (o.extraTeacherLogits ?? []).map((all) => tf.tensor2d(gatherRows(all, batch.idx, c), [n, c]));
      prepared = { zt, features, extra };
    },
    loss(batch: Batch, epoch: number): StepLoss {
      const outs = studentTap === o.student
        ? [o.student.apply(batch.xs, { training: true }) as tf.Tensor]
        : (studentTap.apply(batch.xs, { training: true }) as tf.Tensor[]);
      const student = new Map<string, tf.Tensor>();
      studentLayers.forEach((l, i) => student.set(l, outs[i + 1]));
      const ctx: TermContext = {
        zs: outs[0], zt: prepared?.zt, labels: batch.ys, extraTeacherLogits: prepared?.extra ?? [],
        student, teacher: prepared?.features ?? new Map(), epoch, idx: batch.idx,
      };
      const terms: tf.Scalar[] = [];
      const pairs: tf.Scalar[][] = [];
      let total: tf.Scalar = tf.scalar(0);
      for (const term of o.terms) {
        const r = term.compute(ctx);
        terms.push(r.value);
        pairs.push(r.pairs);
        total = tf.add(total, tf.mul(r.value, term.weight * term.factor(epoch)));
      }
      return { total, terms, pairs, logits: outs[0] };
    },
    afterStep() {
      for (const t of o.terms) t.afterStep?.(); // after the student's optimizer step (a discriminator's own step)
      if (prepared) tf.dispose([...(prepared.zt ? [prepared.zt] : []), ...prepared.features.values(), ...prepared.extra]);
      prepared = undefined;
    },
    ...(o.terms.some((t) => t.beforeCheckpoint) ? {
      beforeCheckpoint() {
        for (const t of o.terms) t.beforeCheckpoint?.();
      },
    } : {}),
    ...(o.terms.some((t) => t.params) ? {
      stepParams() {
        const out: Record<string, number> = {};
        for (const t of o.terms) for (const [k, v] of Object.entries(t.params?.() ?? {})) out[`${t.name}.${k}`] = v;
        return out;
      },
    } : {}),
    ...(o.terms.some((t) => t.epochExtras) ? {
      epochExtras() {
        const out: Record<string, number> = {};
        for (const t of o.terms) for (const [k, v] of Object.entries(t.epochExtras?.() ?? {})) out[`${t.name}.${k}`] = v;
        return out;
      },
    } : {}),
    evalTeacherLogits: () => (o.teacher ? { validation: o.teacher.logits.validation, test: o.teacher.logits.test } : undefined),
    dispose() {
      pipe?.dispose();
      disposeTerms(o.terms);
    },
  };
}
