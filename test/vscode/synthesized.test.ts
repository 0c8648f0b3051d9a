/// <reference types="mocha" />
/**
 * The Synthesized Inputs panel in a real extension host (issue 18): Distill: Show Synthesized
 * Inputs on a data-free run folder (written as the engines write it, test/helpers/synthesizedFixture.ts)
 * opens the panel, which answers `ready` with the newest batch's grid per class; a batch written
 * later reaches the open panel by itself; the batch picker's message shows an older batch and a
 * batch not written is dropped; the run's tree item carries `:synthesized` (the menu's when
 * clause); a run without synthesised inputs is not offered.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { WebviewPanel } from '../../src/host/panels/shell';
import type { ExperimentNode } from '../../src/host/experimentsTree';
import type { HostToWebview, SynthesizedData } from '../../src/protocol/webviews';
import { readRunView } from '../../src/host/runData';
import { rampValue, writeBatch, writeSynthRun } from '../helpers/synthesizedFixture';
import type { SynthFixture } from '../helpers/synthesizedFixture';
import { getApi, waitFor, withStub, workspaceDir, wsFile } from './helpers';

type Update = Extract<HostToWebview, { type: 'synthesizedUpdate' }>;

suite('Distill Studio: synthesized inputs (issue 18)', () => {
  const runDir = path.join(workspaceDir(), '.distill', 'runs', 'datafree-fixture', '20000101-000000');
  const f: SynthFixture = { shape: [8, 8, 1], classes: 3, batchSize: 9, batches: 3, value: rampValue(64), classNames: ['a', 'b', 'c'] };

  suiteSetup(async () => {
    await getApi();
    fs.rmSync(runDir, { recursive: true, force: true });
    writeSynthRun(runDir, f, 1);
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    fs.rmSync(path.dirname(runDir), { recursive: true, force: true });
  });

  test('Show Synthesized Inputs: the grid per class, live batches, the batch picker', async () => {
    const panel = await vscode.commands.executeCommand<WebviewPanel>('distill.showSynthesized', runDir);
    assert.ok(panel, 'the panel opened');
    assert.strictEqual(panel.kind, 'synthesized');
    assert.match(panel.html, /<script nonce="[A-Za-z0-9+/=]{20,}" src="[^"]*dist\/webview\/synthesized\.js"><\/script>/);
    await panel.receive({ type: 'ready' });
    const init = await waitFor('the init message', () => panel.sent.find((m): m is Extract<HostToWebview, { type: 'init'; panel: 'synthesized' }> => m.type === 'init' && m.panel === 'synthesized'), 30_000);
    const data: SynthesizedData = init.data;
    assert.strictEqual(data.error, undefined, data.error);
    assert.deepStrictEqual(data.meta, { shape: [8, 8, 1], classes: 3, samples: 27, batchSize: 9, batches: 3 });
    assert.strictEqual(data.grid?.batch, 1);
    assert.deepStrictEqual(data.grid.classes.map((c) => [c.name, c.images.map((i) => i.index)]), [['a', [0, 3, 6]], ['b', [1, 4, 7]], ['c', [2, 5, 8]]]);
    assert.deepStrictEqual(data.grid.classes[0].images[0].pixels, Array.from({ length: 64 }, (_, p) => Math.round((p / 63) * 255)));

    const seen = () => panel.sent.map((m) => `${m.type}${'data' in m && m.data && 'batches' in m.data ? `(${m.data.batches.length}, grid ${m.data.grid?.batch})` : ''}`).join(', ');
    // the synthesis writes batch 2: the open panel gets it, with its grid (it follows the newest).
    // (The workbench's own webview says `ready` too, at a time of its own: its fresh init then carries the new batch.)
    const carrying = (n: number) => panel.sent.find((m): m is Update | Extract<HostToWebview, { type: 'init'; panel: 'synthesized' }> =>
      (m.type === 'synthesizedUpdate' || (m.type === 'init' && m.panel === 'synthesized')) && m.data.batches.length === n);
    writeBatch(runDir, f, 2);
    const live = await waitFor('batch 2 in the panel', () => carrying(2), 20_000)
      .catch((e: Error) => { throw new Error(`${e.message}; sent: ${seen()}; dropped: ${panel.dropped.join(' | ')}`); });
    assert.strictEqual(live.data.grid?.batch, 2);
    assert.deepStrictEqual(live.data.batches.map((b) => b.bnLoss), [{ start: 10, end: 1 }, { start: 5, end: 0.5 }]);

    // the picker: batch 1 again; a batch not written is dropped with the reason
    await panel.receive({ type: 'pickBatch', batch: 1 });
    const picked = await waitFor('batch 1 picked', () => panel.sent.find((m): m is Update => m.type === 'synthesizedUpdate' && m.data.grid?.batch === 1), 10_000);
    assert.strictEqual(picked.data.batches.length, 2);
    await panel.receive({ type: 'pickBatch', batch: 7 });
    assert.match(panel.dropped[panel.dropped.length - 1], /batch 7 has not been written/);
    await panel.receive({ type: 'pickBatch', batch: -1 });
    assert.match(panel.dropped[panel.dropped.length - 1], /batch must be a batch number/);
    // a batch written while batch 1 is picked: the list grows, no grid is sent (the picked one stays)
    writeBatch(runDir, f, 3);
    // (or the workbench webview's fresh init carries it, with the picked grid)
    const third = await waitFor('batch 3 in the panel', () => carrying(3), 20_000)
      .catch((e: Error) => { throw new Error(`${e.message}; sent: ${seen()}; dropped: ${panel.dropped.join(' | ')}`); });
    if (third.type === 'synthesizedUpdate') assert.strictEqual(third.data.grid, undefined);
    else if (third.type === 'init' && third.panel === 'synthesized') assert.strictEqual(third.data.grid?.batch, 1);
  });

  test('the run\'s tree item says it has synthesised inputs; a run without them is not offered', async () => {
    const api = await getApi();
    const quick = (api.host.tree.getChildren() as ExperimentNode[]).find((n) => n.exp.name === 'quick');
    assert.ok(quick, 'the quick experiment');
    const view = readRunView(runDir);
    assert.ok(view);
    const item = api.host.tree.getTreeItem({ kind: 'run', exp: quick.exp, runDir, view });
    assert.match(String(item.contextValue), /^run:\w+(:report)?:synthesized$/);
    const menus = (vscode.extensions.getExtension('distill-studio.distill-studio')!.packageJSON as { contributes: { menus: Record<string, { command: string; when: string }[]> } }).contributes.menus;
    const when = menus['view/item/context'].find((m) => m.command === 'distill.showSynthesized')!.when;
    const re = new RegExp(/viewItem =~ \/(.*)\/$/.exec(when)![1]);
    assert.ok(re.test(String(item.contextValue)), `${when} matches ${item.contextValue}`);
    assert.ok(!re.test('run:interrupted') && !re.test('run:completed:report'), 'not on runs without synthesised inputs');
    // the quick experiment's runs have none: the command says so instead of opening an empty panel
    const said: string[] = [];
    const opened = await withStub('showInformationMessage', (m: unknown) => {
      said.push(String(m));
      return Promise.resolve(undefined);
    }, async () => vscode.commands.executeCommand('distill.showSynthesized', vscode.Uri.file(wsFile('quick.distill.json'))));
    assert.strictEqual(opened, undefined);
    assert.ok(said.some((s) => /no run has synthesised inputs/.test(s)), said.join(' | '));
  });
});
