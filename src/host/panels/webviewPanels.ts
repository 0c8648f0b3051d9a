/**
 * The seven webview panels (dashboard, pairing, feature maps, compression, compare, sweep, synthesized inputs): opened beside
 * the user's code, one per kind and target, restored after a reload by a WebviewPanelSerializer
 * (the restored target is checked to lie in the workspace). Each open panel is the shared shell
 * (shell.ts: CSP, ready handshake, message validation) around its kind's controller
 * (<kind>Panel.ts beside this file); the apps are in webview/<kind>/, the messages in
 * src/protocol/webviews.ts. When workspace trust is granted, every open panel loads again.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { comparePanel } from './comparePanel';
import { compressionPanel } from './compressionPanel';
import { dashboardPanel } from './dashboardPanel';
import { featureMapsPanel } from './featureMapsPanel';
import { validTarget } from './html';
import { pairingPanel } from './pairingPanel';
import { sweepPanel } from './sweepPanel';
import { synthesizedPanel } from './synthesizedPanel';
import type { OpenPanel, PanelKind, Panels, PanelTarget } from './panel';
import { tabTitle } from './panel';
import { WebviewPanel } from './shell';
import type { ControllerFactory, PanelDeps } from './shell';

export type { PanelDeps };

/** Each panel kind's controller. */
const CONTROLLERS: Record<PanelKind, ControllerFactory> = {
  dashboard: dashboardPanel,
  pairing: pairingPanel,
  featureMaps: featureMapsPanel,
  compression: compressionPanel,
  compare: comparePanel,
  sweep: sweepPanel,
  synthesized: synthesizedPanel,
};

export const PANEL_KINDS = Object.keys(CONTROLLERS) as PanelKind[];

export function isInWorkspace(p: string): boolean {
  const abs = path.resolve(p);
  return (vscode.workspace.workspaceFolders ?? []).some((f) => {
    const rel = path.relative(f.uri.fsPath, abs);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  });
}

export class WebviewPanels implements Panels, vscode.Disposable {
  private readonly open_ = new Map<string, WebviewPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly deps: PanelDeps) {
    // trust granted: every open panel loads again (models, layers, feature maps) without a reload
    this.disposables.push(deps.gate.onDidGrant(() => {
      for (const p of this.open_.values()) void p.sendInit();
    }));
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
    // issue 20: one dashboard per experiment (it follows the experiment's newest run), not one per run
    if (kind === 'dashboard' && target.experimentFile) return `dashboard|${target.experimentFile}`;
    return `${kind}|${target.experimentFile ?? ''}|${target.runDirs.join('|')}`;
  }

  follow(experimentFile: string, runDir: string, title: string): void {
    const p = this.open_.get(`dashboard|${experimentFile}`);
    if (!p || p.target.runDirs[0] === runDir) return;
    void p.retarget({ runDirs: [runDir], experimentFile, title }).then(() => p.notify('info', `Following the new run ${title}.`));
  }

  private runsTimer?: NodeJS.Timeout;

  runsChanged(): void {
    // the pairing panel's pair losses come from the newest run that has each pair (at most every 2 s while runs write)
    this.runsTimer ??= setTimeout(() => {
      this.runsTimer = undefined;
      for (const p of this.open_.values()) if (p.kind === 'pairing') void p.sendInit();
    }, 2000);
  }

  private adopt(kind: PanelKind, target: PanelTarget, panel: vscode.WebviewPanel): WebviewPanel {
    const key = this.key(kind, target);
    const p = new WebviewPanel(kind, target, panel, this.deps, CONTROLLERS[kind], () => this.open_.delete(key));
    this.open_.set(key, p);
    return p;
  }

  open(kind: PanelKind, target: PanelTarget): OpenPanel {
    const existing = this.open_.get(this.key(kind, target));
    if (existing) {
      if (existing.target.runDirs.join('|') !== target.runDirs.join('|')) void existing.retarget(target);
      existing.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(`distill.${kind}`, tabTitle(kind, target),
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.deps.extensionUri, 'dist'), vscode.Uri.joinPath(this.deps.extensionUri, 'media')] });
    return this.adopt(kind, target, panel);
  }

  list(): OpenPanel[] {
    return [...this.open_.values()];
  }

  dispose(): void {
    if (this.runsTimer) clearTimeout(this.runsTimer);
    for (const d of this.disposables) d.dispose();
    this.open_.clear();
  }
}
