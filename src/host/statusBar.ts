/**
 * One status-bar item while runs are active, naming the job (issue 20):
 * `$(sync~spin) mnist-kd · distill-s1 · epoch 3/10 · loss 0.231 · 1 min 05 s left`; click → dashboard.
 * It renders the snapshot the Experiments tree renders (liveRuns.ts), in the same tick, so the two
 * never disagree about a run's job, epoch, loss or whether it is still going.
 */
import * as vscode from 'vscode';
import type { RunManager } from './runManager';
import type { LiveSnapshot } from './liveRuns';
import { LiveRuns, mainRun, statusText, statusTooltipLines } from './liveRuns';

export class RunStatusBar implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;
  /** Whether the item is shown (the API has no getter; tests read this). */
  visible = false;
  /** The snapshot shown now (the tree shows the same one). */
  shown: LiveSnapshot;
  private readonly live: LiveRuns;
  private readonly disposables: { dispose(): unknown }[] = [];

  constructor(runs: RunManager) {
    this.item = vscode.window.createStatusBarItem('distill.runs', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'Distill Studio runs';
    const { live, release } = LiveRuns.acquire(runs);
    this.live = live;
    this.disposables.push(this.item, { dispose: release }, live.onDidUpdate((s) => this.render(s)));
    this.shown = live.snapshot;
    this.render(live.snapshot);
  }

  /** Repaints from the current snapshot (the same one the tree reads). */
  update(): void {
    this.render(this.live.snapshot);
  }

  private render(s: LiveSnapshot): void {
    this.shown = s;
    const text = statusText(s);
    const main = mainRun(s);
    if (text === undefined || !main) {
      this.item.hide();
      this.visible = false;
      return;
    }
    this.item.text = `$(sync~spin) ${text}`;
    const tip = new vscode.MarkdownString();
    for (const line of statusTooltipLines(s)) tip.appendMarkdown('- ').appendText(line).appendMarkdown('\n');
    tip.appendMarkdown('\nClick to open the dashboard.');
    this.item.tooltip = tip;
    this.item.command = { command: 'distill.openDashboard', title: 'Open Dashboard', arguments: main.runDir ? [main.runDir] : [] };
    this.item.show();
    this.visible = true;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
