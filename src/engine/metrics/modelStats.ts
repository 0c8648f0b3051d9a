/**
 * Size and cost of a TF.js Layers model: parameters, weight bytes, per-sample FLOPs by layer, and
 * measured inference latency. Works for Sequential and functional models (nested models are
 * counted through their own layers; a layer applied several times in the model is counted per call).
 *
 * FLOPs per sample (a multiply-add is 2 FLOPs; spatial sizes are the layer's output sizes, O):
 *   Dense            2·in·out (+out with bias), times the positions of a >2-D input
 *   Conv1D/2D/3D     2·K·Cin·Cout·O (+O·Cout with bias), K = kernel volume (KH·KW for 2-D)
 *   Conv2DTranspose  2·K·Cin·Cout·I (I = input positions) (+O·Cout with bias)
 *   DepthwiseConv2D  2·K·Cin·mult·O (+O·Cin·mult with bias)
 *   SeparableConv2D  depthwise + pointwise 2·Cin·mult·Cout·O (+O·Cout with bias)
 *   Max/AveragePooling  pool volume·C·O; GlobalAverage/MaxPooling  H·W·C (input size)
 *   BatchNormalization  2·size; Activation, ReLU, LeakyReLU, ELU, PReLU, ThresholdedReLU, Softmax  size
 *   Add/Subtract/Multiply/Maximum/Minimum  (inputs−1)·size; Average  inputs·size
 *   InputLayer, Flatten, Dropout, Reshape, Permute, Concatenate, padding/cropping/upsampling, noise  0
 * Activations fused into Dense/Conv layers (`activation: 'relu'`) are not counted. Other layer
 * types count 0 and say so in `note`.
 */
import * as tf from '@tensorflow/tfjs';

type Shape = (number | null)[];

export interface LayerStats {
  name: string;
  /** The layer's class name, e.g. `Conv2D`. */
  type: string;
  outputShape: Shape | Shape[];
  params: number;
  trainableParams: number;
  /** Per sample, summed over the layer's calls in the model. */
  flops: number;
  /** Set when the FLOPs are not counted (unknown layer type, unknown dimensions) or the layer is shared. */
  note?: string;
}

export interface ModelStats {
  params: number;
  trainableParams: number;
  /** float32 weights: 4 bytes per parameter. */
  bytes: number;
  /** Per sample; a multiply-add is 2 FLOPs. */
  flops: number;
  layers: LayerStats[];
}

const ZERO_COST = new Set([
  'InputLayer', 'Flatten', 'Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
  'Reshape', 'Permute', 'RepeatVector', 'Concatenate', 'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Masking',
]);
const ELEMENTWISE_ACTIVATIONS = new Set(['Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'ThresholdedReLU', 'Softmax']);
const MERGE = new Set(['Add', 'Subtract', 'Multiply', 'Maximum', 'Minimum']);

/** Normalises `Shape | Shape[]` (as found on layers and nodes) to a list of shapes. */
function shapeList(s: Shape | Shape[] | undefined): Shape[] {
  if (!s || s.length === 0) return [];
  return Array.isArray(s[0]) ? (s as Shape[]) : [s as Shape];
}

class UnknownDim extends Error {}

/** Product of the per-sample dimensions (the batch axis dropped). */
function perSample(shape: Shape): number {
  let n = 1;
  for (let i = 1; i < shape.length; i++) {
    const d = shape[i];
    if (d === null || d === undefined) throw new UnknownDim(`unknown dimension in shape [${shape.map(String).join(', ')}]`);
    n *= d;
  }
  return n;
}

function dim(shape: Shape, i: number): number {
  const d = shape[i < 0 ? shape.length + i : i];
  if (d === null || d === undefined) throw new UnknownDim(`unknown dimension in shape [${shape.map(String).join(', ')}]`);
  return d;
}

/** Channels and spatial positions of an image-like shape. */
function split(shape: Shape, dataFormat: unknown): { channels: number; positions: number } {
  const channelsFirst = dataFormat === 'channelsFirst';
  const channels = dim(shape, channelsFirst ? 1 : -1);
  return { channels, positions: perSample(shape) / channels };
}

function volume(v: unknown): number {
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.reduce((a: number, b) => a * Number(b), 1);
  throw new UnknownDim(`cannot read kernel/pool size ${JSON.stringify(v)}`);
}

function weightCount(ws: tf.LayerVariable[]): number {
  let n = 0;
  for (const w of ws) {
    let c = 1;
    for (const d of w.shape) c *= d ?? 0;
    n += c;
  }
  return n;
}

/** FLOPs of one call of `layer` with these input and output shapes; `null` = not a known layer type. */
function callFlops(layer: tf.layers.Layer, inputs: Shape[], outputs: Shape[]): number | null {
  const type = layer.getClassName();
  const cfg = layer.getConfig() as Record<string, unknown>;
  const bias = cfg.useBias !== false;
  const inp = inputs[0];
  const out = outputs[0];
  if (layer instanceof tf.LayersModel) return modelStats(layer).flops;
  if (ZERO_COST.has(type)) return 0;
  if (ELEMENTWISE_ACTIVATIONS.has(type)) return perSample(out);
  if (MERGE.has(type)) return (inputs.length - 1) * perSample(out);
  switch (type) {
    case 'Average':
      return inputs.length * perSample(out);
    case 'BatchNormalization':
      return 2 * perSample(out);
    case 'Dense': {
      const nIn = dim(inp, -1);
      const nOut = dim(out, -1);
      const positions = perSample(inp) / nIn;
      return positions * (2 * nIn * nOut + (bias ? nOut : 0));
    }
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D': {
      const k = volume(cfg.kernelSize);
      const i = split(inp, cfg.dataFormat);
      const o = split(out, cfg.dataFormat);
      return 2 * k * i.channels * o.channels * o.positions + (bias ? o.positions * o.channels : 0);
    }
    case 'Conv2DTranspose':
    case 'Conv3DTranspose': {
      const k = volume(cfg.kernelSize);
      const i = split(inp, cfg.dataFormat);
      const o = split(out, cfg.dataFormat);
      return 2 * k * i.channels * o.channels * i.positions + (bias ? o.positions * o.channels : 0);
    }
    case 'DepthwiseConv2D': {
      const k = volume(cfg.kernelSize);
      const mult = Number(cfg.depthMultiplier ?? 1);
      const i = split(inp, cfg.dataFormat);
      const o = split(out, cfg.dataFormat);
      return 2 * k * i.channels * mult * o.positions + (bias ? o.positions * i.channels * mult : 0);
    }
    case 'SeparableConv2D': {
      const k = volume(cfg.kernelSize);
      const mult = Number(cfg.depthMultiplier ?? 1);
      const i = split(inp, cfg.dataFormat);
      const o = split(out, cfg.dataFormat);
      const depthwise = 2 * k * i.channels * mult * o.positions;
      const pointwise = 2 * i.channels * mult * o.channels * o.positions;
      return depthwise + pointwise + (bias ? o.positions * o.channels : 0);
    }
    case 'MaxPooling1D':
    case 'AveragePooling1D':
    case 'MaxPooling2D':
    case 'AveragePooling2D':
    case 'MaxPooling3D':
    case 'AveragePooling3D': {
      const o = split(out, cfg.dataFormat);
      return volume(cfg.poolSize) * o.channels * o.positions;
    }
    case 'GlobalAveragePooling1D':
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling1D':
    case 'GlobalMaxPooling2D':
      return perSample(inp);
    default:
      return null;
  }
}

/** The container's node keys (`<layer>_ib-<i>`) — which calls of each layer belong to this model. */
function containerNodeKeys(model: tf.LayersModel): Set<string> | undefined {
  const m = model as unknown as { containerNodes?: Set<string>; model?: { containerNodes?: Set<string> } };
  const keys = m.containerNodes && m.containerNodes.size > 0 ? m.containerNodes : m.model?.containerNodes;
  return keys && keys.size > 0 ? keys : undefined;
}

export function modelStats(model: tf.LayersModel): ModelStats {
  const keys = containerNodeKeys(model);
  const layers: LayerStats[] = [];
  let params = 0;
  let trainableParams = 0;
  let flops = 0;
  for (const layer of model.layers) {
    const type = layer.getClassName();
    const lp = layer.countParams();
    const lt = layer instanceof tf.LayersModel ? modelStats(layer).trainableParams : weightCount(layer.trainableWeights);
    const nodes = layer.inboundNodes.filter((_, i) => !keys || keys.has(`${layer.name}_ib-${i}`));
    const calls = nodes.length > 0 ? nodes : layer.inboundNodes.slice(0, 1);
    let lf = 0;
    const notes: string[] = [];
    for (const node of calls) {
      try {
        const f = callFlops(layer, shapeList(node.inputShapes), shapeList(node.outputShapes));
        if (f === null) {
          notes.push(`FLOPs not counted: unknown layer type ${type}`);
          break;
        }
        lf += f;
      } catch (e) {
        if (!(e instanceof UnknownDim)) throw e;
        notes.push(`FLOPs not counted: ${e.message}`);
        break;
      }
    }
    if (calls.length > 1) notes.push(`applied ${calls.length} times; FLOPs are summed over the calls`);
    let outputShape: Shape | Shape[];
    try {
      outputShape = layer.outputShape as Shape | Shape[];
    } catch {
      // A shared layer whose calls have different output shapes: report the first call's.
      const first = shapeList(calls[0]?.outputShapes);
      outputShape = first.length === 1 ? first[0] : first;
    }
    const stats: LayerStats = { name: layer.name, type, outputShape, params: lp, trainableParams: lt, flops: lf };
    if (notes.length) stats.note = notes.join('; ');
    layers.push(stats);
    params += lp;
    trainableParams += lt;
    flops += lf;
  }
  return { params, trainableParams, bytes: 4 * params, flops, layers };
}

/**
 * Inference latency: `predict` on a zero batch of `[batch, ...inputShape]` (inputShape without the
 * batch axis), `warmup` untimed runs, then the median of `runs` timed runs (each waits for the
 * output data). Disposes every tensor it creates.
 */
export async function measureLatency(
  model: tf.LayersModel,
  inputShape: number[],
  opts: { batch?: number; warmup?: number; runs?: number } = {},
): Promise<{ msPerSample: number; msPerBatch: number; batch: number }> {
  const batch = opts.batch ?? 32;
  const warmup = opts.warmup ?? 3;
  const runs = opts.runs ?? 10;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, found ${batch}`);
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be a positive integer, found ${runs}`);
  if (model.inputs.length !== 1) throw new Error(`measureLatency supports single-input models; this one has ${model.inputs.length} inputs`);
  const x = tf.zeros([batch, ...inputShape]);
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const y = model.predict(x);
    const outs = Array.isArray(y) ? y : [y];
    try {
      await Promise.all(outs.map((t) => t.data()));
    } finally {
      tf.dispose(outs);
    }
    return performance.now() - t0;
  };
  try {
    for (let i = 0; i < warmup; i++) await once();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await once());
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    const msPerBatch = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    return { msPerSample: msPerBatch / batch, msPerBatch, batch };
  } finally {
    x.dispose();
  }
}
