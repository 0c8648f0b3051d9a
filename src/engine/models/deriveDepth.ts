/**
 * Derived students, the depth step: the graph's blocks between single-tensor cut points, which of
 * them keep their shape (and can be removed), and the removal that `drop` and `depth` ask for. See
 * derive.ts for the rules.
 */
import type { DeriveConfig } from '../../config/types';
import { DeriveError, MERGES, WEIGHTED, fmtShape, layerShapes } from './deriveGraph';
import type { DerivedArchitecture, Graph, Shape } from './deriveGraph';

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

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

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

export async function reduceDepth(g: Graph, cfg: DeriveConfig, out: DerivedArchitecture): Promise<void> {
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
