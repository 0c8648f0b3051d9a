/**
 * Problems for experiment files: the shared validator (src/config/parse.ts — syntax, schema,
 * semantics, then referenced files) with the exact ranges of ConfigError.location. Open files are
 * checked as you type (debounced) and on save; closed ones from disk when the experiments change.
 * On open and save (in a trusted workspace, with no validator error) the engine checks the file
 * against its data and models in a separate process (`distill check --json`): unknown layer names
 * with the closest ones, pairs that cannot be matched, heads on missing layers, shapes that do not
 * fit. Those problems stay until the text changes, and come back at the next save. The engine
 * check loads the workspace's model code, so it goes through the trust gate: in Restricted Mode
 * only the validator runs, and the engine check follows as soon as trust is granted.
 * As you type (trusted only), the live check (liveLayerCheck.ts) asks the probe engine about the
 * layer pairs of the unsaved text; its problems are merged here, never twice with the save check's.
 */
import * as cp from 'child_process';
import * as vscode from 'vscode';
import { checkFiles, formatPath, hasErrors, loadExperiment, parseExperimentText } from '../config/parse';
import type { ConfigError } from '../config/types';
import type { ExperimentIndex } from './experiments';
import { isExperimentFile } from './experiments';
import type { LiveLayerCheck } from './liveLayerCheck';
import type { EngineGate } from './trust';

const DEBOUNCE_MS = 300;

export class ExperimentDiagnostics implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection('distill');
  private readonly disposables: vscode.Disposable[] = [this.collection];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Engine problems per document, valid for the document version they were computed for. */
  private readonly engine = new Map<string, { version: number; diagnostics: vscode.Diagnostic[] }>();
  private readonly inFlight = new Map<string, AbortController>();

  constructor(private readonly index: ExperimentIndex, private readonly gate: EngineGate, private readonly engineCheck?: EngineCheck,
    private readonly live?: LiveLayerCheck) {
    live?.onDidUpdate((d) => this.checkDocument(d), this, this.disposables);
    gate.onDidGrant(() => {
      for (const d of vscode.workspace.textDocuments) this.checkDocument(d, true);
    }, this, this.disposables);
    vscode.workspace.onDidOpenTextDocument((d) => this.checkDocument(d, true), this, this.disposables);
    vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document), this, this.disposables);
    vscode.workspace.onDidSaveTextDocument((d) => this.checkDocument(d, true), this, this.disposables);
    index.onDidChange(() => this.checkAll(), this, this.disposables);
    for (const d of vscode.workspace.textDocuments) this.checkDocument(d, true);
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

  /** Validates an open document's current text; `withEngine`: also ask the engine (saved text only). */
  checkDocument(doc: vscode.TextDocument, withEngine = false): vscode.Diagnostic[] {
    if (!isExperimentFile(doc.uri.fsPath) || doc.uri.scheme !== 'file' || doc.isClosed) return [];
    const text = doc.getText();
    const file = doc.uri.fsPath;
    const parsed = parseExperimentText(text, file);
    const errors = parsed.config ? [...parsed.errors, ...checkFiles(parsed.config, file, text)] : parsed.errors;
    const diags = errors.map((e) => toDiagnostic(e, (o) => doc.positionAt(o)));
    const key = doc.uri.toString();
    const engine = this.engine.get(key);
    const engineDiags = engine && engine.version === doc.version ? engine.diagnostics : [];
    // issue 20: the live pair check of the unsaved text (trusted only), without repeating a problem
    const shown = new Set([...diags, ...engineDiags].map((d) => d.message));
    const liveDiags = (this.live?.problems(doc, text) ?? []).map((e) => toDiagnostic(e, (o) => doc.positionAt(o))).filter((d) => !shown.has(d.message));
    this.live?.schedule(doc, withEngine);
    this.collection.set(doc.uri, [...diags, ...engineDiags, ...liveDiags]);
    this.index.updateFromText(file, text);
    const clean = !errors.some((e) => e.severity === 'error');
    if (withEngine && clean && !doc.isDirty && this.engineCheck && this.gate.trusted) void this.runEngineCheck(doc, diags);
    return diags;
  }

  /** The engine's check of a saved document, in a separate process; a newer check cancels an older one. */
  private async runEngineCheck(doc: vscode.TextDocument, validatorDiags: vscode.Diagnostic[]): Promise<void> {
    const key = doc.uri.toString();
    this.inFlight.get(key)?.abort();
    const abort = new AbortController();
    this.inFlight.set(key, abort);
    const version = doc.version;
    try {
      const errors = await this.engineCheck!(doc.uri.fsPath, abort.signal);
      if (abort.signal.aborted || doc.isClosed || doc.version !== version) return;
      const seen = new Set(validatorDiags.map((d) => d.message));
      const diagnostics = errors.map((e) => toDiagnostic(e, (o) => doc.positionAt(o))).filter((d) => !seen.has(d.message));
      this.engine.set(key, { version, diagnostics });
      this.checkDocument(doc); // validator + these + the live check's (issue 20)
    } catch {
      // an engine that could not check (aborted, crashed) leaves the validator's problems as they are
    } finally {
      if (this.inFlight.get(key) === abort) this.inFlight.delete(key);
    }
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
    for (const a of this.inFlight.values()) a.abort();
    for (const d of this.disposables) d.dispose();
  }
}

/** Runs the engine's check of an experiment file (in another process) and returns its problems. */
export type EngineCheck = (file: string, signal: AbortSignal) => Promise<ConfigError[]>;

/** The engine check through the bundled CLI, `distill check <file> --json`, in a child process. */
export function cliEngineCheck(cliPath: string, gate: EngineGate,
  /** issue 14: the torch engine's Python for a `"engine": "torch"` experiment (src/host/python.ts). */
  python?: (file: string) => Promise<string | undefined>): EngineCheck {
  return async (file, signal) => {
    const env = gate.engineEnv('check'); // throws in Restricted Mode: nothing is started
    const py = await python?.(file).catch(() => undefined);
    return runCheck([cliPath, 'check', file, '--json', ...(py ? ['--python', py] : [])], env, signal);
  };
}

function runCheck(args: string[], env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<ConfigError[]> {
  return new Promise((resolve, reject) => {
    cp.execFile(process.execPath, args, {
      signal, maxBuffer: 4 << 20, timeout: 120_000, env,
    }, (err, stdout) => {
      // exit code 1 = problems found: stdout still holds them
      try {
        resolve(JSON.parse(stdout) as ConfigError[]);
      } catch {
        reject(err ?? new Error('distill check printed no JSON'));
      }
    });
  });
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
