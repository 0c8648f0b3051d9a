/**
 * The UI tests' workspace (an examples-like folder, rebuilt each run): tiny.ts (teacher and student
 * factories for 16-feature vectors), a long synthetic experiment to stop, a broken one for Problems.
 */
const fs = require('fs');
const path = require('path');

const TINY_TS = `/** Small models for synthetic 16-feature, 4-class vectors: (tf, args) => tf.LayersModel. */
import * as tf from '@tensorflow/tfjs';

export function teacher(_tf: typeof tf): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 32, activation: 'relu', inputShape: [16], name: 'hidden' }));
  model.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return model;
}

export function student(_tf: typeof tf): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 8, activation: 'relu', inputShape: [16], name: 'hidden' }));
  model.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return model;
}
`;

const synthetic = (samples, seed) => ({ format: 'synthetic', kind: 'vectors', samples, classes: 4, shape: [16], seed });

function experiment(name, o) {
  return {
    name,
    seeds: [1],
    data: { train: synthetic(o.samples, 1), test: synthetic(256, 2), validation: { fraction: 0.125 }, normalize: 'none' },
    teacher: { module: 'tiny.ts', export: 'teacher', train: { epochs: 1, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    student: { module: 'tiny.ts', export: 'student' },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: o.epochs, batchSize: o.batchSize, optimizer: { kind: 'adam', learningRate: 0.005 }, logEvery: 1 },
    baseline: o.baseline,
  };
}

/** The user's edit of the New Experiment template: quick synthetic data, short training (compact lines). */
function TINY_EXPERIMENT_DATA(text) {
  const { parseTree, findNodeAtLocation } = require('jsonc-parser');
  const one = (v) => JSON.stringify(v).replace(/([,:])(?=["{[\d])/g, '$1 ').replace(/\{(?=")/g, '{ ').replace(/(?<=[\d"\]}])\}/g, ' }');
  const replacements = [
    [['data'], `{\n    "train": ${one(synthetic(32768, 1))},\n    "test": ${one(synthetic(256, 2))},\n    "validation": { "fraction": 0.125 }, "normalize": "none"\n  }`],
    [['teacher', 'train', 'epochs'], '2'],
    [['training'], one({ epochs: 4, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.005 }, logEvery: 1 })],
  ];
  let t = text;
  for (const [where, value] of replacements) {
    const node = findNodeAtLocation(parseTree(t), where);
    t = t.slice(0, node.offset) + value + t.slice(node.offset + node.length);
  }
  return t;
}

function writeWorkspace(ws, root) {
  fs.rmSync(ws, { recursive: true, force: true });
  fs.mkdirSync(ws, { recursive: true });
  fs.writeFileSync(path.join(ws, 'tiny.ts'), TINY_TS);
  fs.copyFileSync(path.join(root, 'examples', 'models.ts'), path.join(ws, 'models.ts'));
  fs.writeFileSync(path.join(ws, 'long.distill.json'), JSON.stringify(experiment('long', { samples: 131072, epochs: 20, batchSize: 16, baseline: false }), null, 2) + '\n');
  const broken = JSON.stringify(experiment('broken', { samples: 512, epochs: 1, batchSize: 32, baseline: false }), null, 2).replace('"temperature": 4', '"temperature": -1');
  fs.writeFileSync(path.join(ws, 'broken.distill.json'), broken + '\n');
}

module.exports = { writeWorkspace, TINY_EXPERIMENT_DATA };
