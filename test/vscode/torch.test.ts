/// <reference types="mocha" />
/**
 * The torch engine in a real extension host (issue 14): `distill.pythonPath` is a restricted setting
 * (a workspace cannot pick the binary in Restricted Mode), and everything that would start the
 * workspace's Python is refused while the folder is untrusted — a run before anything is queued
 * (the Python resolver is not even asked), the engine check behind Problems, and the restricted
 * probe engine's check, which answers with the Restricted Mode refusal without running any Python.
 * A FAKE interpreter (a shell script that leaves a marker whenever it is run, and speaks the bridge
 * protocol through a small Node script) stands in for Python: once trust is granted, a torch run
 * goes through the real run manager, with the resolver's interpreter in its start request, to
 * `completed`. (The real engine's end-to-end run is the lead's step.)
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { cliEngineCheck } from '../../src/host/diagnostics';
import { ProbeClient } from '../../src/host/panels/probeClient';
import { RunManager } from '../../src/host/runManager';
import { readSettings } from '../../src/host/settings';
import { EngineGate, RESTRICTED_MARK, RestrictedModeError } from '../../src/host/trust';
import type { TrustSource } from '../../src/host/trust';
import { EXTENSION_ID, getApi, wsFile } from './helpers';

class FakeTrust implements TrustSource {
  trusted = false;
  private readonly emitter = new vscode.EventEmitter<void>();
  isTrusted(): boolean {
    return this.trusted;
  }
  onDidGrant(listener: () => void): vscode.Disposable {
    return this.emitter.event(listener);
  }
  grant(): void {
    this.trusted = true;
    this.emitter.fire();
  }
}

/** A fake engine speaking src/protocol/torch.ts: prepared, then a completed run. */
const FAKE_ENGINE = `
const fs = require('fs');
const readline = require('readline');
const send = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
send({ type: 'ready', pid: process.pid, versions: { python: '3.11.2', torch: '1.13.0' } });
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.type === 'prepare') send({ type: 'prepared', backend: { name: 'cpu', versions: { python: '3.11.2', torch: '1.13.0' }, notes: [], customKernels: [] } });
  if (m.type === 'run') {
    const f = m.runDir + '/run.json';
    const r = JSON.parse(fs.readFileSync(f, 'utf8'));
    Object.assign(r, { status: 'completed', pid: process.pid, backend: { name: 'cpu', versions: {}, notes: [], customKernels: [] },
      versions: { python: '3.11.2', torch: '1.13.0' }, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), updatedAt: new Date().toISOString() });
    fs.writeFileSync(f, JSON.stringify(r, null, 2));
    send({ type: 'done', runDir: m.runDir, status: 'completed' });
    process.exit(0);
  }
});
`;

suite('Distill Studio: the torch engine needs a trusted workspace; distill.pythonPath is restricted', () => {
  const file = wsFile('torch-trust.distill.json');
  const runsDir = wsFile(path.join('.distill', 'torch-runs'));
  const fakeDir = wsFile('.torch-fake');
  const marker = path.join(fakeDir, 'python-ran.txt');
  const python = path.join(fakeDir, 'python');
  let workerPath: string;
  let cliPath: string;
  let packageJson: { contributes: { configuration: { properties: Record<string, { type: string; default: unknown }> } }; capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } } };
  const log = vscode.window.createOutputChannel('Distill torch test', { log: true });
  const disposables: vscode.Disposable[] = [log];

  suiteSetup(async () => {
    await getApi();
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    workerPath = path.join(ext.extensionPath, 'dist', 'worker.js');
    cliPath = path.join(ext.extensionPath, 'dist', 'cli.js');
    packageJson = ext.packageJSON as typeof packageJson;
    fs.mkdirSync(fakeDir, { recursive: true });
    fs.writeFileSync(path.join(fakeDir, 'engine.js'), FAKE_ENGINE);
    fs.writeFileSync(python, [
      '#!/bin/sh',
      `if [ "$1" = "-c" ]; then echo check >> "${marker}"; echo '{"python": "3.11.2", "torch": "1.13.0"}'; exit 0; fi`,
      `echo "$*" >> "${marker}"`,
      `exec "${process.execPath}" "${path.join(fakeDir, 'engine.js')}"`,
    ].join('\n'), { mode: 0o755 });
    fs.writeFileSync(wsFile('torch_models.py'), 'import torch\n');
    fs.writeFileSync(file, JSON.stringify({
      name: 'torch-trust',
      engine: 'torch',
      data: {
        train: { format: 'synthetic', kind: 'vectors', samples: 64, classes: 4, shape: [8], seed: 1 },
        test: { format: 'synthetic', kind: 'vectors', samples: 32, classes: 4, shape: [8], seed: 2 },
      },
      teacher: { module: 'torch_models.py', export: 'teacher' },
      student: { module: 'torch_models.py', export: 'student' },
      knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
      training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
    }, null, 2));
  });

  suiteTeardown(() => {
    for (const d of disposables) d.dispose();
    for (const f of ['torch-trust.distill.json', 'torch_models.py']) fs.rmSync(wsFile(f), { force: true });
    fs.rmSync(fakeDir, { recursive: true, force: true });
    fs.rmSync(runsDir, { recursive: true, force: true });
  });

  test('distill.pythonPath: contributed (empty by default) and listed in restrictedConfigurations', () => {
    const prop = packageJson.contributes.configuration.properties['distill.pythonPath'];
    assert.ok(prop, 'the setting is contributed');
    assert.strictEqual(prop.type, 'string');
    assert.strictEqual(prop.default, '');
    assert.ok(packageJson.capabilities.untrustedWorkspaces.restrictedConfigurations.includes('distill.pythonPath'),
      'a workspace cannot choose the interpreter in Restricted Mode');
    assert.strictEqual(vscode.workspace.getConfiguration('distill').inspect<string>('pythonPath')?.defaultValue, '');
    assert.strictEqual(readSettings().pythonPath, '');
  });

  test('untrusted: a torch run, its check and the probe engine start no Python; trusted: the run goes through the run manager to completed', async () => {
    const trust = new FakeTrust();
    const gate = new EngineGate(trust);
    const asked: string[] = [];
    const resolver = async (t: { experimentFile?: string; runDir?: string }) => {
      asked.push(t.experimentFile ?? t.runDir ?? '');
      return python;
    };
    const runs = new RunManager({ workerPath, log, settings: () => readSettings(), gate, python: resolver });
    const probe = new ProbeClient(workerPath, log, () => 'auto', gate);
    disposables.push(gate, runs, probe);

    assert.throws(() => runs.start(file, runsDir), (e: unknown) => e instanceof RestrictedModeError && /trust the folder/.test(e.message));
    assert.strictEqual(runs.handles().length, 0, 'nothing queued');
    assert.deepStrictEqual(asked, [], 'the interpreter was not even looked for');
    await assert.rejects(cliEngineCheck(cliPath, gate, async () => python)(file, new AbortController().signal), RestrictedModeError);
    // the restricted probe engine: the torch check refuses with the Restricted Mode mark, located at "engine"
    const problems = await probe.request({ kind: 'check', experimentFile: file, python });
    assert.strictEqual(problems.length, 1, JSON.stringify(problems));
    assert.deepStrictEqual(problems[0].path, ['engine']);
    assert.ok(problems[0].message.includes(RESTRICTED_MARK), problems[0].message);
    assert.ok(!fs.existsSync(marker), 'no Python (not even the interpreter check) was run');
    assert.ok(!fs.existsSync(runsDir), 'no run folder');

    trust.grant();
    const handle = runs.start(file, runsDir);
    const result = await handle.finished;
    assert.strictEqual(result.status, 'completed', result.error);
    assert.deepStrictEqual(asked, [file], 'the resolver was asked for this experiment');
    assert.strictEqual(handle.backend, 'cpu', 'the device, from the started message');
    assert.deepStrictEqual(fs.readFileSync(marker, 'utf8').trim().split('\n'), ['check', '-u -m distill_torch'], 'the interpreter check, then the engine');
    const run = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { status: string; versions: Record<string, string> };
    assert.strictEqual(run.status, 'completed');
    assert.strictEqual(run.versions.torch, '1.13.0');
  });
});
