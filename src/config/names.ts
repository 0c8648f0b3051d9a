/**
 * Names for "did you mean": the one edit distance and the one notion of a close name, used for
 * unknown fields (the validator), unknown layers (pairs, taps, derived students) and anything else
 * a user misspells.
 */

/** Damerau–Levenshtein distance (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name` (ignoring case, `_` and `-`), if it is close enough to be a typo. */
export function closest(name: string, known: string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
  const n = norm(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(n, norm(k));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(n.length, best.length) / 3))) return best;
  // A clear abbreviation: "temp" → "temperature", "lr"-style guesses are left alone.
  if (n.length >= 3) {
    const prefixed = known.filter((k) => norm(k).startsWith(n));
    if (prefixed.length === 1) return prefixed[0];
  }
  return undefined;
}

/** The `n` existing names closest to `name`, best first (however far: for "closest: …" lists). */
export function closestNames(name: string, names: string[], n = 3): string[] {
  return [...names].sort((x, y) => editDistance(name, x) - editDistance(name, y)).slice(0, n);
}

/** `"a", "b", "c"`. */
export function quoteNames(names: string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}
