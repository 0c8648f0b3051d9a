/**
 * The pure half of the live layer check (liveLayerCheck.ts, issue 20): the problems of a `layers`
 * answer on the pairs of the probed text, the closest layer names, and the copy of a text with
 * several mistakes that the validator accepts. No vscode: tested in test/unit/liveLayerProblems.test.ts.
 */
import { parse } from 'jsonc-parser';
import { parseExperimentText } from '../config/parse';
import { editDistance } from '../config/names';
import type { LayersAnswer, ProbeAnswers, ProbeQueryOf } from '../protocol/engine';

const JSONC = { allowTrailingComma: true, disallowComments: false };

type JsonPath = (string | number)[];

/** What the live check needs from the probe client. */
export interface LayersProbe {
  request(query: ProbeQueryOf<'layers'>, timeoutMs?: number): Promise<ProbeAnswers['layers']>;
}

/** A problem found by the engine: where, and the value it was found for (it goes when that changes). */
export interface LiveProblem {
  path: JsonPath;
  value: unknown;
  message: string;
}

/** The closest names first (the engine's rule, src/engine/models/taps.ts). */
export function closestNames(name: string, names: readonly string[], n = 3): string[] {
  return [...names].sort((x, y) => editDistance(name, x) - editDistance(name, y)).slice(0, n);
}

/** The problems of a `layers` answer, on the pairs of the text that was probed. */
export function problemsOfAnswer(answer: LayersAnswer, probed: unknown): LiveProblem[] {
  const out: LiveProblem[] = [];
  for (const link of answer.links) {
    if (!link.error) continue;
    const pairPath: JsonPath = ['knowledge', link.entry, 'pairs', link.pair];
    for (const who of ['teacher', 'student'] as const) {
      const names = answer[who].map((l) => l.name);
      if (!names.includes(link[who]) && link.error.startsWith('no ')) {
        const closest = closestNames(link[who], names);
        out.push({
          path: [...pairPath, who], value: link[who],
          message: names.length === 0 ? `no ${who} model to read "${link[who]}" from`
            : `the ${who} has no layer "${link[who]}"; closest: ${closest.map((c) => `"${c}"`).join(', ')}`,
        });
      }
    }
    if (!link.error.startsWith('no ')) out.push({ path: pairPath, value: valueAt(probed, pairPath), message: link.error });
  }
  return out;
}

export function valueAt(root: unknown, p: JsonPath): unknown {
  let v: unknown = root;
  for (const k of p) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

/**
 * A copy of `text` the validator accepts, made by taking out the fields it reports (never an array
 * item); undefined when that does not give a valid experiment within a few rounds.
 */
export function repairedText(text: string, file: string): string | undefined {
  let current = text;
  for (let round = 0; round < 4; round++) {
    const parsed = parseExperimentText(current, file);
    if (parsed.config) return current;
    const errors = parsed.errors.filter((e) => e.severity === 'error');
    const obj = parse(current, [], JSONC) as unknown;
    if (obj === null || typeof obj !== 'object') return undefined;
    let removed = 0;
    for (const e of errors) {
      const key = e.path[e.path.length - 1];
      if (typeof key !== 'string' || e.path.length === 0) continue;
      const parent = valueAt(obj, e.path.slice(0, -1));
      if (parent === null || typeof parent !== 'object' || Array.isArray(parent) || !(key in parent)) continue;
      delete (parent as Record<string, unknown>)[key];
      removed++;
    }
    if (removed === 0) return undefined;
    current = JSON.stringify(obj, null, 1);
  }
  return parseExperimentText(current, file).config ? current : undefined;
}

/** Whether the experiment has any layer pair worth a probe. */
export function hasPairs(obj: unknown): boolean {
  const k = valueAt(obj, ['knowledge']);
  return Array.isArray(k) && k.some((e) => e !== null && typeof e === 'object' && Array.isArray((e as { pairs?: unknown }).pairs)
    && (e as { pairs: unknown[] }).pairs.length > 0);
}

