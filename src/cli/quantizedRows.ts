/**
 * issue 18: the report's quantised variants in the CLI's final table and the lines under it —
 * post-training int4 (`student/int4`) and the quantisation-aware student (`student/int<bits>-qat`),
 * beside the post-training int8 row, and the qat jobs over seeds.
 */
import type { QuantizedFigures, Report } from '../runs/report';
import { bytes, human, pct } from './format';

/** How a variant is named: `student (int4, post-training)`, `student (int8, quantisation-aware)`. */
export function variantLabel(q: QuantizedFigures): string {
  const how = q.method === 'qat' ? `quantisation-aware${q.activations ? ', activations' : ''}` : 'post-training';
  return `student (int${q.bits ?? 8}, ${how})`;
}

/** Table rows (same columns as summaryTable's): one per variant, then the qat jobs over seeds. */
export function quantizedVariantRows(r: Report): string[][] {
  const rows = (r.quantizedVariants ?? []).map((q) => [variantLabel(q), pct(q.testAcc), String(q.testErrors), pct(q.agreement),
    human(r.student.params), bytes(q.bytes), human(r.student.flops), '—']);
  const s = r.qat;
  if (s) {
    const pm = (x: { mean: number; std: number; n: number }, f: (v: number) => string) => (x.n > 1 ? `${f(x.mean)} ± ${f(x.std)}` : f(x.mean));
    rows.push([`qat jobs (int${s.bits} fake-quantised${s.activations ? ', activations' : ''})`, pm(s.testAcc, (v) => pct(v)),
      pm(s.testErrors, (v) => v.toFixed(s.testErrors.n > 1 ? 1 : 0)), '—', human(r.student.params), '—', human(r.student.flops), '—']);
  }
  return rows;
}

/** One line per variant under the table: what it is, its size and its accuracy against its float model. */
export function quantizedVariantLines(r: Report): string[] {
  return (r.quantizedVariants ?? []).map((q) => {
    const from = q.method === 'qat' ? `the float weights of ${q.job ?? 'the qat job'}` : 'the exported float student';
    const drop = `${q.accDrop >= 0 ? '−' : '+'}${Math.abs(q.accDrop * 100).toFixed(2)} points`;
    return `${variantLabel(q)} (${q.dir}, ${q.format}): ${q.compression.toFixed(2)}× smaller than float32, test accuracy ${pct(q.testAcc)} ` +
      `vs ${pct(q.floatTestAcc)} for ${from} (${drop}).`;
  });
}
