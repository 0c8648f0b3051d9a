/**
 * CodeLens: "Run · Dashboard · Pairing" at the top of an experiment file; above a model factory
 * that experiments use, the experiments using it (click opens the experiment).
 */
import * as vscode from 'vscode';
import type { ExperimentIndex } from './experiments';
import { isExperimentFile } from './experiments';

export const CODELENS_SELECTOR: vscode.DocumentSelector = [
  { scheme: 'file', pattern: '**/*.distill.json' },
  { scheme: 'file', pattern: '**/*.{ts,mts,cts,js,mjs,cjs}' },
];

export class DistillCodeLens implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.emitter.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly index: ExperimentIndex) {
    this.sub = index.onDidChange(() => this.emitter.fire());
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const file = doc.uri.fsPath;
    if (isExperimentFile(file)) {
      const range = new vscode.Range(0, 0, 0, 0);
      return [
        new vscode.CodeLens(range, { title: '$(play) Run', command: 'distill.runExperiment', arguments: [doc.uri], tooltip: 'Run this experiment in the background engine' }),
        new vscode.CodeLens(range, { title: 'Dashboard', command: 'distill.openDashboard', arguments: [doc.uri], tooltip: 'Open the dashboard of the latest run' }),
        new vscode.CodeLens(range, { title: 'Pairing', command: 'distill.showLayerPairing', arguments: [doc.uri], tooltip: 'Show the teacher/student layer pairing' }),
      ];
    }
    const users = this.index.usersOf(file);
    if (users.length === 0) return [];
    const text = doc.getText();
    const byExport = new Map<string, typeof users>();
    for (const u of users) {
      const key = u.ref.exportName ?? '';
      byExport.set(key, [...(byExport.get(key) ?? []), u]);
    }
    const lenses: vscode.CodeLens[] = [];
    for (const [name, list] of byExport) {
      const pos = doc.positionAt(exportOffset(text, name));
      const range = new vscode.Range(pos.line, 0, pos.line, 0);
      for (const { exp, ref } of list) {
        lenses.push(new vscode.CodeLens(range, {
          title: `$(beaker) ${exp.name} (${ref.role})`, command: 'vscode.open', arguments: [exp.uri],
          tooltip: `${vscode.workspace.asRelativePath(exp.uri)} uses ${name || 'this module'} as its ${ref.role}`,
        }));
      }
    }
    return lenses;
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }
}

/** Offset of `export function NAME` / `export const NAME` / `export { NAME }`, else 0. */
export function exportOffset(text: string, name: string): number {
  if (!name) return 0;
  const id = name.replace(/[$]/g, '\\$');
  const patterns = [
    new RegExp(`^\\s*export\\s+(?:default\\s+)?(?:async\\s+)?function\\s*\\*?\\s*${id}\\b`, 'm'),
    new RegExp(`^\\s*export\\s+(?:const|let|var|class)\\s+${id}\\b`, 'm'),
    new RegExp(`^\\s*export\\s*\\{[^}]*\\b${id}\\b`, 'm'),
    new RegExp(`^\\s*(?:async\\s+)?function\\s+${id}\\b`, 'm'),
  ];
  for (const re of patterns) {
    const m = re.exec(text);
    if (m) return m.index + (m[0].length - m[0].trimStart().length);
  }
  return 0;
}

/** Names a module exports (for the New Experiment template). */
export function exportedNames(text: string): string[] {
  const out: string[] = [];
  const re = /^\s*export\s+(?:async\s+)?(?:function\s*\*?\s*|const\s+|let\s+|var\s+)([A-Za-z_$][\w$]*)/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}
