/**
 * Online distillation — deep mutual learning (Zhang, Xiang, Hospedales & Lu, CVPR 2018): K peers
 * (the teacher architecture and K−1 students) train together from scratch; peer k minimises
 *
 *   L_k = w_labels · CE(y, z_k) + 1/(K−1) · Σ_{j≠k} T²·KL(softmax(z_j/T) ‖ softmax(z_k/T))
 *
 * where the other peers' outputs are targets (no gradient flows into peer j through L_k). One
 * optimizer step updates every peer with Σ_k L_k. The first student peer is the job's model.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, Learner, StepLoss } from '../training/train';
import { crossEntropy } from '../losses/labels';
import { kdLoss } from '../losses/response/kd';
import { stopGradient } from '../training/ops';
import type { PreparedData } from '../data';
import { predictLogits, evaluateLogits } from '../training/evaluate';

export interface Peer {
  name: string;
  model: tf.LayersModel;
  inputShape: number[];
}

/**
 * The DML loss of one batch: for every peer k (in the order of `logits`) its CE(y, z_k) and its mean
 * KD to the other peers, `terms` = [CE_0, DML_0, CE_1, DML_1, …] (unweighted), and the total
 * Σ_k labelsWeight·CE_k + DML_k. The other peers' logits are detached targets: the gradient w.r.t.
 * z_k comes from peer k's own two terms only. Pure (the learner's loss; the conformance fixture's
 * `dml` case holds the PyTorch engine's `dml_losses` to it).
 */
export function dmlLosses(logits: tf.Tensor[], labels: tf.Tensor, labelsWeight: number, temperature: number): { terms: tf.Scalar[]; total: tf.Scalar } {
  if (logits.length < 2) throw new Error('online distillation needs at least two peers');
  const targets = logits.map((z) => stopGradient(z));
  const terms: tf.Scalar[] = [];
  let total: tf.Scalar = tf.scalar(0);
  logits.forEach((z, k) => {
    const ce = crossEntropy(z, labels);
    const others = targets.filter((_, j) => j !== k).map((t) => kdLoss(z, t, temperature));
    const dml = tf.div(tf.addN(others), others.length) as tf.Scalar;
    terms.push(ce, dml);
    total = tf.add(total, tf.add(tf.mul(ce, labelsWeight), dml));
  });
  return { terms, total };
}

export function onlineLearner(peers: Peer[], o: { labelsWeight: number; temperature: number; data: PreparedData; numClasses: number }): Learner {
  if (peers.length < 2) throw new Error('online distillation needs at least two peers');
  const [teacher, student] = peers;
  const termNames = peers.flatMap((p) => [`${p.name}.labels`, `${p.name}.dml`]);
  let teacherEval: { validation?: Float32Array; test: Float32Array } | undefined;
  return {
    model: student.model,
    inputShape: student.inputShape,
    variables: peers.flatMap((p) => p.model.trainableWeights.map((w) => w.read() as tf.Variable)),
    extras: peers.filter((p) => p !== student).map((p) => p.model),
    termNames,
    pairLabels: {},
    loss(batch: Batch): StepLoss {
      const n = batch.idx.length;
      const logits = peers.map((p) => p.model.apply(tf.reshape(batch.xs, [n, ...p.inputShape]), { training: true }) as tf.Tensor);
      const { terms, total } = dmlLosses(logits, batch.ys, o.labelsWeight, o.temperature);
      return { total, terms, pairs: terms.map(() => []), logits: logits[1] };
    },
    evalTeacherLogits() {
      teacherEval = {
        validation: o.data.validation ? predictLogits(teacher.model, o.data.validation, teacher.inputShape) : undefined,
        test: predictLogits(teacher.model, o.data.test, teacher.inputShape),
      };
      return teacherEval;
    },
    epochExtras() {
      const out: Record<string, number> = {};
      for (const p of peers) {
        if (p === student) continue;
        const logits = p === teacher && teacherEval ? teacherEval.test : predictLogits(p.model, o.data.test, p.inputShape);
        out[`peer:${p.name}.testAcc`] = evaluateLogits(logits, o.data.test.y, o.numClasses).acc;
      }
      return out;
    },
    dispose() {
      for (const p of peers) if (p !== student) p.model.dispose();
    },
  };
}
