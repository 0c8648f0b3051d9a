/**
 * The quality benchmark's JSON (`npm run bench:quality -- --out quality.json`) in the Compare Runs
 * panel: its `compare` section is the panel's data (one entry per dataset × method, with the
 * last- and best-epoch accuracies over the seeds and the paired test against scratch in the label).
 */
import * as fs from 'fs';
import type { CompareData } from '../../protocol/webviews';

export const BENCH_KIND = 'distill-quality-bench';

/** The Compare data of a bench:quality JSON file, or undefined when the file is not one. */
export function readBenchCompare(file: string): CompareData | undefined {
  if (!file.endsWith('.json')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const o = parsed as { kind?: unknown; compare?: Partial<CompareData> };
  if (o?.kind !== BENCH_KIND || !o.compare || !Array.isArray(o.compare.runs) || !Array.isArray(o.compare.config)) return undefined;
  return { title: String(o.compare.title ?? file), runs: o.compare.runs, config: o.compare.config };
}

/** Whether `file` is a bench:quality JSON file. */
export function isBenchFile(file: string): boolean {
  return readBenchCompare(file) !== undefined;
}
