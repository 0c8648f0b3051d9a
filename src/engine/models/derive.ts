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
 *
 * Files: deriveGraph.ts (topology ⇄ graph, shapes, the shared types), deriveWidth.ts (step 2),
 * deriveDepth.ts (step 3); this file runs the steps and swaps layer types (step 1).
 */
import type * as tf from '@tensorflow/tfjs';
import { closestNames, quoteNames } from '../../config/names';
import type { DeriveConfig } from '../../config/types';
import { DeriveError, emitTopology, fmtShape, layerShapes, parseGraph } from './deriveGraph';
import type { DerivedArchitecture, Graph, Json } from './deriveGraph';
import { reduceDepth, sameShape } from './deriveDepth';
import { scaleWidths } from './deriveWidth';

function checkNames(g: Graph, names: string[] | undefined, field: 'drop' | 'keep'): void {
  const known = g.nodes.slice(1).map((n) => n.name);
  (names ?? []).forEach((name, i) => {
    if (!known.includes(name)) {
      throw new DeriveError(`the teacher has no layer "${name}"; closest: ${quoteNames(closestNames(name, known))}`, ['student', 'derive', field, i]);
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
