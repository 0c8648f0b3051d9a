/// <reference types="mocha" />
/**
 * Issue 20, point 8 — small rough edges, in the real extension host (after runs.test.ts: the
 * workspace has completed runs): Delete Run asks once, with the action this window can do (no
 * second dialog with a raw vscode-remote error where there is no trash); Export Student's
 * notification leads to what was written.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExperimentNode, RunNode } from '../../src/host/experimentsTree';
import { getApi, waitFor, withStub, wsFile } from './helpers';

/** A completed run of `quick` with an exported student (runs one when the suite runs alone). */
async function completedQuickRun(): Promise<string> {
  const api = await getApi();
  const find = () => {
    const exp = (api.host.tree.getChildren() as ExperimentNode[]).find((n) => n.exp.name === 'quick');
    return exp && (api.host.tree.getChildren(exp) as RunNode[]).find((n) => n.kind === 'run' && n.view.state === 'completed'
      && fs.existsSync(path.join(n.runDir, 'student', 'model.json')));
  };
  const found = find();
  if (found) return found.runDir;
  const result = await api.host.runs.start(wsFile('quick.distill.json'), wsFile(path.join('.distill', 'runs'))).finished;
  assert.strictEqual(result.status, 'completed', result.error);
  return (await waitFor('the run in the tree', find, 15_000)).runDir;
}

suite('Small edges (issue 20)', () => {
  test('Delete Run: one dialog, with the action this window can do, and no error', async () => {
    const api = await getApi();
    const done = await completedQuickRun();
    const copy = path.join(path.dirname(done), '29990101-000000');
    fs.cpSync(done, copy, { recursive: true });
    const run = JSON.parse(fs.readFileSync(path.join(copy, 'run.json'), 'utf8')) as { id: string };
    run.id = path.basename(copy);
    fs.writeFileSync(path.join(copy, 'run.json'), JSON.stringify(run));
    api.host.index.runsChanged();
    const dialogs: { message: string; items: string[] }[] = [];
    const errors: string[] = [];
    await withStub('showErrorMessage', (m: unknown) => {
      errors.push(String(m));
      return Promise.resolve(undefined);
    }, () => withStub('showWarningMessage', (message: unknown, _opts: unknown, ...items: unknown[]) => {
      dialogs.push({ message: String(message), items: items.map(String) });
      return Promise.resolve(items[0]);
    }, async () => {
      assert.strictEqual(await vscode.commands.executeCommand('distill.deleteRun', copy), true);
    }));
    console.log(`      DELETE: uiKind ${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'}, remoteName ${vscode.env.remoteName ?? '–'}: ${dialogs.map((d) => d.items.join('/')).join(' | ')}`);
    assert.strictEqual(dialogs.length, 1, `one dialog: ${dialogs.map((d) => d.message).join(' | ')}`);
    assert.match(dialogs[0].message, /^Delete run 29990101-000000 of quick\?$/);
    const local = vscode.env.remoteName === undefined && vscode.env.uiKind === vscode.UIKind.Desktop;
    assert.deepStrictEqual(dialogs[0].items, [local ? 'Move to Trash' : 'Delete Permanently']);
    assert.deepStrictEqual(errors, []);
    assert.ok(!fs.existsSync(copy), 'the folder is gone');
  });

  test('Export Student: the notification offers Reveal and Open model.json, which opens it', async () => {
    const done = await completedQuickRun();
    const dest = wsFile('exported-edges');
    const notes: { message: string; items: string[] }[] = [];
    try {
      await withStub('showInformationMessage', (message: unknown, ...items: unknown[]) => {
        notes.push({ message: String(message), items: items.map(String) });
        return Promise.resolve('Open model.json');
      }, async () => {
        await vscode.commands.executeCommand('distill.exportStudent', done, dest);
      });
      assert.match(notes[0]?.message ?? '', /student of run .* exported to exported-edges/);
      assert.deepStrictEqual(notes[0].items, ['Reveal', 'Open model.json']);
      await waitFor('model.json open in the editor', () => vscode.window.activeTextEditor?.document.uri.fsPath === path.join(dest, 'model.json'), 10_000);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });

  test('the inline loss value of a long line moves above its entry (CodeLens) instead of being clipped', async () => {
    const api = await getApi();
    await completedQuickRun();
    const file = wsFile('quick.distill.json');
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    try {
      await waitFor('the kd value inline', () => api.charts.placement.get(file)?.kd === 'inline', 15_000);
      // the kd entry on one long line, as people write it with a comment
      const text = doc.getText();
      const start = text.indexOf('{', text.indexOf('"knowledge"') + 1);
      const end = text.indexOf('}', start) + 1;
      const long = '{ "kind": "response", "method": "kd", "temperature": 4, "weight": 0.9 } // soft targets: Hinton et al. 2015, T = 4';
      const edit = new vscode.WorkspaceEdit();
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(start), doc.positionAt(end)), long);
      await vscode.workspace.applyEdit(edit);
      await waitFor('the kd value above its entry', () => api.charts.placement.get(file)?.kd === 'above', 15_000);
      const line = doc.positionAt(doc.getText().indexOf(long)).line;
      const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri);
      const lens = lenses.find((l) => /^kd [\d.e-]+ [▁▂▃▄▅▆▇█]+$/.test(l.command?.title ?? ''));
      assert.ok(lens, `a kd lens among: ${lenses.map((l) => l.command?.title).join(' | ')}`);
      assert.strictEqual(lens.range.start.line, line, 'above the entry\'s line');
      assert.ok(!(api.charts.placement.get(file)?.labels === 'above'), 'a short line keeps its value inline');
    } finally {
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
  });

  test('a run has a verdict in its tooltip and a name: the config difference to the previous run, or a label from the tree', async () => {
    const api = await getApi();
    const first = await completedQuickRun();
    // a second run of quick with another temperature: its default label says so
    const file = wsFile('quick.distill.json');
    const original = fs.readFileSync(file, 'utf8');
    let second: string | undefined;
    try {
      fs.writeFileSync(file, original.replace('"temperature": 4', '"temperature": 8'));
      const result = await api.host.runs.start(file, wsFile(path.join('.distill', 'runs'))).finished;
      assert.strictEqual(result.status, 'completed', result.error);
      second = result.runDir!;
    } finally {
      fs.writeFileSync(file, original);
    }
    const node = await waitFor('the second run in the tree', () => {
      const exp = (api.host.tree.getChildren() as ExperimentNode[]).find((n) => n.exp.name === 'quick');
      return exp && (api.host.tree.getChildren(exp) as RunNode[]).find((n) => n.kind === 'run' && n.runDir === second && n.view.report);
    }, 15_000);
    assert.ok(node.previousRunDir && node.previousRunDir >= first, 'the previous run is known');
    let item = api.host.tree.getTreeItem(node);
    assert.strictEqual(item.label, `${path.basename(second)} · T=8`);
    const tip = (item.tooltip as vscode.MarkdownString).value.replace(/&nbsp;/g, ' ').replace(/\\/g, ''); // appendText escapes
    assert.match(tip, /teacher \d+\.\d\d % · scratch \d+\.\d\d % · distilled \d+\.\d\d %: [+−]\d+\.\d\d ± \d+\.\d\d points vs scratch \(95 %, 1 seed, 256 test images\)/);
    assert.match(tip, /label: \(from the config difference to the previous run\) T=8/);
    // Label Run… writes run.json `label`; empty gives the default back
    assert.strictEqual(await vscode.commands.executeCommand('distill.labelRun', second, 'hotter teacher'), 'hotter teacher');
    assert.strictEqual((JSON.parse(fs.readFileSync(path.join(second, 'run.json'), 'utf8')) as { label?: string }).label, 'hotter teacher');
    item = await waitFor('the label in the tree', () => {
      const n = (api.host.tree.getChildren((api.host.tree.getChildren() as ExperimentNode[]).find((e) => e.exp.name === 'quick')) as RunNode[]).find((r) => r.kind === 'run' && r.runDir === second);
      const it = n && api.host.tree.getTreeItem(n);
      return it && String(it.label).endsWith('hotter teacher') ? it : undefined;
    }, 10_000);
    assert.strictEqual(item.label, `${path.basename(second)} · hotter teacher`);
    await vscode.commands.executeCommand('distill.labelRun', second, '');
    assert.strictEqual((JSON.parse(fs.readFileSync(path.join(second, 'run.json'), 'utf8')) as { label?: string }).label, undefined);
  });
});

