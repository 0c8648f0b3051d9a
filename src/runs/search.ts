/**
 * A student search's plan (issue 18, src/config/types.ts SearchConfig; the state in sweep.json is
 * SearchState of src/runs/sweeps.ts). Pure: the candidates of a space, the budget filter, the rungs
 * of successive halving and who goes on, the chosen candidate and the Pareto front of the last rung.
 * What runs them is src/engine/search.ts; the points are ordinary sweep points (src/engine/sweep.ts).
 *
 *   candidates   every combination of the space's axes in the order width, depth, separable (the
 *                first varying slowest), ids c01, c02, …; an absent axis keeps the file's own value
 *   rungs        R = rungs ?? max(1, ⌈log_eta(n)⌉) for n fitting candidates; rung r trains for
 *                max(1, round(epochs / eta^(R−1−r))) epochs (the last rung the file's own epochs)
 *   halving      after rung r < R−1, the best ⌈n_r/eta⌉ by the objective go on (ties: fewer params,
 *                then candidate order); the others are dropped
 *   chosen       the best of the last rung (same order) among its Pareto front of the objective
 *                against `against`
 */
import { applyEdits, modify } from 'jsonc-parser';
import type { ExperimentConfig, SearchConfig } from '../config/types';
import { paretoFront } from './pareto';
import type { SearchState } from './sweeps';

export type SearchCandidate = SearchState['candidates'][number];

/** The derive fields a candidate sets (sweep-style field paths). */
export const SEARCH_FIELDS = {
  width: 'student.derive.width',
  depth: 'student.derive.depth',
  separable: 'student.derive.swap.Conv2D',
} as const;

/** Every combination of the space, in order: [{ id, values }] (separable as 1 / 0). */
export function planCandidates(space: SearchConfig['space']): { id: string; values: Record<string, number> }[] {
  const axes: [string, number[]][] = [];
  if (space.width) axes.push([SEARCH_FIELDS.width, space.width]);
  if (space.depth) axes.push([SEARCH_FIELDS.depth, space.depth]);
  if (space.separable) axes.push([SEARCH_FIELDS.separable, space.separable.map((b) => (b ? 1 : 0))]);
  let combos: Record<string, number>[] = [{}];
  for (const [key, values] of axes) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  const width = Math.max(2, String(combos.length).length);
  return combos.map((values, i) => ({ id: `c${String(i + 1).padStart(width, '0')}`, values }));
}

/** The axes of the sweep folder (sweep.json `axes`): the space's swept fields. */
export function searchAxes(space: SearchConfig['space']): Record<string, number[]> {
  const axes: Record<string, number[]> = {};
  if (space.width) axes[SEARCH_FIELDS.width] = space.width;
  if (space.depth) axes[SEARCH_FIELDS.depth] = space.depth;
  if (space.separable) axes[SEARCH_FIELDS.separable] = space.separable.map((b) => (b ? 1 : 0));
  return axes;
}

/** `61 210` (groups of three, thin-spaced as the reasons print them). */
export function grouped(n: number): string {
  const r = Math.abs(n) >= 1000 || Number.isInteger(n) ? Math.round(n) : Number(n.toPrecision(3));
  return String(r).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** Why a candidate's figures do not fit the budget (every bound it breaks), or undefined when it fits. */
export function budgetReason(budget: SearchConfig['budget'], f: { params: number; bytes: number; latencyMs: number }): string | undefined {
  const over: string[] = [];
  if (budget.params !== undefined && f.params > budget.params) over.push(`params ${grouped(f.params)} > ${grouped(budget.params)}`);
  if (budget.bytes !== undefined && f.bytes > budget.bytes) over.push(`bytes ${grouped(f.bytes)} > ${grouped(budget.bytes)}`);
  if (budget.latencyMs !== undefined && f.latencyMs > budget.latencyMs) {
    over.push(`latency ${f.latencyMs.toFixed(3)} ms > ${budget.latencyMs} ms`);
  }
  return over.length ? over.join(', ') : undefined;
}

/** R = max(1, ⌈log_eta(n)⌉), computed in integers (the smallest R with eta^R ≥ n). */
export function defaultRungs(n: number, eta: number): number {
  let r = 0;
  let reach = 1;
  while (reach < n) {
    reach *= eta;
    r++;
  }
  return Math.max(1, r);
}

/** Epochs of each rung: max(1, round(epochs / eta^(R−1−r))). */
export function rungEpochs(epochs: number, eta: number, rungs: number): number[] {
  return Array.from({ length: rungs }, (_, r) => Math.max(1, Math.round(epochs / eta ** (rungs - 1 - r))));
}

/** The objective a file ranks by (its own, else valAcc with a validation split, else testAcc). */
export function searchObjective(config: ExperimentConfig): 'valAcc' | 'testAcc' {
  return config.search?.objective ?? (config.data.validation ? 'valAcc' : 'testAcc');
}

/** The Pareto size axis (its own, else the budget's first bound). */
export function searchAgainst(search: SearchConfig): 'params' | 'bytes' | 'latency' {
  if (search.against) return search.against;
  const first = Object.keys(search.budget).find((k) => search.budget[k as keyof SearchConfig['budget']] !== undefined);
  return first === 'bytes' ? 'bytes' : first === 'latencyMs' ? 'latency' : 'params';
}

/** A new search's state, before its candidates are measured. */
export function initialSearchState(config: ExperimentConfig): SearchState {
  const s = config.search!;
  return { budget: { ...s.budget }, objective: searchObjective(config), against: searchAgainst(s), eta: s.eta ?? 2, rungEpochs: [], candidates: [] };
}

export interface Scored {
  candidate: string;
  score: number;
  params: number;
}

/** Best first: higher score, then fewer params, then candidate order (ids sort in order). */
export function rank<T extends Scored>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => b.score - a.score || a.params - b.params || (a.candidate < b.candidate ? -1 : a.candidate > b.candidate ? 1 : 0));
}

/** The ⌈n/eta⌉ best of a rung: the candidates that go on. */
export function survivors(entries: readonly Scored[], eta: number): string[] {
  return rank(entries).slice(0, Math.ceil(entries.length / eta)).map((e) => e.candidate);
}

/** The size of a candidate on the Pareto axis. */
export function sizeOf(c: Pick<SearchCandidate, 'params' | 'bytes' | 'latencyMs'>, against: SearchState['against']): number {
  return against === 'params' ? c.params : against === 'bytes' ? c.bytes : c.latencyMs;
}

/**
 * The last rung's table: each of its candidates with its score, whether it is on the Pareto front
 * of score against `against`, and the chosen one (the best-ranked on the front).
 */
export function finalFront(state: SearchState): { rows: (SearchCandidate & { pareto: boolean })[]; chosen?: string } {
  const last = state.rungEpochs.length - 1;
  const rows = state.candidates.filter((c) => c.rung === last && c.score !== undefined);
  const on = paretoFront(rows.map((c) => ({ size: sizeOf(c, state.against), acc: c.score })));
  const withFront = rows.map((c, i) => ({ ...c, pareto: on[i] }));
  const best = rank(withFront.filter((c) => c.pareto).map((c) => ({ candidate: c.id, score: c.score!, params: c.params })))[0];
  return { rows: withFront, ...(best ? { chosen: best.candidate } : {}) };
}

const FORMAT = { formattingOptions: { insertSpaces: true, tabSize: 2 } };

/**
 * The experiment text of a search point: the candidate's derive values written in (separable 1 →
 * `"swap": { "Conv2D": "SeparableConv2D" }`, 0 → no swap), `training.epochs` the rung's, `seeds`
 * set, `search` removed, the shared teacher when one was trained.
 */
export function searchPointText(text: string, values: Record<string, number>, epochs: number, seeds: number[], teacher?: string | Record<string, unknown>): string {
  let t = text;
  const set = (p: (string | number)[], v: unknown): void => {
    t = applyEdits(t, modify(t, p, v, FORMAT));
  };
  set(['search'], undefined);
  set(['sweep'], undefined);
  for (const [key, value] of Object.entries(values)) {
    if (key === SEARCH_FIELDS.separable) set(['student', 'derive', 'swap'], value ? { Conv2D: 'SeparableConv2D' } : undefined);
    else set(key.split('.'), value);
  }
  set(['training', 'epochs'], epochs);
  set(['seeds'], seeds);
  if (teacher) set(['teacher'], typeof teacher === 'string' ? { model: teacher } : teacher);
  return t;
}
