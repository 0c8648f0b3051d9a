/// <reference types="mocha" />
/**
 * Runs through the real forked engine worker: Run → completed (tree, status bar, inline charts),
 * Stop → cancelled with a resumable folder, a killed worker → failed with the reason, an
 * interrupted run resumed, Delete asks first.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { DistillApi } from '../../src/extension';
import type { RunJson } from '../../src/runs/store';
import type { ExperimentNode, RunNode } from '../../src/host/experimentsTree';
import type { RunHandle } from '../../src/host/runManager';
import { getApi, readJsonFile, waitFor, withStub, wsFile } from './helpers';

function runJson(runDir: string): RunJson {
  return readJsonFile<RunJson>(path.join(runDir, 'run.json'));
}

function runNode(api: DistillApi, expName: string, runDir: string): RunNode | undefined {
  const exp = (api.host.tree.getChildren() as ExperimentNode[]).find((n) => n.exp.name === expName);
  if (!exp) return undefined;
  return (api.host.tree.getChildren(exp) as RunNode[]).find((n) => n.kind === 'run' && n.runDir === runDir);
}

suite('Distill Studio: runs in a forked engine', () => {
  let api: DistillApi;
  suiteSetup(async () => {
    api = await getApi();
  });

  test('Run Experiment → the real worker → completed; the tree, status bar and inline charts follow', async () => {
    const file = wsFile('quick.distill.json');
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    const t0 = Date.now();
    const handle = await vscode.commands.executeCommand<RunHandle>('distill.runExperiment', vscode.Uri.file(file));
    assert.ok(handle, 'a run handle');
    const texts = new Set<string>();
    let sawRunningInTree = false;
    const poll = setInterval(() => {
      if (api.statusBar.item.text) texts.add(api.statusBar.item.text);
      if (handle.runDir) {
        const n = runNode(api, 'quick', handle.runDir);
        if (n && api.host.tree.getTreeItem(n).iconPath instanceof vscode.ThemeIcon
          && (api.host.tree.getTreeItem(n).iconPath as vscode.ThemeIcon).id === 'loading~spin') sawRunningInTree = true;
      }
    }, 50);
    const result = await handle.finished;
    clearInterval(poll);
    console.log(`      quick run: ${result.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s; status bar showed: ${[...texts].slice(-3).join(' | ')}`);
    assert.strictEqual(result.status, 'completed', result.error);
    // the job named, with the time left once known (issue 20)
    assert.ok([...texts].some((t) => /^\$\(sync~spin\) quick · (teacher|scratch-s1|distill-s1) · epoch \d+\/\d+ · loss [\d.e-]+( · \d+ s left)?$/.test(t)), `status bar texts: ${[...texts].join(' | ')}`);
    assert.ok(sawRunningInTree, 'the tree showed the run spinning while it ran');
    const runDir = result.runDir!;
    assert.strictEqual(runJson(runDir).status, 'completed');
    assert.ok(fs.existsSync(path.join(runDir, 'report.json')));
    await waitFor('status bar hidden', () => api.host.runs.handles().length === 0);
    await waitFor('the completed run in the tree', () => {
      const n = runNode(api, 'quick', runDir);
      return n && n.view.state === 'completed' ? n : undefined;
    }, 10_000);
    const node = runNode(api, 'quick', runDir)!;
    const item = api.host.tree.getTreeItem(node);
    // the distilled student's test accuracy, flagged when it lost to scratch or is within noise (issue 20)
    assert.match(String(item.description), /^completed · test \d+\.\d%( ⚠)? · [▁▂▃▄▅▆▇█]+$/);
    assert.strictEqual(item.contextValue, 'run:completed:report');
    const details = api.host.tree.getChildren(node).map((d) => (d.kind === 'detail' ? `${d.label}=${d.value}` : ''));
    for (const re of [/^loss kd=/, /^loss labels=/, /^loss total=/, /^backend=wasm|tensorflow|cpu/, /^seed=1$/, /^distill-s1 \(epoch 2\)=test /]) {
      assert.ok(details.some((d) => re.test(d)), `${re} in ${details.join(' ; ')}`);
    }
    // inline charts after the knowledge entry and the labels term
    const drawn = await waitFor('inline charts', () => {
      const r = api.charts.rendered.get(file);
      return r && r.kd && r.labels ? r : undefined;
    }, 10_000);
    assert.match(drawn.kd, /^kd [\d.e-]+ [▁▂▃▄▅▆▇█]+$/);
    // the setting turns them off
    await vscode.workspace.getConfiguration('distill').update('inlineCharts', false, vscode.ConfigurationTarget.Workspace);
    await waitFor('inline charts off', () => !api.charts.rendered.has(file), 5_000);
    await vscode.workspace.getConfiguration('distill').update('inlineCharts', undefined, vscode.ConfigurationTarget.Workspace);
    // Export Student copies student/
    const dest = path.join(path.dirname(file), 'exported-student');
    await withStub('showInformationMessage', () => Promise.resolve(undefined), () =>
      Promise.resolve(vscode.commands.executeCommand('distill.exportStudent', runDir, dest)));
    assert.ok(fs.existsSync(path.join(dest, 'model.json')), 'student exported');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('Stop Run → checkpoint → cancelled, and the folder is resumable', async () => {
    const handle = await vscode.commands.executeCommand<RunHandle>('distill.runExperiment', vscode.Uri.file(wsFile('long.distill.json')));
    await waitFor('progress', () => handle.progress && handle.progress.step > 0, 60_000, 50);
    const stopped = await vscode.commands.executeCommand<RunHandle>('distill.stopRun', handle.runDir);
    assert.strictEqual(stopped, handle);
    const result = await handle.finished;
    assert.strictEqual(result.status, 'cancelled', result.error);
    const run = runJson(result.runDir!);
    assert.strictEqual(run.status, 'cancelled');
    const ckpts = path.join(result.runDir!, 'checkpoints');
    assert.ok(fs.existsSync(ckpts) && fs.readdirSync(ckpts).length > 0, 'a checkpoint was written');
    const node = await waitFor('cancelled in the tree', () => {
      const n = runNode(api, 'long', result.runDir!);
      return n && n.view.state === 'cancelled' ? n : undefined;
    }, 10_000);
    assert.strictEqual(api.host.tree.getTreeItem(node).contextValue, 'run:cancelled', 'offers Resume (menus match run:cancelled)');
  });

  test('a killed worker → failed with the reason; run.json marked by the host; resumable', async () => {
    const handle = await vscode.commands.executeCommand<RunHandle>('distill.runExperiment', vscode.Uri.file(wsFile('long.distill.json')));
    await waitFor('progress', () => handle.progress && handle.progress.step > 0, 60_000, 50);
    const errors: string[] = [];
    const result = await withStub('showErrorMessage', (msg: unknown) => {
      errors.push(String(msg));
      return Promise.resolve(undefined);
    }, async () => {
      process.kill(handle.pid!, 'SIGKILL');
      const r = await handle.finished;
      await waitFor('the failure shown', () => errors.length > 0, 5_000);
      return r;
    });
    assert.strictEqual(result.status, 'failed');
    assert.match(result.error!, /killed \(SIGKILL\)/);
    assert.match(errors[0], /failed: the engine process was killed \(SIGKILL\)/);
    const run = runJson(result.runDir!);
    assert.strictEqual(run.status, 'failed');
    assert.match(run.error!, /SIGKILL/);
    const node = await waitFor('failed in the tree', () => {
      const n = runNode(api, 'long', result.runDir!);
      return n && n.view.state === 'failed' ? n : undefined;
    }, 10_000);
    assert.strictEqual(api.host.tree.getTreeItem(node).contextValue, 'run:failed');
  });

  test('a run left running by a closed window resumes to completed', async () => {
    const runDir = fs.readFileSync(wsFile('interrupted-run.txt'), 'utf8');
    assert.strictEqual(runJson(runDir).status, 'running');
    const handle = await vscode.commands.executeCommand<RunHandle>('distill.resumeRun', runDir);
    assert.ok(handle, 'resume queued');
    const result = await handle.finished;
    assert.strictEqual(result.status, 'completed', result.error);
    assert.strictEqual(runJson(runDir).status, 'completed');
    assert.ok(runJson(runDir).resumes.length === 1);
  });

  test('Compare Runs takes the tree selection (canSelectMany)', async () => {
    const exp = (api.host.tree.getChildren() as ExperimentNode[]).find((n) => n.exp.name === 'long')!;
    const nodes = (api.host.tree.getChildren(exp) as RunNode[]).filter((n) => n.kind === 'run');
    assert.ok(nodes.length >= 2, `two runs of long: ${nodes.length}`);
    const panel = await vscode.commands.executeCommand<{ target: { runDirs: string[] }; html: string }>('distill.compareRuns', nodes[0], nodes.slice(0, 2));
    assert.deepStrictEqual(panel.target.runDirs, nodes.slice(0, 2).map((n) => n.runDir));
    for (const n of nodes.slice(0, 2)) assert.ok(panel.html.includes(n.view.run.id));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('Delete Run asks first, then moves the folder away', async () => {
    const runDir = fs.readFileSync(wsFile('interrupted-run.txt'), 'utf8');
    const asked: string[] = [];
    let answer: string | undefined;
    const stub = (msg: unknown, _opts: unknown, ...items: unknown[]) => {
      asked.push(String(msg));
      return Promise.resolve(answer === undefined ? undefined : items.find((i) => String(i).includes(answer!)));
    };
    await withStub('showWarningMessage', stub, async () => {
      answer = undefined; // the user cancels
      assert.strictEqual(await vscode.commands.executeCommand('distill.deleteRun', runDir), false);
      assert.ok(fs.existsSync(runDir), 'kept when the user says no');
      answer = ''; // the first action: "Move to Trash" (or "Delete Permanently" where there is no trash)
      assert.strictEqual(await vscode.commands.executeCommand('distill.deleteRun', runDir), true);
    });
    assert.match(asked[0], /^Delete run /);
    assert.ok(!fs.existsSync(runDir), 'the run folder is gone');
    await waitFor('gone from the tree', () => !runNode(api, 'quick', runDir), 10_000);
  });
});
