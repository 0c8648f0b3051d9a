/** The parts of the extension that commands work with (built once in activate()). */
import type * as vscode from 'vscode';
import type { ExperimentDiagnostics } from './diagnostics';
import type { ExperimentIndex } from './experiments';
import type { ExperimentsTree } from './experimentsTree';
import type { Panels } from './panels/panel';
import type { ProbeClient } from './panels/probeClient';
import type { RunManager } from './runManager';
import type { EngineGate } from './trust';

export interface Host {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  index: ExperimentIndex;
  runs: RunManager;
  tree: ExperimentsTree;
  panels: Panels;
  diagnostics: ExperimentDiagnostics;
  /** Workspace trust: the one gate in front of every engine start. */
  gate: EngineGate;
  /** The probe engine (layers, checks, estimates) — issue 20: New Experiment's time estimate. */
  probe?: ProbeClient;
}
