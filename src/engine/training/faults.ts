/**
 * Hold points for the fault tests (test/engine/exactResume.test.ts): with the environment
 * variables `DISTILL_HOLD=<point>:<n>` and `DISTILL_HOLD_FILE=<file>`, the n-th time this process
 * reaches `<point>` it writes `<file>` (JSON: the point, n and where the loop stands) and then
 * freezes — the whole thread blocks, nothing more is computed or written — so that a test can
 * SIGKILL it at exactly that moment (mid-epoch, in the middle of a checkpoint write, during the
 * epoch-end evaluation). After two minutes without a kill it carries on as if nothing happened.
 * Without the variables a hold point costs a comparison.
 */
import * as fs from 'fs';

export type HoldPoint = 'step' | 'eval' | 'checkpoint-write';

interface HoldSpec { point: HoldPoint; n: number; file: string }

function parseSpec(): HoldSpec | undefined {
  const raw = process.env.DISTILL_HOLD;
  const file = process.env.DISTILL_HOLD_FILE;
  if (!raw || !file) return undefined;
  const m = /^(step|eval|checkpoint-write):(\d+)$/.exec(raw);
  if (!m) throw new Error(`DISTILL_HOLD: expected "<step|eval|checkpoint-write>:<n>", found ${JSON.stringify(raw)}`);
  return { point: m[1] as HoldPoint, n: Number(m[2]), file };
}

const spec = parseSpec();
const reached = new Map<HoldPoint, number>();

/** Marks a hold point; freezes the process there when DISTILL_HOLD names it (see above). */
export function holdPoint(point: HoldPoint, where: Record<string, unknown> = {}): void {
  if (!spec || spec.point !== point) return;
  const n = (reached.get(point) ?? 0) + 1;
  reached.set(point, n);
  if (n !== spec.n) return;
  fs.writeFileSync(spec.file, JSON.stringify({ point, n, pid: process.pid, ...where }));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000);
}
