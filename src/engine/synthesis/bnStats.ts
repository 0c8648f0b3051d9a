/**
 * DeepInversion's view of a teacher (issue 18, data-free): a model over the teacher's layers that
 * returns its logits and the input of every BatchNormalization layer, run in inference mode (the
 * BN layers normalise with their moving statistics), and the BN-statistics term that compares a
 * batch's statistics at those inputs with the moving statistics the teacher kept in training:
 *
 *   bn(x) = Σ_l ‖μ_l(x) − m_l‖₂ + ‖σ²_l(x) − v_l‖₂
 *
 * μ_l, σ²_l: the per-channel mean and biased variance of layer l's input over every axis but the
 * channel axis (the batch and, for images, the positions); m_l, v_l: the layer's moving mean and
 * variance (Yin et al. 2020, eq. 3).
 */
import * as tf from '@tensorflow/tfjs';

/** A BatchNormalization layer's moving statistics and its channel axis (normalised to ≥ 0). */
export interface BnLayerStats {
  name: string;
  axis: number;
  movingMean: tf.Tensor1D;
  movingVariance: tf.Tensor1D;
}

export interface BnTaps {
  /** Outputs: [logits, input of BN layer 1, …]. Shares the teacher's layers (no copy). */
  model: tf.LayersModel;
  layers: BnLayerStats[];
  dispose(): void;
}

/** The teacher's BatchNormalization layers, in model order. */
export function batchNormLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
}

/** The taps of every BN layer's input; throws when the teacher has none (callers check first). */
export function bnTaps(teacher: tf.LayersModel): BnTaps {
  const bns = batchNormLayers(teacher);
  if (bns.length === 0) throw new Error(`teacher ${teacher.name} has no BatchNormalization layer`);
  const layers = bns.map((l): BnLayerStats => {
    const input = (Array.isArray(l.input) ? l.input[0] : l.input) as tf.SymbolicTensor;
    const rank = input.shape.length;
    const axisCfg = (l.getConfig().axis ?? -1) as number | number[];
    const a = Array.isArray(axisCfg) ? axisCfg[0] : axisCfg;
    const w = l.getWeights();
    // weights: [gamma?, beta?, moving mean, moving variance] (trainable first)
    return { name: l.name, axis: a < 0 ? rank + a : a, movingMean: w[w.length - 2].clone() as tf.Tensor1D, movingVariance: w[w.length - 1].clone() as tf.Tensor1D };
  });
  const outputs = [teacher.outputs[0], ...bns.map((l) => (Array.isArray(l.input) ? l.input[0] : l.input) as tf.SymbolicTensor)];
  const model = tf.model({ inputs: teacher.inputs, outputs, name: `${teacher.name}_bn_taps` });
  return {
    model, layers,
    dispose: () => { for (const s of layers) { s.movingMean.dispose(); s.movingVariance.dispose(); } },
  };
}

/** Σ over layers of ‖batch mean − moving mean‖₂ + ‖batch variance − moving variance‖₂ (a scalar). */
export function bnStatisticsLoss(inputs: tf.Tensor[], layers: BnLayerStats[]): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    inputs.forEach((x, i) => {
      const s = layers[i];
      const axes = x.shape.map((_, k) => k).filter((k) => k !== s.axis);
      const { mean, variance } = tf.moments(x, axes);
      total = total.add(tf.norm(mean.sub(s.movingMean))).add(tf.norm(variance.sub(s.movingVariance)));
    });
    return total as tf.Scalar;
  });
}
