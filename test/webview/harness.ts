/**
 * Opens a panel's bundle in Debian's Chromium (playwright-core) inside the real HTML shell of the
 * host (src/host/panels/html.ts, CSP and nonce included) with a fake host: `acquireVsCodeApi`
 * records what the webview posts, and the test sends host messages with window.postMessage.
 */
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { panelHtml } from '../../src/host/panels/html';
import type { PanelKind } from '../../src/host/panels/panel';
import type { HostToWebview } from '../../src/protocol/webviews';

export const REPO = path.resolve(__dirname, '..', '..');
export const OUT = path.join(REPO, 'test-output', 'webview');

/** A dark theme's --vscode-* variables, as VS Code sets them on the webview's <html>. */
const THEME: Record<string, string> = {
  '--vscode-font-family': 'DejaVu Sans, sans-serif', '--vscode-font-size': '13px', '--vscode-editor-font-family': 'DejaVu Sans Mono, monospace',
  '--vscode-foreground': '#cccccc', '--vscode-editor-background': '#1e1e1e', '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-focusBorder': '#007fd4', '--vscode-errorForeground': '#f48771', '--vscode-panel-border': '#80808059',
  '--vscode-editorWidget-background': '#252526', '--vscode-editorWidget-border': '#454545', '--vscode-textBlockQuote-background': '#222222',
  '--vscode-list-activeSelectionBackground': '#04395e', '--vscode-list-activeSelectionForeground': '#ffffff',
  '--vscode-button-background': '#0e639c', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#1177bb',
  '--vscode-button-secondaryBackground': '#3a3d41', '--vscode-button-secondaryForeground': '#ffffff',
  '--vscode-dropdown-background': '#3c3c3c', '--vscode-dropdown-border': '#3c3c3c', '--vscode-dropdown-foreground': '#f0f0f0',
  '--vscode-checkbox-background': '#3c3c3c', '--vscode-checkbox-border': '#6b6b6b', '--vscode-settings-checkboxBorder': '#6b6b6b',
  '--vscode-charts-blue': '#3794ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185', '--vscode-charts-purple': '#b180d7',
  '--vscode-charts-red': '#f14c4c', '--vscode-charts-yellow': '#cca700', '--vscode-charts-foreground': '#cccccc',
  '--vscode-diffEditor-insertedTextBackground': '#9ccc2c33', '--vscode-disabledForeground': '#8c8c8c',
};

let browser: Browser | undefined;

export async function launch(): Promise<Browser> {
  browser ??= await chromium.launch({
    executablePath: process.env.CHROME || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files'],
  });
  return browser;
}

export async function close(): Promise<void> {
  await browser?.close();
  browser = undefined;
}

export interface PanelPage {
  page: Page;
  /** Messages the webview posted to the (fake) host, in order. */
  posted(): Promise<{ type: string; [k: string]: unknown }[]>;
  send(msg: HostToWebview): Promise<void>;
  /** Console errors, CSP violations included. */
  errors: string[];
  screenshot(): Promise<string>;
}

export async function openPanel(kind: PanelKind, title = 'fixture'): Promise<PanelPage> {
  const b = await launch();
  const page = await b.newPage({ viewport: { width: 1100, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  // A string, not a function: tsx would wrap a function with helpers the page does not have.
  await page.addInitScript(`
    window.__posted = [];
    window.__state = undefined;
    window.acquireVsCodeApi = () => ({
      postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))),
      getState: () => window.__state,
      setState: (s) => { window.__state = s; },
    });
    const theme = () => { for (const [k, v] of Object.entries(${JSON.stringify(THEME)})) document.documentElement.style.setProperty(k, v); };
    if (document.documentElement) theme(); else document.addEventListener('DOMContentLoaded', theme);
  `);
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${kind}.html`);
  fs.writeFileSync(file, panelHtml(kind, title, 'file:', (...p) => pathToFileURL(path.join(REPO, ...p)).href, 'dGVzdC1ub25jZS0xMjM0NQ=='));
  await page.goto(pathToFileURL(file).href);
  const pp: PanelPage = {
    page, errors,
    posted: () => page.evaluate(() => (window as unknown as { __posted: { type: string }[] }).__posted),
    send: async (msg) => {
      await page.evaluate((m) => window.postMessage(m, '*'), msg as unknown as Record<string, unknown>);
    },
    screenshot: async () => {
      const png = path.join(OUT, `${kind}.png`);
      await page.screenshot({ path: png, fullPage: true });
      return png;
    },
  };
  await waitFor(page, async () => (await pp.posted()).some((m) => m.type === 'ready'), 'the ready handshake');
  return pp;
}

export async function waitFor(page: Page, pred: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(25);
  }
}

/** Tab presses until the focused element matches `selector` (keyboard reachability). */
export async function tabTo(page: Page, selector: string, max = 60): Promise<boolean> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const hit = await page.evaluate((sel) => {
      let el: Element | null = document.activeElement;
      while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
      const top = document.activeElement;
      return !!top && (top.matches(sel) || !!el?.closest(sel));
    }, selector);
    if (hit) return true;
  }
  return false;
}
