/**
 * Extension entry point. The extension host stays thin: it never loads TensorFlow.js; training
 * runs in the forked engine worker (dist/worker.js). The tree, run manager, diagnostics and
 * panels are built here as they land.
 */
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Distill Studio', { log: true });
  context.subscriptions.push(log);
  context.subscriptions.push(vscode.commands.registerCommand('distill.showEngineLog', () => log.show(true)));
  log.info(`Distill Studio ${String(context.extension.packageJSON.version)} activated`);
}

export function deactivate(): void {
  // every disposable is in context.subscriptions
}
