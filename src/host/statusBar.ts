/**
 * One status-bar item while runs are active, naming the job (issue 20):
 * `$(sync~spin) mnist-kd · distill-s1 · epoch 3/10 · loss 0.231 · 1 min 05 s left`; click → dashboard.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { RunManager } from './runManager';
import { formatEta, formatLoss } from './sparkline';

export class RunStatusBar implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly runs: RunManager) {
    this.item = vscode.window.createStatusBarItem('distill.runs', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'Distill Studio runs';
    this.disposables.push(this.item);
    runs.onDidChange(() => {
      this.timer ??= setTimeout(() => this.update(), 200);
    }, this, this.disposables);
    this.update();
  }

  update(): void {
    this.timer = undefined;
    const handles = this.runs.handles();
    if (handles.length === 0) {
      this.item.hide();
      return;
    }
    const going = handles.filter((h) => h.state !== 'queued');
    const main = going[going.length - 1] ?? handles[0];
    const p = main.progress;
    const prefix = handles.length > 1 ? `${handles.length} runs · ` : '';
    let text: string;
    if (main.state === 'queued') text = 'queued';
    else if (main.state === 'stopping') text = 'stopping…';
    else if (p) text = `${p.job} · epoch ${p.epoch}/${p.epochs} · loss ${formatLoss(p.losses.total)}${p.etaSeconds >= 1 ? ` · ${formatEta(p.etaSeconds)} left` : ''}`;
    else text = 'starting…';
    const exp = experimentOf(main);
    if (exp) text = `${exp} · ${text}`;
    this.item.text = `$(sync~spin) ${prefix}${text}`;
    const tip = new vscode.MarkdownString();
    for (const h of handles) {
      const hp = h.progress;
      tip.appendMarkdown(`- ${this.runs.label(h)}: ${h.state}${hp ? ` — ${hp.job}, epoch ${hp.epoch}/${hp.epochs}, step ${hp.step}/${hp.steps}, ` +
        `${Math.round(hp.samplesPerSecond)} samples/s, ${hp.etaSeconds > 0 ? `${formatEta(hp.etaSeconds)} left` : 'time left not known yet'}` : ''}\n`);
    }
    tip.appendMarkdown('\nClick to open the dashboard.');
    this.item.tooltip = tip;
    this.item.command = { command: 'distill.openDashboard', title: 'Open Dashboard', arguments: main.runDir ? [main.runDir] : [] };
    this.item.show();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}

/** The experiment a run belongs to: its folder's parent (`<runs>/<experiment>/<run-id>`), else the file's name. */
function experimentOf(h: { runDir?: string; experimentFile?: string }): string | undefined {
  if (h.runDir) return path.basename(path.dirname(h.runDir));
  return h.experimentFile ? path.basename(h.experimentFile).replace(/\.distill\.json$/, '') : undefined;
}

