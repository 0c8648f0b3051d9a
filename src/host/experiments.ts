/**
 * The experiments of the workspace (`*.distill.json`) and the run folders that belong to them.
 * Experiments are found with findFiles and kept current by a file watcher; runs are listed from
 * the run folders on demand (run.json is small; metrics are cached in runData.ts).
 *
 * Runs written by another process — `distill run` in a terminal, a torch job, a Slurm task on
 * shared storage — are not always reported by the file watcher: a new `.distill/runs/<exp>/<run>`
 * tree is created faster than the watcher adds its folders (code-server 4.100 reports nothing
 * under it afterwards), and network filesystems have no change notification at all. So the runs
 * folders are also polled ({@link RUNS_POLL_MS}): a listing of each runs folder and a stat of its
 * newest runs' run.json and metrics.jsonl; a change fires onDidChangeRuns, as the watcher would.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { parse as parseJsonc } from 'jsonc-parser';
import type { RunSummary } from '../runs/store';
import { listRuns } from '../runs/store';
import type { RunView } from './runData';
import { readRunView } from './runData';
import { readSettings } from './settings';

export const EXPERIMENT_GLOB = '**/*.distill.json';
const EXCLUDE = '{**/node_modules/**,**/.distill/**,**/.git/**}';

export interface ModelRef {
  role: 'teacher' | 'student';
  /** Absolute path of the module or model.json. */
  file: string;
  /** The factory export of a module. */
  exportName?: string;
}

export interface ExperimentInfo {
  file: string;
  uri: vscode.Uri;
  /** `name` from the file, else the file name without `.distill.json`. */
  name: string;
  /** Where its runs live: the `distill.runsFolder` setting, and the engine's default beside the file (CLI runs). */
  runsDirs: string[];
  models: ModelRef[];
}

export function isExperimentFile(file: string): boolean {
  return file.endsWith('.distill.json');
}

/** The runs folder of the `distill.runsFolder` setting for an experiment file. */
export function settingsRunsDir(file: string): string {
  const uri = vscode.Uri.file(file);
  const folder = readSettings(uri).runsFolder;
  if (path.isAbsolute(folder)) return folder;
  const ws = vscode.workspace.getWorkspaceFolder(uri);
  return path.join(ws ? ws.uri.fsPath : path.dirname(file), folder);
}

export function describeExperiment(file: string, text: string): ExperimentInfo {
  let json: Record<string, unknown> = {};
  try {
    const v = parseJsonc(text, [], { allowTrailingComma: true }) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
  } catch {
    json = {};
  }
  const name = typeof json.name === 'string' && json.name.trim() ? json.name : path.basename(file, '.distill.json');
  const dir = path.dirname(file);
  const models: ModelRef[] = [];
  for (const role of ['teacher', 'student'] as const) {
    const spec = json[role] as Record<string, unknown> | undefined;
    if (!spec || typeof spec !== 'object') continue;
    if (typeof spec.module === 'string') {
      models.push({ role, file: path.resolve(dir, spec.module), exportName: typeof spec.export === 'string' ? spec.export : undefined });
    } else if (typeof spec.model === 'string') {
      models.push({ role, file: path.resolve(dir, spec.model) });
    }
  }
  const runsDirs = [...new Set([settingsRunsDir(file), path.join(dir, '.distill', 'runs')])];
  return { file, uri: vscode.Uri.file(file), name, runsDirs, models };
}

/** How often the runs folders are polled for runs the watcher did not report. */
export const RUNS_POLL_MS = 2000;
/** Per experiment folder, the newest runs whose run.json and metrics.jsonl are stat'ed each poll. */
const POLLED_RUNS = 3;

/**
 * What changes when a run folder is added, removed or written: every run id under each runs folder
 * (`<runsDir>/<experiment>/<run>`), and the mtime / size of the newest runs' run.json and metrics.jsonl.
 */
export function runsSignature(runsDirs: Iterable<string>): string {
  const parts: string[] = [];
  const entries = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    } catch {
      return [];
    }
  };
  const stat = (file: string): string => {
    try {
      const st = fs.statSync(file);
      return `${st.mtimeMs}:${st.size}`;
    } catch {
      return '-';
    }
  };
  for (const runsDir of runsDirs) {
    for (const exp of entries(runsDir)) {
      const runs = entries(path.join(runsDir, exp));
      parts.push(`${runsDir}/${exp}:${runs.join(',')}`);
      for (const run of runs.slice(-POLLED_RUNS)) {
        const dir = path.join(runsDir, exp, run);
        parts.push(`${stat(path.join(dir, 'run.json'))}|${stat(path.join(dir, 'metrics.jsonl'))}`);
      }
    }
  }
  return parts.join('\n');
}

export class ExperimentIndex implements vscode.Disposable {
  private readonly experiments = new Map<string, ExperimentInfo>();
  private readonly emitter = new vscode.EventEmitter<void>();
  private readonly runsEmitter = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [this.emitter, this.runsEmitter];
  private refreshTimer: NodeJS.Timeout | undefined;
  private runsTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly pollTimer: NodeJS.Timeout;
  private polled: string | undefined;

  /** Experiments were added, removed or edited. */
  readonly onDidChange = this.emitter.event;
  /** Something in a run folder changed (run.json, metrics.jsonl, report.json). */
  readonly onDidChangeRuns = this.runsEmitter.event;

  constructor() {
    const exp = vscode.workspace.createFileSystemWatcher(EXPERIMENT_GLOB);
    exp.onDidCreate(() => this.scheduleRefresh(), this, this.disposables);
    exp.onDidDelete(() => this.scheduleRefresh(), this, this.disposables);
    exp.onDidChange(() => this.scheduleRefresh(), this, this.disposables);
    const runs = vscode.workspace.createFileSystemWatcher('**/{run.json,metrics.jsonl,report.json}');
    runs.onDidCreate(() => this.runsChanged(), this, this.disposables);
    runs.onDidChange(() => this.runsChanged(), this, this.disposables);
    runs.onDidDelete(() => this.runsChanged(), this, this.disposables);
    this.disposables.push(exp, runs);
    vscode.workspace.onDidChangeWorkspaceFolders(() => this.scheduleRefresh(), this, this.disposables);
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('distill.runsFolder')) this.scheduleRefresh();
    }, this, this.disposables);
    this.pollTimer = setInterval(() => this.pollRuns(), RUNS_POLL_MS);
    this.pollTimer.unref?.();
  }

  /** Fires onDidChangeRuns when the runs folders changed since the last poll (the first poll only records them). */
  private pollRuns(): void {
    const signature = runsSignature(new Set([...this.experiments.values()].flatMap((e) => e.runsDirs)));
    if (this.polled !== undefined && signature !== this.polled) this.runsChanged();
    this.polled = signature;
  }

  /** Re-reads the list of experiment files (coalesced). */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const uris = await vscode.workspace.findFiles(EXPERIMENT_GLOB, EXCLUDE);
    const seen = new Set<string>();
    for (const uri of uris) {
      let text = '';
      try {
        text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
      } catch {
        continue;
      }
      const open = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === uri.fsPath);
      const info = describeExperiment(uri.fsPath, open ? open.getText() : text);
      this.experiments.set(uri.fsPath, info);
      seen.add(uri.fsPath);
    }
    for (const file of [...this.experiments.keys()]) if (!seen.has(file)) this.experiments.delete(file);
    this.emitter.fire();
  }

  scheduleRefresh(delay = 150): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, delay);
  }

  /** Tells the views that run folders changed (coalesced to one event per 250 ms). */
  runsChanged(): void {
    if (this.runsTimer) return;
    this.runsTimer = setTimeout(() => {
      this.runsTimer = undefined;
      this.runsEmitter.fire();
    }, 250);
  }

  list(): ExperimentInfo[] {
    return [...this.experiments.values()].sort((a, b) => a.name.localeCompare(b.name) || a.file.localeCompare(b.file));
  }

  get(file: string): ExperimentInfo | undefined {
    return this.experiments.get(file);
  }

  /** Every run of an experiment, newest first. */
  runsOf(exp: ExperimentInfo): RunView[] {
    const summaries: RunSummary[] = [];
    const dirs = new Set<string>();
    for (const runsDir of exp.runsDirs) {
      for (const s of listRuns(runsDir)) {
        if (dirs.has(s.runDir)) continue;
        const own = path.resolve(s.run.experimentFile) === exp.file;
        const orphanByName = s.run.experiment === exp.name && !this.experiments.has(path.resolve(s.run.experimentFile));
        if (own || orphanByName) {
          summaries.push(s);
          dirs.add(s.runDir);
        }
      }
    }
    summaries.sort((a, b) => b.run.createdAt.localeCompare(a.run.createdAt) || b.runDir.localeCompare(a.runDir));
    return summaries.map((s) => readRunView(s.runDir)).filter((v): v is RunView => v !== undefined);
  }

  latestRun(exp: ExperimentInfo): RunView | undefined {
    return this.runsOf(exp)[0];
  }

  allRuns(): { exp: ExperimentInfo; view: RunView }[] {
    return this.list().flatMap((exp) => this.runsOf(exp).map((view) => ({ exp, view })));
  }

  experimentOfRun(runDir: string): ExperimentInfo | undefined {
    return this.allRuns().find((r) => r.view.runDir === runDir)?.exp;
  }

  /** Experiments that use a model module or model.json (for the CodeLens above the factory). */
  usersOf(file: string): { exp: ExperimentInfo; ref: ModelRef }[] {
    const out: { exp: ExperimentInfo; ref: ModelRef }[] = [];
    for (const exp of this.list()) for (const ref of exp.models) if (ref.file === file) out.push({ exp, ref });
    return out;
  }

  /** Updates one experiment from an open document's text (names and models change as you type). */
  updateFromText(file: string, text: string): void {
    const before = this.experiments.get(file);
    if (!before) return;
    const info = describeExperiment(file, text);
    if (JSON.stringify(info.models) !== JSON.stringify(before.models) || info.name !== before.name) {
      this.experiments.set(file, info);
      this.emitter.fire();
    }
  }

  dispose(): void {
    clearInterval(this.pollTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.runsTimer) clearTimeout(this.runsTimer);
    for (const d of this.disposables) d.dispose();
  }
}
