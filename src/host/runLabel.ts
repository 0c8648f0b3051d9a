/**
 * Run labels (issue 20: "runs are timestamps"): a `label` the user gives a run (run.json, editable
 * from the tree), else one made from what changed in the config since the previous run of the same
 * experiment — `+at +fitnet`, `T=8`, `epochs=5`. Pure (no vscode): tested in test/unit/runLabel.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';

type Json = unknown;

/** Short names of config keys people change. */
const SHORT: Record<string, string> = { temperature: 'T', learningRate: 'lr', batchSize: 'batch', weight: 'w' };

function methods(c: Json): string[] {
  const k = (c as { knowledge?: { method?: unknown }[] } | undefined)?.knowledge;
  return Array.isArray(k) ? k.map((e) => (typeof e?.method === 'string' ? e.method : '?')) : [];
}

/** `a.b[0].c` → value, for every leaf. */
function leaves(v: Json, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) out.set(prefix, JSON.stringify(v));
  else if (Array.isArray(v)) v.forEach((x, i) => leaves(x, `${prefix}[${i}]`, out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) leaves(x, prefix ? `${prefix}.${k}` : k, out);
  else out.set(prefix, JSON.stringify(v));
  return out;
}

/** What changed from `prev` to `cur`, in at most `max` short tokens (`+at`, `−kd`, `T=8`), or undefined when nothing did. */
export function configDiffLabel(prev: Json, cur: Json, max = 3): string | undefined {
  const tokens: string[] = [];
  const [pm, cm] = [methods(prev), methods(cur)];
  for (const m of new Set(cm)) if (!pm.includes(m)) tokens.push(`+${m}`);
  for (const m of new Set(pm)) if (!cm.includes(m)) tokens.push(`−${m}`);
  const [pl, cl] = [leaves(prev), leaves(cur)];
  const sameMethods = pm.join() === cm.join();
  for (const [key, value] of cl) {
    if (key === 'name' || pl.get(key) === value || pl.get(key) === undefined && !sameMethods && key.startsWith('knowledge[')) continue;
    if (!sameMethods && key.startsWith('knowledge[')) continue; // the methods changed: said above
    const last = key.replace(/\[\d+\]/g, '').split('.').pop() ?? key;
    const v = value.replace(/^"(.*)"$/, '$1');
    tokens.push(`${SHORT[last] ?? last}=${v.length > 12 ? `${v.slice(0, 11)}…` : v}`);
  }
  for (const key of pl.keys()) {
    if (!cl.has(key) && !key.startsWith('knowledge[')) tokens.push(`−${key.replace(/\[\d+\]/g, '').split('.').pop()}`);
  }
  const unique = [...new Set(tokens)];
  if (unique.length === 0) return undefined;
  return unique.length > max ? `${unique.slice(0, max).join(' ')} +${unique.length - max} more` : unique.join(' ');
}

/** The config a run ran with (config.json), or undefined. */
function runConfig(runDir: string): Json {
  try {
    return (JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { config?: Json }).config;
  } catch {
    return undefined;
  }
}

const cache = new Map<string, string | undefined>();

/** The default label of a run: its config's difference to the previous run's (cached: configs are never rewritten). */
export function defaultRunLabel(runDir: string, previousRunDir: string | undefined): string | undefined {
  if (!previousRunDir) return undefined;
  const key = `${runDir}|${previousRunDir}`;
  if (!cache.has(key)) {
    const [p, c] = [runConfig(previousRunDir), runConfig(runDir)];
    cache.set(key, p && c ? configDiffLabel(p, c) : undefined);
  }
  return cache.get(key);
}
