/**
 * Until the real panels land: a minimal webview (strict CSP with a nonce, no scripts) that says
 * what the panel will show and lists the run's key figures. One panel per kind and target.
 */
import * as crypto from 'crypto';
import * as path from 'path';
import * as vscode from 'vscode';
import { readRunView } from '../runData';
import { keyFigures } from './keyFigures';
import type { OpenPanel, PanelKind, Panels, PanelTarget } from './panel';
import { PANEL_PLANS, PANEL_TITLES } from './panel';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

class PlaceholderPanel implements OpenPanel {
  private readonly disposables: vscode.Disposable[] = [];
  html = '';

  constructor(readonly kind: PanelKind, readonly target: PanelTarget, private readonly panel: vscode.WebviewPanel, onDispose: () => void) {
    panel.onDidDispose(() => {
      onDispose();
      for (const d of this.disposables) d.dispose();
    }, null, this.disposables);
    this.render();
  }

  render(): void {
    const nonce = crypto.randomBytes(16).toString('base64');
    const csp = `default-src 'none'; img-src ${this.panel.webview.cspSource} data:; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}';`;
    const sections = this.target.runDirs.map((dir) => {
      const view = readRunView(dir);
      if (!view) return `<section><h2>${escapeHtml(path.basename(dir))}</h2><p>No run folder here any more.</p></section>`;
      const rows = keyFigures(view).map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
      return `<section><h2>${escapeHtml(`${view.run.experiment} · ${view.run.id}`)}</h2><table>${rows}</table></section>`;
    }).join('\n');
    const empty = this.target.runDirs.length === 0 ? '<p id="empty">No run yet: run the experiment to see its figures here.</p>' : '';
    this.html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(PANEL_TITLES[this.kind])}</title>
<style nonce="${nonce}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { text-align: left; padding: 2px 1em 2px 0; border-bottom: 1px solid var(--vscode-panel-border); }
th { font-weight: normal; color: var(--vscode-descriptionForeground); }
.note { color: var(--vscode-descriptionForeground); }
</style></head>
<body>
<h1 id="title">${escapeHtml(`${PANEL_TITLES[this.kind]}: ${this.target.title}`)}</h1>
<p class="note" id="plan">This panel will show ${escapeHtml(PANEL_PLANS[this.kind])}</p>
${empty}
${sections}
</body></html>`;
    this.panel.webview.html = this.html;
  }

  reveal(): void {
    this.panel.reveal(undefined, true);
    this.render();
  }
}

export class PlaceholderPanels implements Panels, vscode.Disposable {
  private readonly open_ = new Map<string, PlaceholderPanel>();

  constructor(private readonly extensionUri: vscode.Uri) {}

  open(kind: PanelKind, target: PanelTarget): OpenPanel {
    const key = `${kind}|${target.experimentFile ?? ''}|${target.runDirs.join('|')}`;
    const existing = this.open_.get(key);
    if (existing) {
      existing.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(`distill.${kind}`, `${PANEL_TITLES[kind]}: ${target.title}`,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: false, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'media'), vscode.Uri.joinPath(this.extensionUri, 'dist')] });
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    const p = new PlaceholderPanel(kind, target, panel, () => this.open_.delete(key));
    this.open_.set(key, p);
    return p;
  }

  list(): OpenPanel[] {
    return [...this.open_.values()];
  }

  dispose(): void {
    this.open_.clear();
  }
}
