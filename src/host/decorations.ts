/**
 * Inline loss charts: after each knowledge entry (and the `labels` term) of an open experiment
 * file, that term's latest value and a sparkline from the experiment's latest run — live while a
 * run goes (metrics.jsonl grows; progress messages). Toggled by `distill.inlineCharts`.
 * Term names follow the engine: an entry's `method` (`kd`), a second entry of the same method `kd#2`.
 * A value that would be clipped at the end of a long line (issue 20: off-screen unless the line fits
 * the editor) is shown above the entry instead, as a CodeLens, with the same hover on the entry.
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
  /** Offset of the start of the entry (a value shown above goes above that line). */
  startOffset: number;
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
    out.push({ term: n === 1 ? method : `${method}#${n}`, startOffset: entry.offset, endOffset: entry.offset + entry.length });
  }
  const labels = prop(root, 'labels');
  if (labels) out.push({ term: 'labels', startOffset: labels.parent?.offset ?? labels.offset, endOffset: labels.offset + labels.length });
  return out;
}

/**
 * The last column an inline value may reach before it is moved above its entry: the editor's wrap
 * column, or 80 — half of a 1600 px window in the default font, where a split editor clips it.
 */
export function inlineLimit(uri?: vscode.Uri): number {
  const c = vscode.workspace.getConfiguration('editor', uri).get<number>('wordWrapColumn');
  return Math.min(80, typeof c === 'number' && c > 20 ? c : 80);
}

export class InlineLossCharts implements vscode.Disposable, vscode.CodeLensProvider {
  private readonly type = vscode.window.createTextEditorDecorationType({
    after: { margin: '0 0 0 2em', color: new vscode.ThemeColor('editorCodeLens.foreground'), fontStyle: 'normal' },
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private readonly disposables: vscode.Disposable[] = [this.type];
  private timer: NodeJS.Timeout | undefined;
  /** What was last drawn per file (term → text), for tests and the tree's tooltip. */
  readonly rendered = new Map<string, Record<string, string>>();
  /** Where each term's value went per file: at the end of its line, or above the entry (issue 20). */
  readonly placement = new Map<string, Record<string, 'inline' | 'above'>>();
  /** Values shown above their entries, per file (served as CodeLenses). */
  private readonly above = new Map<string, { line: number; text: string; hover: string }[]>();
  private readonly lensesChanged = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensesChanged.event;

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
    this.disposables.push(this.lensesChanged, vscode.languages.registerCodeLensProvider({ pattern: '**/*.distill.json' }, this));
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
        this.placement.delete(doc.uri.fsPath);
        if (this.above.delete(doc.uri.fsPath)) this.lensesChanged.fire();
        continue;
      }
      const exp = this.index.get(doc.uri.fsPath);
      const view = exp ? this.index.latestRun(exp) : undefined;
      const options: vscode.DecorationOptions[] = [];
      const drawn: Record<string, string> = {};
      const placed: Record<string, 'inline' | 'above'> = {};
      const above: { line: number; text: string; hover: string }[] = [];
      const limit = inlineLimit(doc.uri);
      for (const anchor of termAnchors(doc.getText())) {
        const series = view ? termSeries(view, anchor.term) : undefined;
        if (!series || series.length === 0) continue;
        const text = `${anchor.term} ${formatLoss(series[series.length - 1])} ${sparkline(series, 16)}`;
        drawn[anchor.term] = text;
        const line = doc.positionAt(anchor.endOffset).line;
        const end = doc.lineAt(line).range.end;
        const hover = `${anchor.term} in run ${view!.run.id} (${view!.focusJob ?? 'latest job'}): last ${series[series.length - 1]}, ${series.length} logged steps`;
        // 2em of margin ≈ 2 columns: past the limit the value would be clipped in a half-width editor
        if (end.character + 2 + text.length > limit) {
          placed[anchor.term] = 'above';
          above.push({ line: doc.positionAt(anchor.startOffset).line, text, hover });
          continue;
        }
        placed[anchor.term] = 'inline';
        options.push({ range: new vscode.Range(end, end), renderOptions: { after: { contentText: text } }, hoverMessage: hover });
      }
      editor.setDecorations(this.type, options);
      this.rendered.set(doc.uri.fsPath, drawn);
      this.placement.set(doc.uri.fsPath, placed);
      const before = JSON.stringify(this.above.get(doc.uri.fsPath) ?? []);
      this.above.set(doc.uri.fsPath, above);
      if (before !== JSON.stringify(above)) this.lensesChanged.fire();
    }
  }

  /** The values that would be clipped, above their entries (not clickable: a title only). */
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    return (this.above.get(doc.uri.fsPath) ?? []).filter((a) => a.line < doc.lineCount).map((a) =>
      new vscode.CodeLens(doc.lineAt(a.line).range, { title: a.text, tooltip: a.hover, command: '' }));
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}
