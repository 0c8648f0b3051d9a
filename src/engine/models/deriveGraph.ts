/**
 * Derived students, part 1: a model topology (TF.js / Keras JSON) as a graph of layers and back, the
 * output shape of every layer, and the architecture types the steps share (derive.ts runs the
 * steps: swap, width — deriveWidth.ts, depth — deriveDepth.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { JsonPath } from '../../config/errors';
import { withSeededRandom } from '../training/random';

export class DeriveError extends Error {
  constructor(message: string, readonly path: JsonPath) {
    super(message);
    this.name = 'DeriveError';
  }
}

export type Json = Record<string, unknown>;
export type Shape = (number | null)[];

export interface DerivedArchitecture {
  /** The derived model's topology (TF.js / Keras JSON, snake_case), as in a model.json. */
  topology: Json;
  /** Per hidden layer whose width changed: teacher → student units / filters. */
  widths: { layer: string; from: number; to: number }[];
  /** Channel groups that kept their width, with why (one entry per group, naming its layers). */
  kept: { layers: string[]; reason: string }[];
  /** Layers whose type was swapped. */
  swapped: { layer: string; from: string; to: string }[];
  /** Removed blocks: their layers and the shape they kept. */
  dropped: { layers: string[]; shape: Shape }[];
  /** What `depth` asked and did: the droppable blocks it chose from, blocks asked (n × (1 − depth)) and dropped. */
  depth?: { depth: number; droppable: string[][]; asked: number; dropped: number };
  /** Derivations that did less than the config asks (e.g. `depth` rounding to fewer dropped blocks). */
  warnings: string[];
  /** One line per change, for logs and `distill inspect`. */
  changes: string[];
}

/** Layer classes whose own config fixes the output width, and the config key. */
export const PRODUCERS: Record<string, 'units' | 'filters'> = {
  Dense: 'units', Conv1D: 'filters', Conv2D: 'filters', Conv3D: 'filters', SeparableConv1D: 'filters',
  SeparableConv2D: 'filters', Conv2DTranspose: 'filters', Conv3DTranspose: 'filters',
};
/** Same-shape merges: their inputs and output share one width. */
export const MERGES = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum']);
/** Layers whose output has the width of their input. */
export const PASSTHROUGH = new Set([
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'ThresholdedReLU', 'Softmax', 'BatchNormalization',
  'LayerNormalization', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout',
  'AlphaDropout', 'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D',
  'AveragePooling3D', 'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
  'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Masking',
]);
/** Layers whose output width follows from their input without a size in their config. */
export const FOLLOWERS = new Set(['Flatten', 'Concatenate']);
/** Layers with weights: a block needs one to count as a block of its own. */
export const WEIGHTED = new Set([...Object.keys(PRODUCERS), 'DepthwiseConv2D', 'BatchNormalization', 'LayerNormalization', 'PReLU', 'Embedding']);

/** One layer of the graph; `inputs` name the producing layers (`INPUT` = the model input of a Sequential). */
export interface GNode {
  name: string;
  className: string;
  config: Json;
  inputs: string[];
  /** Functional models: the original inbound node entries ([layer, node, tensor, kwargs]). */
  inbound?: unknown[][];
}

export const INPUT = '__input__';

export interface Graph {
  kind: 'sequential' | 'functional';
  name: string;
  /** Topological order; `nodes[0]` is the input. */
  nodes: GNode[];
  output: string;
  /** Everything of the topology's top level besides `class_name` / `config` (keras_version, …). */
  extra: Json;
  /** Functional: the original input_layers / output_layers. */
  inputLayers?: unknown;
  outputLayers?: unknown;
  /** Sequential: the batch input shape carried by the first layer. */
  batchInputShape?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Topology ⇄ graph

export function parseGraph(topology: Json): Graph {
  const top = (topology.model_config ?? topology) as Json;
  const className = top.class_name as string;
  const cfg = top.config as Json | Json[];
  const extra: Json = {};
  for (const [k, v] of Object.entries(top)) if (k !== 'class_name' && k !== 'config') extra[k] = v;
  const fail = (m: string): never => {
    throw new DeriveError(`cannot derive from the teacher: ${m}`, ['student', 'derive']);
  };
  if (className === 'Sequential') {
    const layers = (Array.isArray(cfg) ? cfg : cfg.layers) as Json[];
    const name = Array.isArray(cfg) ? 'sequential' : String(cfg.name ?? 'sequential');
    let list = layers.map((l) => ({ className: l.class_name as string, config: { ...(l.config as Json) } }));
    let batchInputShape: unknown;
    if (list[0]?.className === 'InputLayer') {
      batchInputShape = list[0].config.batch_input_shape;
      list = list.slice(1);
    } else {
      batchInputShape = list[0]?.config.batch_input_shape;
    }
    if (batchInputShape === undefined) fail('its first layer has no input shape');
    const nodes: GNode[] = [{ name: INPUT, className: 'InputLayer', config: {}, inputs: [] }];
    for (const l of list) {
      if (l.className === 'Sequential' || l.className === 'Model' || l.className === 'Functional') {
        fail(`layer "${String(l.config.name)}" is a nested model; derive works on flat models`);
      }
      delete l.config.batch_input_shape;
      delete l.config.input_shape;
      nodes.push({ name: String(l.config.name), className: l.className, config: l.config, inputs: [nodes[nodes.length - 1].name] });
    }
    return { kind: 'sequential', name, nodes, output: nodes[nodes.length - 1].name, extra, batchInputShape };
  }
  if (className !== 'Model' && className !== 'Functional') fail(`unknown model class "${className}"`);
  const c = cfg as Json;
  const inputs = c.input_layers as unknown[][];
  const outputs = c.output_layers as unknown[][];
  if (!Array.isArray(inputs) || inputs.length !== 1) fail(`it has ${Array.isArray(inputs) ? inputs.length : 0} inputs; derive needs exactly one`);
  if (!Array.isArray(outputs) || outputs.length !== 1) fail(`it has ${Array.isArray(outputs) ? outputs.length : 0} outputs; derive needs exactly one`);
  const raw = new Map<string, GNode>();
  for (const l of c.layers as Json[]) {
    const name = String(l.name ?? (l.config as Json).name);
    const inbound = (l.inbound_nodes ?? []) as unknown[][][];
    if (l.class_name === 'Sequential' || l.class_name === 'Model' || l.class_name === 'Functional') {
      fail(`layer "${name}" is a nested model; derive works on flat models`);
    }
    if (inbound.length > 1) fail(`layer "${name}" is applied ${inbound.length} times (a shared layer); derive needs each layer applied once`);
    const entries = (inbound[0] ?? []) as unknown[][];
    raw.set(name, { name, className: l.class_name as string, config: { ...(l.config as Json) }, inputs: entries.map((e) => String(e[0])), inbound: entries });
  }
  // Topological order (stable: the file's order where it allows).
  const order: GNode[] = [];
  const done = new Set<string>();
  const visit = (n: GNode, stack: Set<string>): void => {
    if (done.has(n.name)) return;
    if (stack.has(n.name)) fail(`a cycle through layer "${n.name}"`);
    stack.add(n.name);
    for (const i of n.inputs) {
      const p = raw.get(i);
      if (!p) fail(`layer "${n.name}" reads from an unknown layer "${i}"`);
      visit(p!, stack);
    }
    stack.delete(n.name);
    done.add(n.name);
    order.push(n);
  };
  const inputName = String(inputs[0][0]);
  const outputName = String(outputs[0][0]);
  visit(raw.get(inputName) ?? fail(`unknown input layer "${inputName}"`), new Set());
  for (const n of raw.values()) visit(n, new Set());
  const input = order.find((n) => n.name === inputName)!;
  const rest = order.filter((n) => n !== input);
  return {
    kind: 'functional', name: String(c.name ?? 'model'), nodes: [input, ...rest], output: outputName, extra,
    inputLayers: c.input_layers, outputLayers: c.output_layers,
  };
}

export function emitTopology(g: Graph): Json {
  if (g.kind === 'sequential') {
    const layers = g.nodes.slice(1).map((n, i) => ({
      class_name: n.className,
      config: i === 0 ? { ...n.config, batch_input_shape: g.batchInputShape } : n.config,
    }));
    return { class_name: 'Sequential', config: { name: g.name, layers }, ...g.extra };
  }
  const layers = g.nodes.map((n) => ({
    class_name: n.className,
    config: n.config,
    name: n.name,
    inbound_nodes: n.inputs.length === 0 ? [] : [n.inputs.map((src, i) => {
      const orig = n.inbound?.[i];
      return orig && orig[0] === src ? orig : [src, 0, 0, (orig?.[3] as Json | undefined) ?? {}];
    })],
  }));
  return {
    class_name: 'Model', ...g.extra,
    config: { name: g.name, layers, input_layers: g.inputLayers, output_layers: g.outputLayers },
  };
}

/** Builds a model from a topology with fresh weights, initialised from `seed`. */
export async function modelFromTopology(topology: Json, seed: number): Promise<tf.LayersModel> {
  return withSeededRandom(seed, () => tf.models.modelFromJSON({ modelTopology: topology } as unknown as Parameters<typeof tf.models.modelFromJSON>[0]));
}

/** Output shape of every layer (and of the Sequential input), by name. */
export async function layerShapes(g: Graph): Promise<Map<string, Shape>> {
  let model: tf.LayersModel;
  try {
    model = await modelFromTopology(emitTopology(g), 1);
  } catch (e) {
    throw new DeriveError(`the derived architecture does not build: ${(e as Error).message}`, ['student', 'derive']);
  }
  try {
    const shapes = new Map<string, Shape>();
    shapes.set(INPUT, model.inputs[0].shape);
    for (const l of model.layers) {
      const s = l.outputShape;
      shapes.set(l.name, (Array.isArray(s[0]) ? s[0] : s) as Shape);
    }
    return shapes;
  } finally {
    model.dispose();
  }
}

export const fmtShape = (s: Shape | undefined): string => `[${(s ?? []).map((d) => (d === null ? '?' : d)).join(', ')}]`;
