/**
 * Which Python runs the torch engine (issue 14). A `python3` on PATH may well be an interpreter
 * without torch (a version manager's shim beside the system's), so each candidate is asked, by
 * running it, whether it imports torch and which versions it has; the first with torch ≥
 * TORCH_MIN_VERSION is taken, and a log line says which. The candidates, in order:
 *   1. the `python` of the start request or probe (the setting `distill.pythonPath`, the Python
 *      extension's interpreter, or the CLI's `--python`): when given, the only one;
 *   2. else the environment variable DISTILL_PYTHON: when set, the only one;
 *   3. else `python3`, `/usr/bin/python3`, `python`.
 * None fits → an ExperimentError located at the experiment's `engine` that says what each
 * candidate answered and the fix.
 */
import * as cp from 'child_process';
import * as path from 'path';
import { TORCH_MIN_VERSION } from '../../protocol/torch';

/** Printed by a candidate: one JSON line, whatever it has (never a traceback). */
const PROBE_SCRIPT = [
  'import json, platform, sys',
  "out = {'python': platform.python_version(), 'executable': sys.executable}",
  'try:',
  '    import torch',
  "    out['torch'] = str(torch.__version__)",
  'except Exception as e:',
  "    out['error'] = '%s: %s' % (type(e).__name__, e)",
  'try:',
  '    import numpy',
  "    out['numpy'] = str(numpy.__version__)",
  'except Exception:',
  '    pass',
  'print(json.dumps(out))',
].join('\n');

export const DEFAULT_CANDIDATES = ['python3', '/usr/bin/python3', 'python'];
export const PYTHON_FIX = `set distill.pythonPath / --python to an interpreter with PyTorch ≥ ${TORCH_MIN_VERSION}`;

export interface Interpreter {
  /** The command as given (a path, or a name looked up on PATH). */
  command: string;
  /** sys.executable, as the interpreter says. */
  executable: string;
  /** python, torch (and numpy when it has it). */
  versions: Record<string, string>;
  /** Where the candidate came from: `request`, `DISTILL_PYTHON` or `default`. */
  source: 'request' | 'DISTILL_PYTHON' | 'default';
}

/** What one candidate answered: an interpreter that fits, or why not. */
export type CandidateAnswer = { ok: true; interpreter: Interpreter } | { ok: false; command: string; reason: string };

/** Thrown when no candidate fits; `message` lists each answer and ends with the fix. */
export class NoInterpreterError extends Error {
  constructor(readonly answers: Extract<CandidateAnswer, { ok: false }>[]) {
    super(`no Python with PyTorch ≥ ${TORCH_MIN_VERSION} for the torch engine: ${answers.map((a) => `${a.command}: ${a.reason}`).join('; ')}; ${PYTHON_FIX}`);
    this.name = 'NoInterpreterError';
  }
}

/** `1.13.0a0+git…` ≥ `1.13`? Compares the leading numeric parts. */
export function versionAtLeast(version: string, min: string): boolean {
  const nums = (v: string): number[] => (/^\d+(\.\d+)*/.exec(v.trim())?.[0] ?? '').split('.').filter(Boolean).map(Number);
  const a = nums(version);
  const b = nums(min);
  if (a.length === 0) return false;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** The candidates in order, with where each came from. */
export function candidates(python: string | undefined, env: NodeJS.ProcessEnv = process.env): { command: string; source: Interpreter['source'] }[] {
  // A relative path (`./venv/bin/python`) is this process's; Python itself starts in the experiment's folder.
  const absolute = (c: string): string => (c.includes('/') || c.includes(path.sep) ? path.resolve(c) : c);
  if (python && python.trim()) return [{ command: absolute(python.trim()), source: 'request' }];
  const fromEnv = env.DISTILL_PYTHON?.trim();
  if (fromEnv) return [{ command: absolute(fromEnv), source: 'DISTILL_PYTHON' }];
  return DEFAULT_CANDIDATES.map((command) => ({ command, source: 'default' as const }));
}

/** Runs one candidate with the probe script and judges its answer. */
export function checkCandidate(command: string, source: Interpreter['source'], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CandidateAnswer> {
  return new Promise((resolve) => {
    cp.execFile(command, ['-c', PROBE_SCRIPT], { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, windowsHide: true, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const no = (reason: string): void => resolve({ ok: false, command, reason });
        const e = err as (cp.ExecFileException & { code?: string | number }) | null;
        if (e && e.code === 'ENOENT') return no('not found');
        if (e && (e.code === 'EACCES' || e.code === 'EISDIR')) return no('not an executable program');
        if (e && e.killed) return no(`gave no answer within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`);
        const line = stdout.trim().split('\n').pop() ?? '';
        let answer: { python?: unknown; executable?: unknown; torch?: unknown; numpy?: unknown; error?: unknown } | undefined;
        try {
          const parsed: unknown = JSON.parse(line);
          if (typeof parsed === 'object' && parsed !== null) answer = parsed as typeof answer;
        } catch {
          // not an answer: said below with what it printed
        }
        if (!answer || typeof answer.python !== 'string') {
          const said = (stderr.trim().split('\n').pop() || line || (e ? `exit code ${String(e.code)}` : 'nothing')).slice(0, 200);
          return no(`is not a Python that runs the check (${said})`);
        }
        const py = `Python ${answer.python}`;
        if (typeof answer.torch !== 'string') return no(`${py} without torch (${typeof answer.error === 'string' ? answer.error : 'import torch failed'})`);
        if (!versionAtLeast(answer.torch, TORCH_MIN_VERSION)) return no(`${py} with torch ${answer.torch}, older than ${TORCH_MIN_VERSION}`);
        const versions: Record<string, string> = { python: answer.python, torch: answer.torch };
        if (typeof answer.numpy === 'string') versions.numpy = answer.numpy;
        resolve({ ok: true, interpreter: { command, executable: typeof answer.executable === 'string' ? answer.executable : command, versions, source } });
      });
  });
}

/**
 * The first candidate with torch ≥ TORCH_MIN_VERSION; `log` hears which was picked (and why the
 * ones before it were not). Throws NoInterpreterError when none fits.
 */
export async function findInterpreter(opts: { python?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; log?: (message: string) => void } = {}): Promise<Interpreter> {
  const env = opts.env ?? process.env;
  const refused: Extract<CandidateAnswer, { ok: false }>[] = [];
  for (const c of candidates(opts.python, env)) {
    const answer = await checkCandidate(c.command, c.source, { env, timeoutMs: opts.timeoutMs });
    if (answer.ok) {
      const i = answer.interpreter;
      const skipped = refused.length ? ` (skipped ${refused.map((r) => `${r.command}: ${r.reason}`).join('; ')})` : '';
      const from = i.source === 'request' ? 'as configured' : i.source === 'DISTILL_PYTHON' ? 'from DISTILL_PYTHON' : 'first with torch';
      opts.log?.(`python: ${i.executable} (${from}; Python ${i.versions.python}, torch ${i.versions.torch})${skipped}`);
      return i;
    }
    refused.push(answer);
  }
  throw new NoInterpreterError(refused);
}
