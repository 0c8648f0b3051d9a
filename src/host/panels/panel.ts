/**
 * The one interface through which commands open panels (implemented by webviewPanels.ts; the
 * apps are in webview/<panel>/, the messages in src/protocol/webviews.ts).
 */
import type { PanelKind } from '../../protocol/webviews';

export type { PanelKind };

export interface PanelTarget {
  /** The runs the panel is about (one, or several for `compare`); may be empty for an experiment without runs. */
  runDirs: string[];
  /** The experiment file, when known. */
  experimentFile?: string;
  /** Short title, e.g. the experiment name and run id. */
  title: string;
}

export interface OpenPanel {
  readonly kind: PanelKind;
  readonly target: PanelTarget;
  /** The HTML currently shown (for tests). */
  readonly html: string;
  reveal(): void;
  /** Shows a status line in the panel (issue 20: instead of a notification over its content). */
  notify?(level: 'info' | 'error', message: string): void;
  /** Pairing panel: asks the engine for pair suggestions and shows them. */
  suggest?(): Promise<void>;
}

export interface Panels {
  open(kind: PanelKind, target: PanelTarget): OpenPanel;
  /** Panels now open. */
  list(): OpenPanel[];
  /** A run of `experimentFile` started: its open dashboard follows it and says so (issue 20). */
  follow?(experimentFile: string, runDir: string, title: string): void;
  /** Runs changed on disk: the panels that read the newest run of their experiment load again (issue 20). */
  runsChanged?(): void;
}

/** `mnist-kd · 07:52:44` (or the run's label): short enough for a tab in half the editor (issue 20). */
export function runTitle(experiment: string, run: { id: string; label?: string }): string {
  const m = /^\d{8}-(\d\d)(\d\d)(\d\d)/.exec(run.id);
  return `${experiment} · ${run.label ?? (m ? `${m[1]}:${m[2]}:${m[3]}` : run.id)}`;
}

/** The word after the title in a panel's tab: `mnist-kd · 07:52:44 — dashboard`. */
export const PANEL_TAB: Record<PanelKind, string> = {
  dashboard: 'dashboard', pairing: 'pairing', featureMaps: 'feature maps', compression: 'report', compare: 'compare', sweep: 'sweep', synthesized: 'synthesized inputs',
};

export function tabTitle(kind: PanelKind, target: PanelTarget): string {
  return `${target.title} — ${PANEL_TAB[kind]}`;
}

export const PANEL_TITLES: Record<PanelKind, string> = {
  dashboard: 'Dashboard',
  pairing: 'Layer Pairing',
  featureMaps: 'Feature Maps',
  compression: 'Compression Report',
  compare: 'Compare Runs',
  sweep: 'Sweep',
  synthesized: 'Synthesized Inputs',
};
