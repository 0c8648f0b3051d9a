/**
 * Derived students, the width step: the units / filters of every hidden layer scaled, with the
 * layers whose widths must stay equal (a skip connection's Add and what passes its width through)
 * kept as one channel group. See derive.ts for the rules.
 */
import type { DeriveConfig } from '../../config/types';
import { DeriveError, FOLLOWERS, INPUT, MERGES, PASSTHROUGH, PRODUCERS } from './deriveGraph';
import type { DerivedArchitecture, Graph, Shape } from './deriveGraph';

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

export function scaleWidths(g: Graph, cfg: DeriveConfig, shapes: Map<string, Shape>, out: DerivedArchitecture): void {
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
