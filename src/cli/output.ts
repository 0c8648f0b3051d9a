/**
 * A closed output pipe ends the output, not the run. When the reader of stdout or stderr goes away
 * (`distill sweep … | head -3`, a closed terminal, a killed `tee`), writing to it fails with EPIPE —
 * asynchronously for pipes, so Node would raise it as an uncaught 'error' event and die mid-run,
 * leaving run.json `running` or `queued`. Instead that stream is marked closed and every later
 * write to it is dropped: the run goes on to its end (or to a clean stop on Ctrl-C / SIGTERM) and
 * writes its run folder as if it had been watched; the exit code is the run's own.
 */

/** Errors that mean "nobody reads this stream any more". */
const CLOSED = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EIO']);

const closed = new Set<NodeJS.WriteStream>();

function drop(stream: NodeJS.WriteStream): void {
  if (closed.has(stream)) return;
  closed.add(stream);
  // Every later write (console.log, the progress bar) succeeds without writing.
  stream.write = ((_chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as typeof stream.write;
}

/** Installs the handlers on stdout and stderr (once). */
export function guardOutput(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if ((stream as { distillGuarded?: boolean }).distillGuarded) continue;
    (stream as { distillGuarded?: boolean }).distillGuarded = true;
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== undefined && CLOSED.has(e.code)) {
        drop(stream);
        return;
      }
      // Any other output error is not the reader leaving: report it where it can still be read.
      const other = stream === process.stderr ? process.stdout : process.stderr;
      if (!closed.has(other)) other.write(`distill: cannot write output: ${e.message}\n`);
      drop(stream);
    });
  }
}
