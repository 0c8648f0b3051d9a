/// <reference types="mocha" />
/**
 * One problem per mistake (issue 20, point 2): our validator owns validation; the JSON Schema is
 * contributed to the editor for completion and hover only (dist/experiment.editor.schema.json), so
 * VS Code's JSON language service no longer repeats each mistake as "Property … is not allowed",
 * "Incorrect type" or "Missing property".
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as vscode from 'vscode';
import { getApi, waitFor, wsFile } from './helpers';

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
});
