/**
 * Inline loss charts: after each knowledge entry (and the `labels` term) of an open experiment
 * file, that term's latest value and a sparkline from the experiment's latest run — live while a
 * run goes (metrics.jsonl grows; progress messages). Toggled by `distill.inlineCharts`.
 * Term names follow the engine: an entry's `method` (`kd`), a second entry of the same method `kd#2`.
 */
import * as vscode from 'vscode';
import { parseTree } from 'jsonc-parser';
import type { Node } from 'jsonc-parser';
import type { ExperimentIndex } from './experiments';
import { isExperimentFile } from './experiments';
import type { RunManager } from './runManager';
import { termSeries } from './runData';
import { readSettings } from './settings';
import { formatLoss, sparkline } from './sparkline';

export interface TermAnchor {
  term: string;
  /** Offset of the end of the entry (the decoration goes at the end of that line). */
  endOffset: number;
}

/** Where each loss term sits in an experiment file's text. */
export function termAnchors(text: string): TermAnchor[] {
  const root = parseTree(text, [], { allowTrailingComma: true, disallowComments: false });
  if (!root || root.type !== 'object') return [];
  const prop = (obj: Node, key: string) => obj.children?.find((p) => p.children?.[0]?.value === key)?.children?.[1];
  const out: TermAnchor[] = [];
  const knowledge = prop(root, 'knowledge');
  const used = new Map<string, number>();
  for (const entry of knowledge?.type === 'array' ? knowledge.children ?? [] : []) {
    if (entry.type !== 'object') continue;
    const method = prop(entry, 'method')?.value;
    if (typeof method !== 'string') continue;
    const n = (used.get(method) ?? 0) + 1;
    used.set(method, n);
    out.push({ term: n === 1 ? method : `${method}#${n}`, endOffset: entry.offset + entry.length });
  }
  const labels = prop(root, 'labels');
  if (labels) out.push({ term: 'labels', endOffset: labels.offset + labels.length });
  return out;
}

export class InlineLossCharts implements vscode.Disposable {
  private readonly type = vscode.window.createTextEditorDecorationType({
    after: { margin: '0 0 0 2em', color: new vscode.ThemeColor('editorCodeLens.foreground'), fontStyle: 'normal' },
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private readonly disposables: vscode.Disposable[] = [this.type];
  private timer: NodeJS.Timeout | undefined;
  /** What was last drawn per file (term → text), for tests and the tree's tooltip. */
  readonly rendered = new Map<string, Record<string, string>>();

  constructor(private readonly index: ExperimentIndex, runs: RunManager) {
    vscode.window.onDidChangeVisibleTextEditors(() => this.update(), this, this.disposables);
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (isExperimentFile(e.document.uri.fsPath)) this.updateSoon();
    }, this, this.disposables);
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('distill.inlineCharts')) this.update();
    }, this, this.disposables);
    index.onDidChange(() => this.updateSoon(), this, this.disposables);
    index.onDidChangeRuns(() => this.updateSoon(), this, this.disposables);
    runs.onDidChange(() => this.updateSoon(), this, this.disposables);
    this.update();
  }

  private updateSoon(): void {
    this.timer ??= setTimeout(() => this.update(), 500);
  }

  update(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const editor of vscode.window.visibleTextEditors) {
      const doc = editor.document;
      if (!isExperimentFile(doc.uri.fsPath)) continue;
      if (!readSettings(doc.uri).inlineCharts) {
        editor.setDecorations(this.type, []);
        this.rendered.delete(doc.uri.fsPath);
        continue;
      }
      const exp = this.index.get(doc.uri.fsPath);
      const view = exp ? this.index.latestRun(exp) : undefined;
      const options: vscode.DecorationOptions[] = [];
      const drawn: Record<string, string> = {};
      for (const anchor of termAnchors(doc.getText())) {
        const series = view ? termSeries(view, anchor.term) : undefined;
        if (!series || series.length === 0) continue;
        const text = `${anchor.term} ${formatLoss(series[series.length - 1])} ${sparkline(series, 16)}`;
        drawn[anchor.term] = text;
        const line = doc.positionAt(anchor.endOffset).line;
        const end = doc.lineAt(line).range.end;
        options.push({
          range: new vscode.Range(end, end),
          renderOptions: { after: { contentText: text } },
          hoverMessage: `${anchor.term} in run ${view!.run.id} (${view!.focusJob ?? 'latest job'}): last ${series[series.length - 1]}, ${series.length} logged steps`,
        });
      }
      editor.setDecorations(this.type, options);
      this.rendered.set(doc.uri.fsPath, drawn);
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}
