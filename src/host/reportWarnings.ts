/**
 * report.json's `warnings` (src/engine/results/teacherHealth.ts) as the Experiments tree shows them: a short
 * label for a run's description and detail rows, the whole text (with the likely causes) for tooltips.
 * Free of `vscode`, so the plain-node tests read it.
 */
import type { Report, ReportWarning } from '../runs/report';

const LABEL: Record<string, string> = {
  'teacher-near-chance': 'teacher at chance',
  'teacher-below-scratch': 'teacher below scratch',
  'discriminator-wins': 'discriminator wins',
};

/** `teacher at chance`; a kind this version does not know shows its message. */
export function warningLabel(w: ReportWarning): string {
  return LABEL[w.kind] ?? w.message;
}

/** The message and the likely causes, one paragraph. */
export function warningText(w: ReportWarning): string {
  return `${w.message}. Likely causes: ${w.causes.join('; ')}.`;
}

/** The description parts of a run with a report: `⚠ teacher at chance`, … (none for older reports). */
export function warningBadges(report: Pick<Report, 'warnings'> | undefined): string[] {
  return (report?.warnings ?? []).map((w) => `⚠ ${warningLabel(w)}`);
}
