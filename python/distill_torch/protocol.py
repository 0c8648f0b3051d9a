"""The JSON-lines channel to the TypeScript engine worker (src/protocol/torch.ts).

Python's stdout carries protocol lines and nothing else: anything else on it (a stray `print`, a
library's warning written to file descriptor 1 by C code) would be read as a malformed message.
So `install()` keeps a private duplicate of fd 1 for the protocol and points fd 1 *and*
`sys.stdout` at stderr, which the worker relays as log lines. stdin is read by a daemon thread: a
`stop` line or the end of stdin (the worker died) sets the stop flag that the training loop polls;
SIGTERM does too. SIGINT is ignored: a Ctrl-C in a terminal reaches the whole process group, and
the parent decides (it sends `stop`), as src/engine/worker.ts does.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
from typing import Any, Dict, Optional

from .runfolder import dumps

_out = None  # the protocol's own stream (a duplicate of the original fd 1)
_out_lock = threading.Lock()
_stop = threading.Event()
_inbox: 'queue.Queue[Optional[dict]]' = queue.Queue()
_channel_lost = False


def install() -> None:
    """Takes over stdout for the protocol; from here on, fd 1 and sys.stdout go to stderr."""
    global _out
    if _out is not None:
        return
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    _out = os.fdopen(fd, 'w', encoding='utf8', buffering=1)
    sys.stdout = sys.stderr


def send(msg: Dict[str, Any]) -> None:
    """Writes one message as one JSON line (non-finite numbers as null, as JSON.stringify would)."""
    global _channel_lost
    line = dumps(msg) + '\n'
    with _out_lock:
        stream = _out if _out is not None else sys.stdout
        try:
            stream.write(line)
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            # The worker is gone: nobody to tell. Training stops as on a `stop`.
            _channel_lost = True
            _stop.set()


def log(message: str, level: str = 'info') -> None:
    """A `log` message (the worker shows it as the TF.js engine's log lines)."""
    send({'type': 'log', 'level': level, 'message': message})


def should_stop() -> bool:
    """Whether a `stop` arrived, stdin closed or SIGTERM came: checkpoint and end cancelled."""
    return _stop.is_set()


def request_stop() -> None:
    _stop.set()


def _reader(stream) -> None:
    try:
        for raw in stream:
            _handle_line(raw)
    except Exception as e:  # noqa: BLE001 — an unreadable stdin is a lost worker: stop, said
        log(f'stdin could not be read ({type(e).__name__}: {e}): stopping', 'error')
    _stop.set()  # stdin closed: the worker died, which counts as `stop`
    _inbox.put(None)


def _handle_line(raw: str) -> None:
    raw = raw.strip()
    if not raw:
        return
    try:
        msg = json.loads(raw)
    except ValueError:
        log(f'ignored a malformed line on stdin: {raw[:200]}', 'warn')
        return
    if not isinstance(msg, dict) or msg.get('type') not in ('prepare', 'run', 'stop'):
        log(f'ignored an unknown message: {raw[:200]}', 'warn')
        return
    if msg['type'] == 'stop':
        _stop.set()
    _inbox.put(msg)


def _fd_lines(fd: int):
    """Lines of a file descriptor, read with os.read: a daemon thread blocked here holds no lock of
    Python's buffered stdin, so the interpreter can always exit (a thread blocked inside
    sys.stdin.readline() makes the shutdown abort). Bytes that are not UTF-8 become U+FFFD (then a
    malformed line, logged), never a dead reader."""
    pending = b''
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            yield line.decode('utf8', errors='replace')
    if pending:
        yield pending.decode('utf8', errors='replace')


def start_reader(stream=None) -> None:
    """Reads stdin in a daemon thread (the main thread trains; it polls `should_stop`)."""
    t = threading.Thread(target=_reader, args=(stream if stream is not None else _fd_lines(0),), name='distill-stdin', daemon=True)
    t.start()


def next_message(timeout: Optional[float] = None) -> Optional[dict]:
    """The next message from the worker; None once stdin has closed."""
    return _inbox.get(timeout=timeout)


def install_signals() -> None:
    """SIGINT ignored (the parent decides), SIGTERM = stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())


def flush() -> None:
    with _out_lock:
        if _out is not None:
            try:
                _out.flush()
            except (OSError, ValueError):
                pass
