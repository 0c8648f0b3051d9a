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
  const vecDim = (shape: (number | null)[]) => shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1);
  const deepDim = vecDim(deep.outputShape);
  const heads = headLayers.map((l) => {
    const shape = layers.find((x) => x.name === l)!.outputShape;
    const head = tf.sequential({ name: `head_${l}` });
    head.add(tf.layers.dense({ inputShape: [vecDim(shape)], units: o.numClasses, name: `head_${l}_logits` }));
    const adapter = tf.sequential({ name: `hint_${l}` });
    adapter.add(tf.layers.dense({ inputShape: [vecDim(shape)], units: deepDim, name: `hint_${l}_dense` }));
    return { layer: l, head, adapter };
  });
  const termNames = ['labels', ...headLayers.flatMap((l) => [`head:${l}.labels`, `head:${l}.kd`, `head:${l}.hint`])];
  const flatten = (t: tf.Tensor) => tf.reshape(t, [t.shape[0], -1]);

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
      const target = stopGradient(z);
      const deepF = stopGradient(flatten(outs[outs.length - 1]));
      const ce = crossEntropy(z, batch.ys);
      const terms: tf.Scalar[] = [ce];
      let total: tf.Scalar = ce;
      heads.forEach((h, i) => {
        const f = flatten(outs[i + 1]);
        const zh = h.head.apply(f) as tf.Tensor;
        const ceH = crossEntropy(zh, batch.ys);
        const kdH = kdLoss(zh, target, scheme.temperature);
        const hint = tf.mean(tf.square(tf.sub(h.adapter.apply(f) as tf.Tensor, deepF))) as tf.Scalar;
        terms.push(ceH, kdH, hint);
        total = tf.addN([total, tf.mul(ceH, 1 - scheme.alpha), tf.mul(kdH, scheme.alpha), tf.mul(hint, scheme.beta)]) as tf.Scalar;
      });
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
          return heads.map((h, i) => tf.argMax(h.head.apply(flatten(outs[i + 1])) as tf.Tensor, -1).dataSync());
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
