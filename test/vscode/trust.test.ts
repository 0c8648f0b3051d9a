/// <reference types="mocha" />
/**
 * Workspace trust, in a real extension host: the one gate (src/host/trust.ts) stands in front of
 * every engine start. With an untrusted stand-in for VS Code's trust, the run manager refuses runs
 * and resumes before anything is queued or forked, the engine check behind Problems starts no
 * process, and the probe engine (layers, suggestions) never loads the workspace's model module — a
 * module that writes a marker file when it is loaded. A pair check (pure shapes) still works. When
 * trust is granted, the probe engine is replaced and the layers load (and the module runs then).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { cliEngineCheck } from '../../src/host/diagnostics';
import { ProbeClient } from '../../src/host/panels/probeClient';
import { RunManager } from '../../src/host/runManager';
import { readSettings } from '../../src/host/settings';
import { EngineGate, isRestrictedModeError, RestrictedModeError } from '../../src/host/trust';
import type { TrustSource } from '../../src/host/trust';
import { EXTENSION_ID, getApi, wsFile } from './helpers';

/** A model module that leaves a marker (one line per load) when it is evaluated. */
function evilModule(marker: string): string {
  return `import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
fs.appendFileSync(${JSON.stringify(marker)}, 'loaded by pid ' + process.pid + '\\n');
export function teacher(_tf: typeof tf): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 12, activation: 'relu', inputShape: [16], name: 'hidden' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return m;
}
export function student(_tf: typeof tf): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 6, activation: 'relu', inputShape: [16], name: 'hidden' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return m;
}
`;
}

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

suite('Distill Studio: workspace trust gates every engine start', () => {
  const marker = wsFile('trust-marker.txt');
  const file = wsFile('trust-evil.distill.json');
  const runsDir = wsFile(path.join('.distill', 'trust-runs'));
  let workerPath: string;
  let cliPath: string;
  const log = vscode.window.createOutputChannel('Distill trust test', { log: true });
  const disposables: vscode.Disposable[] = [log];

  suiteSetup(async () => {
    const api = await getApi();
    // the extension's own gate (another bundle's class: checked by shape), trusted in this suite's workbench
    assert.strictEqual(typeof api.host.gate.require, 'function', 'the extension has one engine gate');
    assert.strictEqual(api.host.gate.trusted, vscode.workspace.isTrusted);
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    workerPath = path.join(ext.extensionPath, 'dist', 'worker.js');
    cliPath = path.join(ext.extensionPath, 'dist', 'cli.js');
    fs.rmSync(marker, { force: true });
    fs.writeFileSync(wsFile('evil.ts'), evilModule(marker));
    fs.writeFileSync(file, JSON.stringify({
      name: 'trust-evil',
      seeds: [1],
      data: {
        train: { format: 'synthetic', kind: 'vectors', samples: 128, classes: 4, shape: [16], seed: 1 },
        test: { format: 'synthetic', kind: 'vectors', samples: 64, classes: 4, shape: [16], seed: 2 },
        normalize: 'none',
      },
      teacher: { module: 'evil.ts', export: 'teacher' },
      student: { module: 'evil.ts', export: 'student' },
      knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
      training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    }, null, 2));
  });

  suiteTeardown(() => {
    for (const d of disposables) d.dispose();
    for (const f of ['evil.ts', 'trust-evil.distill.json', 'trust-marker.txt']) fs.rmSync(wsFile(f), { force: true });
    fs.rmSync(runsDir, { recursive: true, force: true });
  });

  test('untrusted: runs, resumes and the engine check start nothing; probes load no model code; granted: layers load', async () => {
    const trust = new FakeTrust();
    const gate = new EngineGate(trust);
    const runs = new RunManager({ workerPath, log, settings: () => readSettings(), gate });
    const probe = new ProbeClient(workerPath, log, () => 'auto', gate);
    disposables.push(gate, runs, probe);

    // runs and resumes: refused before anything is queued or forked
    assert.throws(() => runs.start(file, runsDir), (e: unknown) => e instanceof RestrictedModeError && /trust the folder/.test(e.message));
    assert.throws(() => runs.resume(path.join(runsDir, 'trust-evil', 'any')), RestrictedModeError);
    assert.strictEqual(runs.handles().length, 0, 'nothing queued');
    assert.ok(!fs.existsSync(runsDir), 'no run folder');

    // the engine check behind Problems: refused, no process
    await assert.rejects(cliEngineCheck(cliPath, gate)(file, new AbortController().signal), RestrictedModeError);

    // probes: the engine is started with model modules refused
    await assert.rejects(probe.request({ kind: 'layers', experimentFile: file }), (e: unknown) => isRestrictedModeError(e));
    await assert.rejects(probe.request({ kind: 'suggest', experimentFile: file }), (e: unknown) => isRestrictedModeError(e));
    // a pair check is shape arithmetic: it still answers
    const check = await probe.request({ kind: 'checkPair', method: 'fitnet', teacher: 'hidden', student: 'hidden', teacherShape: [null, 12], studentShape: [null, 6] });
    assert.ok(check.ok, 'the pair check answers in Restricted Mode');
    assert.ok(!fs.existsSync(marker), 'the workspace module was never loaded');
    assert.deepStrictEqual(gate.refused.filter((u) => u !== 'probe'), ['run', 'resume', 'check']);

    // trust granted: the restricted probe engine is replaced and the layers load
    trust.grant();
    const layers = await probe.request({ kind: 'layers', experimentFile: file });
    assert.deepStrictEqual(layers.student.map((l) => l.name), ['hidden', 'logits']);
    assert.deepStrictEqual(layers.teacher.map((l) => l.outputShape), [[null, 12], [null, 4]]);
    assert.ok(fs.existsSync(marker), 'the module runs once the folder is trusted');
    assert.strictEqual(fs.readFileSync(marker, 'utf8').trim().split('\n').length, 1, 'loaded once, by the probe engine');
  });
});
