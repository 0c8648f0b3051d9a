/// <reference types="mocha" />
/**
 * The Sweep panel in a real extension host: a 3-point sweep folder of an experiment of the fixture
 * workspace (faked point by point as the engine writes it, test/helpers/fakeSweep.ts) shows under
 * its experiment in the Experiments tree with Open Sweep; the tree item opens the panel; the panel
 * follows the folder live (a point completing), opens a point's dashboard, refuses what it must;
 * the command palette's Open Sweep asks which sweep.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExperimentNode, SweepNode, TreeNode } from '../../src/host/experimentsTree';
import type { WebviewPanel } from '../../src/host/panels/shell';
import type { HostToWebview, SweepPanelData } from '../../src/protocol/webviews';
import { syntheticExperiment } from '../helpers/experiments';
import { advancePoint, completePoint, fakeSweep, startPoint } from '../helpers/fakeSweep';
import { EXTENSION_ID, getApi, waitFor, withStub, wsFile } from './helpers';

const FILE = 'sweepy.distill.json';

/** The panel's newest data (init or sweepUpdate). */
function latest(panel: WebviewPanel): SweepPanelData | undefined {
  for (let i = panel.sent.length - 1; i >= 0; i--) {
    const m: HostToWebview = panel.sent[i];
    if (m.type === 'sweepUpdate') return m.data;
    if (m.type === 'init' && m.panel === 'sweep') return m.data;
  }
  return undefined;
}

suite('Distill Studio: sweep panel', () => {
  let file: string;

  suiteSetup(async () => {
    await getApi();
    file = wsFile(FILE);
    fs.writeFileSync(file, JSON.stringify(syntheticExperiment({ name: 'sweepy', seeds: [1, 2], sweep: { 'training.epochs': [1, 2, 3] } }), null, 2) + '\n');
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    fs.rmSync(file, { force: true });
    fs.rmSync(path.join(path.dirname(file), '.distill', 'sweeps', 'sweepy'), { recursive: true, force: true });
  });

  test('a sweep shows under its experiment, opens from the tree, follows the folder and opens a point\'s dashboard', async () => {
    const api = await getApi();
    const sweepDir = fakeSweep(file);
    const run1 = startPoint(sweepDir, 0);
    completePoint(sweepDir, 0, { params: 200, bytes: 800, distilled: [0.8, 0.82], scratch: [0.7, 0.71] });
    startPoint(sweepDir, 1);

    // the tree: under `sweepy`, a sweep item with Open Sweep (inline and in the context menu)
    const tree = api.host.tree;
    const node = await waitFor('the sweep in the tree', () => {
      const exp = (tree.getChildren() as ExperimentNode[]).find((n) => n.kind === 'experiment' && n.exp.name === 'sweepy');
      return exp && (tree.getChildren(exp) as TreeNode[]).find((n): n is SweepNode => n.kind === 'sweep' && n.sweepDir === sweepDir);
    }, 30_000);
    const item = tree.getTreeItem(node);
    assert.strictEqual(item.contextValue, 'sweep');
    assert.match(String(item.label), new RegExp(`^sweep ${path.basename(sweepDir)}$`));
    assert.match(String(item.description), /^running · 1\/3 points completed · training\.epochs$/);
    assert.strictEqual(item.command?.command, 'distill.openSweep');
    assert.strictEqual(tree.getParent(node)?.kind, 'experiment');
    const menus = (vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { menus: Record<string, { command: string; when: string; group?: string }[]> } }).contributes.menus['view/item/context'];
    const open = menus.filter((m) => m.command === 'distill.openSweep' && /viewItem == sweep/.test(m.when));
    assert.ok(open.some((m) => m.group?.startsWith('inline')) && open.some((m) => !m.group?.startsWith('inline')), 'Open Sweep inline and in the context menu');

    // a click on the item runs its command: the Sweep panel, beside, with the panels' CSP
    const panel = await vscode.commands.executeCommand<WebviewPanel>(item.command!.command, ...(item.command!.arguments ?? []));
    assert.ok(panel, 'the sweep panel opened');
    assert.strictEqual(panel.kind, 'sweep');
    assert.match(panel.html, /script-src 'nonce-[^']+'/);
    assert.match(panel.html, /dist\/webview\/sweep\.js/);
    await panel.receive({ type: 'ready' });
    const first = await waitFor('init', () => latest(panel), 10_000);
    assert.deepStrictEqual(first.points.map((p) => [p.id, p.status]), [['p01', 'completed'], ['p02', 'running'], ['p03', 'queued']]);
    assert.ok(Math.abs(first.points[0].distilled!.mean - 0.81) < 1e-12);
    assert.deepStrictEqual(first.points[0].pareto, { params: true, bytes: true });
    // a queued point has no dashboard to open: said in the panel, nothing opens
    await panel.receive({ type: 'openPoint', point: 'p03' });
    assert.match(panel.dropped[panel.dropped.length - 1], /p03 has no run folder/);
    assert.ok(panel.sent.some((m) => m.type === 'notice' && /p03 has not started yet/.test(m.message)));

    // live: p02 completes (larger and better: also on the front), p03 starts, then trains an epoch —
    // the panel follows without a reload. (The workbench's own webview says `ready` once too, and
    // the init it gets may carry one of these changes: so three changes, at least two as updates.)
    completePoint(sweepDir, 1, { params: 400, bytes: 1600, distilled: [0.9, 0.9] });
    const after = await waitFor('p02 completed', () => {
      const d = latest(panel);
      return d?.points[1].status === 'completed' ? d : undefined;
    }, 10_000);
    assert.deepStrictEqual(after.points.map((p) => p.pareto.params), [true, true, false]);
    startPoint(sweepDir, 2);
    await waitFor('p03 running', () => latest(panel)?.points[2].status === 'running', 10_000);
    advancePoint(sweepDir, 2);
    const third = await waitFor('p03 progress', () => {
      const d = latest(panel);
      return d && (d.points[2].progress?.done ?? 0) > 0 ? d : undefined;
    }, 10_000);
    assert.deepStrictEqual(third.points[2].progress, { done: 4, total: 12 }, 'one epoch of each of its 4 jobs (2 seeds × scratch, distill) of 3 epochs');
    const updates = panel.sent.filter((m) => m.type === 'sweepUpdate').length;
    assert.ok(updates >= 2, `${updates} sweepUpdate messages`);

    // a point opens its run's dashboard (the existing command), a forged id does not
    await panel.receive({ type: 'openPoint', point: 'p01' });
    const dash = await waitFor('the dashboard of p01', () => api.host.panels.list().find((p) => p.kind === 'dashboard' && p.target.runDirs[0] === run1), 10_000);
    assert.ok(dash.html.includes('dist/webview/dashboard.js'));
    await panel.receive({ type: 'openPoint', point: '../../etc' });
    assert.match(panel.dropped[panel.dropped.length - 1], /point id handed out by the host/);

    // the command palette: Open Sweep asks which sweep (this one is offered) and reveals the same panel
    let offered: string[] = [];
    const again = await withStub('showQuickPick', async (items: unknown) => {
      const list = await (items as Promise<{ label: string; sweepDir: string }[]> | { label: string; sweepDir: string }[]);
      offered = list.map((i) => i.label);
      return list.find((i) => i.sweepDir === sweepDir);
    }, () => Promise.resolve(vscode.commands.executeCommand<WebviewPanel>('distill.openSweep')));
    assert.ok(offered.includes(`sweepy · sweep ${path.basename(sweepDir)}`), `offered: ${offered.join(', ')}`);
    assert.strictEqual(again, panel, 'the open panel of that sweep, not a second one');
  });
});
