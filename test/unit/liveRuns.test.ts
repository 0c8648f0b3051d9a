/**
 * The one picture of the active runs that the status bar and the Experiments tree render
 * (src/host/liveRuns.ts, issue 20). A fake run manager whose handles change the way the real one's
 * do (progress replaced several times a second, state moved on): the snapshot the views read does
 * not move until the next one is taken, every listener gets the same snapshot in the same tick,
 * progress is coalesced to one snapshot per delay while a run queued, started, stopping or ended is
 * taken at once, and the status bar's text is built from the same words the tree uses. Expected texts are written out by hand here.
 */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { ProgressMessage } from '../../src/protocol/engine';
import type { RunHandle } from '../../src/host/runManager';
import type { LiveSnapshot, LiveSource } from '../../src/host/liveRuns';
import { LiveRuns, mainRun, progressText, runActivity, statusText, statusTooltipLines, takeSnapshot } from '../../src/host/liveRuns';

type Mutable = { -readonly [K in keyof RunHandle]: RunHandle[K] };

function progress(job: string, epoch: number, total: number, etaSeconds = 12): ProgressMessage {
  return { type: 'progress', job, phase: 'distill', epoch, epochs: 3, step: 4, steps: 10, losses: { kd: total / 2, total }, samplesPerSecond: 1234.4, etaSeconds };
}

function handle(key: string, fields: Partial<Mutable> = {}): Mutable {
  return { key, kind: 'start', state: 'running', logTail: [], finished: new Promise(() => {}), queuedAt: 0, experimentFile: '/ws/pairs.distill.json', ...fields } as Mutable;
}

class FakeRuns implements LiveSource {
  list: Mutable[] = [];
  private listeners = new Set<(h: RunHandle) => unknown>();
  handles(): RunHandle[] {
    return this.list.filter((h) => h.state !== 'finished');
  }
  onDidChange(listener: (h: RunHandle) => unknown): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }
  get listening(): number {
    return this.listeners.size;
  }
  /** What the run manager does on a message: change the handle, then fire. */
  change(h: Mutable, fields: Partial<Mutable>): void {
    Object.assign(h, fields);
    for (const l of this.listeners) l(h);
  }
}

test('progress words: job, epoch, loss, time left (a time left under 1 s is left out)', () => {
  assert.equal(progressText(progress('distill-s1', 2, 0.2213)), 'distill-s1 · epoch 2/3 · loss 0.221 · 12 s left');
  assert.equal(progressText(progress('teacher', 1, 1.5, 125)), 'teacher · epoch 1/3 · loss 1.5 · 2 min 05 s left');
  assert.equal(progressText(progress('scratch-s1', 3, 0.05, 0.4)), 'scratch-s1 · epoch 3/3 · loss 0.05');
  assert.equal(progressText(progress('scratch-s1', 3, 0.05, 0)), 'scratch-s1 · epoch 3/3 · loss 0.05');
});

test('status text: the experiment (run folder parent, else the file), the job, the count of runs; hidden with no run', () => {
  assert.equal(statusText(takeSnapshot([], 1)), undefined);
  const a = handle('run-1', { runDir: '/ws/.distill/runs/pairs/20261202-101010', progress: progress('distill-s1', 2, 0.2213) });
  assert.equal(statusText(takeSnapshot([a], 1)), 'pairs · distill-s1 · epoch 2/3 · loss 0.221 · 12 s left');
  const q = handle('run-2', { state: 'queued', experimentFile: '/ws/other.distill.json' });
  // the newest going run is the one named, the queued one is counted
  assert.equal(statusText(takeSnapshot([a, q], 1)), '2 runs · pairs · distill-s1 · epoch 2/3 · loss 0.221 · 12 s left');
  assert.equal(statusText(takeSnapshot([q], 1)), 'other · queued');
  assert.equal(statusText(takeSnapshot([handle('run-3', { state: 'starting' })], 1)), 'pairs · starting…');
  assert.equal(statusText(takeSnapshot([{ ...a, state: 'stopping' }], 1)), 'pairs · stopping…');
  const b = handle('run-4', { runDir: '/ws/.distill/runs/mnist/20261202-111111', progress: progress('teacher', 1, 1.5, 125) });
  const two = takeSnapshot([a, b], 1);
  assert.equal(mainRun(two)?.key, 'run-4');
  assert.equal(statusText(two), '2 runs · mnist · teacher · epoch 1/3 · loss 1.5 · 2 min 05 s left');
  assert.deepEqual(statusTooltipLines(two), [
    '20261202-101010: running — distill-s1, epoch 2/3, step 4/10, 1234 samples/s, 12 s left',
    '20261202-111111: running — teacher, epoch 1/3, step 4/10, 1234 samples/s, 2 min 05 s left',
  ]);
  // the status bar's words about its run are exactly that run's activity (what its tree row shows)
  for (const s of [takeSnapshot([a], 1), two]) assert.ok(statusText(s)!.endsWith(runActivity(mainRun(s)!)));
});

test('a snapshot does not move when the handles do (the views read it, never the handles)', () => {
  const h = handle('run-1', { runDir: '/ws/.distill/runs/pairs/r1', progress: progress('distill-s1', 1, 0.9) });
  const snap = takeSnapshot([h], 7);
  h.progress = progress('distill-s1', 2, 0.4);
  h.state = 'stopping';
  h.runDir = '/elsewhere';
  assert.equal(snap.seq, 7);
  assert.equal(snap.runs[0].state, 'running');
  assert.equal(snap.runs[0].progress?.epoch, 1);
  assert.equal(snap.runs[0].runDir, '/ws/.distill/runs/pairs/r1');
  assert.equal(snap.runs[0].handle, h, 'the handle itself is kept for commands');
  assert.ok(Object.isFrozen(snap.runs[0]) && Object.isFrozen(snap.runs[0].progress) && Object.isFrozen(snap.runs[0].progress!.losses));
  // finished handles are not active runs
  h.state = 'finished';
  assert.equal(takeSnapshot([h], 8).runs.length, 0);
});

test('one clock: progress coalesces into one snapshot per delay, transitions are taken at once; both listeners get the same snapshot in the same tick', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const runs = new FakeRuns();
  const live = new LiveRuns(runs, 250);
  const seen: { who: string; snap: LiveSnapshot; tick: number }[] = [];
  let tick = 0;
  live.onDidUpdate((snap) => seen.push({ who: 'status bar', snap, tick }));
  live.onDidUpdate((snap) => seen.push({ who: 'tree', snap, tick }));
  const pairs = () => seen.map((x) => [x.who, x.snap.seq, x.tick]);
  // queued, then forked, then started (its folder known): each said at once
  const h = handle('run-1', { state: 'queued' });
  runs.list.push(h);
  runs.change(h, {});
  tick++;
  runs.change(h, { state: 'starting' });
  tick++;
  runs.change(h, { state: 'running', runDir: '/ws/.distill/runs/pairs/r1' });
  assert.deepEqual(pairs(), [['status bar', 1, 0], ['tree', 1, 0], ['status bar', 2, 1], ['tree', 2, 1], ['status bar', 3, 2], ['tree', 3, 2]]);
  for (let i = 0; i < seen.length; i += 2) assert.equal(seen[i].snap, seen[i + 1].snap, 'the same snapshot object to both');
  assert.equal(live.forRun('/ws/.distill/runs/pairs/r1')?.state, 'running');
  seen.length = 0;
  tick++;
  // progress: two messages within the delay make one snapshot, after the delay
  runs.change(h, { progress: progress('teacher', 1, 1.2) });
  t.mock.timers.tick(100);
  runs.change(h, { progress: progress('teacher', 1, 1.1) });
  t.mock.timers.tick(100);
  // before the delay, the views still read the picture without progress, whatever the handle says now
  assert.equal(seen.length, 0);
  const shownProgress = () => live.snapshot.runs[0].progress;
  assert.equal(shownProgress(), undefined, 'no progress yet');
  t.mock.timers.tick(50);
  assert.deepEqual(pairs(), [['status bar', 4, 3], ['tree', 4, 3]]);
  assert.equal(seen[0].snap, seen[1].snap);
  assert.equal(shownProgress()?.losses.total, 1.1, 'the latest progress');
  // progress goes on: still the same picture until the next snapshot
  runs.change(h, { progress: progress('teacher', 2, 0.8) });
  assert.equal(shownProgress()?.epoch, 1);
  // Stop: said at once, with the latest progress (the pending timer is folded in)
  runs.change(h, { state: 'stopping' });
  assert.equal(live.snapshot.seq, 5);
  assert.equal(live.snapshot.runs[0].state, 'stopping');
  assert.equal(shownProgress()?.epoch, 2);
  t.mock.timers.tick(1000);
  assert.equal(live.snapshot.seq, 5, 'no second snapshot for the folded-in progress');
  // the end: the run leaves the picture for both at once
  seen.length = 0;
  runs.change(h, { state: 'finished' });
  assert.deepEqual(pairs(), [['status bar', 6, 3], ['tree', 6, 3]]);
  assert.equal(seen[0].snap.runs.length, 0);
  live.dispose();
  assert.equal(runs.listening, 0, 'disposed: no longer listening to the run manager');
  runs.change(h, { state: 'running' });
  t.mock.timers.tick(1000);
  assert.equal(seen.length, 2);
});

test('one instance per run manager: the status bar and the tree share it; the last release disposes it', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const runs = new FakeRuns();
    const a = LiveRuns.acquire(runs);
    const b = LiveRuns.acquire(runs);
    assert.equal(a.live, b.live);
    assert.equal(runs.listening, 1);
    a.release();
    a.release(); // twice is once
    assert.equal(runs.listening, 1, 'still used by the other view');
    b.release();
    assert.equal(runs.listening, 0);
    const c = LiveRuns.acquire(runs);
    assert.notEqual(c.live, a.live, 'a new instance after the last release');
    c.release();
    assert.notEqual(LiveRuns.acquire(new FakeRuns()).live, c.live, 'another run manager, another instance');
  } finally {
    mock.timers.reset();
  }
});
