/**
 * Derived students: the teacher's own architecture made smaller, built from its topology (a
 * model.json's `modelTopology`, or `model.toJSON()` of a module's model) with fresh, seeded weights.
 * Layer names are kept, so layer pairs by name still resolve. Three steps, in this order:
 *
 * 1. **swap** — layer types replaced where the output shape is kept: `Conv2D` → `SeparableConv2D`
 *    (same filters, kernel, strides, padding, dilation, activation, bias; depth multiplier 1).
 * 2. **width** — the units (Dense) / filters (Conv*) of every hidden layer × `width`, rounded to
 *    the nearest multiple of `round`, never below it and (for width ≤ 1) never above the teacher's
 *    own width. Layers whose widths must stay equal (the inputs of an `Add` in a skip connection,
 *    through shape-keeping layers such as BatchNormalization or pooling) form one *channel group*
 *    and get one width. A group is kept when it holds the model input, the output layer, a layer of
 *    `keep`, or feeds a layer whose config fixes a size (Reshape, unknown layer types).
 *    A multiplier that leaves a layer less than half a unit (it would round to zero) is an error.
 * 3. **depth** — the graph is cut at its single-tensor cut points (tensors no connection jumps
 *    over); a *block* is the run of layers between two cut points that carries weights or a merge
 *    (a residual block ends at its Add, or at the activation after it). A weightless piece that
 *    keeps the shape (Dropout, Activation) joins the block before it; one that changes the shape
 *    (pooling, Flatten, Reshape) is a block of its own, never part of the block before it. A block
 *    whose output shape equals its input shape can be removed (its consumers then read its input):
 *    `drop` names blocks by one of their layers; `depth` keeps that fraction of the droppable
 *    blocks (rounded), removing the last block of the longest run of equal-shape blocks first, and
 *    says so (`warnings`) when the rounding drops fewer blocks than the fraction asks for. The
 *    output layer is never removed.
 *
 * Sequential and functional (single input, single output; each layer called once; no nested
 * models) topologies are supported. Errors carry the JSON path of the experiment field to blame.
 */
import * as tf from '@tensorflow/tfjs';
import type { JsonPath } from '../../config/errors';
import type { DeriveConfig } from '../../config/types';
import { withSeededRandom } from '../random';

/** A derivation problem, located at a field of the experiment (`student.derive.…`). */
export class DeriveError extends Error {
  constructor(message: string, readonly path: JsonPath) {
    super(message);
    this.name = 'DeriveError';
  }
}

type Json = Record<string, unknown>;
type Shape = (number | null)[];

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
const PRODUCERS: Record<string, 'units' | 'filters'> = {
  Dense: 'units', Conv1D: 'filters', Conv2D: 'filters', Conv3D: 'filters', SeparableConv1D: 'filters',
  SeparableConv2D: 'filters', Conv2DTranspose: 'filters', Conv3DTranspose: 'filters',
};
/** Same-shape merges: their inputs and output share one width. */
const MERGES = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum']);
/** Layers whose output has the width of their input. */
const PASSTHROUGH = new Set([
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'ThresholdedReLU', 'Softmax', 'BatchNormalization',
  'LayerNormalization', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout',
  'AlphaDropout', 'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D',
  'AveragePooling3D', 'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
  'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Masking',
]);
/** Layers whose output width follows from their input without a size in their config. */
const FOLLOWERS = new Set(['Flatten', 'Concatenate']);
/** Layers with weights: a block needs one to count as a block of its own. */
const WEIGHTED = new Set([...Object.keys(PRODUCERS), 'DepthwiseConv2D', 'BatchNormalization', 'LayerNormalization', 'PReLU', 'Embedding']);

/** One layer of the graph; `inputs` name the producing layers (`INPUT` = the model input of a Sequential). */
interface GNode {
  name: string;
  className: string;
  config: Json;
  inputs: string[];
  /** Functional models: the original inbound node entries ([layer, node, tensor, kwargs]). */
  inbound?: unknown[][];
}

const INPUT = '__input__';

interface Graph {
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

function parseGraph(topology: Json): Graph {
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

function emitTopology(g: Graph): Json {
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
async function layerShapes(g: Graph): Promise<Map<string, Shape>> {
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

// ---------------------------------------------------------------------------------------------
// The three steps

const fmtShape = (s: Shape | undefined): string => `[${(s ?? []).map((d) => (d === null ? '?' : d)).join(', ')}]`;

function closestNames(name: string, names: string[]): string {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    return d[a.length][b.length];
  };
  return [...names].sort((x, y) => dist(name, x) - dist(name, y)).slice(0, 3).map((n) => `"${n}"`).join(', ');
}

function checkNames(g: Graph, names: string[] | undefined, field: 'drop' | 'keep'): void {
  const known = g.nodes.slice(1).map((n) => n.name);
  (names ?? []).forEach((name, i) => {
    if (!known.includes(name)) {
      throw new DeriveError(`the teacher has no layer "${name}"; closest: ${closestNames(name, known)}`, ['student', 'derive', field, i]);
    }
  });
}

function swapLayers(g: Graph, cfg: DeriveConfig, out: DerivedArchitecture): void {
  if (cfg.swap?.Conv2D !== 'SeparableConv2D') return;
  for (const n of g.nodes) {
    if (n.className !== 'Conv2D') continue;
    const c = n.config;
    const k = c.kernel_size;
    if ((Array.isArray(k) ? k : [k]).every((d) => d === 1)) continue; // a 1×1 conv is already pointwise
    const init = c.kernel_initializer;
    const next: Json = { depth_multiplier: 1, depthwise_initializer: init, pointwise_initializer: init };
    for (const key of ['filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', 'activation', 'use_bias',
      'bias_initializer', 'bias_regularizer', 'activity_regularizer', 'bias_constraint', 'name', 'trainable', 'dtype']) {
      if (c[key] !== undefined) next[key] = c[key];
    }
    if (c.kernel_regularizer) next.depthwise_regularizer = next.pointwise_regularizer = c.kernel_regularizer;
    if (c.kernel_constraint) next.depthwise_constraint = next.pointwise_constraint = c.kernel_constraint;
    n.className = 'SeparableConv2D';
    n.config = next;
    out.swapped.push({ layer: n.name, from: 'Conv2D', to: 'SeparableConv2D' });
    out.changes.push(`${n.name}: Conv2D → SeparableConv2D`);
  }
}

/** Union–find over channel groups. */
class Groups {
  private readonly parent: number[] = [];
  readonly size: (number | undefined)[] = [];
  readonly producers: string[][] = [];
  readonly reasons: string[][] = [];
  /** Follower groups (Flatten, Concatenate, …): their width follows from these groups. */
  readonly sources: number[][] = [];
  readonly follower: boolean[] = [];

  add(size: number | undefined, producer?: string, follower = false, sources: number[] = []): number {
    const id = this.parent.length;
    this.parent.push(id);
    this.size.push(size);
    this.producers.push(producer ? [producer] : []);
    this.reasons.push([]);
    this.sources.push(sources);
    this.follower.push(follower);
    return id;
  }

  find(a: number): number {
    while (this.parent[a] !== a) a = this.parent[a] = this.parent[this.parent[a]];
    return a;
  }

  union(a: number, b: number): number {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return ra;
    this.parent[rb] = ra;
    this.size[ra] ??= this.size[rb];
    this.producers[ra].push(...this.producers[rb]);
    this.reasons[ra].push(...this.reasons[rb]);
    this.sources[ra].push(...this.sources[rb]);
    this.follower[ra] = this.follower[ra] && this.follower[rb];
    return ra;
  }

  /** Members (by original id) of each root. */
  members(): Map<number, number[]> {
    const m = new Map<number, number[]>();
    for (let i = 0; i < this.parent.length; i++) {
      const r = this.find(i);
      m.set(r, [...(m.get(r) ?? []), i]);
    }
    return m;
  }
}

/** The scaled width of a layer of `size` units: rounded, never below `round`, never wider than the teacher (width ≤ 1). */
export function scaleWidth(size: number, width: number, round: number): number {
  let n = Math.max(round, round * Math.round((size * width) / round));
  if (width <= 1) n = Math.min(n, size);
  return n;
}

function scaleWidths(g: Graph, cfg: DeriveConfig, shapes: Map<string, Shape>, out: DerivedArchitecture): void {
  const groups = new Groups();
  const groupOf = new Map<string, number>();
  const keep = new Set(cfg.keep ?? []);
  const lastDim = (s: Shape | undefined): number | undefined => (s && s.length > 0 ? (s[s.length - 1] ?? undefined) : undefined);
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => groupOf.get(i)!);
    let id: number;
    if (n.name === g.nodes[0].name) {
      id = groups.add(lastDim(shapes.get(n.name === INPUT ? INPUT : n.name)));
      groups.reasons[id].push('the model input');
    } else if (PRODUCERS[n.className]) {
      id = groups.add(Number(n.config[PRODUCERS[n.className]]), n.name);
      if (n.name === g.output) groups.reasons[id].push('the output layer');
      if (keep.has(n.name)) groups.reasons[id].push(`"${n.name}" is in "keep"`);
    } else if (MERGES.has(n.className) && ins.length > 0) {
      id = ins.reduce((a, b) => groups.union(a, b));
    } else if ((PASSTHROUGH.has(n.className) || (n.className === 'DepthwiseConv2D' && Number(n.config.depth_multiplier ?? 1) === 1)) && ins.length === 1) {
      id = ins[0];
    } else if (FOLLOWERS.has(n.className) || n.className === 'DepthwiseConv2D') {
      id = groups.add(undefined, undefined, true, ins);
    } else {
      // Reshape (its target shape is fixed) and layer types derive does not know: keep their inputs' width.
      for (const i of ins) groups.reasons[groups.find(i)].push(`it feeds ${n.className} "${n.name}"`);
      id = groups.add(undefined, undefined, true, ins);
    }
    if (n.name === g.output && !groups.reasons[groups.find(id)].includes('the output layer')) groups.reasons[groups.find(id)].push('the output layer');
    groupOf.set(n.name, id);
  }
  // A follower tied to another group (e.g. a Flatten added to a Dense) pins its sources, recursively.
  const members = groups.members();
  let changed = true;
  while (changed) {
    changed = false;
    for (const [root, ids] of members) {
      const tiedFollower = ids.some((i) => groups.follower[i]) && ids.length > 1;
      if (!tiedFollower && groups.reasons[root].length === 0) continue;
      for (const i of ids) {
        for (const s of groups.sources[i]) {
          const r = groups.find(s);
          if (groups.reasons[r].length === 0) {
            groups.reasons[r].push(tiedFollower ? 'a skip connection ties it to a computed width' : 'a fixed-width layer reads it');
            changed = true;
          }
        }
      }
      if (tiedFollower && groups.reasons[root].length === 0) {
        groups.reasons[root].push('a skip connection ties it to a computed width');
        changed = true;
      }
    }
  }
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  for (const root of members.keys()) {
    const producers = groups.producers[root];
    if (producers.length === 0) continue;
    const size = groups.size[root]!;
    if (groups.reasons[root].length > 0) {
      if (!(producers.length === 1 && producers[0] === g.output && groups.reasons[root].length === 1)) {
        out.kept.push({ layers: producers, reason: [...new Set(groups.reasons[root])].join('; ') });
      }
      continue;
    }
    if (Math.round(size * cfg.width) < 1) {
      const min = 0.5 / size;
      throw new DeriveError(`width ${cfg.width} leaves layer "${producers[0]}" (${size} units) with ${(size * cfg.width).toPrecision(2)} units, ` +
        `which rounds to zero; the width must be at least ${min.toPrecision(2)} for this layer`, ['student', 'derive', 'width']);
    }
    const next = scaleWidth(size, cfg.width, cfg.round);
    if (next === size) continue;
    for (const p of producers) {
      const node = byName.get(p)!;
      node.config[PRODUCERS[node.className]] = next;
      out.widths.push({ layer: p, from: size, to: next });
      out.changes.push(`${p}: ${size} → ${next} ${PRODUCERS[node.className]}`);
    }
  }
  out.widths.sort((a, b) => g.nodes.findIndex((n) => n.name === a.layer) - g.nodes.findIndex((n) => n.name === b.layer));
}

interface Block {
  layers: string[];
  /** The node whose output enters the block, and the block's last node. */
  entry: string;
  exit: string;
  inShape: Shape;
  outShape: Shape;
  hasOutput: boolean;
  /** The block carries weights or a merge (a weightless shape-changing piece — pooling, Flatten — does not). */
  weighted: boolean;
}

const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** The blocks of a graph: runs of layers between consecutive single-tensor cut points. */
function blocks(g: Graph, shapes: Map<string, Shape>): Block[] {
  const pos = new Map(g.nodes.map((n, i) => [n.name, i]));
  const jumped = new Array<boolean>(g.nodes.length).fill(false);
  for (const n of g.nodes) {
    const c = pos.get(n.name)!;
    for (const i of n.inputs) for (let k = pos.get(i)! + 1; k < c; k++) jumped[k] = true;
  }
  const cuts = g.nodes.map((_, i) => i).filter((i) => !jumped[i]);
  const fine: number[][] = [];
  for (let j = 1; j < cuts.length; j++) fine.push([cuts[j - 1], cuts[j]]);
  const shapeAt = (i: number): Shape => shapes.get(g.nodes[i].name) ?? [];
  // A weightless piece that keeps the shape (Dropout, Activation — the ReLU after a residual Add)
  // joins the block before it; a weightless piece that changes the shape (pooling, Flatten, Reshape)
  // is a cut: a block of its own, which the pieces after it may join but never the block before it.
  const merged: { a: number; b: number; weighted: boolean }[] = [];
  for (const [a, b] of fine) {
    const weighted = g.nodes.slice(a + 1, b + 1).some((n) => WEIGHTED.has(n.className) || MERGES.has(n.className));
    const reshapes = !sameShape(shapeAt(a), shapeAt(b));
    if (!weighted && !reshapes && merged.length > 0) merged[merged.length - 1].b = b;
    else merged.push({ a, b, weighted });
  }
  return merged.map(({ a, b, weighted }) => {
    const layers = g.nodes.slice(a + 1, b + 1).map((n) => n.name);
    return {
      layers, entry: g.nodes[a].name, exit: g.nodes[b].name,
      inShape: shapeAt(a), outShape: shapeAt(b),
      hasOutput: layers.includes(g.output), weighted,
    };
  });
}

function removeBlock(g: Graph, b: Block): void {
  const gone = new Set(b.layers);
  g.nodes = g.nodes.filter((n) => !gone.has(n.name));
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === b.exit ? b.entry : i));
}

async function reduceDepth(g: Graph, cfg: DeriveConfig, out: DerivedArchitecture): Promise<void> {
  if (!cfg.drop?.length && cfg.depth >= 1) return;
  const shapes = await layerShapes(g);
  const all = blocks(g, shapes);
  // What `depth` counts and removes: blocks with weights or a merge that keep their shape (a lone
  // weightless piece — a Dropout on the input — is not a block a user means; `drop` may still name it).
  const droppable = (b: Block): boolean => b.weighted && !b.hasOutput && sameShape(b.inShape, b.outShape);
  const chosen: Block[] = [];
  (cfg.drop ?? []).forEach((name, i) => {
    const b = all.find((x) => x.layers.includes(name))!;
    const what = b.layers.length === 1 ? `layer "${name}"` : `"${name}" removes its block [${b.layers.join(', ')}], which`;
    if (b.hasOutput) {
      throw new DeriveError(`dropping ${b.layers.length === 1 ? `layer "${name}"` : `"${name}" removes its block [${b.layers.join(', ')}], which holds the output layer "${g.output}"`}` +
        `${b.layers.length === 1 ? ' would remove the output layer' : ''}: the output layer is always kept`, ['student', 'derive', 'drop', i]);
    }
    if (!sameShape(b.inShape, b.outShape)) {
      throw new DeriveError(`dropping ${what} ${b.layers.length === 1 ? 'turns' : 'turns'} ${fmtShape(b.inShape)} into ${fmtShape(b.outShape)}: ` +
        `removing it would feed ${fmtShape(b.inShape)} where ${fmtShape(b.outShape)} is expected. Only blocks that keep the shape can be dropped` +
        `${all.some(droppable) ? ` (droppable here: ${all.filter(droppable).map((x) => `"${x.exit}"`).join(', ')})` : ' (this model has none)'}`,
      ['student', 'derive', 'drop', i]);
    }
    if (!chosen.includes(b)) chosen.push(b);
  });
  if (cfg.depth < 1) {
    const candidates = all.filter((b) => droppable(b) && !chosen.includes(b));
    if (candidates.length === 0 && chosen.length > 0) {
      throw new DeriveError(`depth ${cfg.depth}: every block that keeps its shape is already in "drop" ` +
        `(${chosen.map((b) => `[${b.layers.join(', ')}]`).join('; ')}), so depth has none left to drop; remove "depth" or a "drop" entry`,
      ['student', 'derive', 'depth']);
    }
    if (candidates.length === 0) {
      throw new DeriveError(`depth ${cfg.depth}: the teacher has no block that keeps its shape, so none can be dropped ` +
        `(blocks: ${all.map((b) => `[${b.layers.join(', ')}] ${fmtShape(b.inShape)} → ${fmtShape(b.outShape)}`).join('; ')})`, ['student', 'derive', 'depth']);
    }
    const n = candidates.length;
    const kept = Math.round(n * cfg.depth);
    const asked = n * (1 - cfg.depth);
    let toDrop = n - kept;
    out.depth = { depth: cfg.depth, droppable: candidates.map((b) => b.layers), asked, dropped: toDrop };
    if (toDrop < asked - 1e-9) {
      const below = (kept - 0.5) / n;
      out.warnings.push(`depth ${cfg.depth} keeps round(${n} × ${cfg.depth}) = ${kept} of the ${n} droppable block${n === 1 ? '' : 's'}, ` +
        `so it drops ${toDrop}${toDrop === 0 ? ' (nothing)' : ''} where it asks for ${Number(asked.toFixed(3))}; ` +
        `droppable: ${candidates.map((b) => `[${b.layers.join(', ')}] ${fmtShape(b.outShape)}`).join('; ')}` +
        `${kept > 0 ? `. A depth below ${Number(below.toFixed(4))} drops ${toDrop + 1}` : ''}, or name the blocks in "drop"`);
    }
    const left = [...candidates];
    while (toDrop-- > 0) {
      // Runs: consecutive droppable blocks (one's exit is the next one's entry).
      const runs: Block[][] = [];
      for (const b of left) {
        const run = runs.find((r) => r[r.length - 1].exit === b.entry);
        if (run) run.push(b);
        else runs.push([b]);
      }
      const longest = runs.reduce((a, b) => (b.length >= a.length ? b : a));
      const victim = longest[longest.length - 1];
      chosen.push(victim);
      left.splice(left.indexOf(victim), 1);
    }
  }
  // Remove later blocks first so that every entry still exists when its block goes.
  const order = new Map(g.nodes.map((n, i) => [n.name, i]));
  chosen.sort((a, b) => order.get(b.exit)! - order.get(a.exit)!);
  for (const b of chosen) {
    removeBlock(g, b);
    out.dropped.unshift({ layers: b.layers, shape: b.outShape });
  }
  for (const d of out.dropped) out.changes.push(`dropped [${d.layers.join(', ')}] (${fmtShape(d.shape)} → ${fmtShape(d.shape)})`);
}

/**
 * Derives a student topology from the teacher's. Throws `DeriveError` (located at a field of
 * `student.derive`) when the derivation is impossible.
 */
export async function deriveArchitecture(teacherTopology: Json, cfg: DeriveConfig): Promise<DerivedArchitecture> {
  const g = parseGraph(teacherTopology);
  const out: DerivedArchitecture = { topology: {}, widths: [], kept: [], swapped: [], dropped: [], warnings: [], changes: [] };
  checkNames(g, cfg.drop, 'drop');
  checkNames(g, cfg.keep, 'keep');
  const teacherShapes = await layerShapes(g);
  swapLayers(g, cfg, out);
  scaleWidths(g, cfg, teacherShapes, out);
  await reduceDepth(g, cfg, out);
  g.name = `${g.name}_derived`;
  out.topology = emitTopology(g);
  // The derived model must build and keep the teacher's output shape.
  const shapes = await layerShapes(g);
  const before = teacherShapes.get(g.output)!;
  const after = shapes.get(g.output)!;
  if (!sameShape(before, after)) {
    throw new DeriveError(`the derived model's output has shape ${fmtShape(after)}, the teacher's ${fmtShape(before)}`, ['student', 'derive']);
  }
  for (const k of out.kept) out.changes.push(`kept width: ${k.layers.join(', ')} (${k.reason})`);
  if (out.changes.length === 0) out.changes.push('no change: a fresh copy of the teacher architecture');
  return out;
}

/** The topology of a model, as written in a model.json. */
export function topologyOf(model: tf.LayersModel): Json {
  return model.toJSON(null, false) as unknown as Json;
}
