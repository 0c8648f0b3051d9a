/**
 * Self-distillation, "be your own teacher" (Zhang et al., ICCV 2019): auxiliary classifier heads
 * on shallower layers of the student learn from the network's own deepest output and features.
 * With z the main logits, F the deepest features (the layer before the output, flattened), and
 * for each head h its logits z_h and flattened features f_h:
 *
 *   L = CE(y, z) + Σ_h [ (1−α)·CE(y, z_h) + α·T²·KL(softmax(z/T) ‖ softmax(z_h/T)) + β·mean(r_h(f_h) − F)² ]
 *
 * (z and F are targets: no gradient through them from the head terms; r_h is a dense adapter).
 * The heads and adapters are trained with the network and are not part of the exported model.
 *
 * How heads read features (the rule both engines follow, held by the conformance fixture's `byot`
 * case): a head h and its adapter r_h are one dense layer each on the layer's output FLATTENED in
 * channels-last order — a map [B,H,W,C] as its H·W·C values in NHWC order, a sequence [B,L,C] as
 * L·C values, a vector as it is (no pooling: a pooled 8-channel map is too little for a linear head
 * to classify). F is the output of the layer before the output layer, flattened the same way. The
 * PyTorch engine permutes its NCHW maps to NHWC before flattening, so the same head weights give the
 * same numbers in both engines.
 */
import * as tf from '@tensorflow/tfjs';
import type { SelfScheme } from '../../config/types';
import type { Batch, Learner, StepLoss } from '../training/train';
import { crossEntropy } from '../losses/labels';
import { kdLoss } from '../losses/response/kd';
import { stopGradient } from '../training/ops';
import { layerInfos, tapModel, unknownLayerMessage } from '../models/taps';
import type { PreparedData } from '../data';
import { rowsOf, streamChunk } from '../data';

export function selfLearner(student: tf.LayersModel, inputShape: number[], scheme: SelfScheme,
  o: { data: PreparedData; numClasses: number }): Learner {
  const layers = layerInfos(student);
  const deep = layers[layers.length - 2];
  if (!deep) throw new Error('self-distillation needs a student with at least two layers');
  const headLayers = scheme.heads.map((h) => h.layer);
  const tap = tapModel(student, [...headLayers, deep.name]);
  // Heads read the whole (flattened) feature map: a pooled 8-channel map is too little for a
  // linear head to classify, and the heads exist only during training.
  const deepDim = featureWidth(deep.outputShape);
  const heads = headLayers.map((l) => byotHead(l, featureWidth(layers.find((x) => x.name === l)!.outputShape), o.numClasses, deepDim));
  const termNames = ['labels', ...headLayers.flatMap((l) => [`head:${l}.labels`, `head:${l}.kd`, `head:${l}.hint`])];

  return {
    model: student,
    inputShape,
    variables: [student, ...heads.flatMap((h) => [h.head, h.adapter])].flatMap((m) => m.trainableWeights.map((w) => w.read() as tf.Variable)),
    extras: heads.flatMap((h) => [h.head, h.adapter]),
    termNames,
    pairLabels: {},
    loss(batch: Batch): StepLoss {
      const outs = tap.apply(batch.xs, { training: true }) as tf.Tensor[];
      const z = outs[0];
      const { terms, total } = byotLosses(z, outs[outs.length - 1], outs.slice(1, 1 + heads.length), batch.ys, heads, scheme);
      return { total, terms, pairs: terms.map(() => []), logits: z };
    },
    epochExtras() {
      // Test accuracy of every auxiliary head.
      const ds = o.data.test;
      const hits = new Array<number>(heads.length).fill(0);
      const step = streamChunk(ds, 512);
      for (let start = 0; start < ds.size; start += step) {
        const n = Math.min(step, ds.size - start);
        const rows = rowsOf(ds, start, n);
        const preds = tf.tidy(() => {
          const outs = tap.predict(tf.tensor(rows, [n, ...inputShape]), { batchSize: n }) as tf.Tensor[];
          return heads.map((h, i) => tf.argMax(h.head.apply(featureRows(outs[i + 1])) as tf.Tensor, -1).dataSync());
        });
        preds.forEach((p, i) => {
          for (let k = 0; k < n; k++) if (p[k] === ds.y[start + k]) hits[i]++;
        });
      }
      return Object.fromEntries(heads.map((h, i) => [`head:${h.layer}.testAcc`, hits[i] / ds.size]));
    },
    dispose() {
      heads.forEach((h) => {
        h.head.dispose();
        h.adapter.dispose();
      });
    },
  };
}

/** A layer's output as one row per sample: flattened in its own (channels-last, NHWC) order. */
export function featureRows(t: tf.Tensor): tf.Tensor2D {
  return tf.reshape(t, [t.shape[0], -1]);
}

/** The width of featureRows of a layer's output shape (batch first). */
export function featureWidth(shape: readonly (number | null)[]): number {
  return shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1);
}

/** One auxiliary head: a dense layer to the classes and a dense hint adapter to F's width, both on `inDim` flattened features. */
export interface ByotHead { layer: string; head: tf.Sequential; adapter: tf.Sequential }

/** The head and hint adapter of `layer` (weights `head_<layer>_logits/…`, `hint_<layer>_dense/…`), as the learner builds them. */
export function byotHead(layer: string, inDim: number, numClasses: number, deepDim: number): ByotHead {
  const head = tf.sequential({ name: `head_${layer}` });
  head.add(tf.layers.dense({ inputShape: [inDim], units: numClasses, name: `head_${layer}_logits` }));
  const adapter = tf.sequential({ name: `hint_${layer}` });
  adapter.add(tf.layers.dense({ inputShape: [inDim], units: deepDim, name: `hint_${layer}_dense` }));
  return { layer, head, adapter };
}

/**
 * The BYOT loss of one batch: z the main logits, `deep` the deep features F (any rank), `feats[h]`
 * head h's layer output (NHWC map, sequence or vector), `heads[h]` its head and adapter. Features
 * are read by featureRows (flattened, NHWC order). Returns `terms` = [CE(y,z), then per head
 * CE(y,z_h), T²·KL(softmax(z/T) ‖ softmax(z_h/T)), mean(r_h(f_h) − F)²] (unweighted) and the total
 * CE + Σ_h (1−α)·CE_h + α·KD_h + β·hint_h; z and F are detached targets in the head terms. Pure
 * (the learner's loss; the conformance fixture's `byot` case holds the PyTorch `byot_losses` to it).
 */
export function byotLosses(z: tf.Tensor, deep: tf.Tensor, feats: tf.Tensor[], labels: tf.Tensor,
  heads: { head: tf.LayersModel; adapter: tf.LayersModel }[], o: { temperature: number; alpha: number; beta: number }): { terms: tf.Scalar[]; total: tf.Scalar } {
  if (feats.length !== heads.length) throw new Error(`byotLosses: ${feats.length} head features for ${heads.length} heads`);
  const target = stopGradient(z);
  const deepF = stopGradient(featureRows(deep));
  const ce = crossEntropy(z, labels);
  const terms: tf.Scalar[] = [ce];
  let total: tf.Scalar = ce;
  heads.forEach((h, i) => {
    const f = featureRows(feats[i]);
    const zh = h.head.apply(f) as tf.Tensor;
    const ceH = crossEntropy(zh, labels);
    const kdH = kdLoss(zh, target, o.temperature);
    const hint = tf.mean(tf.square(tf.sub(h.adapter.apply(f) as tf.Tensor, deepF))) as tf.Scalar;
    terms.push(ceH, kdH, hint);
    total = tf.addN([total, tf.mul(ceH, 1 - o.alpha), tf.mul(kdH, o.alpha), tf.mul(hint, o.beta)]) as tf.Scalar;
  });
  return { terms, total };
}

/** Checks the heads name existing student layers; returns messages per head index. */
export function checkHeads(student: tf.LayersModel, scheme: SelfScheme): { index: number; message: string }[] {
  const names = layerInfos(student).map((l) => l.name);
  const out: { index: number; message: string }[] = [];
  scheme.heads.forEach((h, index) => {
    if (!names.includes(h.layer)) {
      out.push({ index, message: unknownLayerMessage('the student', h.layer, student) });
    } else if (h.layer === names[names.length - 1]) {
      out.push({ index, message: `"${h.layer}" is the student's output layer; a head goes on a shallower layer` });
    }
  });
  return out;
}
