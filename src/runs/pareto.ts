/**
 * The Pareto front of size against accuracy (the Sweep panel, sweep reports): a point is on the
 * front when no other point is at most as large and at least as accurate, strictly better in one
 * of the two. Pure and O(n log n) (sort by size, sweep the best accuracy seen at smaller sizes), so
 * a sweep of thousands of points costs nothing; checked against the O(n²) definition in
 * test/unit/pareto.test.ts.
 */

export interface SizeAccuracy {
  /** Smaller is better (parameters, bytes). */
  size: number | undefined;
  /** Larger is better (test accuracy). */
  acc: number | undefined;
}

const usable = (p: SizeAccuracy): p is { size: number; acc: number } =>
  typeof p.size === 'number' && Number.isFinite(p.size) && typeof p.acc === 'number' && Number.isFinite(p.acc);

/**
 * For each point, whether it is on the front. Points without a finite size and accuracy (a point
 * still queued, a failed one) are never on it and dominate nothing. Equal points do not dominate
 * each other: both are on the front when nothing else beats them.
 */
export function paretoFront(points: readonly SizeAccuracy[]): boolean[] {
  const on = new Array<boolean>(points.length).fill(false);
  const order = points.map((_, i) => i).filter((i) => usable(points[i]))
    .sort((a, b) => points[a].size! - points[b].size! || points[b].acc! - points[a].acc!);
  // best accuracy among points strictly smaller than the current size group
  let bestBefore = -Infinity;
  for (let g = 0; g < order.length;) {
    const size = points[order[g]].size!;
    let end = g;
    while (end < order.length && points[order[end]].size === size) end++;
    // the group is sorted by accuracy, best first: only its best can be on the front (same size, more accurate dominates)
    const top = points[order[g]].acc!;
    if (top > bestBefore) {
      for (let k = g; k < end && points[order[k]].acc === top; k++) on[order[k]] = true;
    }
    bestBefore = Math.max(bestBefore, top);
    g = end;
  }
  return on;
}

/** The front's points in order of size (the staircase the panel draws), as indices into `points`. */
export function frontOrder(points: readonly SizeAccuracy[], on = paretoFront(points)): number[] {
  return points.map((_, i) => i).filter((i) => on[i]).sort((a, b) => points[a].size! - points[b].size! || points[b].acc! - points[a].acc!);
}
