/// <reference types="mocha" />
/**
 * Issue 20, point 5 in a real extension host: New Experiment asks for the teacher and the student
 * export (the guess preselected), writes a template sized for a first run with the training time
 * measured on this machine, and a model file's false "Cannot find module '@tensorflow/tfjs'" has a
 * quick fix that points the editor at the extension's TensorFlow.js types.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { TfjsTypesQuickFix } from '../../src/host/tfjsTypes';
import { EXTENSION_ID, getApi, waitFor, withStub, wsFile } from './helpers';

suite('New Experiment for a first run (issue 20)', () => {
  test('quick picks for the exports (guess preselected), a small template with a measured time estimate, valid', async () => {
    const api = await getApi();
    const asked: { title: string; items: { label: string; description?: string; picked?: boolean }[] }[] = [];
    const uri = await withStub('showQuickPick', (items: unknown, opts: unknown) => {
      const list = items as { label: string; description?: string; picked?: boolean }[];
      asked.push({ title: String((opts as { title?: string }).title), items: list });
      // the teacher: not the guess (cnn); the student: the preselected guess
      return Promise.resolve(asked.length === 1 ? list.find((i) => i.label === 'cnn') : list.find((i) => i.picked));
    }, async () => vscode.commands.executeCommand<vscode.Uri>('distill.newExperiment', vscode.Uri.file(wsFile('models.ts'))));
    try {
      assert.ok(uri && fs.existsSync(uri.fsPath), 'written');
      assert.deepStrictEqual(asked.map((a) => a.title), ['New Experiment: the teacher', 'New Experiment: the student']);
      assert.deepStrictEqual(asked[0].items.map((i) => [i.label, i.picked, i.description]), [['mlp', true, 'guessed'], ['cnn', false, undefined], ['cnnBn', false, undefined]]);
      const text = fs.readFileSync(uri.fsPath, 'utf8');
      assert.match(text, /"module": "models.ts", "export": "cnn"/);
      assert.match(text, /"student": \{ "module": "models.ts", "export": "mlp" \}/);
      assert.match(text, /"train": \{ "format": "mnist", "split": "train", "limit": 5000 \}/);
      assert.match(text, /"test": \{ "format": "mnist", "split": "test", "limit": 1000 \}/);
      assert.match(text, /"training": \{ "epochs": 3,/);
      const estimate = /\/\/ ≈ (\d+) (s|min|h) of training on this machine/.exec(text);
      assert.ok(estimate, `a measured estimate in the template:\n${text.slice(0, 600)}`);
      console.log(`      NEW EXPERIMENT: ${estimate[0].slice(3)}`);
      // (an earlier test's models-kd.distill.json, since deleted, may have left "not found": wait for this file's own check)
      const diags = await waitFor('diagnostics computed', () => {
        const d = api.host.diagnostics.collection.get(uri);
        return d && !d.some((x) => /experiment file not found/.test(x.message)) ? d : undefined;
      }, 10_000);
      assert.deepStrictEqual(diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).map((d) => d.message), [], 'a valid experiment');
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      if (uri) fs.rmSync(uri.fsPath, { force: true });
    }
  });

  test('"Cannot find module \'@tensorflow/tfjs\'": a quick fix writes tsconfig.json paths to the extension\'s types; then only the install is offered', async () => {
    const dir = wsFile('tfjs-hint');
    fs.mkdirSync(dir, { recursive: true });
    const net = path.join(dir, 'net.ts');
    fs.writeFileSync(net, "import * as tf from '@tensorflow/tfjs';\nexport const teacher = (_tf: typeof tf) => _tf.sequential();\n");
    try {
      const doc = await vscode.workspace.openTextDocument(net);
      const range = new vscode.Range(0, 20, 0, 38);
      const missing = new vscode.Diagnostic(range, "Cannot find module '@tensorflow/tfjs' or its corresponding type declarations.", vscode.DiagnosticSeverity.Error);
      missing.code = 2307;
      missing.source = 'ts';
      const fix = TfjsTypesQuickFix.forExtension(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath);
      const ctx = { diagnostics: [missing], triggerKind: vscode.CodeActionTriggerKind.Invoke, only: undefined };
      const actions = fix.provideCodeActions(doc, range, ctx);
      assert.deepStrictEqual(actions.map((a) => a.title), ['Use Distill Studio\'s TensorFlow.js types (create tsconfig.json)',
        'Install @tensorflow/tfjs@4.22.0 for the editor (npm install --save-dev, in a terminal)']);
      assert.strictEqual(actions[1].command?.command, 'distill.installTfjsTypes');
      assert.ok(await vscode.workspace.applyEdit(actions[0].edit!));
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions: { paths: Record<string, string[]> } };
      const target = config.compilerOptions.paths['@tensorflow/tfjs'][0];
      const pkg = JSON.parse(fs.readFileSync(path.join(target, 'package.json'), 'utf8')) as { name: string; types?: string };
      assert.strictEqual(pkg.name, '@tensorflow/tfjs');
      assert.ok(pkg.types && fs.existsSync(path.join(target, pkg.types)), 'the mapped package has its type declarations');
      assert.deepStrictEqual(fix.provideCodeActions(doc, range, ctx).map((a) => a.command?.command), ['distill.installTfjsTypes'], 'paths already there');
      // another diagnostic is not ours
      const other = new vscode.Diagnostic(range, "Cannot find module 'lodash'.", vscode.DiagnosticSeverity.Error);
      other.code = 2307;
      assert.deepStrictEqual(fix.provideCodeActions(doc, range, { ...ctx, diagnostics: [other] }), []);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
