/** Shared helpers of the extension-host suite (runs inside VS Code). */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { DistillApi } from '../../src/extension';

export const EXTENSION_ID = 'distill-studio.distill-studio';

export async function getApi(): Promise<DistillApi> {
  const ext = vscode.extensions.getExtension<DistillApi>(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} not found`);
  const api = ext.isActive ? ext.exports : await ext.activate();
  await api.ready;
  return api;
}

export function workspaceDir(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  if (!f) throw new Error('the suite needs the fixture workspace folder open');
  return f.uri.fsPath;
}

export function wsFile(name: string): string {
  return path.join(workspaceDir(), name);
}

/** Polls `pred` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(what: string, pred: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function readJsonFile<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

type Win = Record<string, unknown>;

/** Replaces a `vscode.window` function for the duration of `body`. */
export async function withStub<R>(name: keyof typeof vscode.window, stub: (...args: unknown[]) => unknown, body: () => Promise<R>): Promise<R> {
  const win = vscode.window as unknown as Win;
  const orig = win[name];
  win[name] = stub;
  try {
    return await body();
  } finally {
    win[name] = orig;
  }
}
