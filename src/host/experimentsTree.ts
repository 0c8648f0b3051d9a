/**
 * The Experiments view: experiments of the workspace → their runs (status icon, best accuracy,
 * a sparkline of the main loss) → run details (loss terms, accuracies, backend, duration, seed).
 * Everything is read from the run folders; the run manager only adds live progress and queued runs.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExperimentIndex, ExperimentInfo } from './experiments';
import type { RunHandle, RunManager } from './runManager';
import type { RunState, RunView } from './runData';
import { runDuration } from './runData';
import { formatDuration, formatLoss, formatPercent, sparkline } from './sparkline';
import { warningBadges, warningLabel, warningText } from './reportWarnings';
import { stateLabel } from '../runs/state';
import { runEngine } from '../runs/engineLabel';
import { verdict } from '../runs/verdict';
import { defaultRunLabel } from './runLabel';

export interface ExperimentNode { kind: 'experiment'; exp: ExperimentInfo }
export interface RunNode { kind: 'run'; exp: ExperimentInfo; runDir: string; view: RunView; handle?: RunHandle; /** the experiment's run before this one (default label) */ previousRunDir?: string }
export interface QueuedNode { kind: 'queued'; exp: ExperimentInfo; handle: RunHandle }
export interface DetailNode { kind: 'detail'; id: string; label: string; value: string; tooltip?: string; icon?: string }
export type TreeNode = ExperimentNode | RunNode | QueuedNode | DetailNode;

const STATE_ICON: Record<RunState, [string, string?]> = {
  queued: ['clock'],
  running: ['loading~spin'],
  completed: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  cancelled: ['debug-stop', 'disabledForeground'],
  interrupted: ['warning', 'list.warningForeground'],
};

export class ExperimentsTree implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [this.emitter];
  private timer: NodeJS.Timeout | undefined;
  /** The view (set by the caller); exposed for tests and commands (selection). */
  view?: vscode.TreeView<TreeNode>;

  constructor(private readonly index: ExperimentIndex, private readonly runs: RunManager) {
    index.onDidChange(() => this.refresh(), this, this.disposables);
    index.onDidChangeRuns(() => this.refresh(), this, this.disposables);
    runs.onDidChange(() => this.refreshSoon(), this, this.disposables);
  }

  refresh(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.emitter.fire(undefined);
  }

  /** Progress arrives several times a second: repaint at most every 500 ms. */
  private refreshSoon(): void {
    this.timer ??= setTimeout(() => this.refresh(), 500);
  }

  getChildren(node?: TreeNode): TreeNode[] {
    if (!node) return this.index.list().map((exp) => ({ kind: 'experiment', exp }));
    if (node.kind === 'experiment') return this.runNodes(node.exp);
    if (node.kind === 'run') return details(node);
    return [];
  }

  runNodes(exp: ExperimentInfo): (RunNode | QueuedNode)[] {
    const queued: QueuedNode[] = this.runs.handles()
      .filter((h) => !h.runDir && h.experimentFile === exp.file)
      .map((handle) => ({ kind: 'queued', exp, handle }));
    const views = this.index.runsOf(exp);
    const runs: RunNode[] = views
      .map((view, i) => ({ kind: 'run', exp, runDir: view.runDir, view, handle: this.runs.handleFor(view.runDir), previousRunDir: views[i + 1]?.runDir }));
    return [...queued, ...runs];
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    switch (node.kind) {
      case 'experiment': return experimentItem(node, this.index.runsOf(node.exp).length);
      case 'run': return runItem(node);
      case 'queued': {
        const item = new vscode.TreeItem(node.handle.state === 'queued' ? 'queued' : 'starting…', vscode.TreeItemCollapsibleState.None);
        item.id = `queued:${node.handle.key}`;
        item.iconPath = new vscode.ThemeIcon(node.handle.state === 'queued' ? 'clock' : 'loading~spin');
        item.contextValue = 'queuedRun';
        return item;
      }
      case 'detail': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.id = node.id;
        item.description = node.value;
        item.tooltip = node.tooltip ?? `${node.label}: ${node.value}`;
        if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
        item.contextValue = 'runDetail';
        return item;
      }
    }
  }

  getParent(node: TreeNode): TreeNode | undefined {
    if (node.kind === 'run' || node.kind === 'queued') return { kind: 'experiment', exp: node.exp };
    return undefined;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}

function experimentItem(node: ExperimentNode, runCount: number): vscode.TreeItem {
  const { exp } = node;
  // Always Expanded, runs or not: VS Code keeps an item's first state ("user state wins"), so an
  // experiment shown Collapsed while it had no runs would hide its first run when it starts.
  const item = new vscode.TreeItem(exp.name, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `exp:${exp.file}`;
  item.resourceUri = exp.uri;
  const rel = vscode.workspace.asRelativePath(exp.uri, false);
  item.description = `${rel} · ${runCount} run${runCount === 1 ? '' : 's'}`;
  item.tooltip = new vscode.MarkdownString(`**${exp.name}**\n\n${rel}\n\n${exp.models.map((m) => `- ${m.role}: \`${path.basename(m.file)}\`${m.exportName ? ` (${m.exportName})` : ''}`).join('\n')}`);
  item.iconPath = new vscode.ThemeIcon('beaker');
  item.contextValue = 'experiment';
  item.command = { command: 'vscode.open', title: 'Open Experiment', arguments: [exp.uri] };
  return item;
}

export function runState(node: RunNode): RunState {
  if (node.handle && node.handle.state !== 'finished') return node.handle.state === 'queued' ? 'queued' : 'running';
  return node.view.state;
}

export function runDescription(node: RunNode): string {
  const state = runState(node);
  const parts: string[] = [stateLabel(state)];
  // issue 14: a torch run says so, and where it trains (TF.js runs, the default, stay as they were).
  const engine = runEngine(node.view.run);
  if (engine.engine === 'torch') parts.push(engine.label);
  const p = node.handle?.progress;
  if (p && state === 'running') {
    parts.push(`${p.job} ${p.epoch}/${p.epochs}`, `loss ${formatLoss(p.losses.total)}`);
  } else if (node.view.report?.summary.distill) {
    // issue 20: the distilled student's test accuracy, flagged when it lost to scratch or is within noise
    const v = verdict(node.view.report);
    parts.push(`test ${formatPercent(node.view.report.summary.distill.testAcc.mean)}${v?.flagged ? ' ⚠' : ''}`);
  } else if (node.view.best) {
    parts.push(`${node.view.best.metric === 'valAcc' ? 'val' : 'test'} acc ${formatPercent(node.view.best.acc)}`);
  }
  // Teacher health (issue 13): the report's warnings, by a short label.
  parts.push(...warningBadges(node.view.report));
  const spark = sparkline(node.view.series.total ?? []);
  if (spark) parts.push(spark);
  return parts.join(' · ');
}

function runItem(node: RunNode): vscode.TreeItem {
  const { view } = node;
  const state = runState(node);
  // issue 20: a run has a name: the user's label, else what changed since the previous run
  const label = view.run.label ?? defaultRunLabel(node.runDir, node.previousRunDir);
  const item = new vscode.TreeItem(label ? `${view.run.id} · ${label}` : view.run.id, vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `run:${node.runDir}`;
  item.description = runDescription(node);
  const [icon, color] = STATE_ICON[state];
  item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
  item.contextValue = `run:${state}${view.report ? ':report' : ''}`;
  const md = new vscode.MarkdownString(`**${view.run.experiment}** · run \`${view.run.id}\`\n\n`);
  md.appendMarkdown(`status: ${state}${view.run.error ? `\n\nerror: ${view.run.error.split('\n')[0]}` : ''}\n\n`);
  const engine = runEngine(view.run);
  if (engine.engine === 'torch') md.appendText(`engine: ${engine.label}${engine.versions ? ` (${engine.versions})` : ''}`).appendMarkdown('\n\n');
  if (label) md.appendMarkdown(`label: ${view.run.label ? '' : '(from the config difference to the previous run) '}`).appendText(label).appendMarkdown('\n\n');
  const v = view.report ? verdict(view.report) : undefined;
  if (v) md.appendText(`${v.headline}\n\n${v.flagged ? '⚠ ' : ''}${v.note}`).appendMarkdown('\n\n');
  if (view.best) md.appendMarkdown(`best ${view.best.metric === 'valAcc' ? 'validation' : 'test'} accuracy ${formatPercent(view.best.acc)} (${view.best.job}, epoch ${view.best.epoch})\n\n`);
  for (const w of view.report?.warnings ?? []) {
    md.appendText(`⚠ ${warningText(w)}`);
    md.appendMarkdown('\n\n');
  }
  md.appendText(node.runDir);
  item.tooltip = md;
  return item;
}

function details(node: RunNode): DetailNode[] {
  const { view, runDir } = node;
  const out: DetailNode[] = [];
  const add = (key: string, label: string, value: string, icon?: string, tooltip?: string) =>
    out.push({ kind: 'detail', id: `${runDir}#${key}`, label, value, icon, tooltip });
  if (view.run.error) add('error', 'error', view.run.error.split('\n')[0], 'error', view.run.error);
  (view.report?.warnings ?? []).forEach((w, i) =>
    add(`warning:${i}`, 'warning', warningLabel(w), 'warning', warningText(w)));
  const live = node.handle?.progress;
  const losses = live?.losses ?? Object.fromEntries(Object.entries(view.series).map(([k, v]) => [k, v[v.length - 1]]));
  const job = live?.job ?? view.focusJob;
  for (const [term, value] of Object.entries(losses)) {
    const series = view.series[term] ?? [];
    add(`loss:${term}`, `loss ${term}`, `${formatLoss(value)}  ${sparkline(series)}`, 'graph-line', `${job ?? ''} ${term}: last ${value}`);
  }
  const lastByJob = new Map<string, RunView['epochs'][number]>();
  for (const e of view.epochs) lastByJob.set(e.job, e);
  for (const [j, e] of lastByJob) {
    const acc = [`test ${formatPercent(e.testAcc)}`];
    if (e.valAcc !== undefined) acc.push(`val ${formatPercent(e.valAcc)}`);
    if (e.agreement !== undefined) acc.push(`agreement ${formatPercent(e.agreement)}`);
    add(`acc:${j}`, `${j} (epoch ${e.epoch})`, acc.join(' · '), 'symbol-number');
  }
  if (view.report?.compression) {
    const r = { ...view.report, compression: view.report.compression };
    add('compression', 'compression', `params ×${r.compression.params.toFixed(1)} · FLOPs ×${r.compression.flops.toFixed(1)} · speed ×${r.compression.speedup.toFixed(1)}`, 'package');
  }
  const engine = runEngine(view.run);
  if (engine.engine === 'torch') add('backend', 'engine', `torch · ${view.run.backend?.name ?? node.handle?.backend ?? '–'}`, 'chip', engine.versions);
  else add('backend', 'backend', view.run.backend?.name ?? node.handle?.backend ?? '–', 'chip');
  const ms = runDuration(view.run);
  add('duration', 'duration', ms === undefined ? '–' : formatDuration(ms), 'watch');
  const seeds = [...new Set(Object.values(view.run.jobs).map((j) => j.seed))];
  add('seed', seeds.length === 1 ? 'seed' : 'seeds', seeds.join(', ') || '–', 'symbol-constant');
  return out;
}
