/**
 * The Synthesized Inputs controller (src/host/panels/synthesizedPanel.ts) with a fake panel
 * context: init sends the newest batch's grid; a batch the synthesis writes later is sent by the
 * poll (with its grid while the panel follows the newest, without one once a batch was picked);
 * picking a batch not written is dropped; no target says why. Polls with a deadline, no sleeps.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, test } from 'node:test';
import { synthesizedPanel } from '../../src/host/panels/synthesizedPanel';
import type { PanelContext } from '../../src/host/panels/shell';
import type { HostToWebview } from '../../src/protocol/webviews';
import { rampValue, writeBatch, writeSynthRun } from '../helpers/synthesizedFixture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-ctl-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function fakeContext(runDirs: string[]) {
  const sent: HostToWebview[] = [];
  const dropped: string[] = [];
  const ctx = {
    kind: 'synthesized', target: { runDirs, title: 't' }, targetState: () => ({ runDirs, title: 't' }),
    post: (m: HostToWebview) => sent.push(m), postNow: (m: HostToWebview) => sent.push(m), dropped: (r: string) => dropped.push(r),
  } as unknown as PanelContext;
  return { ctx, sent, dropped };
}

async function until<T>(what: string, pred: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Update = Extract<HostToWebview, { type: 'synthesizedUpdate' }>;
const updates = (sent: HostToWebview[]) => sent.filter((m): m is Update => m.type === 'synthesizedUpdate');

test('live: new batches are sent with the newest grid, then without a grid once a batch is picked', async () => {
  const run = path.join(tmp, 'live');
  const f = { shape: [3, 3, 1], classes: 2, batchSize: 4, batches: 3, value: rampValue(9), status: 'running' as const };
  writeSynthRun(run, f, 1);
  const { ctx, sent, dropped } = fakeContext([run]);
  const c = synthesizedPanel(ctx);
  try {
    await c.init();
    const init = sent[0];
    assert.ok(init.type === 'init' && init.panel === 'synthesized');
    assert.deepEqual([init.data.batches.length, init.data.grid?.batch], [1, 1]);
    writeBatch(run, f, 2);
    const u2 = await until('batch 2', () => updates(sent).find((m) => m.data.batches.length === 2));
    assert.equal(u2.data.grid?.batch, 2);
    await c.act!({ type: 'pickBatch', batch: 1 });
    assert.equal(updates(sent).at(-1)!.data.grid?.batch, 1);
    await c.act!({ type: 'pickBatch', batch: 5 });
    assert.deepEqual(dropped, ['pickBatch: batch 5 has not been written']);
    writeBatch(run, f, 3);
    const u3 = await until('batch 3', () => updates(sent).find((m) => m.data.batches.length === 3));
    assert.equal(u3.data.grid, undefined, 'the picked grid stays: none sent');
    // following the newest again
    await c.act!({ type: 'pickBatch', batch: 0 });
    assert.equal(updates(sent).at(-1)!.data.grid?.batch, 3);
  } finally {
    c.dispose!();
  }
});

test('no run: the panel says why', async () => {
  const { ctx, sent } = fakeContext([]);
  const c = synthesizedPanel(ctx);
  await c.init();
  const m = sent[0];
  assert.ok(m.type === 'init' && m.panel === 'synthesized');
  assert.match(m.data.error ?? '', /no run yet/);
  c.dispose!();
});
