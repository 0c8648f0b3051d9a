/**
 * Layer names, pair shapes and adapters checked as you type (issue 20, point 1): a debounced
 * `layers` probe on the editor's unsaved text (src/host/panels/probeClient.ts), only in a trusted
 * workspace (the probe loads the workspace's model code; the trust gate decides). Each pair the
 * engine cannot resolve becomes a problem on the pair's own value — an unknown layer with the
 * closest names (the same message as `distill check`, so the two never show twice), a shape the
 * method's adapter rules cannot match on the pair. {@link LayerNameQuickFix} replaces an unknown
 * name by one of the closest.
 *
 * A user fixing several mistakes at once still sees these: when the validator finds other errors,
 * the fields it complains about are taken out of a copy of the text (never an array item, so the
 * pairs keep their indices) and the copy is probed when it then validates.
 *
 * Results are kept as (path, value at the path, message) and located again in the current text on
 * every validation, so they follow edits and disappear as soon as the named value changes.
 */
import * as path from 'path';
import { findNodeAtLocation, getNodeValue, parse, parseTree } from 'jsonc-parser';
import * as vscode from 'vscode';
import { locate } from '../config/errors';
import type { ConfigError } from '../config/types';
import { hasPairs, problemsOfAnswer, repairedText } from './liveLayerProblems';
import type { LayersProbe, LiveProblem } from './liveLayerProblems';
import type { EngineGate } from './trust';

export type { LayersProbe, LiveProblem };

const DEBOUNCE_MS = 500;
const PROBE_TIMEOUT_MS = 90_000;
const JSONC = { allowTrailingComma: true, disallowComments: false };

export class LiveLayerCheck implements vscode.Disposable {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly results = new Map<string, LiveProblem[]>();
  /** The newest request per document: an older answer is dropped. */
  private readonly latest = new Map<string, number>();
  /** The text last sent per document (a re-validation of the same text does not ask again). */
  private readonly checked = new Map<string, string>();
  private seq = 0;
  private readonly updated = new vscode.EventEmitter<vscode.TextDocument>();
  /** Fires when a document's engine problems changed (the diagnostics show them again). */
  readonly onDidUpdate = this.updated.event;
  /** Requests sent (tests read it). */
  probes = 0;

  constructor(private readonly probe: LayersProbe, private readonly gate: EngineGate, private readonly log?: vscode.LogOutputChannel,
    private readonly delayMs = DEBOUNCE_MS) {}

  /**
   * Asks the engine about the document's pairs after a pause in typing (trusted workspaces only);
   * the same text is asked about once, unless `force` (open, save, trust granted: models may have changed).
   */
  schedule(doc: vscode.TextDocument, force = false): void {
    const key = doc.uri.toString();
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    if (!this.gate.trusted || (!force && this.checked.get(key) === doc.getText())) return;
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      void this.check(doc);
    }, this.delayMs));
  }

  private async check(doc: vscode.TextDocument): Promise<void> {
    if (doc.isClosed || !this.gate.trusted) return;
    const key = doc.uri.toString();
    const file = doc.uri.fsPath;
    this.checked.set(key, doc.getText());
    const text = repairedText(doc.getText(), file);
    if (text === undefined) return; // nothing the engine can read yet: earlier results stay, located anew
    const probed = parse(text, [], JSONC) as unknown;
    // issue 14: a torch experiment's layers are PyTorch's (the TF.js probe cannot list them); its pairs are checked by `distill check` on save.
    if (!hasPairs(probed) || (probed as { engine?: unknown }).engine === 'torch') {
      if (this.results.delete(key)) this.updated.fire(doc);
      return;
    }
    const id = ++this.seq;
    this.latest.set(key, id);
    this.probes++;
    try {
      const answer = await this.probe.request({ kind: 'layers', experimentFile: file, text }, PROBE_TIMEOUT_MS);
      if (this.latest.get(key) !== id || doc.isClosed) return;
      this.results.set(key, problemsOfAnswer(answer, probed));
    } catch (e) {
      if (this.latest.get(key) !== id) return;
      // a model that does not build, a refused module: `distill check` on save says why, in place
      this.log?.debug(`[live check] ${path.basename(file)}: ${(e as Error).message}`);
      this.results.delete(key);
    }
    this.updated.fire(doc);
  }

  /** The engine's problems that still hold for `text`, located in it. */
  problems(doc: vscode.TextDocument, text = doc.getText()): ConfigError[] {
    const found = this.results.get(doc.uri.toString());
    if (!found?.length) return [];
    const root = parseTree(text, [], JSONC);
    if (!root) return [];
    return found.filter((p) => {
      const node = findNodeAtLocation(root, p.path);
      return node !== undefined && JSON.stringify(getNodeValue(node)) === JSON.stringify(p.value);
    }).map((p) => ({ file: doc.uri.fsPath, path: p.path, location: locate(text, p.path), message: p.message, severity: 'error' as const }));
  }

  forget(doc: vscode.TextDocument): void {
    this.results.delete(doc.uri.toString());
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.updated.dispose();
  }
}

/** Quick fixes for an unknown layer name: replace it by one of the closest names. */
export class LayerNameQuickFix implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const d of context.diagnostics) {
      if (d.source !== 'distill') continue;
      const m = /has no layer "([^"]+)"; closest: (.+)$/.exec(d.message);
      if (!m) continue;
      const names = [...m[2].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
      names.forEach((name, i) => {
        const a = new vscode.CodeAction(`Replace "${m[1]}" with "${name}"`, vscode.CodeActionKind.QuickFix);
        a.diagnostics = [d];
        a.isPreferred = i === 0;
        a.edit = new vscode.WorkspaceEdit();
        a.edit.replace(doc.uri, d.range, JSON.stringify(name));
        actions.push(a);
      });
    }
    return actions;
  }
}
