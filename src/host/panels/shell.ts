/**
 * The shell every panel shares: the HTML (strict CSP, a fresh nonce per render, scripts and styles
 * only from dist/ and media/), the ready handshake (messages wait until the app says `ready`), the
 * validation of every webview message (src/protocol/webviews.ts) before anything acts on it, the
 * messages every panel understands (`ready`, `save`, `manageTrust`), the Restricted Mode banner,
 * and one refresh at a time. What a panel shows and does is its controller's (one per panel kind,
 * beside this file); the registry that opens and restores panels is webviewPanels.ts.
 */
import * as crypto from 'crypto';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ProbeAnswers, ProbeKind, ProbeQueryOf } from '../../protocol/engine';
import type { HostToWebview, PanelTargetState, WebviewToHost } from '../../protocol/webviews';
import { parseWebviewMessage } from '../../protocol/webviews';
import type { EngineGate } from '../trust';
import { EngineGate as Gate, isRestrictedModeError } from '../trust';
import { panelHtml } from './html';
import type { OpenPanel, PanelKind, PanelTarget } from './panel';
import { tabTitle } from './panel';
import type { ProbeClient } from './probeClient';

/** What a panel with no run shows. */
export const NO_RUN = 'no run yet: run the experiment first';

export interface PanelDeps {
  extensionUri: vscode.Uri;
  probe: ProbeClient;
  log: vscode.LogOutputChannel;
  /** Workspace trust: panels say in the panel why models are not shown, and load once it is granted. */
  gate: EngineGate;
}

/** What a controller may use of its panel. */
export interface PanelContext {
  readonly kind: PanelKind;
  readonly target: PanelTarget;
  readonly log: vscode.LogOutputChannel;
  /** Sends now, or once the webview said `ready`. */
  post(msg: HostToWebview): void;
  /** Sends at once (the answer to `ready`, live updates). */
  postNow(msg: HostToWebview): void;
  targetState(): PanelTargetState;
  /** Asks the engine (typed by the query's kind). */
  probe<K extends ProbeKind>(query: ProbeQueryOf<K>): Promise<ProbeAnswers[K]>;
  /** The message of a failed probe; a refusal for workspace trust also shows the panel's trust banner. */
  probeFailed(e: unknown): string;
  /** Records a message dropped by the controller's own checks (tests read them). */
  dropped(reason: string): void;
  /** Asks for a fresh `init` (one refresh at a time). */
  refresh(): Promise<void>;
  /** Disposed with the panel. */
  readonly disposables: vscode.Disposable[];
}

/** One panel kind's content and actions. */
export interface PanelController {
  /** Builds and sends `init` (after `ready`, a trust grant or a refresh). */
  init(): Promise<void>;
  /** Acts on a validated message of this panel kind other than ready/save/manageTrust. */
  act?(msg: WebviewToHost): Promise<void>;
  /** Pairing: asks the engine for suggestions (the Suggest Layer Pairs command). */
  suggest?(): Promise<void>;
  dispose?(): void;
}

export type ControllerFactory = (ctx: PanelContext) => PanelController;

export class WebviewPanel implements OpenPanel {
  html = '';
  /** Messages sent to the webview, newest last (tests read them). */
  readonly sent: HostToWebview[] = [];
  /** Messages received from the webview that were dropped, with the reason (tests read them). */
  readonly dropped: string[] = [];
  /** The last probe was refused for workspace trust (the panel shows why, with a trust button). */
  restricted = false;
  private ready = false;
  private readonly queue: HostToWebview[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private refreshing?: Promise<void>;
  private readonly controller: PanelController;

  constructor(readonly kind: PanelKind, readonly target: PanelTarget, private readonly panel: vscode.WebviewPanel, private readonly deps: PanelDeps,
    controller: ControllerFactory, onDispose: () => void) {
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(deps.extensionUri, 'dist'), vscode.Uri.joinPath(deps.extensionUri, 'media')] };
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'icon.svg');
    this.controller = controller({
      kind, target, log: deps.log, disposables: this.disposables,
      post: (m) => this.post(m),
      postNow: (m) => this.postNow(m),
      targetState: () => ({ runDirs: target.runDirs, experimentFile: target.experimentFile, title: target.title }),
      probe: (q) => deps.probe.request(q),
      probeFailed: (e) => this.probeFailed(e),
      refresh: () => this.sendInit(),
      dropped: (reason) => this.dropped.push(reason),
    });
    panel.onDidDispose(() => {
      onDispose();
      this.controller.dispose?.();
      for (const d of this.disposables) d.dispose();
    }, null, this.disposables);
    panel.webview.onDidReceiveMessage((m: unknown) => void this.receive(m), null, this.disposables);
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

  /** A status line in the panel (issue 20: not a notification over its content). */
  notify(level: 'info' | 'error', message: string): void {
    this.post({ type: 'notice', level, message });
  }

  /** Shows another target in this panel (a dashboard following its experiment's new run): same tab, fresh content. */
  retarget(next: PanelTarget): Promise<void> {
    Object.assign(this.target, next);
    this.panel.title = tabTitle(this.kind, this.target);
    return this.sendInit();
  }

  /** Sends a message now, or once the webview said `ready`. */
  post(msg: HostToWebview): void {
    this.sent.push(msg);
    if (this.sent.length > 200) this.sent.splice(0, this.sent.length - 200);
    if (this.ready) void this.panel.webview.postMessage(msg);
    else this.queue.push(msg);
  }

  private postNow(msg: HostToWebview): void {
    this.sent.push(msg);
    if (this.sent.length > 200) this.sent.splice(0, this.sent.length - 200);
    void this.panel.webview.postMessage(msg);
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
        await this.sendInit();
        for (const m of this.queue.splice(0)) void this.panel.webview.postMessage(m);
        return;
      case 'save':
        return this.save(msg.format, msg.name, msg.data);
      case 'manageTrust':
        await Gate.manage();
        return;
      default:
        await this.controller.act?.(msg);
    }
  }

  /** Builds and sends `init`: one refresh at a time (a pair edit and a document change may both ask). */
  async sendInit(): Promise<void> {
    while (this.refreshing) await this.refreshing;
    this.restricted = false;
    this.refreshing = this.controller.init().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Pairing: pair suggestions from the engine (the Suggest Layer Pairs command). */
  async suggest(): Promise<void> {
    await this.controller.suggest?.();
  }

  private probeFailed(e: unknown): string {
    const message = (e as Error).message;
    if (isRestrictedModeError(e)) {
      this.restricted = true;
      this.post({ type: 'restricted', message });
    }
    return message;
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

  /** For logs: `pairing panel of <file>`. */
  toString(): string {
    return `${this.kind} panel of ${this.target.experimentFile ? path.basename(this.target.experimentFile) : this.target.title}`;
  }
}
