/**
 * The one command registry. Every command in package.json is registered here, always: when a
 * command cannot act (no experiment, no run, untrusted workspace, feature not there yet) it says
 * so in a message instead of failing with "command not found". Workspace trust is not asked here
 * but by the engine gate (src/host/trust.ts) that every engine start goes through; its refusal is
 * shown with a button that opens the trust dialog.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { loadExperiment } from '../config/parse';
import { settingsRunsDir } from './experiments';
import type { Host } from './host';
import { newExperiment } from './newExperiment';
import { installTfjsTypes } from './tfjsTypes';
import type { PanelKind } from './panels/panel';
import { readSnapshot, updateRun } from '../runs/store';
import { runTitle } from './panels/panel';
import { forgetRun } from './runData';
import type { RunView } from './runData';
import { BACKENDS, readSettings } from './settings';
import { startSweepProcess, stopSweep, sweepArgs } from './sweepControl';
import type { SweepProcess } from './sweepControl';
import { pickExperiment, pickRun, pickRuns } from './targets';
import { isBenchFile } from './panels/benchCompare';
import { hasSynthesized } from './panels/synthesizedData';
import type { RunTarget } from './targets';
import { EngineGate, isRestrictedModeError } from './trust';
import { isResumable } from '../runs/state';
import { listSweeps } from '../runs/sweepList';
import { readSweep } from '../runs/sweeps';
import { sweepTitle } from './panels/sweepData';

type Command = (...args: unknown[]) => unknown;

const info = (msg: string) => void vscode.window.showInformationMessage(`Distill: ${msg}`);

const RESUMABLE = (v: RunView) => isResumable(v.state);

export function createCommands(host: Host): Record<string, Command> {
  const { runs, index, panels } = host;
  /** Sweeps started by Run Sweep, by sweep folder (issue 15). */
  const sweeps = new Map<string, SweepProcess>();
  let sweepOutput: vscode.OutputChannel | undefined;

  const panel = (kind: PanelKind) => async (arg?: unknown) => {
    const exp = await resolvePanelTarget(host, arg, kind);
    if (!exp) return undefined;
    return panels.open(kind, exp);
  };

  return {
    // issue 20: the time estimate comes from the probe engine (trusted only: it loads the model code)
    newExperiment: (arg?: unknown, exportsArg?: unknown) => newExperiment(arg, host.gate.trusted
      ? async (file, text) => host.probe?.request({ kind: 'estimate', experimentFile: file, text }, 120_000) : undefined, exportsArg),

    runExperiment: async (arg?: unknown) => {
      host.gate.require('run'); // refused with the reason and a trust button (registerCommands)
      const exp = await pickExperiment(host, arg, 'Pick the experiment to run');
      if (!exp) return undefined;
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === exp.file);
      if (doc?.isDirty) await doc.save();
      const { errors } = loadExperiment(exp.file);
      const bad = errors.filter((e) => e.severity === 'error');
      if (bad.length > 0) {
        void vscode.window.showErrorMessage(`Distill: ${exp.name} has ${bad.length} problem${bad.length === 1 ? '' : 's'} (first: line ${bad[0].location.line}: ${bad[0].message}). See the Problems view.`, 'Open Experiment')
          .then((c) => c && vscode.window.showTextDocument(exp.uri));
        return undefined;
      }
      // issue 20: the engine's problems already in Problems (layer names, pair shapes) stop a run before it has a folder
      const known = (host.diagnostics.collection.get(exp.uri) ?? []).filter((d) => d.severity === vscode.DiagnosticSeverity.Error);
      if (known.length > 0) {
        void vscode.window.showErrorMessage(`Distill: ${exp.name} has ${known.length} problem${known.length === 1 ? '' : 's'} (first: line ${known[0].range.start.line + 1}: ${known[0].message}). See the Problems view.`, 'Open Experiment')
          .then((c) => c && vscode.window.showTextDocument(exp.uri));
        return undefined;
      }
      return runs.start(exp.file, settingsRunsDir(exp.file));
    },

    stopRun: async (arg?: unknown) => {
      const going = runs.handles();
      if (going.length === 0) return info('no run is going.');
      let handle = undefined as (typeof going)[number] | undefined;
      if (arg && typeof arg === 'object' && (arg as { kind?: string }).kind === 'queued') handle = (arg as { handle: typeof handle }).handle;
      if (!handle) {
        const target = await pickRun(host, arg, { placeHolder: 'Pick the run to stop', none: 'no run is going', filter: (v) => runs.isBusy(v.runDir), latest: true });
        if (target) handle = runs.handleFor(target.runDir);
        else if (going.every((h) => !h.runDir) && !arg) handle = going[0];
      }
      if (!handle) return undefined;
      runs.stop(handle);
      return handle;
    },

    // issue 15: a sweep with the executor of `distill.sweepExecutor`, run by the CLI in a child process (sweepControl.ts)
    runSweep: async (arg?: unknown) => {
      host.gate.require('run');
      const exp = await pickExperiment(host, arg, 'Pick the experiment whose sweep to run');
      if (!exp) return undefined;
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === exp.file);
      if (doc?.isDirty) await doc.save();
      const s = readSettings(exp.uri);
      const out = sweepOutput ??= vscode.window.createOutputChannel('Distill Sweeps');
      out.show(true);
      const cli = path.join(host.context.extensionPath, 'dist', 'cli.js');
      const proc = startSweepProcess(cli, sweepArgs(exp.file, s.sweepExecutor, s.backend, s.pythonPath || undefined), (line) => out.appendLine(line), host.gate);
      const dir = await proc.sweepDir;
      if (dir) sweeps.set(dir, proc);
      void proc.exited.then((code) => {
        if (dir) sweeps.delete(dir);
        const what = code === 0 ? 'completed' : code === 130 ? 'stopped (sweep-resume continues it)' : 'ended with an error (see the Distill Sweeps output)';
        info(`sweep of ${exp.name} ${what}.`);
      });
      return dir;
    },

    // issue 15: Stop for a sweep — scancel of its Slurm jobs, SIGINT to its owner (a sweep folder, else the one going)
    stopSweep: async (arg?: unknown) => {
      let dir = typeof arg === 'string' ? arg : arg instanceof vscode.Uri ? arg.fsPath
        : arg && typeof arg === 'object' && typeof (arg as { dir?: unknown }).dir === 'string' ? (arg as { dir: string }).dir : undefined;
      if (!dir) {
        const going = [...sweeps.keys()];
        if (going.length === 0) return info('no sweep started here is going; give the sweep folder to stop another.');
        dir = going.length === 1 ? going[0] : await vscode.window.showQuickPick(going, { placeHolder: 'Pick the sweep to stop' });
        if (!dir) return undefined;
      }
      const r = stopSweep(dir);
      info(r.message);
      return r;
    },

    resumeRun: async (arg?: unknown) => {
      host.gate.require('resume');
      const target = await pickRun(host, arg, { placeHolder: 'Pick the run to resume', none: 'no stopped, failed or interrupted run to resume', filter: RESUMABLE, latest: true });
      if (!target) return undefined;
      if (runs.isBusy(target.runDir)) return info(`run ${target.view.run.id} is already going.`);
      if (!RESUMABLE(target.view)) return info(`run ${target.view.run.id} is ${target.view.state}: only stopped, failed or interrupted runs can be resumed.`);
      return runs.resume(target.runDir);
    },

    deleteRun: async (arg?: unknown) => {
      const target = await pickRun(host, arg, { placeHolder: 'Pick the run to delete', none: 'there is no run to delete' });
      if (!target) return false;
      if (runs.isBusy(target.runDir)) {
        info(`run ${target.view.run.id} is going: stop it first.`);
        return false;
      }
      // One dialog (issue 20): where there is no trash (a remote or web window, or a trash that failed
      // before in this session) it offers the permanent delete at once, never a second dialog with a raw error.
      const trash = trashAvailable();
      const action = trash ? 'Move to Trash' : 'Delete Permanently';
      const choice = await vscode.window.showWarningMessage(
        `Delete run ${target.view.run.id} of ${target.view.run.experiment}?`,
        { modal: true, detail: trash ? `Its folder (metrics, checkpoints, models, report) goes to the trash:\n${target.runDir}`
          : `There is no trash here: its folder (metrics, checkpoints, models, report) is deleted permanently:\n${target.runDir}` },
        action,
      );
      if (choice !== action) return false;
      const uri = vscode.Uri.file(target.runDir);
      let how = trash ? 'moved to the trash' : 'deleted permanently';
      try {
        await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: trash });
      } catch (e) {
        if (!trash) throw e;
        noTrash = true;
        host.log.warn(`moving ${target.runDir} to the trash failed (${(e as Error).message}): the trash is not used again in this window`);
        how = 'deleted permanently';
        const again = await vscode.window.showWarningMessage(`The trash is not available here. Delete run ${target.view.run.id} permanently?`,
          { modal: true }, 'Delete Permanently');
        if (again !== 'Delete Permanently') return false;
        await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: false });
      }
      forgetRun(target.runDir);
      host.log.info(`run ${target.runDir} ${how}`);
      index.runsChanged();
      host.tree.refresh();
      return true;
    },

    openDashboard: panel('dashboard'),
    showLayerPairing: panel('pairing'),
    compareFeatureMaps: panel('featureMaps'),
    showCompressionReport: panel('compression'),

    // issue 18: a data-free run's synthesised inputs: the run given, else the experiment's newest run that has them, else a pick
    showSynthesized: async (arg?: unknown) => {
      const target = await pickRun(host, arg, { placeHolder: 'Pick the data-free run whose synthesised inputs to show', latest: true, filter: (v) => hasSynthesized(v.runDir),
        none: 'no run has synthesised inputs: a data-free run ("data": { "train": { "format": "teacher-synthesized", … } }) writes them' });
      if (!target) return undefined;
      return panels.open('synthesized', { runDirs: [target.runDir], experimentFile: target.exp?.file ?? target.view.run.experimentFile, title: runTitle(target.view.run.experiment, target.view.run) });
    },

    compareRuns: async (arg?: unknown, selected?: unknown) => {
      // a bench:quality JSON file (explorer context menu, or a path): its method table
      const file = arg instanceof vscode.Uri ? arg.fsPath : typeof arg === 'string' ? arg : undefined;
      if (file && isBenchFile(file)) return panels.open('compare', { runDirs: [file], title: path.basename(file) });
      const targets = await pickRuns(host, arg, selected);
      if (!targets) return undefined;
      return panels.open('compare', { runDirs: targets.map((t) => t.runDir), title: targets.map((t) => t.view.run.id).join(' vs ') });
    },

    exportStudent: async (arg?: unknown, destination?: unknown) => {
      const hasStudent = (v: RunView) => fs.existsSync(path.join(v.runDir, 'student', 'model.json'));
      const target = await pickRun(host, arg, { placeHolder: 'Pick the run whose student to export', none: 'no completed run with an exported student', filter: hasStudent, latest: true });
      if (!target) return undefined;
      if (!hasStudent(target.view)) return info(`run ${target.view.run.id} has no exported student yet (it is ${target.view.state}).`);
      let dest = destination instanceof vscode.Uri ? destination : typeof destination === 'string' ? vscode.Uri.file(destination) : undefined;
      if (!dest) {
        const picked = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: 'Export Student Here' });
        if (!picked?.[0]) return undefined;
        dest = vscode.Uri.joinPath(picked[0], `${target.view.run.experiment}-${target.view.run.id}-student`);
      }
      await vscode.workspace.fs.copy(vscode.Uri.file(path.join(target.runDir, 'student')), dest, { overwrite: true });
      // issue 20: the notification leads to what was written
      const exported = dest;
      const inWorkspace = vscode.workspace.getWorkspaceFolder(exported) !== undefined;
      void vscode.window.showInformationMessage(`Distill: student of run ${target.view.run.id} exported to ${vscode.workspace.asRelativePath(exported)} (TF.js model.json + weights).`,
        'Reveal', 'Open model.json').then((c) => {
        if (c === 'Reveal') void vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', exported);
        if (c === 'Open model.json') void vscode.window.showTextDocument(vscode.Uri.joinPath(exported, 'model.json'));
      });
      return dest;
    },

    suggestLayerPairs: async (arg?: unknown) => {
      const opened = await panel('pairing')(arg);
      await opened?.suggest?.();
      return opened;
    },

    selectBackend: async (backend?: unknown) => {
      const current = readSettings().backend;
      const describe: Record<string, string> = {
        auto: 'tensorflow when installed, else wasm, else cpu',
        tensorflow: 'native TensorFlow (@tensorflow/tfjs-node, optional dependency)',
        wasm: 'WebAssembly (XNNPACK, SIMD) with the project\'s training kernels',
        cpu: 'pure JavaScript: a last resort, 25–70× slower',
      };
      let choice = typeof backend === 'string' && (BACKENDS as readonly string[]).includes(backend) ? backend : undefined;
      if (!choice) {
        const pick = await vscode.window.showQuickPick(BACKENDS.map((b) => ({ label: b, description: b === current ? `${describe[b]} (current)` : describe[b] })),
          { placeHolder: 'Compute backend for new runs (distill.backend)' });
        choice = pick?.label;
      }
      if (!choice) return undefined;
      const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
      await vscode.workspace.getConfiguration('distill').update('backend', choice, target);
      info(`new runs use the ${choice} backend.`);
      return choice;
    },

    showEngineLog: () => host.log.show(true),

    // issue 20: the quick fix for a false "Cannot find module '@tensorflow/tfjs'" in a model file
    installTfjsTypes: (dir?: unknown) => installTfjsTypes(dir),

    // issue 20: runs can be named (run.json `label`); empty clears it (the default label shows again)
    labelRun: async (arg?: unknown, value?: unknown) => {
      const target = await pickRun(host, arg, { placeHolder: 'Pick the run to label', none: 'there is no run to label' });
      if (!target) return undefined;
      const label = typeof value === 'string' ? value : await vscode.window.showInputBox({
        title: `Label run ${target.view.run.id}`, value: target.view.run.label ?? '', placeHolder: 'e.g. "+at T=8", "baseline", "wider student"',
        prompt: 'A name for this run in the tree, the dashboard and Compare Runs (empty: the label from the config difference to the previous run)',
        validateInput: (v) => (v.length > 80 ? 'at most 80 characters' : undefined),
      });
      if (label === undefined) return undefined;
      updateRun(target.runDir, (r) => {
        if (label.trim()) r.label = label.trim();
        else delete r.label;
      });
      index.runsChanged();
      host.tree.refresh();
      return label.trim();
    },

    refreshExperiments: () => index.refresh(),

    // issue 15: the Sweep panel of a sweep folder (the tree's sweep item, a folder path, else a quick pick)
    openSweep: async (arg?: unknown) => {
      const dir = await pickSweep(host, arg);
      if (!dir) return undefined;
      const sweep = readSweep(dir);
      return panels.open('sweep', { runDirs: [dir], experimentFile: sweep.experimentFile, title: sweepTitle(sweep) });
    },
  };
}

async function resolvePanelTarget(host: Host, arg: unknown, kind?: PanelKind): Promise<{ runDirs: string[]; experimentFile?: string; title: string } | undefined> {
  const isExpArg = (arg instanceof vscode.Uri || typeof arg === 'string') && String(arg instanceof vscode.Uri ? arg.fsPath : arg).endsWith('.distill.json');
  const isExpNode = typeof arg === 'object' && arg !== null && (arg as { kind?: string }).kind === 'experiment';
  if (isExpArg || isExpNode || (!arg && host.index.list().length > 0 && isActiveExperiment())) {
    const exp = await pickExperiment(host, arg);
    if (!exp) return undefined;
    // feature maps: the newest run that has a layer pair (issue 20); the others: the newest run
    const latest = kind === 'featureMaps' ? host.index.runsOf(exp).find((v) => runHasPairs(v.runDir)) ?? host.index.latestRun(exp) : host.index.latestRun(exp);
    return { runDirs: latest ? [latest.runDir] : [], experimentFile: exp.file, title: latest ? runTitle(exp.name, latest.run) : exp.name };
  }
  const target: RunTarget | undefined = await pickRun(host, arg, { placeHolder: 'Pick a run', none: 'there is no run yet: run an experiment first', latest: true });
  if (!target) return undefined;
  return { runDirs: [target.runDir], experimentFile: target.exp?.file ?? target.view.run.experimentFile, title: runTitle(target.view.run.experiment, target.view.run) };
}

/** The sweep folder Open Sweep acts on: a tree sweep item, a sweep folder (path or Uri), else the user picks one. */
async function pickSweep(host: Host, arg: unknown): Promise<string | undefined> {
  if (typeof arg === 'object' && arg !== null && (arg as { kind?: string }).kind === 'sweep') return (arg as { sweepDir: string }).sweepDir;
  const p = arg instanceof vscode.Uri ? (arg.scheme === 'file' ? arg.fsPath : undefined) : typeof arg === 'string' && arg ? path.resolve(arg) : undefined;
  if (p && fs.existsSync(path.join(p, 'sweep.json'))) return p;
  // an experiment (tree item, file): only its sweeps are offered
  const exps = typeof arg === 'object' && arg !== null && (arg as { kind?: string }).kind === 'experiment' ? [(arg as { exp: { file: string; name: string } }).exp]
    : p?.endsWith('.distill.json') ? host.index.list().filter((e) => e.file === p) : host.index.list();
  const all = exps.flatMap((exp) => listSweeps(exp.file).map((s) => ({ exp, ...s })));
  if (all.length === 0) {
    void vscode.window.showInformationMessage('Distill: there is no sweep yet. Add "sweep": { "<field>": [values…] } to an experiment and run `distill sweep <experiment>`.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(all.map((s) => ({
    label: `${s.exp.name} · sweep ${s.sweep.id}`,
    description: `${s.sweep.status} · ${s.sweep.points.filter((q) => q.status === 'completed').length}/${s.sweep.points.length} points · ${Object.keys(s.sweep.axes).join(' × ')}`,
    detail: vscode.workspace.asRelativePath(s.sweepDir), sweepDir: s.sweepDir,
  })), { placeHolder: 'Pick the sweep to open' });
  return pick?.sweepDir;
}

/** Whether a run's config pairs layers (a feature or relation entry with `pairs`). */
function runHasPairs(runDir: string): boolean {
  try {
    const c = readSnapshot(runDir).config;
    return c.knowledge.some((e) => 'pairs' in e && Array.isArray(e.pairs) && e.pairs.length > 0);
  } catch {
    return false;
  }
}

function isActiveExperiment(): boolean {
  return vscode.window.activeTextEditor?.document.uri.fsPath.endsWith('.distill.json') ?? false;
}

/** Registers every command as `distill.<name>`; returns the full ids. */
export function registerCommands(host: Host): string[] {
  const ids: string[] = [];
  for (const [name, fn] of Object.entries(createCommands(host))) {
    const id = `distill.${name}`;
    host.context.subscriptions.push(vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (e) {
        if (isRestrictedModeError(e)) {
          host.log.info(`${id}: ${e.message}`);
          EngineGate.explain(e);
          return undefined;
        }
        host.log.error(`${id} failed: ${(e as Error).stack ?? String(e)}`);
        void vscode.window.showErrorMessage(`Distill: ${(e as Error).message}`, 'Show Log').then((c) => c && host.log.show(true));
        return undefined;
      }
    }));
    ids.push(id);
  }
  return ids;
}

/** Set once moving to the trash failed in this window (issue 20). */
let noTrash = false;

/** Whether Delete can move to the trash: a local desktop window that has not seen the trash fail. */
export function trashAvailable(): boolean {
  return !noTrash && vscode.env.remoteName === undefined && vscode.env.uiKind === vscode.UIKind.Desktop;
}
