/// <reference types="mocha" />
/**
 * Runs written by another process (`distill run` in a terminal, a torch job, a Slurm task on
 * shared storage) reach the tree: a whole new `.distill/runs/<exp>/<run>` tree, created at once
 * beside an experiment in a sub-folder, is one the file watcher of code-server 4.100 never
 * reports (nor anything written under it later); the runs folders' poll (src/host/experiments.ts)
 * must tell the views, and again when the run's run.json changes.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { ExperimentNode, RunNode } from '../../src/host/experimentsTree';
import { RUNS_POLL_MS } from '../../src/host/experiments';
import { getApi, readJsonFile, waitFor, wsFile } from './helpers';

suite('Distill Studio: runs written by another process', () => {
  const sub = wsFile('external-sub');

  suiteTeardown(() => {
    fs.rmSync(sub, { recursive: true, force: true });
  });

  test('a new .distill tree with a run, then its run.json rewritten: the views are told both times', async function () {
    this.timeout(90_000);
    const api = await getApi();
    fs.mkdirSync(sub, { recursive: true });
    const file = path.join(sub, 'external.distill.json');
    fs.writeFileSync(file, fs.readFileSync(wsFile('quick.distill.json'), 'utf8').replace('"quick"', '"external"'));
    await waitFor('the experiment indexed', () => api.host.index.get(file), 30_000);
    await new Promise((r) => setTimeout(r, 2 * RUNS_POLL_MS)); // the poll has recorded the folders as they are

    let events = 0;
    const sub1 = api.host.index.onDidChangeRuns(() => events++);
    try {
      // another process: the whole runs tree at once (a copy of the fixture's interrupted run of `quick`)
      const src = fs.readFileSync(wsFile('interrupted-run.txt'), 'utf8');
      const runDir = path.join(sub, '.distill', 'runs', 'external', path.basename(src));
      fs.mkdirSync(path.dirname(runDir), { recursive: true });
      fs.cpSync(src, runDir, { recursive: true });
      const runFile = path.join(runDir, 'run.json');
      const run = readJsonFile<Record<string, unknown>>(runFile);
      fs.writeFileSync(runFile, JSON.stringify({ ...run, experiment: 'external', experimentFile: file }, null, 2));
      await waitFor('the views told of the new run', () => events > 0, 15_000);
      const expNode = (api.host.tree.getChildren() as ExperimentNode[]).find((n) => n.exp.file === file);
      assert.ok(expNode, 'the experiment is in the tree');
      const row = (api.host.tree.getChildren(expNode) as RunNode[]).find((n) => n.kind === 'run' && n.runDir === runDir);
      assert.ok(row, 'its run is listed');

      // written again later (the process goes on): told again
      const before = events;
      await new Promise((r) => setTimeout(r, 300)); // a later mtime
      fs.writeFileSync(runFile, JSON.stringify({ ...run, experiment: 'external', experimentFile: file, status: 'cancelled', pid: undefined }, null, 2));
      await waitFor('the views told of the rewritten run.json', () => events > before, 15_000);
    } finally {
      sub1.dispose();
    }
  });
});
