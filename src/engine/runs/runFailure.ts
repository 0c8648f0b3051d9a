/**
 * How a run that failed while training is recorded: run.json `failed` with the reason, a `failed`
 * event in metrics.jsonl, the `failed` message. A disk or permission fault is said as such ("disk
 * full while writing <file> (needed ≈ N MB, free M MB)") after the temporary files of the
 * interrupted write are removed (which also frees their space for run.json); when run.json cannot be
 * written even then, the reason says so, for the CLI and the extension to show.
 */
import type { EngineToHost } from '../../protocol/engine';
import { diskFaultMessage, diskFaultRemedy, isDiskFault, removeTempFiles } from '../../runs/diskFaults';
import { MetricsLog, readRun, updateRun } from '../../runs/store';

export function recordRunFailure(runDir: string, e: unknown, emit: (m: EngineToHost) => void): { runDir: string; status: 'failed'; error: string } {
  let error = (e as Error)?.message || String(e);
  if (isDiskFault(e)) {
    const removed = removeTempFiles(runDir);
    error = `${diskFaultMessage(e, runDir)}; the last complete checkpoint is kept: ${diskFaultRemedy(e)}, then resume the run`;
    if (removed.length) emit({ type: 'log', level: 'info', message: `removed the temporary files of the interrupted write: ${removed.join(', ')}` });
  }
  try {
    updateRun(runDir, (r) => {
      r.status = 'failed';
      r.error = error;
    });
  } catch (w) {
    if (!isDiskFault(w)) throw w;
    removeTempFiles(runDir);
    let status = 'running';
    try {
      status = readRun(runDir).status;
    } catch {
      // unreadable: said as running, the state it was in
    }
    error += `; run.json could not be marked failed (${diskFaultMessage(w, runDir)}): it still says "${status}"` +
      (status === 'running' ? ' (listed as interrupted, resumable)' : '');
  }
  try {
    new MetricsLog(runDir).append({ type: 'event', event: 'failed', message: error, t: new Date().toISOString() });
  } catch (w) {
    if (!isDiskFault(w)) throw w; // a torn last line at most: readers skip it
  }
  emit({ type: 'failed', runDir, error });
  return { runDir, status: 'failed', error };
}
