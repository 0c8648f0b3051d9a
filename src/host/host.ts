/** The parts of the extension that commands work with (built once in activate()). */
import type * as vscode from 'vscode';
import type { ExperimentDiagnostics } from './diagnostics';
import type { ExperimentIndex } from './experiments';
import type { ExperimentsTree } from './experimentsTree';
import type { Panels } from './panels/panel';
import type { RunManager } from './runManager';

export interface Host {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  index: ExperimentIndex;
  runs: RunManager;
  tree: ExperimentsTree;
  panels: Panels;
  diagnostics: ExperimentDiagnostics;
}
