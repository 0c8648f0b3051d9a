/**
 * What a command acts on: the tree item it was invoked on, a path or Uri argument, the active
 * editor's experiment, or — as a last resort — a quick pick. Returns undefined (after saying why)
 * when there is nothing to act on.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExperimentInfo } from './experiments';
import { describeExperiment, isExperimentFile } from './experiments';
import type { TreeNode } from './experimentsTree';
import type { Host } from './host';
import type { RunView } from './runData';
import { readRunView } from './runData';

export interface RunTarget { runDir: string; view: RunView; exp?: ExperimentInfo }

function isNode(arg: unknown): arg is TreeNode {
  return typeof arg === 'object' && arg !== null && typeof (arg as { kind?: unknown }).kind === 'string'
    && ['experiment', 'run', 'queued', 'detail'].includes((arg as { kind: string }).kind);
}

function argPath(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? arg.fsPath : undefined;
  if (typeof arg === 'string' && arg) return path.resolve(arg);
  return undefined;
}

function experimentFor(host: Host, file: string): ExperimentInfo | undefined {
  const known = host.index.get(file);
  if (known) return known;
  try {
    return describeExperiment(file, fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function activeExperiment(host: Host): ExperimentInfo | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  if (!doc || doc.uri.scheme !== 'file' || !isExperimentFile(doc.uri.fsPath)) return undefined;
  return experimentFor(host, doc.uri.fsPath);
}

/** The experiment a command acts on. */
export async function pickExperiment(host: Host, arg: unknown, placeHolder = 'Pick an experiment'): Promise<ExperimentInfo | undefined> {
  if (isNode(arg) && arg.kind !== 'detail') return arg.exp;
  const p = argPath(arg);
  if (p && isExperimentFile(p)) return experimentFor(host, p);
  if (p && fs.existsSync(path.join(p, 'run.json'))) return host.index.experimentOfRun(p);
  const active = activeExperiment(host);
  if (active) return active;
  const all = host.index.list();
  if (all.length === 0) {
    void vscode.window.showInformationMessage('Distill: there is no experiment (*.distill.json) in this workspace. Create one with "Distill: New Experiment".');
    return undefined;
  }
  if (all.length === 1) return all[0];
  const pick = await vscode.window.showQuickPick(all.map((exp) => ({ label: exp.name, description: vscode.workspace.asRelativePath(exp.uri), exp })), { placeHolder });
  return pick?.exp;
}

export interface RunPickOptions {
  placeHolder: string;
  /** Which runs qualify (the others are not offered). */
  filter?: (view: RunView) => boolean;
  /** Said when no run qualifies. */
  none: string;
  /** Given an experiment, take its latest qualifying run instead of asking. */
  latest?: boolean;
}

/** The run a command acts on. */
export async function pickRun(host: Host, arg: unknown, opts: RunPickOptions): Promise<RunTarget | undefined> {
  const filter = opts.filter ?? (() => true);
  if (isNode(arg) && arg.kind === 'run') return { runDir: arg.runDir, view: readRunView(arg.runDir) ?? arg.view, exp: arg.exp };
  const p = argPath(arg);
  if (p && fs.existsSync(path.join(p, 'run.json'))) {
    const view = readRunView(p);
    if (view) return { runDir: p, view, exp: host.index.experimentOfRun(p) };
  }
  let exp: ExperimentInfo | undefined;
  if (isNode(arg) && arg.kind === 'experiment') exp = arg.exp;
  else if (p && isExperimentFile(p)) exp = experimentFor(host, p);
  else exp = activeExperiment(host);

  const candidates = (exp ? host.index.runsOf(exp).map((view) => ({ exp, view })) : host.index.allRuns()).filter((c) => filter(c.view));
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(`Distill: ${opts.none}${exp ? ` (experiment ${exp.name})` : ''}.`);
    return undefined;
  }
  if (candidates.length === 1 || (exp && opts.latest)) {
    const c = candidates[0];
    return { runDir: c.view.runDir, view: c.view, exp: c.exp };
  }
  const pick = await vscode.window.showQuickPick(candidates.map((c) => ({
    label: c.view.run.id, description: `${c.exp.name} · ${c.view.state}`, detail: c.view.runDir, c,
  })), { placeHolder: opts.placeHolder });
  return pick ? { runDir: pick.c.view.runDir, view: pick.c.view, exp: pick.c.exp } : undefined;
}

/** Several runs (Compare Runs): the tree selection, else a multi-select quick pick. */
export async function pickRuns(host: Host, arg: unknown, selected: unknown): Promise<RunTarget[] | undefined> {
  const fromNodes = (Array.isArray(selected) ? selected : [arg]).filter(isNode).filter((n) => n.kind === 'run');
  const fromPaths = (Array.isArray(arg) ? arg : []).map(argPath).filter((p): p is string => !!p && fs.existsSync(path.join(p, 'run.json')));
  const dirs = [...new Set([...fromNodes.map((n) => n.runDir), ...fromPaths])];
  if (dirs.length >= 2) {
    return dirs.map((runDir) => ({ runDir, view: readRunView(runDir)!, exp: host.index.experimentOfRun(runDir) })).filter((t) => t.view);
  }
  const all = host.index.allRuns();
  if (all.length < 2) {
    void vscode.window.showInformationMessage('Distill: Compare Runs needs at least two runs; there are ' + `${all.length} in this workspace.`);
    return undefined;
  }
  const picks = await vscode.window.showQuickPick(all.map((c) => ({
    label: c.view.run.id, description: `${c.exp.name} · ${c.view.state}`, picked: dirs.includes(c.view.runDir), c,
  })), { canPickMany: true, placeHolder: 'Pick two or more runs to compare' });
  if (!picks) return undefined;
  if (picks.length < 2) {
    void vscode.window.showInformationMessage('Distill: pick at least two runs to compare.');
    return undefined;
  }
  return picks.map((p) => ({ runDir: p.c.view.runDir, view: p.c.view, exp: p.c.exp }));
}
