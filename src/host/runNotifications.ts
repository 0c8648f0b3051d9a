/**
 * Messages about runs: a failed run (the reason, the last engine lines are in the log, Resume),
 * a finished run, and — once, at start-up — runs that a closed window left `running` (Resume).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { Host } from './host';

export function watchRunOutcomes(host: Host): vscode.Disposable {
  return host.runs.onDidFinish(({ handle, result }) => {
    const id = result.runDir ? path.basename(result.runDir) : handle.key;
    if (result.status === 'failed' && result.kind === 'config') {
      // Refused before a run folder existed (bad experiment, data or models): nothing to resume.
      const exp = handle.experimentFile ? path.basename(handle.experimentFile) : id;
      void vscode.window.showErrorMessage(`Distill: ${exp} was not run (no run folder was created): ${result.error ?? 'invalid experiment'}`, 'Show Log')
        .then((c) => { if (c === 'Show Log') host.log.show(true); });
    } else if (result.status === 'failed' && result.kind === 'locked') {
      void vscode.window.showWarningMessage(`Distill: ${firstLine(result.error)}.`, 'Show Log').then((c) => { if (c === 'Show Log') host.log.show(true); });
    } else if (result.status === 'failed') {
      const tail = handle.logTail.length ? ` Last engine line: ${handle.logTail[handle.logTail.length - 1]}` : '';
      const actions = result.runDir ? ['Show Log', 'Resume'] : ['Show Log'];
      void vscode.window.showErrorMessage(`Distill: run ${id} failed: ${firstLine(result.error)}.${tail}`, ...actions).then((c) => {
        if (c === 'Show Log') host.log.show(true);
        if (c === 'Resume' && result.runDir) void vscode.commands.executeCommand('distill.resumeRun', result.runDir);
      });
    } else if (result.status === 'completed') {
      void vscode.window.showInformationMessage(`Distill: run ${id} completed.`, 'Open Dashboard', 'Compression Report').then((c) => {
        if (c === 'Open Dashboard') void vscode.commands.executeCommand('distill.openDashboard', result.runDir);
        if (c === 'Compression Report') void vscode.commands.executeCommand('distill.showCompressionReport', result.runDir);
      });
    }
  });
}

/** Offers to resume runs left `running` by a window or process that is gone. Returns their folders. */
export function offerInterruptedRuns(host: Host): string[] {
  const dirs = host.runs.interrupted(host.index.allRuns().map((r) => r.view.runDir));
  if (dirs.length === 0) return dirs;
  host.log.warn(`interrupted runs (owner process gone): ${dirs.join(', ')}`);
  const what = dirs.length === 1 ? `Run ${path.basename(dirs[0])} was` : `${dirs.length} runs were`;
  void vscode.window.showWarningMessage(`Distill: ${what} interrupted (its window or process closed). Resume from the last checkpoint?`,
    dirs.length === 1 ? 'Resume' : 'Resume All').then((c) => {
    if (c) for (const d of dirs) void vscode.commands.executeCommand('distill.resumeRun', d);
  });
  return dirs;
}

function firstLine(s: string | undefined): string {
  return (s ?? 'unknown reason').split('\n')[0].replace(/\.$/, '');
}
