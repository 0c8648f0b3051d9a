/**
 * The one interface through which commands open panels. The real webview apps (webview/<panel>/)
 * come with their own issue; until then every kind opens the placeholder panel.
 */
export type PanelKind = 'dashboard' | 'pairing' | 'featureMaps' | 'compression' | 'compare';

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

export const PANEL_PLANS: Record<PanelKind, string> = {
  dashboard: 'live loss and accuracy charts of every job (each loss term, train/validation/test accuracy, agreement with the teacher), updated as the run goes.',
  pairing: 'the teacher and student layers with their shapes, the pairs of the knowledge entries as links, editable by clicking (written back to the experiment file as an undoable edit).',
  featureMaps: 'teacher vs student activations of a chosen pair for a chosen sample, side by side, with similarity figures.',
  compression: 'size, parameters, FLOPs, latency, accuracy and agreement of the teacher, the scratch baseline and the distilled student.',
  compare: 'the loss and accuracy curves of the selected runs overlaid, and the differences between their configurations.',
};
