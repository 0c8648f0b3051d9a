/// <reference types="mocha" />
/**
 * Issue 20, points 3 and 4 in a real extension host: one dashboard per experiment, with a short tab
 * title (experiment · run), that follows a newly started run and says so — and says the run completed
 * in the panel, not in a notification over it; the pairing panel reads each pair's loss from the
 * newest run that has the pair, and loads again when a run finishes.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { WebviewPanel } from '../../src/host/panels/shell';
import type { HostToWebview } from '../../src/protocol/webviews';
import { getApi, waitFor, withStub, wsFile } from './helpers';

const notices = (p: WebviewPanel) => p.sent.filter((m): m is Extract<HostToWebview, { type: 'notice' }> => m.type === 'notice').map((m) => m.message);
const tabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs.map((t) => t.label));

suite('Panels follow the runs (issue 20)', () => {
  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('one dashboard per experiment, short title; it follows a new run, says so, and says the run completed in the panel; pairing reads the newest run with the pair', async () => {
    const api = await getApi();
    const file = wsFile('follow.distill.json');
    const runsDir = wsFile(path.join('.distill', 'runs'));
    const base = JSON.parse(fs.readFileSync(wsFile('quick.distill.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...base, name: 'follow', baseline: false }, null, 2) + '\n');
    await waitFor('the experiment indexed', () => api.host.index.get(file), 15_000);
    // run A: response-based only (no pair)
    const a = await api.host.runs.start(file, runsDir).finished;
    assert.strictEqual(a.status, 'completed', a.error);
    const dash = await vscode.commands.executeCommand<WebviewPanel>('distill.openDashboard', vscode.Uri.file(file));
    await dash.receive({ type: 'ready' });
    assert.match(dash.target.title, /^follow · \d\d:\d\d:\d\d$/, 'experiment · run');
    await waitFor('the short tab title', () => tabs().some((t) => /^follow · \d\d:\d\d:\d\d — dashboard$/.test(t)), 10_000);
    // the dashboard of run A from its folder: the same panel, not a second tab
    assert.strictEqual(await vscode.commands.executeCommand('distill.openDashboard', a.runDir), dash);
    const pairing = await vscode.commands.executeCommand<WebviewPanel>('distill.showLayerPairing', a.runDir);
    await pairing.receive({ type: 'ready' });

    // run B adds a FitNets pair; the dashboard follows it, the pairing panel shows its pair loss
    const withPair = { ...base, name: 'follow', baseline: false, knowledge: [...(base.knowledge as unknown[]), { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }] };
    fs.writeFileSync(file, JSON.stringify(withPair, null, 2) + '\n');
    const toasts: string[] = [];
    const b = await withStub('showInformationMessage', (m: unknown) => {
      toasts.push(String(m));
      return Promise.resolve(undefined);
    }, async () => {
      const handle = api.host.runs.start(file, runsDir);
      await waitFor('the dashboard on run B', () => handle.runDir && dash.target.runDirs[0] === handle.runDir, 30_000);
      const result = await handle.finished;
      await waitFor('"completed" in the panel', () => notices(dash).some((n) => /^Run \S+ completed/.test(n)), 10_000);
      return result;
    });
    assert.strictEqual(b.status, 'completed', b.error);
    assert.ok(notices(dash).some((n) => n === `Following the new run ${dash.target.title}.`), notices(dash).join(' | '));
    assert.deepStrictEqual(toasts.filter((t) => /completed/.test(t)), [], 'no notification over the dashboard');
    assert.strictEqual(tabs().filter((t) => t.startsWith('follow ·') && t.endsWith('dashboard')).length, 1, `one dashboard tab: ${tabs().join(', ')}`);
    const loss = await waitFor('the pair loss from run B', () => {
      const init = [...pairing.sent].reverse().find((m): m is Extract<HostToWebview, { type: 'init'; panel: 'pairing' }> => m.type === 'init' && m.panel === 'pairing');
      return init?.data.links.find((l) => l.teacher === 'dense_1' && l.student === 'dense_1' && l.loss?.length)?.loss;
    }, 60_000);
    assert.ok(loss.every((v) => Number.isFinite(v)));

    // run C drops the pair again: the pairing panel keeps B's pair loss, Feature Maps opens on B (the newest run with a pair)
    fs.writeFileSync(file, JSON.stringify({ ...base, name: 'follow', baseline: false }, null, 2) + '\n');
    const c = await withStub('showInformationMessage', () => Promise.resolve(undefined), () => api.host.runs.start(file, runsDir).finished);
    assert.strictEqual(c.status, 'completed', c.error);
    await waitFor('the dashboard on run C', () => dash.target.runDirs[0] === c.runDir, 10_000);
    fs.writeFileSync(file, JSON.stringify(withPair, null, 2) + '\n'); // the pair back in the file, as the user goes on
    const maps = await vscode.commands.executeCommand<WebviewPanel>('distill.compareFeatureMaps', vscode.Uri.file(file));
    assert.strictEqual(maps.target.runDirs[0], b.runDir, 'feature maps of the newest run that has a pair');
    await pairing.sendInit();
    const last = [...pairing.sent].reverse().find((m): m is Extract<HostToWebview, { type: 'init'; panel: 'pairing' }> => m.type === 'init' && m.panel === 'pairing');
    assert.deepStrictEqual(last?.data.links.find((l) => l.teacher === 'dense_1')?.loss, loss, 'the pair loss still from B, the newest run with that pair');
    fs.rmSync(file, { force: true });
  });
});
