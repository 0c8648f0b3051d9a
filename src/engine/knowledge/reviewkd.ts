/**
 * The reviewkd term (Chen et al. 2021; loss in src/engine/losses/feature/reviewkd.ts): the entry's
 * pairs are the stages, shallow to deep. An attention-based fusion (ABF) module — trained with the
 * student, never exported — reviews the student's stages from the deepest up: each stage is mapped
 * to `midChannels` by a 1×1 convolution, mixed with the fused deeper stage (nearest upsampling to
 * its size, attention weights from a 1×1 convolution + sigmoid over both), resized to the paired
 * teacher stage and mapped to its channels by a 3×3 convolution. Each fused stage is compared with
 * its teacher stage by the hierarchical context loss; the term is their sum. (No batch
 * normalisation in the module, unlike the paper's: adapters are applied in inference mode here.)
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerPair, ReviewKdKnowledge } from '../../config/types';
import { formatShape } from '../../methods/catalogue';
import type { Shape } from '../models/taps';
import { AttentionMix, hclLoss } from '../losses/feature/reviewkd';
import type { KnowledgeProblem, Term } from './terms';

type Base = Pick<Term, 'name' | 'weight' | 'needsTeacher'>;

/** k when `big` = k·`small` for a whole k ≥ 1, else undefined. */
function wholeRatio(big: number, small: number): number | undefined {
  return big >= small && big % small === 0 ? big / small : undefined;
}

/** Builds the fusion module of stages (shallow → deep): inputs the student stages, outputs one map per teacher stage. */
export function buildReviewFusion(name: string, student: Shape[], teacher: Shape[], mid: number): tf.LayersModel {
  const n = student.length;
  const inputs = student.map((s, i) => tf.input({ shape: s.slice(1) as number[], name: `${name}_in${i}` }));
  const outs: tf.SymbolicTensor[] = new Array(n);
  let res: tf.SymbolicTensor | undefined;
  for (let i = n - 1; i >= 0; i--) {
    const [, h, w] = student[i] as number[];
    let x = tf.layers.conv2d({ filters: mid, kernelSize: 1, name: `${name}_s${i}_reduce` }).apply(inputs[i]) as tf.SymbolicTensor;
    if (res) {
      const [, hd, wd] = student[i + 1] as number[];
      const size = [h / hd, w / wd];
      const y = size[0] === 1 && size[1] === 1 ? res : tf.layers.upSampling2d({ size, name: `${name}_s${i}_up` }).apply(res) as tf.SymbolicTensor;
      const both = tf.layers.concatenate({ name: `${name}_s${i}_cat` }).apply([x, y]) as tf.SymbolicTensor;
      const z = tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'sigmoid', name: `${name}_s${i}_att` }).apply(both) as tf.SymbolicTensor;
      x = new AttentionMix({ name: `${name}_s${i}_mix` }).apply([x, y, z]) as tf.SymbolicTensor;
    }
    res = x;
    const [, ht, wt, ct] = teacher[i] as number[];
    let r = x;
    if (ht > h || wt > w) r = tf.layers.upSampling2d({ size: [ht / h, wt / w], name: `${name}_s${i}_resize` }).apply(r) as tf.SymbolicTensor;
    else if (ht < h || wt < w) r = tf.layers.averagePooling2d({ poolSize: [h / ht, w / wt], name: `${name}_s${i}_resize` }).apply(r) as tf.SymbolicTensor;
    outs[i] = tf.layers.conv2d({ filters: ct, kernelSize: 3, padding: 'same', name: `${name}_s${i}_out` }).apply(r) as tf.SymbolicTensor;
  }
  return tf.model({ inputs, outputs: outs, name });
}

/** Why the stages cannot be reviewed (each problem at its pair), or none. */
export function reviewStageProblems(pairs: LayerPair[], student: Shape[], teacher: Shape[], ei: number): KnowledgeProblem[] {
  const problems: KnowledgeProblem[] = [];
  const at = (i: number) => ['knowledge', ei, 'pairs', i];
  pairs.forEach((p, i) => {
    const s = student[i];
    const t = teacher[i];
    if (s.length !== 4 || t.length !== 4 || [s, t].some((x) => x.slice(1).some((d) => d === null))) {
      problems.push({ path: at(i), message: `reviewkd: teacher "${p.teacher}" ${formatShape(t)} ↔ student "${p.student}" ${formatShape(s)}: reviewkd fuses feature maps of rank 4 [B,H,W,C]; pair convolutional stages (or use "fitnet" for vectors)` });
      return;
    }
    const [, h, w] = s as number[];
    const [, ht, wt] = t as number[];
    const ok = (a: number, b: number) => wholeRatio(a, b) !== undefined || wholeRatio(b, a) !== undefined;
    if (!ok(h, ht) || !ok(w, wt)) {
      problems.push({ path: at(i), message: `reviewkd: the student stage "${p.student}" is ${h}×${w}, the teacher stage "${p.teacher}" ${ht}×${wt}: one must be a whole multiple of the other` });
    }
  });
  if (problems.length) return problems;
  for (let i = 0; i + 1 < pairs.length; i++) {
    const [, h, w] = student[i] as number[];
    const [, hd, wd] = student[i + 1] as number[];
    if (wholeRatio(h, hd) === undefined || wholeRatio(w, wd) === undefined) {
      problems.push({ path: at(i + 1), message: `reviewkd: stages go from shallow to deep, each as large as the next or a whole multiple of it; the student's "${pairs[i].student}" is ${h}×${w}, the next "${pairs[i + 1].student}" ${hd}×${wd}: list the pairs from the shallowest stage to the deepest` });
    }
  }
  return problems;
}

export function buildReviewKdTerm(entry: ReviewKdKnowledge, ei: number, prefix: string, base: Base, factor: (epoch: number) => number,
  shapes: { teacher: Shape; student: Shape }[], problems: KnowledgeProblem[]): Term | undefined {
  const student = shapes.map((s) => s.student);
  const teacher = shapes.map((s) => s.teacher);
  const found = reviewStageProblems(entry.pairs, student, teacher, ei);
  if (found.length) {
    problems.push(...found);
    return undefined;
  }
  const fusion = buildReviewFusion(`${prefix}_k${ei}_review`, student, teacher, entry.midChannels);
  return {
    ...base, factor,
    studentLayers: entry.pairs.map((p) => p.student), teacherLayers: entry.pairs.map((p) => p.teacher),
    adapters: [fusion],
    pairLabels: entry.pairs.map((p) => `${p.teacher}→${p.student}`),
    pairAdapters: entry.pairs.map((_, i) => `review fusion ${student[i].slice(1).join('×')} → ${teacher[i].slice(1).join('×')} (${entry.midChannels} mid channels)`),
    compute: (ctx) => {
      const get = (m: Map<string, tf.Tensor>, l: string) => {
        const t = m.get(l);
        if (!t) throw new Error(`layer "${l}" was not tapped`);
        return t;
      };
      const out = fusion.apply(entry.pairs.map((p) => get(ctx.student, p.student)));
      const fused = Array.isArray(out) ? out as tf.Tensor[] : [out as tf.Tensor];
      const pairs = fused.map((f, i) => hclLoss(f, get(ctx.teacher, entry.pairs[i].teacher)));
      return { value: pairs.length === 1 ? pairs[0] : tf.addN(pairs) as tf.Scalar, pairs };
    },
  };
}
