/// <reference types="mocha" />
/**
 * Activation, the command registry, the Experiments tree, Problems, CodeLens, panels and small
 * commands — inside a real VS Code extension host with the fixture workspace (fixture.ts).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { DistillApi } from '../../src/extension';
import type { ExperimentNode, RunNode, TreeNode } from '../../src/host/experimentsTree';
import { EXTENSION_ID, getApi, waitFor, withStub, wsFile } from './helpers';

suite('Distill Studio: activation, commands, views', () => {
  let api: DistillApi;

  suiteSetup(async () => {
    // The workspace contains *.distill.json: VS Code activates the extension on its own.
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, 'extension is installed from extensionDevelopmentPath');
    await waitFor('activation by workspaceContains', () => ext.isActive, 20_000);
    api = await getApi();
  });

  test('activation loads no TensorFlow.js (its time and the bundle\'s load time are printed, not asserted)', () => {
    const bundle = path.join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, 'dist', 'extension.js');
    const size = fs.statSync(bundle).size;
    // Re-evaluate the bundle in a fresh module instance to time its load (it does not activate).
    const t0 = performance.now();
    delete require.cache[require.resolve(bundle)];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(bundle);
    const loadMs = performance.now() - t0;
    console.log(`      ACTIVATION: activate() ${api.activationMs.toFixed(1)} ms; dist/extension.js (${(size / 1024).toFixed(0)} KiB) loads in ${loadMs.toFixed(1)} ms`);
    assert.ok(!Object.keys(require.cache).some((k) => k.includes('@tensorflow')), 'TensorFlow.js is never loaded in the extension host');
  });

  test('every command of package.json is registered, in category Distill', async () => {
    const pkg = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { commands: { command: string; category: string }[] } };
    const declared = pkg.contributes.commands.map((c) => c.command);
    const all = new Set(await vscode.commands.getCommands(true));
    for (const id of declared) assert.ok(all.has(id), `${id} is registered`);
    assert.deepStrictEqual([...api.commands].sort(), [...declared].sort(), 'registry and package.json list the same commands');
    assert.ok(pkg.contributes.commands.every((c) => c.category === 'Distill'));
    for (const id of ['distill.newExperiment', 'distill.runExperiment', 'distill.stopRun', 'distill.resumeRun', 'distill.deleteRun',
      'distill.openDashboard', 'distill.showLayerPairing', 'distill.compareFeatureMaps', 'distill.showCompressionReport',
      'distill.compareRuns', 'distill.exportStudent', 'distill.suggestLayerPairs', 'distill.selectBackend', 'distill.showEngineLog']) {
      assert.ok(declared.includes(id), `${id} is declared`);
    }
  });

  test('the tree lists the experiments of the workspace and their runs', async () => {
    const tree = api.host.tree;
    const roots = await waitFor('experiments in the tree', () => {
      const r = tree.getChildren() as ExperimentNode[];
      return r.length >= 2 ? r : undefined;
    });
    const names = roots.map((n) => n.exp.name);
    assert.ok(names.includes('quick') && names.includes('long'), `experiments: ${names.join(', ')}`);
    const quick = roots.find((n) => n.exp.name === 'quick')!;
    const runs = tree.getChildren(quick) as RunNode[];
    const interrupted = fs.readFileSync(wsFile('interrupted-run.txt'), 'utf8');
    const node = runs.find((r) => r.runDir === interrupted);
    assert.ok(node, 'the fixture run is listed under its experiment');
    const item = tree.getTreeItem(node);
    assert.match(String(item.description), /^interrupted \(resumable\)/);
    assert.strictEqual(item.contextValue, 'run:interrupted');
    assert.strictEqual((item.iconPath as vscode.ThemeIcon).id, 'warning');
    const details = tree.getChildren(node) as TreeNode[];
    const labels = details.map((d) => (d.kind === 'detail' ? d.label : ''));
    for (const l of ['backend', 'duration', 'seed']) assert.ok(labels.includes(l), `detail ${l} in ${labels.join(', ')}`);
    // found on reload and offered for resume
    assert.deepStrictEqual(api.host.runs.interrupted([interrupted]), [interrupted]);
  });

  test('a new experiment file shows up in the tree (file watcher), and goes away when deleted', async () => {
    const file = wsFile('watched.distill.json');
    fs.writeFileSync(file, fs.readFileSync(wsFile('quick.distill.json'), 'utf8').replace('"quick"', '"watched"'));
    const has = () => (api.host.tree.getChildren() as ExperimentNode[]).some((n) => n.exp.name === 'watched');
    await waitFor('the new experiment in the tree', has, 15_000);
    fs.rmSync(file);
    await waitFor('the experiment gone from the tree', () => !has(), 15_000);
  });

  test('the engine checks layer names on save: an unknown layer is a Problem at the pair, with the closest names', async () => {
    const file = wsFile('badpair.distill.json');
    const exp = JSON.parse(fs.readFileSync(wsFile('quick.distill.json'), 'utf8')) as Record<string, unknown>;
    exp.name = 'badpair';
    exp.knowledge = [{ kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_9', student: 'dense_1' }] }];
    const text = JSON.stringify(exp, null, 2);
    fs.writeFileSync(file, text);
    try {
      const doc = await vscode.workspace.openTextDocument(file);
      await vscode.window.showTextDocument(doc);
      await doc.save();
      const diag = await waitFor('the engine\'s layer-name problem', () => vscode.languages.getDiagnostics(doc.uri)
        .find((d) => d.source === 'distill' && /has no layer "dense_9"/.test(d.message)), 60_000);
      assert.match(diag.message, /knowledge\[0\]\.pairs\[0\]\.teacher: the teacher has no layer "dense_9"; closest: "dense_1"/);
      assert.strictEqual(doc.getText(diag.range), '"dense_9"', 'the exact range of the layer name');
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('a bad experiment gives Problems at the right lines, refreshed on edit', async () => {
    const file = wsFile('bad.distill.json');
    const text = fs.readFileSync(wsFile('quick.distill.json'), 'utf8')
      .replace('"name": "quick"', '"name": "bad"')
      .replace('"temperature": 4', '"temperature": -1');
    const withMissing = text.replace(/"student": \{\n(\s*)"module": "models.ts"/, '"student": {\n$1"module": "missing-models.ts"');
    fs.writeFileSync(file, withMissing);
    try {
      const lines = withMissing.split('\n');
      const tempLine = lines.findIndex((l) => l.includes('"temperature": -1'));
      const doc = await vscode.workspace.openTextDocument(file);
      await vscode.window.showTextDocument(doc);
      const diags = await waitFor('distill diagnostics', () => {
        const d = vscode.languages.getDiagnostics(doc.uri).filter((x) => x.source === 'distill');
        return d.length > 0 ? d : undefined;
      }, 15_000);
      const temp = diags.find((d) => /temperature/.test(d.message));
      assert.ok(temp, `a temperature problem in: ${diags.map((d) => d.message).join(' | ')}`);
      assert.strictEqual(temp.range.start.line, tempLine, 'on the line of the value');
      assert.strictEqual(doc.getText(temp.range), '-1', 'the exact range of the value');
      assert.strictEqual(temp.severity, vscode.DiagnosticSeverity.Error);
      // fix it in the editor: the problem goes (debounced re-check)
      const edit = new vscode.WorkspaceEdit();
      edit.replace(doc.uri, temp.range, '4');
      await vscode.workspace.applyEdit(edit);
      await waitFor('the temperature problem gone', () => !vscode.languages.getDiagnostics(doc.uri).some((d) => d.source === 'distill' && /temperature/.test(d.message)), 10_000);
      // the missing module is only found when the schema checks pass: now it shows, at its value
      const missing = await waitFor('the missing-file problem', () => vscode.languages.getDiagnostics(doc.uri).find((d) => d.source === 'distill' && /file not found/.test(d.message)), 10_000);
      assert.strictEqual(doc.getText(missing.range), '"missing-models.ts"');
      // one problem per mistake (the JSON language service's own schema problems are gone): test/vscode/problems.test.ts
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('CodeLens: Run · Dashboard · Pairing in the experiment; users above the model factory', async () => {
    const exp = vscode.Uri.file(wsFile('quick.distill.json'));
    await vscode.workspace.openTextDocument(exp); // the provider command needs the document loaded
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', exp);
    const titles = lenses.map((l) => l.command?.title ?? '');
    for (const t of ['Run', 'Dashboard', 'Pairing']) assert.ok(titles.some((x) => x.includes(t)), `${t} in ${titles.join(', ')}`);
    const models = vscode.Uri.file(wsFile('models.ts'));
    const doc = await vscode.workspace.openTextDocument(models);
    const mlpLine = doc.getText().split('\n').findIndex((l) => l.startsWith('export function mlp'));
    const mLenses = await waitFor('model lenses', async () => {
      const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', models);
      return l.length > 0 ? l : undefined;
    }, 10_000);
    const mTitles = mLenses.map((l) => `${l.range.start.line}:${l.command?.title}`);
    assert.ok(mTitles.some((t) => t.startsWith(`${mlpLine}:`) && t.includes('quick (teacher)')), mTitles.join(', '));
    assert.ok(mTitles.some((t) => t.includes('long (student)')), mTitles.join(', '));
  });

  test('panel commands open a webview beside with a strict CSP (scripts by nonce, from dist/ only)', async () => {
    const interrupted = fs.readFileSync(wsFile('interrupted-run.txt'), 'utf8');
    for (const cmd of ['distill.openDashboard', 'distill.showLayerPairing', 'distill.compareFeatureMaps', 'distill.showCompressionReport']) {
      const panel = await vscode.commands.executeCommand<{ html: string; kind: string }>(cmd, interrupted);
      assert.ok(panel, `${cmd} opened a panel`);
      assert.match(panel.html, /Content-Security-Policy" content="default-src 'none';[^"]*script-src 'nonce-[A-Za-z0-9+/=]{20,}'/);
      assert.match(panel.html, /<script nonce="[A-Za-z0-9+/=]{20,}" src="[^"]*dist\/webview\/\w+\.js"><\/script>/);
      assert.doesNotMatch(panel.html, /unsafe-inline|unsafe-eval/);
    }
    const fromExperiment = await vscode.commands.executeCommand<{ target: { runDirs: string[] } }>('distill.openDashboard', vscode.Uri.file(wsFile('quick.distill.json')));
    assert.deepStrictEqual(fromExperiment.target.runDirs, [api.host.index.latestRun(api.host.index.get(wsFile('quick.distill.json'))!)!.runDir]);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('commands that cannot act say so (Export Student without a finished run)', async () => {
    const said: string[] = [];
    await withStub('showInformationMessage', (msg: unknown) => {
      said.push(String(msg));
      return Promise.resolve(undefined);
    }, async () => {
      await vscode.commands.executeCommand('distill.exportStudent', vscode.Uri.file(wsFile('long.distill.json')));
    });
    assert.match(said[0], /no completed run with an exported student/);
  });

  test('Select Compute Backend writes distill.backend', async () => {
    const chosen = await vscode.commands.executeCommand('distill.selectBackend', 'wasm');
    assert.strictEqual(chosen, 'wasm');
    assert.strictEqual(vscode.workspace.getConfiguration('distill').get('backend'), 'wasm');
    await vscode.workspace.getConfiguration('distill').update('backend', undefined, vscode.ConfigurationTarget.Workspace);
  });

  test('New Experiment from a model file writes a valid template and opens it beside', async () => {
    // the exports given (issue 20: otherwise a quick pick asks, test/vscode/newExperiment.test.ts)
    const uri = await vscode.commands.executeCommand<vscode.Uri>('distill.newExperiment', vscode.Uri.file(wsFile('models.ts')), { teacher: 'mlp', student: 'mlp' });
    try {
      assert.ok(uri && fs.existsSync(uri.fsPath), 'the experiment file was written');
      assert.strictEqual(path.basename(uri.fsPath), 'models-kd.distill.json');
      assert.strictEqual(vscode.window.activeTextEditor?.document.uri.fsPath, uri.fsPath, 'opened');
      const text = fs.readFileSync(uri.fsPath, 'utf8');
      assert.match(text, /"module": "models.ts", "export": "mlp"/);
      const diags = await waitFor('diagnostics computed', () => api.host.diagnostics.collection.has(uri) ? api.host.diagnostics.collection.get(uri) : undefined, 10_000);
      assert.deepStrictEqual(diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).map((d) => d.message), [], 'the template is a valid experiment');
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      if (uri) fs.rmSync(uri.fsPath, { force: true });
    }
  });
});
