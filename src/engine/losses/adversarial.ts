/**
 * Adversarial distillation's numbers (Xu et al. 2018; Wang et al. 2018, KDGAN), as pure functions
 * of tensors so the term (src/engine/knowledge/adversarial.ts), the tests and the cross-engine
 * fixture use the same code:
 *
 *   what D sees      x = flatten(f) ⊕ onehot(y)   (f = softmax(z/T) of the logits, or a pair's features;
 *                                                 the one-hot only when conditional)
 *   D                an MLP: h ← LeakyReLU₀.₂(h·W + b) per hidden layer, then one logit h·W + b
 *   student term     −mean_b log σ(D(s_b)) = mean_b softplus(−D(s_b))                  (non-saturating)
 *   D's loss         −mean_b [log σ(D(t_b)) + log(1 − σ(D(s_b)))] = mean_b [softplus(−D(t_b)) + softplus(D(s_b))]
 *   D's accuracy     (#{D(t_b) > 0} + #{D(s_b) < 0}) / 2B                               (a 0 counts as wrong)
 *   D's step         Adam (β₁ 0.5, β₂ 0.999, ε 1e-8, bias-corrected as torch.optim.Adam) on D's loss
 */
import * as tf from '@tensorflow/tfjs';

/** LeakyReLU slope of D's hidden layers. */
export const LEAKY_SLOPE = 0.2;
export const DISC_BETA1 = 0.5;
export const DISC_BETA2 = 0.999;
export const DISC_EPSILON = 1e-8;

/**
 * What D sees of a batch: `f` flattened to [B, ·] (softmax(f/T) first when `temperature` is given:
 * the logits' view), with the one-hot labels appended when `labels` are given (conditional D).
 */
export function discriminatorInput(f: tf.Tensor, opts: { temperature?: number; labels?: tf.Tensor; numClasses?: number }): tf.Tensor2D {
  return tf.tidy(() => {
    const b = f.shape[0];
    let x = tf.reshape(f, [b, -1]) as tf.Tensor2D;
    if (opts.temperature !== undefined) x = tf.softmax(tf.div(x, opts.temperature)) as tf.Tensor2D;
    if (opts.labels) {
      const k = opts.numClasses ?? (f.shape[f.shape.length - 1] as number);
      x = tf.concat([x, tf.oneHot(tf.cast(opts.labels, 'int32') as tf.Tensor1D, k).toFloat()], 1) as tf.Tensor2D;
    }
    return x;
  });
}

/** D's logits [B] for inputs [B, F]; `params` = [W₁, b₁, …, W_out, b_out] (the last W is [·, 1]). */
export function discriminatorLogits(x: tf.Tensor, params: tf.Tensor[]): tf.Tensor1D {
  return tf.tidy(() => {
    let h = x as tf.Tensor2D;
    for (let i = 0; i < params.length; i += 2) {
      h = tf.add(tf.matMul(h, params[i] as tf.Tensor2D), params[i + 1]) as tf.Tensor2D;
      if (i + 2 < params.length) h = tf.leakyRelu(h, LEAKY_SLOPE);
    }
    return tf.reshape(h, [-1]) as tf.Tensor1D;
  });
}

/** The student's term from D's logits on the student's inputs: mean softplus(−d_s). */
export function adversarialStudentLoss(dStudent: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.softplus(tf.neg(dStudent))) as tf.Scalar);
}

/** D's loss: mean softplus(−d_t) + mean softplus(d_s). */
export function discriminatorLoss(dTeacher: tf.Tensor, dStudent: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mean(tf.softplus(tf.neg(dTeacher))), tf.mean(tf.softplus(dStudent))) as tf.Scalar);
}

/** D's accuracy on host values: the share of the 2B logits on the right side of 0. */
export function discriminatorAccuracy(dTeacher: ArrayLike<number>, dStudent: ArrayLike<number>): number {
  let right = 0;
  for (let i = 0; i < dTeacher.length; i++) if (dTeacher[i] > 0) right++;
  for (let i = 0; i < dStudent.length; i++) if (dStudent[i] < 0) right++;
  return right / Math.max(1, dTeacher.length + dStudent.length);
}

/** D's parameters and its Adam state, all variables (updated in place). `step` is Adam's t so far. */
export interface DiscriminatorState {
  params: tf.Variable[];
  m: tf.Variable[];
  v: tf.Variable[];
  step: number;
}

/**
 * One Adam step of D on its loss for the detached inputs `xt` (teacher) and `xs` (student).
 * Returns the loss and accuracy before the step (of the D that saw these outputs) and the new t.
 */
export function discriminatorStep(d: DiscriminatorState, xt: tf.Tensor, xs: tf.Tensor, learningRate: number): { loss: number; acc: number; step: number } {
  const t = d.step + 1;
  const { loss, acc } = tf.tidy(() => {
    const f = tf.valueAndGrads((...ps: tf.Tensor[]) => discriminatorLoss(discriminatorLogits(xt, ps), discriminatorLogits(xs, ps)));
    const { value, grads } = f(d.params.map((p) => p as tf.Tensor));
    const dt = discriminatorLogits(xt, d.params).dataSync();
    const ds = discriminatorLogits(xs, d.params).dataSync();
    const c1 = 1 - DISC_BETA1 ** t;
    const c2 = 1 - DISC_BETA2 ** t;
    d.params.forEach((p, i) => {
      const g = grads[i];
      const m = tf.add(tf.mul(d.m[i], DISC_BETA1), tf.mul(g, 1 - DISC_BETA1));
      const v = tf.add(tf.mul(d.v[i], DISC_BETA2), tf.mul(tf.square(g), 1 - DISC_BETA2));
      d.m[i].assign(m);
      d.v[i].assign(v);
      p.assign(tf.sub(p, tf.div(tf.mul(m, learningRate / c1), tf.add(tf.sqrt(tf.div(v, c2)), DISC_EPSILON))));
    });
    return { loss: value.dataSync()[0], acc: discriminatorAccuracy(dt, ds) };
  });
  d.step = t;
  return { loss, acc, step: t };
}
