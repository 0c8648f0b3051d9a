/**
 * The panels' HTML shell and the check of a restored target. Pure (no `vscode`), so the webview
 * tests open exactly this shell, CSP included, in Chromium.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { PanelKind, PanelTarget } from './panel';
import { PANEL_TITLES } from './panel';
import { isBenchFile } from './benchCompare';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The panel's HTML shell; `cspSource` and URIs come from the webview. */
export function panelHtml(kind: PanelKind, title: string, cspSource: string, uri: (...p: string[]) => string, nonce: string): string {
  const csp = [`default-src 'none'`, `img-src ${cspSource} data:`, `style-src ${cspSource}`, `font-src ${cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${PANEL_TITLES[kind]}: ${title}`)}</title>
<link rel="stylesheet" href="${uri('media', 'panels.css')}">
${kind === 'dashboard' || kind === 'compare' ? `<link rel="stylesheet" href="${uri('dist', 'webview', `${kind}.css`)}">` : ''}
</head>
<body data-panel="${kind}">
<main id="app" aria-busy="true"><h1 id="title">${escapeHtml(`${PANEL_TITLES[kind]}: ${title}`)}</h1><p class="note">Loading…</p></main>
<script nonce="${nonce}" src="${uri('dist', 'webview', `${kind}.js`)}"></script>
</body></html>`;
}

/** Checks a target restored from webview state: only run folders and experiment files inside the workspace. */
export function validTarget(raw: unknown, inWorkspace: (p: string) => boolean): PanelTarget | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const t = raw as Record<string, unknown>;
  if (!Array.isArray(t.runDirs) || t.runDirs.length > 16 || typeof t.title !== 'string') return undefined;
  const runDirs = t.runDirs.filter((d): d is string => typeof d === 'string');
  if (runDirs.length !== t.runDirs.length) return undefined;
  // run folders, a bench:quality JSON file (Compare Runs), or a sweep folder (the Sweep panel)
  for (const d of runDirs) if (!path.isAbsolute(d) || !inWorkspace(d) || !(fs.existsSync(path.join(d, 'run.json')) || isBenchFile(d) || fs.existsSync(path.join(d, 'sweep.json')))) return undefined;
  let experimentFile: string | undefined;
  if (t.experimentFile !== undefined) {
    if (typeof t.experimentFile !== 'string' || !t.experimentFile.endsWith('.distill.json') || !path.isAbsolute(t.experimentFile) || !inWorkspace(t.experimentFile)) return undefined;
    experimentFile = t.experimentFile;
  }
  return { runDirs, experimentFile, title: t.title.slice(0, 200) };
}

