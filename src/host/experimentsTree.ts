/**
 * The Experiments view: experiments of the workspace → their runs (status icon, best accuracy,
 * a sparkline of the main loss) → run details (loss terms, accuracies, backend, duration, seed).
 * Everything is read from the run folders; the run manager only adds live progress and queued runs,
 * and those come from the snapshot the status bar shows too (liveRuns.ts): both repaint from it in
 * the same tick, so the tree and the status bar never disagree about a run (issue 20).
 * An experiment's sweep folders (issue 15) come first under it, each opening the Sweep panel.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExperimentIndex, ExperimentInfo } from './experiments';
import type { RunHandle, RunManager } from './runManager';
import type { LiveRun } from './liveRuns';
import { LiveRuns, runActivity } from './liveRuns';
import type { RunState, RunView } from './runData';
import { runDuration } from './runData';
import { formatDuration, formatLoss, formatPercent, sparkline } from './sparkline';
import { warningBadges, warningLabel, warningText } from './reportWarnings';
import { stateLabel } from '../runs/state';
import { runEngine } from '../runs/engineLabel';
import { verdict } from '../runs/verdict';
import { defaultRunLabel } from './runLabel';
import { jobLabel, SYNTHESIZE_JOB } from '../protocol/jobWords';
import { hasSynthesized } from './panels/synthesizedData';
import type { SweepJson } from '../runs/sweeps';
import { listSweeps, sweepsStamp } from '../runs/sweepList';
import { runState as sweepRunState } from '../runs/state';

export interface ExperimentNode { kind: 'experiment'; exp: ExperimentInfo }
/** `handle` is for commands (Stop); what is shown comes from `live`, the snapshot the status bar shows too. */
export interface RunNode { kind: 'run'; exp: ExperimentInfo; runDir: string; view: RunView; handle?: RunHandle; live?: LiveRun; /** the experiment's run before this one (default label) */ previousRunDir?: string }
export interface QueuedNode { kind: 'queued'; exp: ExperimentInfo; handle: RunHandle; live: LiveRun }
export interface DetailNode { kind: 'detail'; id: string; label: string; value: string; tooltip?: string; icon?: string }
/** A sweep folder of the experiment (issue 15): opens the Sweep panel. */
export interface SweepNode { kind: 'sweep'; exp: ExperimentInfo; sweepDir: string; sweep: SweepJson }
export type TreeNode = ExperimentNode | RunNode | QueuedNode | DetailNode | SweepNode;

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
  private readonly live: LiveRuns;
  /** The view (set by the caller); exposed for tests and commands (selection). */
  view?: vscode.TreeView<TreeNode>;

  constructor(private readonly index: ExperimentIndex, private readonly runs: RunManager) {
    index.onDidChange(() => this.refresh(), this, this.disposables);
    index.onDidChangeRuns(() => this.refresh(), this, this.disposables);
    // live runs: repainted with the status bar, from the same snapshot (liveRuns.ts)
    const { live, release } = LiveRuns.acquire(runs);
    this.live = live;
    this.disposables.push({ dispose: release }, live.onDidUpdate(() => this.refresh()));
    // sweeps: sweep.json is not a run file (the index watches those), so the tree watches it itself
    const sweeps = vscode.workspace.createFileSystemWatcher('**/.distill/sweeps/**/sweep.json');
    this.disposables.push(sweeps, sweeps.onDidCreate(() => this.refresh()), sweeps.onDidChange(() => this.refresh()), sweeps.onDidDelete(() => this.refresh()));
    // … and looks every 2 s too: a watcher misses files written in a brand-new folder tree (a new sweep's)
    let stamp: string | undefined;
    const timer = setInterval(() => {
      const now = sweepsStamp(this.index.list().map((e) => e.file));
      if (now !== stamp) {
        if (stamp !== undefined) this.refresh();
        stamp = now;
      }
    }, 2000);
    this.disposables.push({ dispose: () => clearInterval(timer) });
  }

  refresh(): void {
    this.emitter.fire(undefined);
  }

  getChildren(node?: TreeNode): TreeNode[] {
    if (!node) return this.index.list().map((exp) => ({ kind: 'experiment', exp }));
    if (node.kind === 'experiment') return [...this.sweepNodes(node.exp), ...this.runNodes(node.exp)];
    if (node.kind === 'run') return details(node);
    return [];
  }

  /** The experiment's sweep folders, newest first. */
  sweepNodes(exp: ExperimentInfo): SweepNode[] {
    return listSweeps(exp.file).map(({ sweepDir, sweep }) => ({ kind: 'sweep', exp, sweepDir, sweep }));
  }

  runNodes(exp: ExperimentInfo): (RunNode | QueuedNode)[] {
    const views = this.index.runsOf(exp);
    const claimed = this.justCreated(exp, views);
    const queued: QueuedNode[] = this.live.snapshot.runs
      .filter((r) => !r.runDir && r.experimentFile === exp.file && ![...claimed.values()].includes(r))
      .map((live) => ({ kind: 'queued', exp, handle: live.handle, live }));
    const runs: RunNode[] = views.map((view, i) => {
      const live = this.live.forRun(view.runDir) ?? claimed.get(view.runDir);
      return { kind: 'run', exp, runDir: view.runDir, view, ...(live ? { handle: live.handle, live } : {}), previousRunDir: views[i + 1]?.runDir };
    });
    return [...queued, ...runs];
  }

  /**
   * Folders the engine has just created (run.json still `queued`) before its `started` message named
   * them to the host: each is the starting run of the snapshot (oldest with oldest), so it shows as
   * that run — "starting…", as the status bar says — and not as a second row beside it.
   */
  private justCreated(exp: ExperimentInfo, views: readonly RunView[]): Map<string, LiveRun> {
    const claimed = new Map<string, LiveRun>();
    const starting = this.live.snapshot.runs.filter((r) => !r.runDir && r.state === 'starting' && r.experimentFile === exp.file);
    if (starting.length === 0) return claimed;
    const fresh = views.filter((v) => v.run.status === 'queued' && !this.live.forRun(v.runDir)).reverse(); // oldest first
    starting.forEach((r, i) => {
      const v = fresh[i];
      if (v && Date.parse(v.run.createdAt) >= r.handle.queuedAt - 1000) claimed.set(v.runDir, r);
    });
    return claimed;
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    switch (node.kind) {
      case 'experiment': return experimentItem(node, this.index.runsOf(node.exp).length);
      case 'run': return runItem(node);
      case 'sweep': return sweepItem(node);
      case 'queued': {
        // queued, starting… or stopping… (no folder yet), as the status bar says
        const item = new vscode.TreeItem(runActivity(node.live), vscode.TreeItemCollapsibleState.None);
        item.id = `queued:${node.live.key}`;
        item.iconPath = new vscode.ThemeIcon(node.live.state === 'queued' ? 'clock' : 'loading~spin');
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
    if (node.kind === 'run' || node.kind === 'queued' || node.kind === 'sweep') return { kind: 'experiment', exp: node.exp };
    return undefined;
  }

  dispose(): void {
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
  if (node.live) return node.live.state === 'queued' ? 'queued' : 'running';
  return node.view.state;
}

export function runDescription(node: RunNode): string {
  const state = runState(node);
  const parts: string[] = [stateLabel(state)];
  // issue 14: a torch run says so, and where it trains (TF.js runs, the default, stay as they were).
  const engine = runEngine(node.view.run);
  if (engine.engine === 'torch') parts.push(engine.label);
  if (node.live && node.live.state !== 'queued') {
    // what the status bar says of this run, in its words (one function, one snapshot): starting…, stopping…, or its progress
    parts.push(runActivity(node.live));
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
  // issue 18: `:synthesized` when the run has synthesised inputs (Show Synthesized Inputs on its menu)
  item.contextValue = `run:${state}${view.report ? ':report' : ''}${hasSynthesized(node.runDir) ? ':synthesized' : ''}`;
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

/** `sweep 20260101-120000` · `running · 1/3 points completed`; a click opens the Sweep panel. */
export function sweepItem(node: SweepNode): vscode.TreeItem {
  const { sweep } = node;
  const item = new vscode.TreeItem(`sweep ${sweep.id}`, vscode.TreeItemCollapsibleState.None);
  item.id = `sweep:${node.sweepDir}`;
  const state = sweepRunState({ status: sweep.status, pid: sweep.pid });
  const done = sweep.points.filter((p) => p.status === 'completed').length;
  const axes = Object.keys(sweep.axes);
  item.description = `${stateLabel(state)} · ${done}/${sweep.points.length} points completed · ${axes.join(' × ')}`;
  const [icon, color] = state === 'completed' ? ['graph-scatter', 'testing.iconPassed'] : STATE_ICON[state];
  item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
  item.contextValue = 'sweep';
  const md = new vscode.MarkdownString(`**${sweep.name}** · sweep \`${sweep.id}\`\n\n`);
  md.appendText(`${stateLabel(state)}: ${done} of ${sweep.points.length} points completed, ${sweep.seeds.length} seed${sweep.seeds.length === 1 ? '' : 's'} each`);
  md.appendMarkdown('\n\n');
  for (const a of axes) md.appendText(`${a}: ${sweep.axes[a].join(', ')}\n`);
  md.appendMarkdown('\n\n');
  md.appendText(node.sweepDir);
  item.tooltip = md;
  item.command = { command: 'distill.openSweep', title: 'Open Sweep', arguments: [node] };
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
  const live = node.live?.progress;
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
    // issue 18: the synthesis's epochs are batches, its accuracy the teacher's on them; real-s*/qat-s* say what they are
    if (j === SYNTHESIZE_JOB) add(`acc:${j}`, `${jobLabel(j)} (batch ${e.epoch})`, `teacher ${formatPercent(e.testAcc)} on the batch's target classes`, 'symbol-number');
    else add(`acc:${j}`, `${jobLabel(j)} (epoch ${e.epoch})`, acc.join(' · '), 'symbol-number');
  }
  if (view.report?.compression) {
    const r = { ...view.report, compression: view.report.compression };
    add('compression', 'compression', `params ×${r.compression.params.toFixed(1)} · FLOPs ×${r.compression.flops.toFixed(1)} · speed ×${r.compression.speedup.toFixed(1)}`, 'package');
  }
  const engine = runEngine(view.run);
  if (engine.engine === 'torch') add('backend', 'engine', `torch · ${view.run.backend?.name ?? node.live?.backend ?? '–'}`, 'chip', engine.versions);
  else add('backend', 'backend', view.run.backend?.name ?? node.live?.backend ?? '–', 'chip');
  const ms = runDuration(view.run);
  add('duration', 'duration', ms === undefined ? '–' : formatDuration(ms), 'watch');
  const seeds = [...new Set(Object.values(view.run.jobs).map((j) => j.seed))];
  add('seed', seeds.length === 1 ? 'seed' : 'seeds', seeds.join(', ') || '–', 'symbol-constant');
  return out;
}
