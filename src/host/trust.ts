/**
 * Workspace trust: the one gate in front of every engine process the host starts.
 *
 * A model module (`.ts`, `.js`, and later `.py` or TorchScript) is code from the workspace: loading
 * it runs it. Opening a folder must never do that unless the user trusts the folder, so every path
 * that starts an engine goes through this gate — the run manager (runs, resumes, sweeps), the probe
 * client (layers, pair checks, suggestions, feature maps, per-layer figures) and the engine check
 * behind Problems — instead of each command asking on its own; a new command cannot forget it.
 *
 * In Restricted Mode:
 * - runs, resumes and the engine check are refused ({@link EngineGate.require});
 * - the probe engine may still read run folders, data files and plain `model.json` files, but it is
 *   started with {@link RESTRICTED_ENV} set, and the engine's module loader then refuses to load any
 *   model module (src/engine/models/moduleLoader.ts). Its refusal comes back as a
 *   {@link RestrictedModeError}, which the panels show with a button that opens the trust dialog.
 * When trust is granted the probe engine is restarted and open panels load again (no reload).
 */
import * as vscode from 'vscode';
import { RESTRICTED_ENV, RESTRICTED_MARK } from '../protocol/engine';

export { RESTRICTED_ENV, RESTRICTED_MARK };

/** What an engine would be started for. */
export type EngineUse = 'run' | 'resume' | 'check' | 'probe';

const WHAT: Record<EngineUse, string> = {
  run: 'Running an experiment',
  resume: 'Resuming a run',
  check: 'Checking an experiment against its models',
  probe: 'Inspecting models',
};

/** Refused because the workspace is not trusted; `message` says what and how to fix it. */
export class RestrictedModeError extends Error {
  readonly restricted = true;
  constructor(readonly use: EngineUse, detail?: string) {
    super(`${WHAT[use]} runs this folder's code — trust the folder to ${use === 'probe' ? 'see layers and feature maps' : 'do it'}${detail ? ` (${detail})` : ''}.`);
    this.name = 'RestrictedModeError';
  }
}

export function isRestrictedModeError(e: unknown): e is RestrictedModeError {
  return e instanceof RestrictedModeError || (typeof e === 'object' && e !== null && (e as { restricted?: unknown }).restricted === true);
}

/** Where trust comes from: VS Code's workspace trust, or a test's stand-in. */
export interface TrustSource {
  isTrusted(): boolean;
  onDidGrant(listener: () => void): vscode.Disposable;
}

export const vscodeTrust: TrustSource = {
  isTrusted: () => vscode.workspace.isTrusted,
  onDidGrant: (listener) => vscode.workspace.onDidGrantWorkspaceTrust(listener),
};

export class EngineGate implements vscode.Disposable {
  private readonly granted = new vscode.EventEmitter<void>();
  private readonly sub: vscode.Disposable;
  /** Engine starts refused so far, newest last (tests and the log read them). */
  readonly refused: EngineUse[] = [];

  /** Fires once the workspace is trusted (the panels reload, the probe engine restarts). */
  readonly onDidGrant = this.granted.event;

  constructor(private readonly source: TrustSource = vscodeTrust) {
    this.sub = source.onDidGrant(() => this.granted.fire());
  }

  get trusted(): boolean {
    return this.source.isTrusted();
  }

  /** Throws {@link RestrictedModeError} unless the workspace is trusted. */
  require(use: EngineUse, detail?: string): void {
    if (this.trusted) return;
    this.refused.push(use);
    throw new RestrictedModeError(use, detail);
  }

  /**
   * The environment of an engine process started for `use`: in Restricted Mode only a probe may
   * start at all, and then with model modules refused by the engine itself.
   */
  engineEnv(use: EngineUse, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    if (use !== 'probe') this.require(use);
    const env: NodeJS.ProcessEnv = { ...base, ELECTRON_RUN_AS_NODE: '1' };
    if (this.trusted) delete env[RESTRICTED_ENV];
    else env[RESTRICTED_ENV] = '1';
    return env;
  }

  /** Whether an engine's error is its refusal to load a model module in Restricted Mode. */
  static isRefusal(message: string): boolean {
    return message.includes(RESTRICTED_MARK);
  }

  /** Opens VS Code's trust dialog (the panels' button, the commands' notification). */
  static manage(): Thenable<unknown> {
    return vscode.commands.executeCommand('workbench.trust.manage');
  }

  /** Shows why an action was refused, with a button that opens the trust dialog. */
  static explain(e: RestrictedModeError): void {
    void vscode.window.showWarningMessage(`Distill: ${e.message} Browsing runs, metrics and reports works in Restricted Mode.`, 'Manage Workspace Trust')
      .then((choice) => choice && EngineGate.manage());
  }

  dispose(): void {
    this.sub.dispose();
    this.granted.dispose();
  }
}
