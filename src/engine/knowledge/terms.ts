/**
 * The registry of loss terms: each knowledge entry of an experiment becomes a named, weighted term
 * computed from one training step's tensors — logits, labels and the tapped features of both
 * networks. A method is one loss file (src/engine/losses/…) plus one entry in `METHODS` here.
 *
 * Term names (metrics.jsonl, charts): the method (`kd`, `fitnet`, `rkd-distance`, …), `#2`, `#3`
 * for a repeated method, and `labels` for the hard-label cross-entropy. Pair-based terms also
 * report the loss of every pair, labelled `teacherLayer→studentLayer`.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig, FspPair, KnowledgeEntry, LayerPair, WeightSchedule } from '../../config/types';
import { crossEntropy } from '../losses/labels';
import { kdLoss } from '../losses/response/kd';
import { dkdLoss } from '../losses/response/dkd';
import { multiTeacherKdLoss } from '../losses/response/multiTeacher';
import { distLoss } from '../losses/response/dist';
import { ctkdLoss, initialTheta, reversalWeight } from '../losses/response/ctkd';
import { fitnetLoss } from '../losses/feature/fitnet';
import { atLoss } from '../losses/feature/at';
import { nstLoss } from '../losses/feature/nst';
import { rkdAngleLoss, rkdDistanceLoss } from '../losses/relation/rkd';
import { spLoss } from '../losses/relation/sp';
import { pktLoss } from '../losses/relation/pkt';
import { ccLoss } from '../losses/relation/cc';
import { fspLoss } from '../losses/relation/fsp';
import { formatShape } from '../../methods/catalogue';
import type { MethodNameOf } from '../../methods/catalogue';
import { layerInfos, unknownLayerMessage } from '../models/taps';
import type { Shape } from '../models/taps';
import { PairError, planAdapter } from './pairs';
import { buildCrdTerm } from './crd';
import { buildReviewKdTerm } from './reviewkd';
import { buildAdversarialTerm } from './adversarial';

export interface TermContext {
  /** Student logits. */
  zs: tf.Tensor;
  /** Teacher logits (absent when the job has no teacher). */
  zt?: tf.Tensor;
  labels: tf.Tensor;
  /** Logits of the further teachers of multi-kd, in config order. */
  extraTeacherLogits: tf.Tensor[];
  /** Tapped outputs by layer name. */
  student: Map<string, tf.Tensor>;
  teacher: Map<string, tf.Tensor>;
  /** The (1-based) epoch of the step (ctkd's reversal curriculum). */
  epoch?: number;
  /** Row indices of the batch in the training split (crd's memory bank). */
  idx?: Int32Array;
}

export interface Term {
  name: string;
  weight: number;
  /** Multiplier of the weight in a (1-based) epoch: schedules and DKD warm-up. */
  factor(epoch: number): number;
  needsTeacher: boolean;
  studentLayers: string[];
  teacherLayers: string[];
  /** Trainable adapters (trained with the student, not exported). */
  adapters: tf.LayersModel[];
  /** `teacherLayer→studentLayer` per pair, in order; empty for terms without pairs. */
  pairLabels: string[];
  /** Adapter description per pair (`none`, `dense 32→64`, …). */
  pairAdapters: string[];
  compute(ctx: TermContext): { value: tf.Scalar; pairs: tf.Scalar[] };
  /** Learned values of the last step, logged per step (`params` of the step record): ctkd's temperature. */
  params?(): Record<string, number>;
  /** Writes state kept outside the adapters' weights into them (crd's memory banks), before a checkpoint. */
  beforeCheckpoint?(): void;
  /** Runs after each student step (outside its gradient tape): the adversarial term's discriminator step. */
  afterStep?(): void;
  /** Epoch-end figures of the term (epoch means of its `params`), logged in the epoch record's `extras`. */
  epochExtras?(): Record<string, number>;
}

/** A problem of the experiment found against the models: a JSON path and a message. */
export interface KnowledgeProblem {
  path: (string | number)[];
  message: string;
}

export class KnowledgeError extends Error {
  constructor(readonly problems: KnowledgeProblem[]) {
    super(problems.map((p) => `${p.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').slice(1)}: ${p.message}`).join('\n'));
    this.name = 'KnowledgeError';
  }
}

export function scheduleFactor(schedule: WeightSchedule | undefined, epoch: number): number {
  if (!schedule || schedule.kind === 'constant') return 1;
  return Math.min(1, epoch / schedule.epochs);
}

export function labelsTerm(weight: number): Term {
  return {
    name: 'labels', weight, factor: () => 1, needsTeacher: false, studentLayers: [], teacherLayers: [], adapters: [],
    pairLabels: [], pairAdapters: [],
    compute: (ctx) => ({ value: crossEntropy(ctx.zs, ctx.labels), pairs: [] }),
  };
}

type PairLoss = (fs: tf.Tensor, ft: tf.Tensor) => tf.Scalar;

/**
 * Pair methods whose term is more than a loss of each pair (trained heads, memory, fusion across
 * pairs): built by their own builder in `buildTerms` (issue 17).
 */
export const PAIR_TERMS = { crd: 'src/engine/knowledge/crd.ts', reviewkd: 'src/engine/knowledge/reviewkd.ts' } as const;
type PairTermMethod = keyof typeof PAIR_TERMS;

/** The engine's registry of one-layer-pair losses: one line per pair method of the catalogue (src/methods/catalogue.ts), `PAIR_TERMS` aside. */
export const PAIR_LOSSES: Record<Exclude<MethodNameOf<'feature' | 'relation', false>, PairTermMethod>, (entry: KnowledgeEntry) => PairLoss> = {
  fitnet: () => fitnetLoss,
  at: (e) => (fs, ft) => atLoss(fs, ft, (e as { p?: number }).p ?? 2),
  nst: () => nstLoss,
  'rkd-distance': () => rkdDistanceLoss,
  'rkd-angle': () => rkdAngleLoss,
  sp: () => spLoss,
  pkt: () => pktLoss,
  cc: () => ccLoss,
};

interface Models {
  teacher?: tf.LayersModel;
  student: tf.LayersModel;
}

/**
 * The terms of a job. `distill`: every knowledge entry (resolved against the models) + labels;
 * `scratch` and `teacher`: labels only (weight 1: a plain supervised model with the same budget).
 * Throws a KnowledgeError listing every problem (unknown layers, unmatchable pairs) with its path.
 */
export function buildTerms(config: ExperimentConfig, mode: 'distill' | 'scratch' | 'teacher', models: Models,
  opts: { adapterPrefix?: string; trainLabels?: Int32Array } = {}): Term[] {
  if (mode !== 'distill') return [labelsTerm(1)];
  const problems: KnowledgeProblem[] = [];
  const terms: Term[] = [];
  const used = new Map<string, number>();
  const prefix = opts.adapterPrefix ?? 'adapter';
  const tLayers = models.teacher ? new Map(layerInfos(models.teacher).map((l) => [l.name, l])) : new Map();
  const sLayers = new Map(layerInfos(models.student).map((l) => [l.name, l]));

  config.knowledge.forEach((entry, ei) => {
    const n = (used.get(entry.method) ?? 0) + 1;
    used.set(entry.method, n);
    const name = n === 1 ? entry.method : `${entry.method}#${n}`;
    const base = { name, weight: entry.weight, needsTeacher: true, studentLayers: [] as string[], teacherLayers: [] as string[],
      adapters: [] as tf.LayersModel[], pairLabels: [] as string[], pairAdapters: [] as string[] };
    const sched = (epoch: number) => scheduleFactor(entry.schedule, epoch);
    if (entry.weight <= 0) return;

    const layerShape = (who: 'teacher' | 'student', layer: string, path: (string | number)[]): Shape | undefined => {
      const table = who === 'teacher' ? tLayers : sLayers;
      const info = table.get(layer);
      if (!info) {
        const model = who === 'teacher' ? models.teacher : models.student;
        problems.push({ path, message: model ? unknownLayerMessage(`the ${who}`, layer, model) : `no ${who} model to read "${layer}" from` });
        return undefined;
      }
      return info.outputShape;
    };

    switch (entry.method) {
      case 'kd':
        terms.push({ ...base, factor: sched, compute: (ctx) => ({ value: kdLoss(ctx.zs, need(ctx.zt), entry.temperature, entry.standardize), pairs: [] }) });
        return;
      case 'dkd':
        terms.push({
          ...base,
          factor: (epoch) => sched(epoch) * (entry.warmup > 0 ? Math.min(1, epoch / entry.warmup) : 1),
          compute: (ctx) => ({ value: dkdLoss(ctx.zs, need(ctx.zt), ctx.labels, entry), pairs: [] }),
        });
        return;
      case 'multi-kd': {
        const weights = [entry.teacherWeight, ...entry.teachers.map((t) => t.weight)];
        terms.push({
          ...base, factor: sched,
          compute: (ctx) => ({ value: multiTeacherKdLoss(ctx.zs, [need(ctx.zt), ...ctx.extraTeacherLogits], weights, entry.temperature, entry.standardize), pairs: [] }),
        });
        return;
      }
      case 'dist':
        terms.push({ ...base, factor: sched, compute: (ctx) => ({ value: distLoss(ctx.zs, need(ctx.zt), entry), pairs: [] }) });
        return;
      case 'ctkd': {
        // The temperature's parameter θ lives in a one-weight model, so it is trained, checkpointed
        // and restored with the adapters, and never exported with the student.
        const holder = tf.sequential({ name: `${prefix}_k${ei}_temperature` });
        holder.add(tf.layers.dense({ inputShape: [1], units: 1, useBias: false, name: `${prefix}_k${ei}_temperature_theta`,
          kernelInitializer: tf.initializers.constant({ value: initialTheta(entry) }) }));
        let last = Number.NaN;
        terms.push({
          ...base, factor: sched, adapters: [holder], pairAdapters: [],
          compute: (ctx) => {
            const theta = holder.layers[0].trainableWeights[0].read();
            const { loss, temperature } = ctkdLoss(ctx.zs, need(ctx.zt), theta, reversalWeight(ctx.epoch ?? 1, entry), entry);
            last = temperature.dataSync()[0];
            return { value: loss, pairs: [] };
          },
          params: () => ({ temperature: last }),
        });
        return;
      }
      case 'crd': {
        const pair = entry.pairs[0];
        const path = ['knowledge', ei, 'pairs', 0];
        const ts = layerShape('teacher', pair.teacher, [...path, 'teacher']);
        const ss = layerShape('student', pair.student, [...path, 'student']);
        if (!ts || !ss) return;
        const term = buildCrdTerm(entry, ei, prefix, base, sched, { teacher: ts, student: ss }, opts.trainLabels, problems);
        if (term) terms.push(term);
        return;
      }
      case 'reviewkd': {
        const shapes: { teacher: Shape; student: Shape }[] = [];
        entry.pairs.forEach((pair, pi) => {
          const path = ['knowledge', ei, 'pairs', pi];
          const ts = layerShape('teacher', pair.teacher, [...path, 'teacher']);
          const ss = layerShape('student', pair.student, [...path, 'student']);
          if (ts && ss) shapes.push({ teacher: ts, student: ss });
        });
        if (shapes.length !== entry.pairs.length) return;
        const term = buildReviewKdTerm(entry, ei, prefix, base, sched, shapes, problems);
        if (term) terms.push(term);
        return;
      }
      case 'adversarial': { // issue 18
        const pair = entry.pairs?.[0];
        let shapes: { teacher: Shape; student: Shape } | undefined;
        if (pair) {
          const path = ['knowledge', ei, 'pairs', 0];
          const ts = layerShape('teacher', pair.teacher, [...path, 'teacher']);
          const ss = layerShape('student', pair.student, [...path, 'student']);
          if (!ts || !ss) return;
          shapes = { teacher: ts, student: ss };
        }
        const out = models.student.outputs[0].shape;
        const term = buildAdversarialTerm(entry, ei, prefix, base, sched, { numClasses: out[out.length - 1] as number, pair: shapes }, problems);
        if (term) terms.push(term);
        return;
      }
      case 'fsp': {
        const pairs = entry.pairs as FspPair[];
        const plans: { t: [string, string]; s: [string, string]; adapters: (tf.LayersModel | undefined)[] }[] = [];
        pairs.forEach((pair, pi) => {
          const path = ['knowledge', ei, 'pairs', pi];
          const ts = pair.teacher.map((l, k) => layerShape('teacher', l, [...path, 'teacher', k]));
          const ss = pair.student.map((l, k) => layerShape('student', l, [...path, 'student', k]));
          if (ts.some((s) => !s) || ss.some((s) => !s)) return;
          const spatial = (a: Shape, b: Shape) => a.length === 4 && b.length === 4 && a[1] === b[1] && a[2] === b[2];
          if (!spatial(ts[0]!, ts[1]!)) {
            problems.push({ path: [...path, 'teacher'], message: `fsp: the teacher's layers "${pair.teacher[0]}" ${formatShape(ts[0]!)} and "${pair.teacher[1]}" ${formatShape(ts[1]!)} must be feature maps of the same spatial size` });
            return;
          }
          if (!spatial(ss[0]!, ss[1]!)) {
            problems.push({ path: [...path, 'student'], message: `fsp: the student's layers "${pair.student[0]}" ${formatShape(ss[0]!)} and "${pair.student[1]}" ${formatShape(ss[1]!)} must be feature maps of the same spatial size` });
            return;
          }
          const adapters = [0, 1].map((k) => {
            const cs = ss[k]![3];
            const ct = ts[k]![3];
            if (cs === ct) return undefined;
            base.pairAdapters.push(`conv1x1 ${cs}→${ct}`);
            const a = tf.sequential({ name: `${prefix}_k${ei}_p${pi}_${k}` });
            a.add(tf.layers.conv2d({ inputShape: ss[k]!.slice(1) as number[], filters: ct as number, kernelSize: 1, name: `${prefix}_k${ei}_p${pi}_${k}_conv` }));
            base.adapters.push(a);
            return a;
          });
          if (adapters.every((a) => !a)) base.pairAdapters.push('none');
          plans.push({ t: pair.teacher, s: pair.student, adapters });
          base.pairLabels.push(`${pair.teacher.join('+')}→${pair.student.join('+')}`);
          base.teacherLayers.push(...pair.teacher);
          base.studentLayers.push(...pair.student);
        });
        terms.push({
          ...base, factor: sched,
          compute: (ctx) => {
            const pairValues = plans.map((p) => {
              const s = p.s.map((l, k) => (p.adapters[k] ? p.adapters[k]!.apply(get(ctx.student, l)) as tf.Tensor : get(ctx.student, l)));
              return fspLoss(s[0], s[1], get(ctx.teacher, p.t[0]), get(ctx.teacher, p.t[1]));
            });
            return { value: sumScalars(pairValues), pairs: pairValues };
          },
        });
        return;
      }
      default: {
        const lossOf = (PAIR_LOSSES as Record<string, ((entry: KnowledgeEntry) => PairLoss) | undefined>)[entry.method];
        if (!lossOf) {
          problems.push({ path: ['knowledge', ei, 'method'], message: `unknown method "${entry.method}"` });
          return;
        }
        const loss = lossOf(entry);
        const plans: { pair: LayerPair; adapter?: tf.LayersModel }[] = [];
        (entry.pairs as LayerPair[]).forEach((pair, pi) => {
          const path = ['knowledge', ei, 'pairs', pi];
          const ts = layerShape('teacher', pair.teacher, [...path, 'teacher']);
          const ss = layerShape('student', pair.student, [...path, 'student']);
          if (!ts || !ss) return;
          try {
            const plan = planAdapter(entry.method, pair, ss, ts);
            const adapter = plan.build(`${prefix}_k${ei}_p${pi}`);
            if (adapter) base.adapters.push(adapter);
            plans.push({ pair, adapter });
            base.pairLabels.push(`${pair.teacher}→${pair.student}`);
            base.pairAdapters.push(plan.description);
            base.teacherLayers.push(pair.teacher);
            base.studentLayers.push(pair.student);
          } catch (e) {
            if (!(e instanceof PairError)) throw e;
            problems.push({ path, message: e.message });
          }
        });
        terms.push({
          ...base, factor: sched,
          compute: (ctx) => {
            const pairValues = plans.map(({ pair, adapter }) => {
              const fs = get(ctx.student, pair.student);
              return loss(adapter ? adapter.apply(fs) as tf.Tensor : fs, get(ctx.teacher, pair.teacher));
            });
            return { value: sumScalars(pairValues), pairs: pairValues };
          },
        });
      }
    }
  });
  if (problems.length) {
    terms.forEach((t) => t.adapters.forEach((a) => a.dispose()));
    throw new KnowledgeError(problems);
  }
  if (config.labels.weight > 0) terms.push(labelsTerm(config.labels.weight));
  // FitNets stage 1: during the hint epochs only the hint terms train (the student up to its
  // paired layers, and the adapters); every other term is switched off.
  const hintEpochs = Math.max(0, ...config.knowledge.map((e) => (e.method === 'fitnet' ? e.hintEpochs ?? 0 : 0)));
  if (hintEpochs > 0) {
    const hintTerms = new Set(config.knowledge.flatMap((e, i) => (e.method === 'fitnet' && (e.hintEpochs ?? 0) > 0 ? [i] : [])));
    let k = 0;
    const entryOf = new Map<Term, number>();
    config.knowledge.forEach((e, i) => {
      if (e.weight > 0) entryOf.set(terms[k++], i);
    });
    for (const term of terms) {
      const entry = entryOf.get(term);
      if (entry !== undefined && hintTerms.has(entry)) continue;
      const base = term.factor;
      term.factor = (epoch) => (epoch <= hintEpochs ? 0 : base(epoch));
    }
  }
  return terms;
}

function need(t: tf.Tensor | undefined): tf.Tensor {
  if (!t) throw new Error('this loss term needs the teacher\'s logits');
  return t;
}

function get(m: Map<string, tf.Tensor>, layer: string): tf.Tensor {
  const t = m.get(layer);
  if (!t) throw new Error(`layer "${layer}" was not tapped`);
  return t;
}

function sumScalars(values: tf.Scalar[]): tf.Scalar {
  return values.length === 1 ? values[0] : (tf.addN(values) as tf.Scalar);
}

/** Every trainable variable of the terms' adapters. */
export function adapterVariables(terms: Term[]): tf.Variable[] {
  return terms.flatMap((t) => t.adapters.flatMap((a) => a.trainableWeights.map((w) => w.read() as tf.Variable)));
}

export function disposeTerms(terms: Term[]): void {
  for (const t of terms) t.adapters.forEach((a) => a.dispose());
}
