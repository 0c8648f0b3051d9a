/**
 * Messages about runs: a failed run (the reason, the last engine lines are in the log, Resume),
 * a finished run, and — once, at start-up — runs that a closed window left `running` (Resume).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { Host } from './host';

export function watchRunOutcomes(host: Host): vscode.Disposable {
  return host.runs.onDidFinish(({ handle, result }) => {
    const id = result.runDir ? path.basename(result.runDir) : handle.key;
    if (result.status === 'failed' && result.kind === 'config') {
      // Refused before a run folder existed (bad experiment, data or models): nothing to resume.
      // The experiment file is where Problems say what to fix; there is nothing to resume.
      const exp = handle.experimentFile ? path.basename(handle.experimentFile) : id;
      const actions = handle.experimentFile ? ['Open Experiment', 'Show Log'] : ['Show Log'];
      void vscode.window.showErrorMessage(`Distill: ${exp} was not run (no run folder was created): ${result.error ?? 'invalid experiment'}`, ...actions)
        .then((c) => {
          if (c === 'Show Log') host.log.show(true);
          if (c === 'Open Experiment' && handle.experimentFile) void vscode.window.showTextDocument(vscode.Uri.file(handle.experimentFile));
        });
    } else if (result.status === 'failed' && result.kind === 'locked') {
      void vscode.window.showWarningMessage(`Distill: ${firstLine(result.error)}.`, 'Show Log').then((c) => { if (c === 'Show Log') host.log.show(true); });
    } else if (result.status === 'failed') {
      const tail = handle.logTail.length ? ` Last engine line: ${handle.logTail[handle.logTail.length - 1]}` : '';
      // Resume only means something for a run that trained: a failure before (a config error, a model
      // that does not build) offers the experiment file instead, where Problems say what to fix
      const resumable = result.runDir !== undefined && trainedAnything(result.runDir);
      const actions = resumable ? ['Show Log', 'Resume'] : handle.experimentFile ? ['Open Experiment', 'Show Log'] : ['Show Log'];
      void vscode.window.showErrorMessage(`Distill: run ${id} failed: ${firstLine(result.error)}.${tail}`, ...actions).then((c) => {
        if (c === 'Show Log') host.log.show(true);
        if (c === 'Open Experiment' && handle.experimentFile) void vscode.window.showTextDocument(vscode.Uri.file(handle.experimentFile));
        if (c === 'Resume' && result.runDir) void vscode.commands.executeCommand('distill.resumeRun', result.runDir);
      });
    } else if (result.status === 'completed') {
      // issue 20: a dashboard showing the run says it in the panel; no notification over its content
      const shown = host.panels.list().filter((p) => p.kind === 'dashboard' && result.runDir && p.target.runDirs[0] === result.runDir && p.notify);
      if (shown.length) {
        for (const p of shown) p.notify!('info', `Run ${id} completed: the verdict is above; the Compression Report has the sizes and speed.`);
        return;
      }
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

/** Whether a run folder holds any training to continue: a checkpoint, or a step or epoch in metrics.jsonl. */
export function trainedAnything(runDir: string): boolean {
  try {
    const ck = path.join(runDir, 'checkpoints');
    if (fs.existsSync(ck) && fs.readdirSync(ck).length > 0) return true;
    const metrics = path.join(runDir, 'metrics.jsonl');
    return fs.existsSync(metrics) && /"type":\s*"(step|epoch)"/.test(fs.readFileSync(metrics, 'utf8'));
  } catch {
    return true; // unreadable: let Resume say what is wrong
  }
}

function firstLine(s: string | undefined): string {
  return (s ?? 'unknown reason').split('\n')[0].replace(/\.$/, '');
}
