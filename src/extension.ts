/**
 * Extension entry point: builds the features and registers their disposables; nothing else.
 * The extension host stays thin: it never loads TensorFlow.js; every run happens in a forked
 * engine worker (dist/worker.js), and the run folders are the source of truth.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { CODELENS_SELECTOR, DistillCodeLens } from './host/codeLens';
import { registerCommands } from './host/commands';
import { InlineLossCharts } from './host/decorations';
import { cliEngineCheck, ExperimentDiagnostics } from './host/diagnostics';
import { pythonFor } from './host/python';
import { ExperimentIndex } from './host/experiments';
import { ExperimentsTree } from './host/experimentsTree';
import { LayerNameQuickFix, LiveLayerCheck } from './host/liveLayerCheck';
import type { TreeNode } from './host/experimentsTree';
import type { Host } from './host/host';
import { ProbeClient } from './host/panels/probeClient';
import { runTitle } from './host/panels/panel';
import { WebviewPanels } from './host/panels/webviewPanels';
import { RunManager } from './host/runManager';
import { offerInterruptedRuns, watchRunOutcomes } from './host/runNotifications';
import { readSettings } from './host/settings';
import { RunStatusBar } from './host/statusBar';
import { TfjsTypesQuickFix } from './host/tfjsTypes';
import { EngineGate } from './host/trust';

/** What activate() returns: the parts tests (and other extensions) can observe. */
export interface DistillApi {
  host: Host;
  statusBar: RunStatusBar;
  charts: InlineLossCharts;
  commands: string[];
  /** Milliseconds activate() took. */
  activationMs: number;
  /** Resolves when the first scan of the workspace is done (experiments, runs, diagnostics). */
  ready: Promise<void>;
}

export function activate(context: vscode.ExtensionContext): DistillApi {
  const t0 = performance.now();
  const log = vscode.window.createOutputChannel('Distill Studio', { log: true });
  const index = new ExperimentIndex();
  const gate = new EngineGate();
  const runs = new RunManager({ workerPath: context.asAbsolutePath('dist/worker.js'), log, settings: () => readSettings(), gate, python: (t) => pythonFor(t, log) });
  const tree = new ExperimentsTree(index, runs);
  const view = vscode.window.createTreeView<TreeNode>('distill.experiments', { treeDataProvider: tree, canSelectMany: true, showCollapseAll: true });
  tree.view = view;
  const probe = new ProbeClient(context.asAbsolutePath('dist/worker.js'), log, () => readSettings().backend, gate, (t) => pythonFor(t, log));
  const panels = new WebviewPanels({ extensionUri: context.extensionUri, probe, log, gate });
  const live = new LiveLayerCheck(probe, gate, log);
  const diagnostics = new ExperimentDiagnostics(index, gate, cliEngineCheck(context.asAbsolutePath('dist/cli.js'), gate, (file) => pythonFor({ experimentFile: file }, log)), live);
  const host: Host = { context, log, index, runs, tree, panels, diagnostics, gate, probe };
  const statusBar = new RunStatusBar(runs);
  const charts = new InlineLossCharts(index, runs);
  const codeLens = new DistillCodeLens(index);
  context.subscriptions.push(
    log, gate, index, runs, tree, view, probe, panels, diagnostics, statusBar, charts, codeLens,
    vscode.languages.registerCodeLensProvider(CODELENS_SELECTOR, codeLens),
    live, vscode.languages.registerCodeActionsProvider({ pattern: '**/*.distill.json' }, new LayerNameQuickFix(), { providedCodeActionKinds: LayerNameQuickFix.kinds }),
    vscode.languages.registerCodeActionsProvider(['typescript', 'javascript'], TfjsTypesQuickFix.forExtension(context.extensionPath), { providedCodeActionKinds: TfjsTypesQuickFix.kinds }),
    watchRunOutcomes(host),
    // issue 20: an open dashboard follows its experiment's new run; the pairing panel reads the newest run
    runs.onDidChange((h) => {
      if (h.runDir && h.experimentFile) panels.follow(h.experimentFile, h.runDir, runTitle(path.basename(path.dirname(h.runDir)), { id: path.basename(h.runDir) }));
    }),
    index.onDidChangeRuns(() => panels.runsChanged()),
  );
  const commands = registerCommands(host);
  const ready = index.refresh().then(() => {
    offerInterruptedRuns(host);
  }, (e: unknown) => log.error(`scanning the workspace failed: ${String(e)}`));
  const activationMs = performance.now() - t0;
  log.info(`Distill Studio ${String(context.extension.packageJSON.version)} activated in ${activationMs.toFixed(1)} ms`);
  return { host, statusBar, charts, commands, activationMs, ready };
}

export function deactivate(): void {
  // every disposable is in context.subscriptions; the run manager asks running workers to stop
}
