/**
 * The interpreter the host hands to the torch engine (issue 14): the setting `distill.pythonPath`
 * (a restricted setting: in Restricted Mode VS Code reads it from the user's settings only, so a
 * workspace cannot pick the binary), else the Python extension's active interpreter for the
 * experiment's folder through its public API — optional, guarded, never required — else nothing
 * (the engine then tries DISTILL_PYTHON, python3, /usr/bin/python3, python; see
 * src/engine/torch/interpreter.ts). Asked only for experiments with `"engine": "torch"`, so a TF.js
 * run never activates the Python extension.
 */
import * as vscode from 'vscode';
import { parseExperimentText } from '../config/parse';
import { readSnapshot } from '../runs/store';
import * as fs from 'fs';
import { readSettings } from './settings';

/** The part of `ms-python.python`'s exported API this uses (its `environments` API). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string };
    resolveEnvironment(env: { id: string; path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
}

const PYTHON_EXTENSION = 'ms-python.python';
/** The Python extension gets this long to activate and answer. */
const EXTENSION_TIMEOUT_MS = 10_000;

/** What the interpreter is asked for: an experiment file (with the editor's unsaved `text`, if any) or a run folder. */
export interface PythonTarget {
  experimentFile?: string;
  /** The editor's text of `experimentFile` when it has unsaved changes (a probe's `text`). */
  text?: string;
  runDir?: string;
}

/** Whether an experiment file (its unsaved text when given, or a run folder's snapshot) uses the torch engine. */
export function usesTorch(target: PythonTarget): boolean {
  try {
    if (target.runDir) return readSnapshot(target.runDir).config.engine === 'torch';
    if (target.experimentFile) {
      const text = target.text ?? fs.readFileSync(target.experimentFile, 'utf8');
      return parseExperimentText(text, target.experimentFile).config?.engine === 'torch';
    }
  } catch {
    // unreadable: the engine says why
  }
  return false;
}

function withTimeout<T>(p: Thenable<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    Promise.resolve(p).then((v) => { clearTimeout(t); resolve(v); }, () => { clearTimeout(t); resolve(undefined); });
  });
}

/** The Python extension's active interpreter for `scope`, when the extension is there and answers. */
export async function pythonExtensionInterpreter(scope?: vscode.Uri, log?: vscode.LogOutputChannel): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION);
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await withTimeout(ext.activate(), EXTENSION_TIMEOUT_MS);
    const envs = api?.environments;
    if (!envs || typeof envs.getActiveEnvironmentPath !== 'function') return undefined;
    const active = envs.getActiveEnvironmentPath(scope);
    const resolved = typeof envs.resolveEnvironment === 'function' ? await withTimeout(envs.resolveEnvironment(active), EXTENSION_TIMEOUT_MS) : undefined;
    const exe = resolved?.executable?.uri?.fsPath ?? active?.path;
    return exe || undefined;
  } catch (e) {
    log?.warn(`the Python extension did not say its interpreter: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * The `python` of a start request or a check for this target: the setting, else the Python
 * extension's interpreter; undefined for a TF.js experiment or when neither says.
 */
export async function pythonFor(target: PythonTarget, log?: vscode.LogOutputChannel): Promise<string | undefined> {
  if (!usesTorch(target)) return undefined;
  const file = target.experimentFile ?? target.runDir;
  const scope = file ? vscode.Uri.file(file) : undefined;
  const setting = readSettings(scope).pythonPath;
  if (setting) return setting;
  const fromExtension = await pythonExtensionInterpreter(scope, log);
  if (fromExtension) log?.info(`torch engine: the Python extension's interpreter ${fromExtension}`);
  return fromExtension;
}

/**
 * issue 15: what a probe query is about, for the interpreter (src/host/panels/probeClient.ts): its
 * experiment file (with unsaved text) or run folder; undefined for queries about neither (a pair
 * check between two shapes, `inspect` of a model.json).
 */
export function probeTarget(query: { kind: string; experimentFile?: string; text?: string; runDir?: string; target?: string }): PythonTarget | undefined {
  if (query.runDir) return { runDir: query.runDir };
  if (query.experimentFile) return { experimentFile: query.experimentFile, ...(query.text !== undefined ? { text: query.text } : {}) };
  if (query.kind === 'inspect' && query.target?.endsWith('.distill.json')) return { experimentFile: query.target };
  return undefined;
}
