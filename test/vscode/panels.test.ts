/// <reference types="mocha" />
/**
 * The panels in a real extension host: the pairing panel asks the engine (a forked worker) for
 * the layers, checks a pair there before writing, writes it as an undoable WorkspaceEdit that
 * keeps the file's comments, refuses impossible pairs with the reason, drops malformed webview
 * messages; the dashboard starts from the run folder.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as vscode from 'vscode';
import type { WebviewPanel } from '../../src/host/panels/shell';
import type { HostToWebview, PairingData } from '../../src/protocol/webviews';
import { getApi, waitFor, wsFile } from './helpers';

suite('Distill Studio: panels', () => {
  suiteSetup(async () => {
    await getApi();
  });

  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('pairing: add (checked in the engine), refuse, undo, remove — the file keeps its comments', async () => {
    const file = wsFile('pairing.distill.json');
    const base = JSON.parse(fs.readFileSync(wsFile('quick.distill.json'), 'utf8')) as Record<string, unknown>;
    const body = JSON.stringify({ ...base, name: 'pairing' }, null, 2);
    const original = body.replace('"knowledge": [', '// pairs are edited by the panel\n  "knowledge": [ // response first');
    fs.writeFileSync(file, original);
    try {
      const doc = await vscode.workspace.openTextDocument(file);
      await vscode.window.showTextDocument(doc);
      const panel = await vscode.commands.executeCommand<WebviewPanel>('distill.showLayerPairing', vscode.Uri.file(file));
      assert.ok(panel, 'the pairing panel opened');
      await panel.receive({ type: 'ready' });
      const init = await waitFor('layers from the engine', () => panel.sent.find((m): m is Extract<HostToWebview, { type: 'init'; panel: 'pairing' }> => m.type === 'init' && m.panel === 'pairing'), 90_000);
      const data: PairingData = init.data;
      assert.strictEqual(data.error, undefined, data.error);
      assert.deepStrictEqual(data.teacher.map((l) => [l.name, l.outputShape]), [['dense_1', [null, 64]], ['logits', [null, 4]]]);
      assert.deepStrictEqual(data.student.map((l) => l.params), [16 * 8 + 8, 8 * 4 + 4]);

      // an impossible pair: refused with the reason, nothing written
      await panel.receive({ type: 'addPair', teacher: 'dense_1', student: 'dense_1', method: 'at' });
      const refused = panel.sent.find((m) => m.type === 'pairRefused') as Extract<HostToWebview, { type: 'pairRefused' }> | undefined;
      assert.ok(refused, 'refused');
      assert.match(refused.reason, /rank 4/);
      assert.strictEqual(doc.getText(), original);

      // a malformed message is dropped
      await panel.receive({ type: 'addPair', teacher: 'dense_1"; rm -rf', student: 'x', method: 'fitnet' });
      assert.match(panel.dropped[panel.dropped.length - 1], /layer names/);

      // add: one edit, comments kept
      await panel.receive({ type: 'addPair', teacher: 'dense_1', student: 'dense_1', method: 'fitnet' });
      await waitFor('the edit', () => doc.getText() !== original, 10_000);
      const added = doc.getText();
      assert.match(added, /\/\/ pairs are edited by the panel/);
      assert.match(added, /"knowledge": \[ \/\/ response first/);
      assert.match(added, /\{ "kind": "feature", "method": "fitnet", "weight": 1, "pairs": \[\{ "teacher": "dense_1", "student": "dense_1" \}\] \}/);
      assert.ok(panel.sent.some((m) => m.type === 'notice' && /adapter dense 8→64/.test(m.message)), 'the adapter is named');
      // the panel refreshes from the edited document: the new link with its adapter
      await waitFor('the new link', () => panel.sent.some((m) => m.type === 'init' && m.panel === 'pairing' && m.data.links.some((l) => l.method === 'fitnet' && l.adapter === 'dense 8→64')), 30_000);

      // undo restores the text
      await vscode.window.showTextDocument(doc);
      await vscode.commands.executeCommand('undo');
      await waitFor('undo', () => doc.getText() === original, 10_000);

      // add again, then remove through the panel: back to the original text
      await panel.receive({ type: 'addPair', teacher: 'dense_1', student: 'dense_1', method: 'fitnet' });
      await waitFor('the edit', () => doc.getText() === added, 10_000);
      const entry = (JSON.parse(doc.getText().replace(/\/\/.*$/gm, '')) as { knowledge: unknown[] }).knowledge.length - 1;
      await waitFor('links refreshed', () => panel.sent.some((m) => m.type === 'init' && m.panel === 'pairing' && m.data.links.some((l) => l.entry === entry)), 30_000);
      await panel.receive({ type: 'removePair', entry, pair: 0 });
      await waitFor('the removal', () => doc.getText() === original, 10_000);
      await doc.save();
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('dashboard: init from the run folder after the ready handshake', async () => {
    const panel = await vscode.commands.executeCommand<WebviewPanel>('distill.openDashboard', vscode.Uri.file(wsFile('quick.distill.json')));
    await panel.receive({ type: 'ready' });
    const init = await waitFor('init', () => panel.sent.find((m) => m.type === 'init'), 10_000);
    assert.strictEqual(init.type === 'init' && init.panel, 'dashboard');
    await panel.receive({ type: 'save', format: 'csv', name: '../escape.csv', data: 'x' });
    assert.match(panel.dropped[panel.dropped.length - 1], /plain file name/);
  });
});
