/**
 * Model factories for the examples. An experiment names one with
 * `{ "module": "models.ts", "export": "teacher", "args": { ... } }`; Distill Studio calls it as
 * `factory(tf, args)` and expects a tf.LayersModel back. Imports of @tensorflow/tfjs resolve to the
 * engine's own TensorFlow.js, so the models live on the engine's backend.
 */
import * as tf from '@tensorflow/tfjs';

interface MlpArgs {
  inputs?: number;
  hidden?: number[];
  classes?: number;
  /** Dropout rate after each hidden layer. */
  dropout?: number;
  /** Dropout rate on the inputs (Hinton et al. 2015 used 0.2 with 0.5 on the hidden layers). */
  inputDropout?: number;
}

/** A multi-layer perceptron on flattened images: inputs → hidden… → classes (logits). */
export function mlp(_tf: typeof tf, args: MlpArgs = {}): tf.LayersModel {
  const { inputs = 784, hidden = [512, 512], classes = 10, dropout = 0, inputDropout = 0 } = args;
  const model = tf.sequential();
  if (inputDropout > 0) model.add(tf.layers.dropout({ inputShape: [inputs], rate: inputDropout, name: 'dropout_in' }));
  const first = (i: number) => (i === 0 && inputDropout === 0 ? { inputShape: [inputs] } : {});
  hidden.forEach((units, i) => {
    model.add(tf.layers.dense({ units, activation: 'relu', name: `dense_${i + 1}`, ...first(i) }));
    if (dropout > 0) model.add(tf.layers.dropout({ rate: dropout, name: `dropout_${i + 1}` }));
  });
  model.add(tf.layers.dense({ units: classes, name: 'logits', ...(hidden.length === 0 ? first(0) : {}) }));
  return model;
}

interface CnnArgs {
  inputShape?: [number, number, number];
  filters?: [number, number];
  dense?: number;
  classes?: number;
}

/** A small CNN: two conv/pool blocks, a dense layer (none with `dense: 0`), logits. */
export function cnn(_tf: typeof tf, args: CnnArgs = {}): tf.LayersModel {
  const { inputShape = [28, 28, 1], filters = [32, 64], dense = 128, classes = 10 } = args;
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape, filters: filters[0], kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_1' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
  model.add(tf.layers.conv2d({ filters: filters[1], kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_2' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_2' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  if (dense > 0) model.add(tf.layers.dense({ units: dense, activation: 'relu', name: 'dense_1' })); // 0: none
  model.add(tf.layers.dense({ units: classes, name: 'logits' }));
  return model;
}

interface CnnBnArgs {
  inputShape?: [number, number, number];
  filters?: [number, number];
  dense?: number;
  classes?: number;
}

/**
 * A small CNN with BatchNormalization after every conv and the dense layer (conv → BN → relu):
 * the teacher data-free distillation needs (DeepInversion matches the statistics its BN layers
 * keep, issue 18; examples/mnist-data-free.distill.json).
 */
export function cnnBn(_tf: typeof tf, args: CnnBnArgs = {}): tf.LayersModel {
  const { inputShape = [28, 28, 1], filters = [16, 32], dense = 64, classes = 10 } = args;
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape, filters: filters[0], kernelSize: 3, padding: 'same', useBias: false, name: 'conv_1' }));
  model.add(tf.layers.batchNormalization({ name: 'bn_1' }));
  model.add(tf.layers.activation({ activation: 'relu', name: 'relu_1' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
  model.add(tf.layers.conv2d({ filters: filters[1], kernelSize: 3, padding: 'same', useBias: false, name: 'conv_2' }));
  model.add(tf.layers.batchNormalization({ name: 'bn_2' }));
  model.add(tf.layers.activation({ activation: 'relu', name: 'relu_2' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_2' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: dense, useBias: false, name: 'dense_1' }));
  model.add(tf.layers.batchNormalization({ name: 'bn_3' }));
  model.add(tf.layers.activation({ activation: 'relu', name: 'relu_3' }));
  model.add(tf.layers.dense({ units: classes, name: 'logits' }));
  return model;
}
