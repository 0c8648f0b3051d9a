/**
 * Layer taps: any named layer of a model read during the same forward pass as its output, through
 * a multi-output model built over the tapped layers (it shares the layers, hence the weights, of
 * the original: no copy, no second forward pass).
 */
import * as tf from '@tensorflow/tfjs';
import { closestNames, quoteNames } from '../../config/names';

export type Shape = (number | null)[];

export interface LayerInfo {
  name: string;
  type: string;
  outputShape: Shape;
  /** 0-based position among the model's layers (input layers excluded). */
  index: number;
}

/** The layers of a model that produce a tensor a pair can use (input layers excluded). */
export function layerInfos(model: tf.LayersModel): LayerInfo[] {
  return model.layers
    .filter((l) => l.getClassName() !== 'InputLayer')
    .map((l, index) => ({ name: l.name, type: l.getClassName(), outputShape: singleShape(l), index }));
}

function singleShape(layer: tf.layers.Layer): Shape {
  const s = layer.outputShape;
  return (Array.isArray(s[0]) ? s[0] : s) as Shape;
}


/** A message for an unknown layer name that lists the closest existing names. */
export function unknownLayerMessage(who: string, name: string, model: tf.LayersModel): string {
  const names = layerInfos(model).map((l) => l.name);
  return `${who} has no layer "${name}"; closest: ${quoteNames(closestNames(name, names))}`;
}

/**
 * A model with outputs [model output, ...outputs of `names`]. Calling it with `training: true`
 * trains the shared layers of the original model.
 */
export function tapModel(model: tf.LayersModel, names: string[]): tf.LayersModel {
  if (names.length === 0) return model;
  const outputs = [model.outputs[0], ...names.map((n) => {
    const layer = model.getLayer(n);
    const out = layer.output;
    return (Array.isArray(out) ? out[0] : out) as tf.SymbolicTensor;
  })];
  return tf.model({ inputs: model.inputs, outputs, name: `${model.name}_taps` });
}
