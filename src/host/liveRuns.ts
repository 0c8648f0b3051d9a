/**
 * The one picture of the active runs that the status bar and the Experiments tree both render
 * (issue 20: "the status bar disagreed with the tree for a moment").
 *
 * Why they disagreed: each view listened to the run manager on its own clock — the status bar
 * repainted 200 ms after a change, the tree 500 ms after — and each read the run manager's live
 * handles whenever it happened to paint, while progress messages kept replacing them several times
 * a second. So the status bar could say "epoch 2/3" while the tree still said "1/3", or the tree
 * (painted later, e.g. when a row was expanded) could be ahead of the status bar; when a run
 * ended, the status bar was gone while the tree still spun for 300 ms.
 *
 * Now: a snapshot of every active run (state, job, epoch, loss, time left) is taken at one cadence
 * (at once when a run is queued, starts, stops or ends; progress is coalesced); both views are told
 * in the same tick and render only from the current snapshot, never from the handles. The text of a run's progress is written by one function (`progressText`), so what the
 * status bar says about a run is, word for word, what that run's tree row says.
 *
 * No `vscode` import: the model and its texts are unit-tested in plain node.
 */
import * as path from 'path';
import type { ProgressMessage } from '../protocol/engine';
import type { HandleState, RunHandle } from './runManager';
import { formatEta, formatLoss } from './sparkline';
import { jobLabel, positionWords, SYNTHESIZE_JOB } from '../protocol/jobWords';

/** One active run as it was when the snapshot was taken (frozen: later progress does not change it). */
export interface LiveRun {
  /** The run manager's handle, for commands (Stop acts on it). Views render from the fields below, never from it. */
  readonly handle: RunHandle;
  readonly key: string;
  readonly state: HandleState;
  readonly runDir?: string;
  readonly experimentFile?: string;
  /** The experiment's name as the status bar shows it (`<runs>/<experiment>/<run-id>`, else the file's name). */
  readonly experiment?: string;
  /** The run folder's name once known, else the handle's key. */
  readonly label: string;
  readonly progress?: Readonly<ProgressMessage>;
  readonly backend?: string;
}

export interface LiveSnapshot {
  /** Increases with every snapshot (tests and views can tell two apart). */
  readonly seq: number;
  /** Queued and going runs, oldest first (the run manager's order). */
  readonly runs: readonly LiveRun[];
}

/** What LiveRuns needs of the run manager (RunManager fits; tests pass a fake). */
export interface LiveSource {
  handles(): readonly RunHandle[];
  onDidChange(listener: (h: RunHandle) => unknown): { dispose(): unknown };
}

/** `pairs` for `<runs>/pairs/<run-id>`, else the experiment file's name without `.distill.json`. */
export function experimentName(h: { runDir?: string; experimentFile?: string }): string | undefined {
  if (h.runDir) return path.basename(path.dirname(h.runDir));
  return h.experimentFile ? path.basename(h.experimentFile).replace(/\.distill\.json$/, '') : undefined;
}

/** Copies what the views show of each handle, so that later messages cannot change this picture. */
export function takeSnapshot(handles: readonly RunHandle[], seq: number): LiveSnapshot {
  const runs = handles.filter((h) => h.state !== 'finished').map((h): LiveRun => Object.freeze({
    handle: h, key: h.key, state: h.state, runDir: h.runDir, experimentFile: h.experimentFile,
    experiment: experimentName(h), label: h.runDir ? path.basename(h.runDir) : h.key,
    progress: h.progress ? Object.freeze({ ...h.progress, losses: Object.freeze({ ...h.progress.losses }) }) : undefined,
    backend: h.backend,
  }));
  return Object.freeze({ seq, runs: Object.freeze(runs) });
}

/** A run's progress, the same words in the status bar and its tree row: `distill-s1 · epoch 2/3 · loss 0.221 · 12 s left` (`synthesizing batch 3/8 · loss …` for a data-free run's synthesis). */
export function progressText(p: Readonly<ProgressMessage>): string {
  // a time left under a second is not worth saying (the run is about to end)
  const eta = p.etaSeconds >= 1 ? ` · ${formatEta(p.etaSeconds)} left` : '';
  // issue 18: the data-free run's synthesis counts batches (`synthesizing batch 3/8`), not epochs
  const where = p.job === SYNTHESIZE_JOB ? positionWords(p.job, p.epoch, p.epochs) : `${p.job} · ${positionWords(p.job, p.epoch, p.epochs)}`;
  return `${where} · loss ${formatLoss(p.losses.total)}${eta}`;
}

/** What a run is doing, in words: queued, starting…, stopping…, or its progress. */
export function runActivity(r: LiveRun): string {
  if (r.state === 'queued') return 'queued';
  if (r.state === 'stopping') return 'stopping…';
  return r.progress ? progressText(r.progress) : 'starting…';
}

/** The run the status bar is about: the newest that is going, else the first queued. */
export function mainRun(s: LiveSnapshot): LiveRun | undefined {
  const going = s.runs.filter((r) => r.state !== 'queued');
  return going[going.length - 1] ?? s.runs[0];
}

/** The status bar's text (without its icon), or undefined when it is hidden (no run active). */
export function statusText(s: LiveSnapshot): string | undefined {
  const main = mainRun(s);
  if (!main) return undefined;
  const prefix = s.runs.length > 1 ? `${s.runs.length} runs · ` : '';
  return `${prefix}${main.experiment ? `${main.experiment} · ` : ''}${runActivity(main)}`;
}

/** The status bar's tooltip lines: every active run, with its step and speed. */
export function statusTooltipLines(s: LiveSnapshot): string[] {
  return s.runs.map((r) => {
    const p = r.progress;
    return `${r.label}: ${r.state}${p ? ` — ${jobLabel(p.job)}, ${positionWords(p.job, p.epoch, p.epochs)}, ${p.job === SYNTHESIZE_JOB ? 'iteration' : 'step'} ${p.step}/${p.steps}, ` +
      `${Math.round(p.samplesPerSecond)} samples/s, ${p.etaSeconds >= 1 ? `${formatEta(p.etaSeconds)} left` : 'time left not known yet'}` : ''}`;
  });
}

interface Shared { live: LiveRuns; users: number }
const shared = new WeakMap<LiveSource, Shared>();

/**
 * Snapshots of a run manager's active runs, at most one per `delayMs`; every listener gets the
 * same snapshot in the same tick. One instance per run manager (`LiveRuns.acquire`), so the status
 * bar and the tree cannot end up with two clocks again.
 */
export class LiveRuns {
  private current: LiveSnapshot;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(s: LiveSnapshot) => void>();
  private readonly subscription: { dispose(): unknown };

  constructor(private readonly source: LiveSource, readonly delayMs = 250) {
    this.current = takeSnapshot(source.handles(), 0);
    this.subscription = source.onDidChange((h) => {
      // a run queued, started (its folder known), stopping or ended: both views say so at once;
      // progress (several messages a second) waits for the next snapshot
      const was = this.current.runs.find((r) => r.key === h.key);
      const gone = h.state === 'finished';
      if (gone ? was !== undefined : !was || was.state !== h.state || was.runDir !== h.runDir) this.take();
      else this.timer ??= setTimeout(() => this.take(), this.delayMs);
    });
  }

  /** The run manager's shared instance; release it when done (the last release disposes it). */
  static acquire(source: LiveSource): { live: LiveRuns; release(): void } {
    let s = shared.get(source);
    if (!s) {
      s = { live: new LiveRuns(source), users: 0 };
      shared.set(source, s);
    }
    s.users++;
    const entry = s;
    let released = false;
    return {
      live: s.live,
      release: () => {
        if (released) return;
        released = true;
        if (--entry.users === 0) {
          entry.live.dispose();
          if (shared.get(source) === entry) shared.delete(source);
        }
      },
    };
  }

  get snapshot(): LiveSnapshot {
    return this.current;
  }

  /** The active run of a run folder in the current snapshot. */
  forRun(runDir: string): LiveRun | undefined {
    return this.current.runs.find((r) => r.runDir === runDir);
  }

  /** Calls `listener` with every new snapshot; returns its disposer. */
  onDidUpdate(listener: (s: LiveSnapshot) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Takes a snapshot now and tells every listener (transitions and the coalescing timer call it). */
  take(): LiveSnapshot {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.current = takeSnapshot(this.source.handles(), this.current.seq + 1);
    for (const l of [...this.listeners]) l(this.current);
    return this.current;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    this.subscription.dispose();
  }
}
