/**
 * Why a student with many times fewer FLOPs is hardly faster at batch 1 (issue 20): a forward pass
 * of one sample is dominated by the fixed cost of each call (one kernel dispatch per layer, memory
 * allocation, reading the result back), not by arithmetic. The report therefore also measures a
 * larger batch, where the arithmetic shows. Pure: used by the CLI table and the compression panel.
 */

/** The batch the report measures besides batch 1. */
export const LARGE_BATCH = 64;

export interface LatencyFigures {
  /** Teacher FLOPs / student FLOPs. */
  flopsRatio: number;
  /** Teacher latency / student latency at batch 1. */
  speedup: number;
  /** The same at `batch`, when measured. */
  speedupBatch?: number;
  batch?: number;
}

/**
 * One or two sentences on the speed-up, or undefined when the speed-up at batch 1 already follows
 * the FLOPs (at least half of the FLOPs ratio on a log scale).
 */
export function latencyExplanation(f: LatencyFigures): string | undefined {
  if (!(f.flopsRatio > 1.5) || !(f.speedup > 0)) return undefined;
  if (Math.log(f.speedup) >= 0.5 * Math.log(f.flopsRatio)) return undefined;
  const at = f.speedupBatch !== undefined && f.batch !== undefined
    ? ` At batch ${f.batch} the student is ×${f.speedupBatch.toFixed(2)} faster per sample${f.speedupBatch > f.speedup * 1.2 ? ': there the arithmetic shows' : ''}.`
    : '';
  return `×${f.speedup.toFixed(2)} faster at batch 1 for ${f.flopsRatio.toFixed(1)}× fewer FLOPs: at batch 1 a forward pass is dominated by the fixed cost of each call ` +
    `(one kernel dispatch per layer, allocations, reading the result back), not by arithmetic, so both models take about the same time.${at}`;
}
