/**
 * Layer-pair suggestions: which teacher layer should teach which student layer.
 *
 * Both networks are cut into stages at their block outputs — for feature maps the last layer at
 * each spatial resolution, for vectors the last hidden layer before the output — and stages are
 * matched by resolution first (equal H×W, else the nearest whole-factor ratio) and relative depth
 * second. Feature maps of equal resolution get attention transfer (no adapter, no parameters);
 * other feature maps and vectors get FitNets hints with the adapter `planAdapter` would build.
 * Each suggestion carries a one-line reason. Pure: works on layer lists (names, types, shapes).
 */
import type { LayerInfo, Shape } from '../models/taps';
import { planAdapter, PairError } from './pairs';

export interface PairSuggestion {
  teacher: string;
  student: string;
  method: 'at' | 'fitnet';
  /** `none`, or what the adapter does, e.g. `conv1x1 16→64`. */
  adapter: string;
  teacherShape: Shape;
  studentShape: Shape;
  reason: string;
}

const SKIP = new Set(['InputLayer', 'Dropout', 'Flatten', 'Reshape', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout']);

interface Stage extends LayerInfo {
  depth: number;
}

/** Block outputs of a model: the last layer at each resolution, and the last hidden vector layer. */
export function stages(layers: LayerInfo[]): Stage[] {
  const usable = layers.filter((l) => !SKIP.has(l.type));
  if (usable.length < 2) return [];
  const hidden = usable.slice(0, -1); // the last layer is the output (logits)
  const last = layers.length - 1;
  const out: Stage[] = [];
  hidden.forEach((l, i) => {
    const next = hidden[i + 1];
    const key = (s: Shape) => (s.length === 4 ? `${s[1]}x${s[2]}` : `r${s.length}`);
    const isBlockEnd = !next || key(next.outputShape) !== key(l.outputShape);
    if (isBlockEnd && (l.outputShape.length === 4 || l.outputShape.length === 2)) {
      out.push({ ...l, depth: last > 0 ? l.index / last : 0 });
    }
  });
  return out;
}

const res = (s: Shape) => `${s[1]}×${s[2]}`;

export function suggestPairs(teacherLayers: LayerInfo[], studentLayers: LayerInfo[]): PairSuggestion[] {
  const ts = stages(teacherLayers);
  const ss = stages(studentLayers);
  const used = new Set<string>();
  const out: PairSuggestion[] = [];
  for (const s of ss) {
    const candidates = ts.filter((t) => !used.has(t.name) && t.outputShape.length === s.outputShape.length);
    if (candidates.length === 0) continue;
    let best: Stage | undefined;
    let why = '';
    if (s.outputShape.length === 4) {
      const same = candidates.filter((t) => t.outputShape[1] === s.outputShape[1] && t.outputShape[2] === s.outputShape[2]);
      const pool = same.length ? same : candidates.filter((t) => {
        const [a, b] = [t.outputShape[1] as number, s.outputShape[1] as number];
        return a % b === 0 || b % a === 0;
      });
      best = pool.sort((a, b) => Math.abs(a.depth - s.depth) - Math.abs(b.depth - s.depth))[0];
      if (!best) continue;
      why = same.length ? `same resolution ${res(s.outputShape)}` : `resolution: teacher ${res(best.outputShape)} vs student ${res(s.outputShape)}`;
    } else {
      best = candidates.sort((a, b) => Math.abs(a.depth - s.depth) - Math.abs(b.depth - s.depth))[0];
      why = 'last hidden vectors';
    }
    const method: 'at' | 'fitnet' = s.outputShape.length === 4 && s.outputShape[1] === best.outputShape[1] ? 'at' : 'fitnet';
    let adapter: string;
    try {
      adapter = planAdapter(method, { teacher: best.name, student: s.name, adapter: 'auto' }, s.outputShape, best.outputShape).description;
    } catch (e) {
      if (e instanceof PairError) continue;
      throw e;
    }
    used.add(best.name);
    // teacher first, then student, each named (issue 20: "8 vs 16 channels" read as the teacher's 8)
    const depth = `relative depth: teacher ${best.depth.toFixed(2)} vs student ${s.depth.toFixed(2)}`;
    const how = method === 'at'
      ? `attention transfer compares spatial maps, so the teacher's ${best.outputShape[3]} vs the student's ${s.outputShape[3]} channels need no adapter`
      : `FitNets hint through ${adapter === 'none' ? 'no adapter (same shape)' : `a ${adapter} adapter`}`;
    out.push({ teacher: best.name, student: s.name, method, adapter, teacherShape: best.outputShape, studentShape: s.outputShape, reason: `${why}, ${depth}; ${how}` });
  }
  return out;
}

// --- issue 17: methods that take several stages (reviewkd) or one representation pair (crd) ---

export interface EntrySuggestion {
  method: 'reviewkd' | 'crd';
  kind: 'feature' | 'relation';
  pairs: { teacher: string; student: string }[];
  reason: string;
}

/**
 * Knowledge entries for the methods whose layer needs differ from one pair per stage: `reviewkd`
 * takes the matched convolutional stages together, shallow to deep (each student stage a whole
 * multiple of the next); `crd` takes one pair, the deepest matched stage (the last hidden vectors
 * when both networks have them), as the paper pairs the penultimate representations.
 */
export function suggestEntries(teacherLayers: LayerInfo[], studentLayers: LayerInfo[], pairs = suggestPairs(teacherLayers, studentLayers)): EntrySuggestion[] {
  const out: EntrySuggestion[] = [];
  const maps = pairs.filter((p) => p.studentShape.length === 4 && p.teacherShape.length === 4);
  const ordered = maps.every((p, i) => i === 0 || (() => {
    const [a, b] = [maps[i - 1].studentShape, p.studentShape] as number[][];
    return a[1] % b[1] === 0 && a[2] % b[2] === 0 && a[1] >= b[1];
  })()) && maps.every((p) => {
    const [s, t] = [p.studentShape[1] as number, p.teacherShape[1] as number];
    return s % t === 0 || t % s === 0;
  });
  if (maps.length >= 2 && ordered) {
    out.push({
      method: 'reviewkd', kind: 'feature', pairs: maps.map((p) => ({ teacher: p.teacher, student: p.student })),
      reason: `${maps.length} convolutional stages, shallow to deep (${maps.map((p) => res(p.studentShape)).join(' → ')}): the fusion reviews each with the deeper ones`,
    });
  }
  const vectors = pairs.filter((p) => p.studentShape.length === 2 && p.teacherShape.length === 2);
  const deepest = vectors[vectors.length - 1] ?? pairs[pairs.length - 1];
  if (deepest) {
    out.push({
      method: 'crd', kind: 'relation', pairs: [{ teacher: deepest.teacher, student: deepest.student }],
      reason: vectors.length ? 'the last hidden vectors (the penultimate representation, as in the paper)' : 'the deepest matched stage (no hidden vector layer on both sides)',
    });
  }
  return out;
}
