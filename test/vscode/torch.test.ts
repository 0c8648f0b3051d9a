/// <reference types="mocha" />
/**
 * The torch engine in a real extension host (issues 14 and 15), on the REAL Python: Debian's
 * /usr/bin/python3 with torch 1.13, reached through small wrapper scripts that append one line per
 * start (`<parent pid> <arguments>`) to a marker file and then `exec` it. The wrapper's lines say
 * whether a Python was started at all, by which process (the parent pid: a run's engine worker, the
 * probe worker) and for what (`-u -m distill_torch`: the engine or the probe process).
 *
 * - `distill.pythonPath` is contributed and a restricted setting (a workspace cannot pick the binary
 *   in Restricted Mode).
 * - Restricted Mode (a stand-in trust source): a torch run is refused before anything is queued (the
 *   interpreter is not even looked for), the engine check behind Problems and the probe engine's
 *   layer list and check refuse, and no Python is started. Once trust is granted the same run goes
 *   through the real run manager to `completed`, and the probe client hands the resolved
 *   interpreter to the layer query.
 * - The extension's own wiring: with `distill.pythonPath` set, a run of the extension's run manager,
 *   the pairing panel's layers and the feature maps of the run's checkpoint are all computed by that
 *   interpreter.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { cliEngineCheck } from '../../src/host/diagnostics';
import type { WebviewPanel } from '../../src/host/panels/shell';
import { ProbeClient } from '../../src/host/panels/probeClient';
import { RunManager } from '../../src/host/runManager';
import { readSettings } from '../../src/host/settings';
import { EngineGate, RESTRICTED_MARK, RestrictedModeError } from '../../src/host/trust';
import type { TrustSource } from '../../src/host/trust';
import type { HostToWebview } from '../../src/protocol/webviews';
import { EXTENSION_ID, getApi, waitFor, withStub, wsFile } from './helpers';

/** The real interpreter with torch on this machine (python/README.md). */
const REAL_PYTHON = '/usr/bin/python3';

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

/** A wrapper interpreter: records `<parent pid> <args>` in `marker`, then becomes the real Python. */
function writeWrapper(file: string, marker: string): void {
  fs.writeFileSync(file, ['#!/bin/sh', `echo "$PPID $*" >> "${marker}"`, `exec ${REAL_PYTHON} "$@"`, ''].join('\n'), { mode: 0o755 });
}

/** The wrapper's starts of the engine or probe module (`-u -m distill_torch`), as [parent pid, args]. */
function moduleStarts(marker: string): { ppid: number; args: string }[] {
  if (!fs.existsSync(marker)) return [];
  return fs.readFileSync(marker, 'utf8').split('\n').filter((l) => /-m distill_torch$/.test(l.trim()))
    .map((l) => ({ ppid: Number(l.slice(0, l.indexOf(' '))), args: l.slice(l.indexOf(' ') + 1).trim() }));
}

const torchExperiment = (name: string) => ({ ...(JSON.parse(fs.readFileSync(wsFile('torch.distill.json'), 'utf8')) as Record<string, unknown>), name });

suite('Distill Studio: the torch engine (real Python) — trust, distill.pythonPath, runs and probes', () => {
  const fakeDir = wsFile('.torch-wrappers');
  let workerPath: string;
  let cliPath: string;
  let packageJson: { contributes: { configuration: { properties: Record<string, { type: string; default: unknown }> } }; capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } } };
  const log = vscode.window.createOutputChannel('Distill torch test', { log: true });
  const disposables: vscode.Disposable[] = [log];
  const created: string[] = [];

  suiteSetup(async () => {
    await getApi();
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    workerPath = path.join(ext.extensionPath, 'dist', 'worker.js');
    cliPath = path.join(ext.extensionPath, 'dist', 'cli.js');
    packageJson = ext.packageJSON as typeof packageJson;
    fs.mkdirSync(fakeDir, { recursive: true });
    assert.ok(fs.existsSync(wsFile('models.py')) && fs.existsSync(wsFile('torch.distill.json')), 'the fixture workspace has the torch experiment (test/vscode/fixture.ts)');
  });

  suiteTeardown(async () => {
    for (const d of disposables) d.dispose();
    await vscode.workspace.getConfiguration('distill').update('pythonPath', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    for (const f of created) fs.rmSync(f, { recursive: true, force: true });
    fs.rmSync(fakeDir, { recursive: true, force: true });
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

  test('Restricted Mode: a torch run, its check and its probes start no Python; trusted: the run completes on the real engine, probes get the interpreter', async function () {
    this.timeout(300_000);
    const file = wsFile('torch-trust.distill.json');
    const runsDir = wsFile(path.join('.distill', 'torch-trust-runs'));
    const marker = path.join(fakeDir, 'trust-python.txt');
    const python = path.join(fakeDir, 'trust-python');
    created.push(file, runsDir);
    writeWrapper(python, marker);
    fs.writeFileSync(file, JSON.stringify(torchExperiment('torch-trust'), null, 2));

    const trust = new FakeTrust();
    const gate = new EngineGate(trust);
    const asked: string[] = [];
    const resolver = async (t: { experimentFile?: string; runDir?: string }) => {
      asked.push(t.experimentFile ?? t.runDir ?? '');
      return python;
    };
    const runs = new RunManager({ workerPath, log, settings: () => readSettings(), gate, python: resolver });
    const probe = new ProbeClient(workerPath, log, () => 'auto', gate, resolver);
    disposables.push(gate, runs, probe);

    // untrusted: refused before anything is queued or looked for
    assert.throws(() => runs.start(file, runsDir), (e: unknown) => e instanceof RestrictedModeError && /trust the folder/.test(e.message));
    assert.strictEqual(runs.handles().length, 0, 'nothing queued');
    await assert.rejects(cliEngineCheck(cliPath, gate, (f) => resolver({ experimentFile: f }))(file, new AbortController().signal), RestrictedModeError);
    // the probe engine (started restricted): the layer list refuses as Restricted Mode, the check says so at "engine"
    await assert.rejects(probe.request({ kind: 'layers', experimentFile: file }), RestrictedModeError);
    const problems = await probe.request({ kind: 'check', experimentFile: file, python });
    assert.strictEqual(problems.length, 1, JSON.stringify(problems));
    assert.deepStrictEqual(problems[0].path, ['engine']);
    assert.ok(problems[0].message.includes(RESTRICTED_MARK), problems[0].message);
    assert.deepStrictEqual(asked, [], 'the interpreter was not even looked for');
    assert.ok(!fs.existsSync(marker), `no Python was started (not even the interpreter check): ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''}`);
    assert.ok(!fs.existsSync(runsDir), 'no run folder');

    // trusted: the real engine, through the real run manager, to completed
    trust.grant();
    const handle = runs.start(file, runsDir);
    const result = await handle.finished;
    assert.strictEqual(result.status, 'completed', `${result.error}\n${handle.logTail.join('\n')}`);
    assert.deepStrictEqual(asked, [file], 'the resolver was asked for this experiment');
    assert.strictEqual(handle.backend, 'cpu', 'the device, from the started message');
    const engineStarts = moduleStarts(marker);
    assert.strictEqual(engineStarts.length, 1, fs.readFileSync(marker, 'utf8'));
    assert.strictEqual(engineStarts[0].ppid, handle.pid, 'the engine was started by this run\'s worker');
    const run = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { status: string; backend: { name: string; versions: Record<string, string> } };
    assert.strictEqual(run.status, 'completed');
    assert.strictEqual(run.backend.name, 'cpu');
    assert.match(run.backend.versions.torch ?? '', /^1\.13/, `torch version in run.json: ${JSON.stringify(run.backend.versions)}`);
    const records = fs.readFileSync(path.join(result.runDir!, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; job?: string });
    assert.ok(records.some((r) => r.type === 'epoch' && r.job === 'distill-s1'), 'an epoch record of the distill job');
    assert.ok(fs.existsSync(path.join(result.runDir!, 'report.json')), 'report.json written');

    // trusted: the probe worker is replaced, and the layer query carries the resolved interpreter
    const layers = await probe.request({ kind: 'layers', experimentFile: file });
    assert.deepStrictEqual(asked, [file, file], 'the resolver was asked for the layer query');
    assert.ok(layers.teacher.some((l) => l.name === 'features.relu2'), `torch layer names: ${layers.teacher.map((l) => l.name).join(', ')}`);
    const probeStarts = moduleStarts(marker).slice(1);
    assert.strictEqual(probeStarts.length, 1, `one probe process, started by the wrapper: ${fs.readFileSync(marker, 'utf8')}`);
  });

  test('distill.pythonPath reaches the extension\'s runs, the pairing panel and the feature maps of a torch run', async function () {
    this.timeout(300_000);
    const api = await getApi();
    const file = wsFile('torch-setting.distill.json');
    const marker = path.join(fakeDir, 'setting-python.txt');
    const python = path.join(fakeDir, 'setting-python');
    created.push(file, wsFile(path.join('.distill', 'runs', 'torch-setting')));
    writeWrapper(python, marker);
    fs.writeFileSync(file, JSON.stringify(torchExperiment('torch-setting'), null, 2));
    await vscode.workspace.getConfiguration('distill').update('pythonPath', python, vscode.ConfigurationTarget.Global);
    await waitFor('the setting', () => readSettings(vscode.Uri.file(file)).pythonPath === python, 10_000);
    const exp = await waitFor('the experiment indexed', () => api.host.index.get(file), 30_000);

    // a run of the extension's run manager: the setting's interpreter, started by the run's worker
    const handle = api.host.runs.start(file, wsFile(path.join('.distill', 'runs')));
    const result = await withStub('showInformationMessage', () => Promise.resolve(undefined), () => handle.finished);
    assert.strictEqual(result.status, 'completed', `${result.error}\n${handle.logTail.join('\n')}`);
    assert.ok(moduleStarts(marker).some((s) => s.ppid === handle.pid), `the run's engine ran in ${python}: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : 'no marker'}`);
    await waitFor('the run indexed', () => api.host.index.runsOf(exp).some((v) => v.runDir === result.runDir), 30_000);

    // the pairing panel: the layers come from the probe worker's Python — the setting's interpreter
    // (told apart from the run's engine by the parent pid: the probe worker's, not the run's worker's)
    const pairing = await vscode.commands.executeCommand<WebviewPanel>('distill.showLayerPairing', vscode.Uri.file(file));
    assert.ok(pairing, 'the pairing panel opened');
    await pairing.receive({ type: 'ready' });
    const init = await waitFor('the torch layers', () => pairing.sent.find((m): m is Extract<HostToWebview, { type: 'init'; panel: 'pairing' }> => m.type === 'init' && m.panel === 'pairing'), 120_000);
    assert.strictEqual(init.data.error, undefined, init.data.error);
    assert.deepStrictEqual(init.data.teacher.map((l) => l.name).filter((n) => n.startsWith('features.')),
      ['features.conv1', 'features.relu1', 'features.pool1', 'features.conv2', 'features.relu2', 'features.pool2']);
    assert.deepStrictEqual(init.data.teacher.find((l) => l.name === 'features.relu2')?.outputShape, [null, 14, 14, 16], 'shapes in the TF.js order');
    assert.ok(init.data.links.some((l) => l.method === 'at' && l.teacher === 'features.relu2'), 'the AT pair is drawn');
    const probePid = api.host.probe!.pid;
    assert.ok(probePid, 'the probe worker is up');
    assert.ok(moduleStarts(marker).some((s) => s.ppid === probePid), `the probe process ran in ${python} under the probe worker ${probePid}: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : 'no marker'}`);

    // feature maps of the run's checkpoint, computed by the same probe process
    const maps = await vscode.commands.executeCommand<WebviewPanel>('distill.compareFeatureMaps', vscode.Uri.file(file));
    assert.strictEqual(maps.target.runDirs[0], result.runDir);
    await maps.receive({ type: 'ready' });
    const mapsInit = await waitFor('the checkpoints', () => maps.sent.find((m): m is Extract<HostToWebview, { type: 'init'; panel: 'featureMaps' }> => m.type === 'init' && m.panel === 'featureMaps'), 120_000);
    assert.strictEqual(mapsInit.data.error, undefined, mapsInit.data.error);
    assert.ok(mapsInit.data.checkpoints.length > 0 && mapsInit.data.samples.length > 0 && mapsInit.data.pairs.length > 0, JSON.stringify({ ...mapsInit.data, samples: mapsInit.data.samples.length }));
    await maps.receive({ type: 'probe', requestId: 7, checkpoint: mapsInit.data.checkpoints[0].id, sample: mapsInit.data.samples[0].id, pair: mapsInit.data.pairs[0].id });
    const answer = await waitFor('the feature maps', () => maps.sent.find((m) => (m.type === 'featureMaps' || m.type === 'featureMapsError') && m.requestId === 7), 120_000);
    assert.strictEqual(answer.type, 'featureMaps', answer.type === 'featureMapsError' ? answer.message : '');
    if (answer.type !== 'featureMaps') return;
    assert.strictEqual(answer.teacher.channels.length, 16, 'the teacher\'s 16 channels of features.relu2');
    assert.strictEqual(answer.teacher.h * answer.teacher.w, 14 * 14);
    assert.ok(answer.cka !== undefined && answer.cka >= -1e-6 && answer.cka <= 1 + 1e-6, `linear CKA ${answer.cka}`);
    assert.strictEqual(moduleStarts(marker).filter((s) => s.ppid === probePid).length, 1, `one probe process for both panels: ${fs.readFileSync(marker, 'utf8')}`);
  });
});
