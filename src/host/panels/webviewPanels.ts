/**
 * The five webview panels (dashboard, pairing, feature maps, compression, compare): one
 * controller per open panel, one panel per kind and target, opened beside the user's code and
 * restored after a reload by a WebviewPanelSerializer. The HTML is a shell (strict CSP, a fresh
 * nonce per render, scripts and styles only from dist/ and media/); the app in webview/<kind>/
 * says `ready`, then the controller sends `init` and later notifications. Every message from a
 * webview is validated (src/protocol/webviews.ts) before the host acts on it; webviews name
 * nothing on disk — checkpoints, samples and pairs are ids this controller handed out.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { FeatureMapsAnswer, FeatureMapsInitAnswer, LayersAnswer, PairCheckAnswer, SuggestAnswer } from '../../protocol/engine';
import type { HostToWebview, PairingData, PanelTargetState, WebviewToHost } from '../../protocol/webviews';
import { parseWebviewMessage } from '../../protocol/webviews';
import { readMetrics, readRun } from '../../engine/runs/store';
import { runState } from '../runData';
import { addPairEdit, removePairEdit } from './pairEdit';
import type { PairEditResult } from './pairEdit';
import type { OpenPanel, PanelKind, Panels, PanelTarget } from './panel';
import { PANEL_TITLES } from './panel';
import { panelHtml, validTarget } from './html';
import {
  attachPairLosses, compareData, compressionData, DashboardBuilder, dashboardData, MetricsTail, pairLosses, teacherAccuracy,
} from './panelData';
import type { ProbeClient } from './probeClient';

export const PANEL_KINDS: PanelKind[] = ['dashboard', 'pairing', 'featureMaps', 'compression', 'compare'];
const POLL_MS = 400;

export function isInWorkspace(p: string): boolean {
  const abs = path.resolve(p);
  return (vscode.workspace.workspaceFolders ?? []).some((f) => {
    const rel = path.relative(f.uri.fsPath, abs);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  });
}

export interface PanelDeps {
  extensionUri: vscode.Uri;
  probe: ProbeClient;
  log: vscode.LogOutputChannel;
}

export class WebviewPanel implements OpenPanel {
  html = '';
  /** Messages sent to the webview, newest last (tests read them). */
  readonly sent: HostToWebview[] = [];
  /** Messages received from the webview that were dropped, with the reason (tests read them). */
  readonly dropped: string[] = [];
  private ready = false;
  private readonly queue: HostToWebview[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private timer?: NodeJS.Timeout;
  private tail?: MetricsTail;
  private builder?: DashboardBuilder;
  private lastState?: string;
  private pairing?: PairingData;
  private fmIds?: FeatureMapsInitAnswer;
  private refreshing?: Promise<void>;

  constructor(readonly kind: PanelKind, readonly target: PanelTarget, private readonly panel: vscode.WebviewPanel, private readonly deps: PanelDeps, onDispose: () => void) {
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(deps.extensionUri, 'dist'), vscode.Uri.joinPath(deps.extensionUri, 'media')] };
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'icon.svg');
    panel.onDidDispose(() => {
      onDispose();
      if (this.timer) clearInterval(this.timer);
      for (const d of this.disposables) d.dispose();
    }, null, this.disposables);
    panel.webview.onDidReceiveMessage((m: unknown) => void this.receive(m), null, this.disposables);
    if (kind === 'pairing' && target.experimentFile) {
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.fsPath === target.experimentFile && e.contentChanges.length) void this.sendInit();
      }, null, this.disposables);
    }
    this.render();
  }

  render(): void {
    const nonce = crypto.randomBytes(16).toString('base64');
    const w = this.panel.webview;
    this.ready = false;
    this.html = panelHtml(this.kind, this.target.title, w.cspSource, (...p) => w.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, ...p)).toString(), nonce);
    w.html = this.html;
  }

  reveal(): void {
    this.panel.reveal(undefined, true);
  }

  /** Sends a message now, or once the webview said `ready`. */
  post(msg: HostToWebview): void {
    this.sent.push(msg);
    if (this.sent.length > 200) this.sent.splice(0, this.sent.length - 200);
    if (this.ready) void this.panel.webview.postMessage(msg);
    else this.queue.push(msg);
  }

  /** Entry point of every webview message (public for tests): validated, then acted on. */
  async receive(raw: unknown): Promise<void> {
    const parsed = parseWebviewMessage(this.kind, raw);
    if (!parsed.ok) {
      this.dropped.push(parsed.reason);
      this.deps.log.warn(`[${this.kind} panel] dropped a webview message: ${parsed.reason}`);
      return;
    }
    try {
      await this.act(parsed.msg);
    } catch (e) {
      this.deps.log.error(`[${this.kind} panel] ${parsed.msg.type} failed: ${(e as Error).stack ?? String(e)}`);
      this.post({ type: 'notice', level: 'error', message: (e as Error).message });
    }
  }

  private async act(msg: WebviewToHost): Promise<void> {
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        this.tail = undefined; // a reloaded webview gets everything again
        await this.sendInit();
        for (const m of this.queue.splice(0)) void this.panel.webview.postMessage(m);
        return;
      case 'save':
        return this.save(msg.format, msg.name, msg.data);
      case 'addPair':
        await this.addPair(msg.teacher, msg.student, msg.method);
        return;
      case 'removePair':
        await this.removePair(msg.entry, msg.pair);
        return;
      case 'suggestPairs':
        return this.suggest();
      case 'probe':
        return this.probeFeatureMaps(msg.requestId, msg.checkpoint, msg.sample, msg.pair);
      case 'exportStudent':
        await vscode.commands.executeCommand('distill.exportStudent', this.target.runDirs[0]);
        return;
    }
  }

  private targetState(): PanelTargetState {
    return { runDirs: this.target.runDirs, experimentFile: this.target.experimentFile, title: this.target.title };
  }

  private postNow(msg: HostToWebview): void {
    this.sent.push(msg);
    void this.panel.webview.postMessage(msg);
  }

  async sendInit(): Promise<void> {
    // one refresh at a time (a pair edit and a document change may both ask for one)
    while (this.refreshing) await this.refreshing;
    this.refreshing = this.buildInit().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async buildInit(): Promise<void> {
    const target = this.targetState();
    const runDir = this.target.runDirs[0];
    switch (this.kind) {
      case 'dashboard': {
        if (!runDir) {
          this.postNow({ type: 'init', panel: 'dashboard', target, data: { title: this.target.title, runId: '–', state: 'no run yet', losses: [], lr: [], epochs: [] } });
          return;
        }
        this.tail = new MetricsTail(runDir);
        this.builder = new DashboardBuilder();
        const data = dashboardData(runDir, this.tail, this.builder, this.target.title);
        this.lastState = data.state;
        this.postNow({ type: 'init', panel: 'dashboard', target, data });
        this.startPolling(runDir);
        return;
      }
      case 'pairing':
        this.pairing = await this.pairingData();
        this.postNow({ type: 'init', panel: 'pairing', target, data: this.pairing });
        return;
      case 'featureMaps': {
        if (!runDir) {
          this.postNow({ type: 'init', panel: 'featureMaps', target, data: { title: this.target.title, checkpoints: [], samples: [], pairs: [], error: 'no run yet: run the experiment first' } });
          return;
        }
        this.postNow({ type: 'busy', busy: true, what: 'loading the run\'s checkpoints and test samples in the engine' });
        try {
          this.fmIds = await this.deps.probe.request<FeatureMapsInitAnswer>({ kind: 'featureMapsInit', runDir });
          this.postNow({ type: 'init', panel: 'featureMaps', target, data: { title: this.target.title, ...this.fmIds } });
        } catch (e) {
          this.postNow({ type: 'init', panel: 'featureMaps', target, data: { title: this.target.title, checkpoints: [], samples: [], pairs: [], error: (e as Error).message } });
        }
        return;
      }
      case 'compression': {
        if (!runDir) {
          this.postNow({ type: 'init', panel: 'compression', target, data: { title: this.target.title, columns: [], layers: [], canExport: false, backend: '–', error: 'no run yet: run the experiment first' } });
          return;
        }
        let layers: { model: string; name: string; type: string; params: number; flops: number }[] = [];
        let layerError: string | undefined;
        try {
          const a = await this.deps.probe.request<LayersAnswer>({ kind: 'layers', runDir });
          layers = [...a.teacher.map((l) => ({ model: 'teacher', ...l })), ...a.student.map((l) => ({ model: 'student', ...l }))]
            .map(({ model, name, type, params, flops }) => ({ model, name, type, params, flops }));
        } catch (e) {
          layerError = `per-layer figures unavailable: ${(e as Error).message}`;
        }
        const data = compressionData(runDir, this.target.title, layers);
        if (layerError && !data.error) data.error = layerError;
        this.postNow({ type: 'init', panel: 'compression', target, data });
        return;
      }
      case 'compare':
        this.postNow({ type: 'init', panel: 'compare', target, data: compareData(this.target.runDirs, this.target.title) });
        return;
    }
  }

  /** Live dashboard: new metrics lines are sent as `append` (only what is new), at ≥ 2 Hz. */
  private startPolling(runDir: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (!this.tail || !this.builder) return;
      const records = this.tail.read();
      if (this.tail.superseded) {
        // a resumed job superseded points already shown: send the whole dashboard again
        this.tail = undefined;
        void this.sendInit();
        return;
      }
      let state = this.lastState;
      try {
        state = runState(readRun(runDir));
      } catch {
        // the folder went away (deleted run): keep the last state
      }
      if (records.length === 0 && state === this.lastState) return;
      this.lastState = state;
      const pts = this.builder.points(records);
      this.postNow({ type: 'append', ...pts, state: state ?? '–', teacherAcc: teacherAccuracy(runDir, pts.epochs) });
    }, POLL_MS);
  }

  private async pairingData(): Promise<PairingData> {
    const file = this.target.experimentFile;
    const base: PairingData = { title: this.target.title, experimentFile: file ? vscode.workspace.asRelativePath(file) : '–', teacher: [], student: [], links: [], methods: [] };
    if (!file) return { ...base, error: 'no experiment file: open the pairing from an experiment' };
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file);
    try {
      const a = await this.deps.probe.request<LayersAnswer>({ kind: 'layers', experimentFile: file, ...(doc ? { text: doc.getText() } : {}) });
      let links = a.links;
      const runDir = this.target.runDirs[0];
      if (runDir) {
        const methods = await this.methodsOf(file, doc);
        links = attachPairLosses(links, methods, pairLosses(readMetrics(runDir)));
      }
      return { ...base, teacher: a.teacher, student: a.student, links, methods: a.methods };
    } catch (e) {
      return { ...base, error: (e as Error).message };
    }
  }

  private async methodsOf(file: string, doc?: vscode.TextDocument): Promise<string[]> {
    const { parse } = await import('jsonc-parser');
    const v = parse(doc ? doc.getText() : fs.readFileSync(file, 'utf8')) as { knowledge?: { method?: string }[] };
    return (v?.knowledge ?? []).map((k) => String(k?.method));
  }

  private async document(): Promise<vscode.TextDocument> {
    return vscode.workspace.openTextDocument(vscode.Uri.file(this.target.experimentFile!));
  }

  private async applyPairEdit(doc: vscode.TextDocument, result: PairEditResult, what: string): Promise<boolean> {
    if (!result.ok) {
      this.post({ type: 'notice', level: 'error', message: result.reason });
      return false;
    }
    const edit = new vscode.WorkspaceEdit();
    for (const e of result.edits) {
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.offset), doc.positionAt(e.offset + e.length)), e.content);
    }
    const ok = await vscode.workspace.applyEdit(edit, { isRefactoring: false });
    if (!ok) this.post({ type: 'notice', level: 'error', message: `the edit (${what}) could not be applied to ${path.basename(doc.uri.fsPath)}` });
    else this.post({ type: 'notice', level: 'info', message: `${what} (undo with Ctrl+Z in the experiment file)` });
    return ok;
  }

  /** Adds a pair: checked in the engine first (shapes, adapter); refused with the reason, or written as an undoable edit. */
  async addPair(teacher: string, student: string, method: string): Promise<boolean> {
    if (!this.target.experimentFile) return false;
    const data = this.pairing ?? (this.pairing = await this.pairingData());
    const t = data.teacher.find((l) => l.name === teacher);
    const s = data.student.find((l) => l.name === student);
    if (!t || !s) {
      this.post({ type: 'pairRefused', teacher, student, method, reason: `no ${!t ? `teacher layer "${teacher}"` : `student layer "${student}"`} in the models` });
      return false;
    }
    const check = await this.deps.probe.request<PairCheckAnswer>({ kind: 'checkPair', method, teacher, student, teacherShape: t.outputShape, studentShape: s.outputShape });
    if (!check.ok) {
      this.post({ type: 'pairRefused', teacher, student, method, reason: check.reason });
      return false;
    }
    const doc = await this.document();
    const adapter = check.adapter === 'none' ? 'no adapter' : `adapter ${check.adapter}`;
    return this.applyPairEdit(doc, addPairEdit(doc.getText(), method, teacher, student), `added ${method} pair ${teacher} ↔ ${student} (${adapter})`);
  }

  async removePair(entry: number, pair: number): Promise<boolean> {
    if (!this.target.experimentFile) return false;
    const link = this.pairing?.links.find((l) => l.entry === entry && l.pair === pair);
    const doc = await this.document();
    return this.applyPairEdit(doc, removePairEdit(doc.getText(), entry, pair, link ? { teacher: link.teacher, student: link.student } : undefined),
      `removed ${link ? `${link.method} pair ${link.teacher} ↔ ${link.student}` : `pair ${entry}:${pair}`}`);
  }

  async suggest(): Promise<void> {
    const file = this.target.experimentFile;
    if (!file) return;
    this.post({ type: 'busy', busy: true, what: 'asking the engine for pair suggestions' });
    try {
      const a = await this.deps.probe.request<SuggestAnswer>({ kind: 'suggest', experimentFile: file });
      this.post({ type: 'suggestions', suggestions: a.suggestions, ...(a.error ? { error: a.error } : {}) });
    } catch (e) {
      this.post({ type: 'suggestions', suggestions: [], error: (e as Error).message });
    } finally {
      this.post({ type: 'busy', busy: false });
    }
  }

  private async probeFeatureMaps(requestId: number, checkpoint: string, sample: number, pair: string): Promise<void> {
    const runDir = this.target.runDirs[0];
    const ids = this.fmIds;
    // only ids this panel handed out
    if (!runDir || !ids || !ids.checkpoints.some((c) => c.id === checkpoint) || !ids.samples.some((s) => s.id === sample) || !ids.pairs.some((p) => p.id === pair)) {
      this.dropped.push(`probe: unknown checkpoint, sample or pair (${checkpoint}, ${sample}, ${pair})`);
      this.post({ type: 'featureMapsError', requestId, message: 'unknown checkpoint, sample or pair: reopen the panel' });
      return;
    }
    const [entry, p] = pair.split(':').map(Number);
    this.post({ type: 'busy', busy: true, what: 'computing feature maps in the engine' });
    try {
      const a = await this.deps.probe.request<FeatureMapsAnswer>({ kind: 'featureMaps', runDir, checkpoint, sample, entry, pair: p });
      this.post({ type: 'featureMaps', requestId, ...a });
    } catch (e) {
      this.post({ type: 'featureMapsError', requestId, message: (e as Error).message });
    } finally {
      this.post({ type: 'busy', busy: false });
    }
  }

  private async save(format: 'csv' | 'png', name: string, data: string): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const dest = await vscode.window.showSaveDialog({
      defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
      filters: format === 'csv' ? { CSV: ['csv'] } : { PNG: ['png'] },
      saveLabel: `Export ${format.toUpperCase()}`,
    });
    if (!dest) return;
    const bytes = format === 'csv' ? Buffer.from(data, 'utf8') : Buffer.from(data.slice(data.indexOf(',') + 1), 'base64');
    await vscode.workspace.fs.writeFile(dest, bytes);
    this.post({ type: 'notice', level: 'info', message: `exported ${vscode.workspace.asRelativePath(dest)}` });
  }
}

export class WebviewPanels implements Panels, vscode.Disposable {
  private readonly open_ = new Map<string, WebviewPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly deps: PanelDeps) {
    for (const kind of PANEL_KINDS) {
      this.disposables.push(vscode.window.registerWebviewPanelSerializer(`distill.${kind}`, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          const target = validTarget((state as { target?: unknown } | undefined)?.target, isInWorkspace);
          if (!target) {
            panel.dispose(); // nothing valid to show (a deleted run, a folder outside the workspace)
            return;
          }
          this.adopt(kind, target, panel);
        },
      }));
    }
  }

  private key(kind: PanelKind, target: PanelTarget): string {
    return `${kind}|${target.experimentFile ?? ''}|${target.runDirs.join('|')}`;
  }

  private adopt(kind: PanelKind, target: PanelTarget, panel: vscode.WebviewPanel): WebviewPanel {
    const key = this.key(kind, target);
    const p = new WebviewPanel(kind, target, panel, this.deps, () => this.open_.delete(key));
    this.open_.set(key, p);
    return p;
  }

  open(kind: PanelKind, target: PanelTarget): OpenPanel {
    const existing = this.open_.get(this.key(kind, target));
    if (existing) {
      existing.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(`distill.${kind}`, `${PANEL_TITLES[kind]}: ${target.title}`,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.deps.extensionUri, 'dist'), vscode.Uri.joinPath(this.deps.extensionUri, 'media')] });
    return this.adopt(kind, target, panel);
  }

  list(): OpenPanel[] {
    return [...this.open_.values()];
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.open_.clear();
  }
}
