/// <reference types="mocha" />
/**
 * One problem per mistake (issue 20, point 2): our validator owns validation; the JSON Schema is
 * contributed to the editor for completion and hover only (dist/experiment.editor.schema.json), so
 * VS Code's JSON language service no longer repeats each mistake as "Property … is not allowed",
 * "Incorrect type" or "Missing property".
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { getApi, waitFor, withStub, wsFile } from './helpers';

suite('Problems: one per mistake', () => {
  suiteSetup(async () => {
    await getApi();
  });

  test('a misspelt field yields exactly one problem, and the schema still completes and explains', async () => {
    const file = wsFile('misspelt.distill.json');
    const sentinel = wsFile('sentinel-not-an-experiment.json');
    const text = fs.readFileSync(wsFile('quick.distill.json'), 'utf8').replace('"name": "quick"', '"name": "misspelt"');
    const at = text.indexOf('"training": {');
    const misspelt = text.slice(0, at) + text.slice(at).replace('"epochs":', '"epoch":'); // training.epochs → epoch
    assert.notStrictEqual(misspelt, text, 'the fixture has training.epochs to misspell');
    fs.writeFileSync(file, misspelt);
    // a plain JSON file that declares its own schema: the JSON language service always reports its mistake
    fs.writeFileSync(sentinel, `{ "$schema": "${vscode.Uri.file(wsFile('sentinel.schema.json')).toString()}", "unexpected": 1 }\n`);
    fs.writeFileSync(wsFile('sentinel.schema.json'), JSON.stringify({ type: 'object', additionalProperties: false, properties: { $schema: {} } }));
    try {
      const doc = await vscode.workspace.openTextDocument(file);
      await vscode.window.showTextDocument(doc);
      const ours = await waitFor('our problem for the misspelt field', () => vscode.languages.getDiagnostics(doc.uri)
        .find((d) => d.source === 'distill' && /"epoch"/.test(d.message)), 15_000);
      assert.match(ours.message, /unknown field "epoch"; did you mean "epochs"\?/);
      assert.strictEqual(doc.getText(ours.range).replace(/"/g, ''), 'epoch', 'on the misspelt key');
      // The JSON language service validates documents in the order they change: once it has reported the
      // sentinel, opened after the experiment, it has validated the experiment too.
      const sdoc = await vscode.workspace.openTextDocument(sentinel);
      await vscode.window.showTextDocument(sdoc, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
      await waitFor('the JSON language service at work (the sentinel\'s problem)', () => vscode.languages.getDiagnostics(sdoc.uri)
        .some((d) => /unexpected|not allowed/i.test(d.message)), 30_000);
      const all = vscode.languages.getDiagnostics(doc.uri);
      assert.deepStrictEqual(all.map((d) => `${d.source}: ${d.message}`), [`distill: ${ours.message}`], 'exactly one problem for one mistake');

      // completion and hover still come from the schema
      const inTraining = doc.positionAt(doc.getText().indexOf('"training": {') + '"training": {'.length);
      const items = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', doc.uri, inTraining);
      const labels = items.items.map((i) => (typeof i.label === 'string' ? i.label : i.label.label).replace(/"/g, ''));
      assert.ok(labels.includes('epochs') && labels.includes('checkpointEvery'), `schema completion in training: ${labels.join(', ')}`);
      const onTemperature = doc.positionAt(doc.getText().indexOf('"temperature"') + 2);
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, onTemperature);
      const hoverText = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      assert.match(hoverText, /temperature/i, `schema hover on temperature: ${hoverText}`);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      for (const f of [file, sentinel, wsFile('sentinel.schema.json')]) fs.rmSync(f, { force: true });
    }
  });

  test('a wrong layer name is found as you type (unsaved, with another mistake), on its pair, with a quick fix', async () => {
    const file = wsFile('pairs.distill.json');
    const exp = JSON.parse(fs.readFileSync(wsFile('quick.distill.json'), 'utf8')) as Record<string, unknown>;
    exp.name = 'pairs';
    exp.knowledge = [...exp.knowledge as unknown[], { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }];
    fs.writeFileSync(file, JSON.stringify(exp, null, 2) + '\n');
    try {
      const doc = await vscode.workspace.openTextDocument(file);
      await vscode.window.showTextDocument(doc);
      await waitFor('the file checked', () => vscode.languages.getDiagnostics(doc.uri).length === 0 && doc.getText().includes('fitnet'), 15_000);
      // two mistakes at once, never saved: a misspelt field and a layer the student does not have
      const text = doc.getText();
      const edit = new vscode.WorkspaceEdit();
      const pairAt = text.indexOf('"student": "dense_1"', text.indexOf('"fitnet"'));
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(pairAt), doc.positionAt(pairAt + '"student": "dense_1"'.length)), '"student": "dense_9"');
      const logAt = text.indexOf('"logEvery"');
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(logAt), doc.positionAt(logAt + '"logEvery"'.length)), '"logEvry"');
      await vscode.workspace.applyEdit(edit);
      assert.ok(doc.isDirty, 'the edits are not saved');
      const layer = await waitFor('the unknown layer in Problems', () => vscode.languages.getDiagnostics(doc.uri)
        .find((d) => d.source === 'distill' && /has no layer "dense_9"/.test(d.message)), 60_000);
      assert.match(layer.message, /^knowledge\[1\]\.pairs\[0\]\.student: the student has no layer "dense_9"; closest: "dense_1", "logits"$/);
      assert.strictEqual(doc.getText(layer.range), '"dense_9"', 'on the pair\'s student name');
      assert.ok(vscode.languages.getDiagnostics(doc.uri).some((d) => /unknown field "logEvry"/.test(d.message)), 'the other mistake is shown too');
      // the quick fix replaces the name by the closest one, and the problem goes
      const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', doc.uri, layer.range);
      const fix = actions.find((a) => a.title === 'Replace "dense_9" with "dense_1"');
      assert.ok(fix?.edit && fix.isPreferred, `quick fixes: ${actions.map((a) => a.title).join(' | ')}`);
      await vscode.workspace.applyEdit(fix.edit);
      assert.ok(doc.getText().includes('"student": "dense_1"'));
      await waitFor('the layer problem gone', () => !vscode.languages.getDiagnostics(doc.uri).some((d) => /has no layer/.test(d.message)), 15_000);
    } finally {
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
      fs.rmSync(file, { force: true });
    }
  });

  test('a config error found by the engine never offers Resume, and Run refuses what Problems already show', async () => {
    const api = await getApi();
    const file = wsFile('badlayer.distill.json');
    const exp = JSON.parse(fs.readFileSync(wsFile('quick.distill.json'), 'utf8')) as Record<string, unknown>;
    exp.name = 'badlayer';
    exp.knowledge = [...exp.knowledge as unknown[], { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_9' }] }];
    fs.writeFileSync(file, JSON.stringify(exp, null, 2) + '\n');
    const runsDir = wsFile(path.join('.distill', 'runs'));
    const folders = () => (fs.existsSync(path.join(runsDir, 'badlayer')) ? fs.readdirSync(path.join(runsDir, 'badlayer')) : []);
    const shown: { message: string; items: string[] }[] = [];
    try {
      await withStub('showErrorMessage', (message: unknown, ...items: unknown[]) => {
        shown.push({ message: String(message), items: items.map(String) });
        return Promise.resolve(undefined);
      }, async () => {
        // straight to the run manager (as a run started before Problems knew): the engine fails on the layer name
        const result = await api.host.runs.start(file, runsDir).finished;
        assert.strictEqual(result.status, 'failed');
        const note = await waitFor('the failure notification', () => shown.find((s) => /has no layer "dense_9"/.test(s.message)), 10_000);
        assert.ok(!note.items.includes('Resume'), `no Resume for a config error: ${note.items.join(', ')}`);
        assert.ok(note.items.includes('Open Experiment'), note.items.join(', '));
        const before = folders().length;
        // with the file open, Problems know the mistake: Run refuses it before any folder is made
        const doc = await vscode.workspace.openTextDocument(file);
        await vscode.window.showTextDocument(doc);
        await waitFor('the layer problem in Problems', () => vscode.languages.getDiagnostics(doc.uri).some((d) => /has no layer "dense_9"/.test(d.message)), 60_000);
        shown.length = 0;
        const handle = await vscode.commands.executeCommand('distill.runExperiment', doc.uri);
        assert.strictEqual(handle, undefined, 'no run started');
        assert.match(shown[0]?.message ?? '', /badlayer has 1 problem .*has no layer "dense_9"/);
        assert.deepStrictEqual(shown[0].items, ['Open Experiment']);
        assert.strictEqual(folders().length, before, 'no run folder created');
      });
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      fs.rmSync(file, { force: true });
    }
  });
});
