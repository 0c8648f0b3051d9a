/**
 * Problems for experiment files: the shared validator (src/config/parse.ts — syntax, schema,
 * semantics, then referenced files) with the exact ranges of ConfigError.location. Open files are
 * checked as you type (debounced) and on save; closed ones from disk when the experiments change.
 */
import * as vscode from 'vscode';
import { checkFiles, formatPath, hasErrors, loadExperiment, parseExperimentText } from '../config/parse';
import type { ConfigError } from '../config/types';
import type { ExperimentIndex } from './experiments';
import { isExperimentFile } from './experiments';

const DEBOUNCE_MS = 300;

export class ExperimentDiagnostics implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection('distill');
  private readonly disposables: vscode.Disposable[] = [this.collection];
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly index: ExperimentIndex) {
    vscode.workspace.onDidOpenTextDocument((d) => this.checkDocument(d), this, this.disposables);
    vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document), this, this.disposables);
    vscode.workspace.onDidSaveTextDocument((d) => this.checkDocument(d), this, this.disposables);
    index.onDidChange(() => this.checkAll(), this, this.disposables);
    for (const d of vscode.workspace.textDocuments) this.checkDocument(d);
  }

  private schedule(doc: vscode.TextDocument): void {
    if (!isExperimentFile(doc.uri.fsPath) || doc.uri.scheme !== 'file') return;
    const key = doc.uri.toString();
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      this.checkDocument(doc);
    }, DEBOUNCE_MS));
  }

  /** Validates an open document's current text. */
  checkDocument(doc: vscode.TextDocument): vscode.Diagnostic[] {
    if (!isExperimentFile(doc.uri.fsPath) || doc.uri.scheme !== 'file' || doc.isClosed) return [];
    const text = doc.getText();
    const file = doc.uri.fsPath;
    const parsed = parseExperimentText(text, file);
    const errors = parsed.config ? [...parsed.errors, ...checkFiles(parsed.config, file, text)] : parsed.errors;
    const diags = errors.map((e) => toDiagnostic(e, (o) => doc.positionAt(o)));
    this.collection.set(doc.uri, diags);
    this.index.updateFromText(file, text);
    return diags;
  }

  /** Validates every experiment of the index: open ones from the editor, closed ones from disk. */
  checkAll(): void {
    const open = new Map(vscode.workspace.textDocuments.map((d) => [d.uri.fsPath, d]));
    const known = new Set<string>();
    for (const exp of this.index.list()) {
      known.add(exp.uri.toString());
      const doc = open.get(exp.file);
      if (doc) {
        this.checkDocument(doc);
        continue;
      }
      const { errors, text } = loadExperiment(exp.file);
      const lines = text ?? '';
      this.collection.set(exp.uri, errors.map((e) => toDiagnostic(e, (o) => offsetToPosition(lines, o))));
    }
    this.collection.forEach((uri) => {
      if (!known.has(uri.toString()) && !open.has(uri.fsPath)) this.collection.delete(uri);
    });
  }

  /** Whether the file currently has errors (not warnings) in Problems. */
  hasErrors(uri: vscode.Uri): boolean {
    return (this.collection.get(uri) ?? []).some((d) => d.severity === vscode.DiagnosticSeverity.Error);
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const d of this.disposables) d.dispose();
  }
}

export function toDiagnostic(e: ConfigError, position: (offset: number) => vscode.Position): vscode.Diagnostic {
  const { offset, length } = e.location;
  const range = new vscode.Range(position(offset), position(offset + Math.max(0, length)));
  const where = formatPath(e.path);
  const d = new vscode.Diagnostic(range, `${where ? `${where}: ` : ''}${e.message}`,
    e.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Error);
  d.source = 'distill';
  return d;
}

function offsetToPosition(text: string, offset: number): vscode.Position {
  let line = 0;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return new vscode.Position(line, offset - start);
}

export { hasErrors };
