"""`python -m distill_torch`: the PyTorch engine process the TypeScript worker starts.

The sequence (src/protocol/torch.ts): `ready` at boot → `prepare` → `prepared` (or `failed` with
kind `config` and the JSON path of the culprit) → `run` → progress/epoch/checkpoint/log … →
`done` or `failed` → exit. Never a silent death: any exception that escapes is sent as `failed`
with its traceback, and the process exits with code 1.
"""
from __future__ import annotations

import os
import queue
import sys
import traceback

# How long a `stop` that came between `prepared` and `run` waits for that `run`.
STOP_GRACE_SECONDS = 10.0


def _versions() -> dict:
    """Versions for `ready` and run.json: python, torch, numpy, torchvision when importable."""
    import platform
    out = {'python': platform.python_version()}
    try:
        import torch
        out['torch'] = str(torch.__version__)
    except Exception as e:  # noqa: BLE001 — said in `ready`, refused at `prepare`
        out['torch'] = f'unavailable ({type(e).__name__}: {e})'
    try:
        import numpy
        out['numpy'] = str(numpy.__version__)
    except Exception:  # noqa: BLE001
        pass
    try:
        import torchvision  # optional: only `{"torchvision": …}` models need it
        out['torchvision'] = str(torchvision.__version__)
    except Exception:  # noqa: BLE001
        pass
    return out


def main() -> int:
    from . import protocol
    protocol.install()
    protocol.install_signals()
    protocol.start_reader()
    try:
        return _serve(protocol)
    except BaseException as e:  # noqa: BLE001 — never a silent death
        if isinstance(e, SystemExit):
            raise
        protocol.send({'type': 'failed', 'error': f'engine crashed: {traceback.format_exc()}'})
        protocol.flush()
        return 1


def _serve(protocol) -> int:
    versions = _versions()
    protocol.send({'type': 'ready', 'pid': os.getpid(), 'versions': versions})
    from . import engine
    from .errors import ConfigError
    session = None
    wait = None  # seconds to wait for the next message; None: as long as it takes
    while True:
        try:
            msg = protocol.next_message(timeout=wait)
        except queue.Empty:
            protocol.log('stop requested before the run: leaving')
            return 0
        if msg is None:
            return 0  # stdin closed before a run: nothing to save, nobody to tell
        kind = msg['type']
        if kind == 'stop':
            if session is None:
                protocol.log('stop requested before the run: leaving')
                return 0
            # Prepared, no run yet: the worker may be creating the run folder right now (it does when
            # it reads `prepared`) and send `run`; that run then ends `cancelled` at once, so the
            # folder it made is not left without an ending. No `run` soon: nothing to end.
            wait = STOP_GRACE_SECONDS
            continue
        if kind == 'prepare':
            if session is not None:
                protocol.log('prepare already done; ignored', 'warn')
                continue
            try:
                session = engine.prepare(msg, send=protocol.send, should_stop=protocol.should_stop, versions=versions)
            except ConfigError as e:
                protocol.send({'type': 'failed', 'error': e.message, 'kind': 'config', 'path': e.path})
                return 1
            protocol.send(session.prepared_message())
            continue
        if kind == 'run':
            if session is None:
                protocol.send({'type': 'failed', 'error': 'run before prepare: the worker must send prepare first'})
                return 1
            run_dir = msg.get('runDir')
            if not isinstance(run_dir, str) or not run_dir:
                protocol.send({'type': 'failed', 'error': f'run: expected runDir, a folder path, found {run_dir!r}'})
                return 1
            status = session.run(run_dir, bool(msg.get('resume')))
            protocol.flush()
            return 0 if status in ('completed', 'cancelled') else 1


if __name__ == '__main__':
    code = main()
    sys.stderr.flush()
    sys.exit(code)
