/** The extension's settings (`distill.*` in package.json), read fresh on each use. */
import * as vscode from 'vscode';
import type { BackendName } from '../config/types';

export interface Settings {
  backend: BackendName;
  maxConcurrentRuns: number;
  runsFolder: string;
  engineMemoryLimitMB: number;
  inlineCharts: boolean;
  /** The torch engine's Python (`distill.pythonPath`, a restricted setting); '' = not set. */
  pythonPath: string;
  /** Where a sweep's points run (`distill.sweepExecutor`, a restricted setting; issue 15). */
  sweepExecutor: 'sequential' | 'local' | 'slurm';
}

const BACKENDS: readonly BackendName[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export function readSettings(scope?: vscode.ConfigurationScope): Settings {
  const c = vscode.workspace.getConfiguration('distill', scope);
  const backend = c.get<string>('backend', 'auto');
  return {
    backend: (BACKENDS as readonly string[]).includes(backend) ? backend as BackendName : 'auto',
    maxConcurrentRuns: Math.max(1, Math.floor(c.get<number>('maxConcurrentRuns', 1)) || 1),
    runsFolder: c.get<string>('runsFolder', '.distill/runs') || '.distill/runs',
    engineMemoryLimitMB: Math.max(0, Math.floor(c.get<number>('engineMemoryLimitMB', 0)) || 0),
    inlineCharts: c.get<boolean>('inlineCharts', true),
    pythonPath: (c.get<string>('pythonPath', '') ?? '').trim(),
    sweepExecutor: ((['sequential', 'local', 'slurm'] as const) as readonly string[]).includes(c.get<string>('sweepExecutor', 'sequential') ?? '')
      ? c.get<'sequential' | 'local' | 'slurm'>('sweepExecutor', 'sequential') : 'sequential',
  };
}

export { BACKENDS };
