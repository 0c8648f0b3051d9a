/**
 * Per-class results: the confusion matrix of a model's test predictions (rows: true class, columns:
 * predicted class), the accuracy of every class (its diagonal over its row), and the classes where
 * the distilled student loses most against the teacher. Pure arithmetic on labels and predictions.
 */
import type { ClassGap, PerClass, PerClassReport } from '../../runs/report';


/** The confusion matrix of `pred` against `labels` over `c` classes (labels ≥ c are counted in no row). */
export function confusionMatrix(pred: ArrayLike<number>, labels: ArrayLike<number>, c: number): number[][] {
  const m = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = pred[i];
    if (t >= 0 && t < c && p >= 0 && p < c) m[t][p]++;
  }
  return m;
}

/** Diagonal over row sums; null for an empty row. */
export function classAccuracy(confusion: number[][]): (number | null)[] {
  return confusion.map((row, i) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n > 0 ? row[i] / n : null;
  });
}

export function perClass(pred: ArrayLike<number>, labels: ArrayLike<number>, c: number): PerClass {
  const confusion = confusionMatrix(pred, labels, c);
  return { acc: classAccuracy(confusion), confusion };
}

/** Per-class figures of several runs of one kind (seeds): confusion matrices summed, accuracies from the sum. */
export function poolPerClass(items: PerClass[]): PerClass | undefined {
  if (items.length === 0) return undefined;
  const c = items[0].confusion.length;
  if (items.some((p) => p.confusion.length !== c)) return undefined;
  const sum = Array.from({ length: c }, (_, i) => Array.from({ length: c }, (_, j) => items.reduce((a, p) => a + p.confusion[i][j], 0)));
  return { acc: classAccuracy(sum), confusion: sum };
}



/** Builds the per-class report; class names default to the label as text. */
export function perClassReport(o: { classes: number; classNames?: string[]; teacher?: PerClass; scratch?: PerClass[]; distill?: PerClass[] }): PerClassReport | undefined {
  const distill = poolPerClass(o.distill ?? []);
  if (!distill) return undefined;
  const scratch = poolPerClass(o.scratch ?? []);
  const names = o.classNames && o.classNames.length === o.classes ? o.classNames : Array.from({ length: o.classes }, (_, i) => String(i));
  const seeds = Math.max(1, (o.distill ?? []).length);
  const support = (o.teacher ? o.teacher.confusion : distill.confusion).map((r) => r.reduce((a, b) => a + b, 0) / (o.teacher ? 1 : seeds));
  const reference = o.teacher ? 'teacher' : scratch ? 'scratch' : 'none';
  const gaps: ClassGap[] = [];
  for (let k = 0; k < o.classes; k++) {
    const d = distill.acc[k];
    if (d === null || d === undefined) continue;
    const t = o.teacher?.acc[k] ?? undefined;
    const s = scratch?.acc[k] ?? undefined;
    const ref = reference === 'teacher' ? t : reference === 'scratch' ? s : undefined;
    gaps.push({
      class: k, name: names[k], support: support[k], ...(t !== undefined && t !== null ? { teacher: t } : {}),
      ...(s !== undefined && s !== null ? { scratch: s } : {}), distill: d, drop: ref !== undefined && ref !== null ? ref - d : 1 - d,
    });
  }
  gaps.sort((a, b) => b.drop - a.drop || a.class - b.class);
  return { classNames: names, support, ...(o.teacher ? { teacher: o.teacher } : {}), ...(scratch ? { scratch } : {}), distill, reference, gaps };
}
