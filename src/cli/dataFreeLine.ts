/**
 * The CLI's line on a data-free run (issue 18, report.json `dataFree`), the same for both engines:
 * what was synthesised and the data-free student against real-data KD and scratch.
 */
import type { DataFreeReport } from '../runs/report';

/** One line for the run's log: the synthesis and, with a reference, the three students side by side. */
export function describeDataFree(df: DataFreeReport, distillAcc?: number, scratchAcc?: number): string {
  const pct = (v: number | undefined) => (v === undefined ? '—' : `${(v * 100).toFixed(2)}%`);
  return `data-free: ${df.samples} inputs synthesised in ${df.batches} batches, BN term ${df.bnLoss.start.toFixed(3)} → ${df.bnLoss.end.toFixed(3)} ` +
    `(mean over batches), teacher accuracy on their target labels ${pct(df.teacherAcc)}; test accuracy: distilled on synthesised inputs ${pct(distillAcc)}` +
    (df.reference ? `, distilled on the reference (${df.reference.format}) ${pct(df.reference.distill.testAcc.mean)}` : '') +
    `, scratch${df.reference ? ' on the reference' : ' on the synthesised inputs'} ${pct(scratchAcc)}`;
}
