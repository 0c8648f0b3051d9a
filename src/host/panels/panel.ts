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
  /** Pairing panel: asks the engine for pair suggestions and shows them. */
  suggest?(): Promise<void>;
}

export interface Panels {
  open(kind: PanelKind, target: PanelTarget): OpenPanel;
  /** Panels now open. */
  list(): OpenPanel[];
}

export const PANEL_TITLES: Record<PanelKind, string> = {
  dashboard: 'Dashboard',
  pairing: 'Layer Pairing',
  featureMaps: 'Feature Maps',
  compression: 'Compression Report',
  compare: 'Compare Runs',
};
