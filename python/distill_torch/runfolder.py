"""The run folder as the PyTorch engine writes it: the exact format of src/runs/store.ts.

    <run>/run.json        replaced atomically (temp file + fsync + os.replace), `updatedAt` stamped
    <run>/metrics.jsonl   append-only JSON lines; a torn last line (a kill mid-write) is ended with a
                          newline before the next record, never rewritten
    <run>/checkpoints/<job>/epoch-0003 | epoch-0003-step-000120/state.pt
                          written into `.tmp-<name>-<pid>-<ms>` and renamed; never rewritten
    <run>/models/<job>/   each job's final model

Why so careful: the TypeScript side (tree, dashboard, CLI, `resume`) reads these files while this
process writes them and after it was killed with SIGKILL. A reader must never see a half-written
run.json or a checkpoint folder that looks complete but is not. A full disk (or a permission fault)
raises `DiskFaultError` with the message of src/runs/diskFaults.ts ("disk full while writing
checkpoints/distill-s1/epoch-0002 (needed ≈ 1.20 MB, free 0.05 MB)") and leaves no temporary file.
"""
from __future__ import annotations

import datetime as _dt
import errno
import io
import json
import math
import os
import shutil
import socket
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

# Error codes that are faults of the disk or of permissions, not of the run's logic (diskFaults.ts).
_DISK_CODES = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


# ---------------------------------------------------------------------------------------------
# time, owner, JSON

def now_iso() -> str:
    """The current time as JavaScript's `Date.toISOString()` writes it (UTC, milliseconds, `Z`),
    so that TypeScript readers compare and sort our times with theirs."""
    t = _dt.datetime.now(_dt.timezone.utc)
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + f'{t.microsecond // 1000:03d}Z'


def process_start_time(pid: Union[int, str] = 'self') -> Optional[int]:
    """Start time of a process in clock ticks since boot: field 22 of /proc/<pid>/stat, the value
    src/runs/lock.ts `processStartTime` reads, so a pid reused by another process is told apart.
    None where there is no /proc."""
    try:
        with open(f'/proc/{pid}/stat', 'r', encoding='utf8', errors='replace') as f:
            stat = f.read()
    except OSError:
        return None
    # `pid (comm) state …`: comm may hold spaces and parentheses, so split after the last ')'.
    fields = stat[stat.rfind(')') + 2:].split(' ')
    try:
        return int(fields[19])  # fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def host_name() -> str:
    """The host name Node's `os.hostname()` returns (gethostname), which lock.ts compares."""
    return socket.gethostname()


def owner_fields() -> Dict[str, Any]:
    """run.json's owner fields for this process: pid, pidStart (when known), host."""
    out: Dict[str, Any] = {'pid': os.getpid(), 'host': host_name()}
    start = process_start_time()
    if start is not None:
        out['pidStart'] = start
    return out


def json_safe(value: Any) -> Any:
    """What `JSON.stringify` would make of a value: NaN and ±Infinity become null (Python's json
    would write the invalid tokens NaN/Infinity, which TypeScript's JSON.parse refuses), numpy and
    torch scalars become plain numbers, tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    item = getattr(value, 'item', None)  # numpy / torch scalars
    if callable(item):
        return json_safe(item())
    raise TypeError(f'not JSON-serialisable: {type(value).__name__}')


def dumps(value: Any, indent: Optional[int] = None) -> str:
    """JSON text as JSON.stringify writes it (non-finite numbers as null, UTF-8 kept as is)."""
    return json.dumps(json_safe(value), indent=indent, ensure_ascii=False, allow_nan=False,
                      separators=(',', ': ') if indent else (',', ':'))


# ---------------------------------------------------------------------------------------------
# disk faults

def mb(n: float) -> str:
    """Megabytes with the precision of diskFaults.ts `mb` (never 'needed ≈ 0.00 MB')."""
    v = n / (1 << 20)
    if 0 < v < 0.01:
        return '0.01'
    return f'{v:.0f}' if v >= 100 else f'{v:.1f}' if v >= 10 else f'{v:.2f}'


def free_bytes(p: str) -> Optional[int]:
    """Bytes free for an unprivileged writer on the file system of `p` (its nearest existing ancestor)."""
    d = os.path.abspath(p)
    while not os.path.exists(d):
        up = os.path.dirname(d)
        if up == d:
            return None
        d = up
    try:
        s = os.statvfs(d)
        return s.f_bavail * s.f_frsize
    except OSError:
        return None


def is_disk_fault(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in _DISK_CODES


class DiskFaultError(OSError):
    """A disk or permission fault while writing a run's file; `str(e)` is the message the run
    ends `failed` with (diskFaults.ts `diskFaultMessage`). `file` is absolute, `bytes` what the
    write needed."""

    def __init__(self, code: int, message: str, file: str, nbytes: Optional[int]):
        super().__init__(code, message)
        self.message = message
        self.file = file
        self.bytes = nbytes

    def __str__(self) -> str:
        return self.message


def disk_fault(e: OSError, file: str, nbytes: Optional[int], root: Optional[str] = None) -> DiskFaultError:
    """The located error for fault `e` met while writing `file` (`nbytes` needed); paths inside
    `root` (the run folder) are said relative to it."""
    if isinstance(e, DiskFaultError):
        return e  # the innermost writer already said which file
    shown = file
    if root:
        rel = os.path.relpath(file, root)
        if not rel.startswith('..') and not os.path.isabs(rel):
            shown = rel
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        free = free_bytes(file)
        figures = ', '.join(x for x in (
            f'needed ≈ {mb(nbytes)} MB' if nbytes is not None else None,
            f'free {mb(free)} MB' if free is not None else None) if x)
        what = 'disk quota exceeded' if e.errno == errno.EDQUOT else 'disk full'
        msg = f'{what} while writing {shown}' + (f' ({figures})' if figures else '')
    elif e.errno == errno.EROFS:
        msg = f'read-only file system while writing {shown}'
    else:
        msg = f'permission denied while writing {shown} ({errno.errorcode.get(e.errno or 0, "EPERM")})'
    return DiskFaultError(e.errno or errno.EIO, msg, file, nbytes)


def remove_quietly(p: str) -> bool:
    """Removes a file or folder; False when it cannot (cleaning up never hides the fault itself)."""
    try:
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)
        return True
    except OSError:
        return False


def _fsync_dir(d: str) -> None:
    """Makes a rename inside `d` durable (best effort: some file systems refuse O_RDONLY dirs)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# A file's content: bytes, text, or a writer that fills a binary file object (torch.save(obj, f)).
FileContent = Union[bytes, str, Callable[[io.BufferedWriter], None]]


def _write_file(path: str, content: FileContent) -> int:
    """Writes and fsyncs one file; returns its size."""
    with open(path, 'xb') as f:
        if isinstance(content, str):
            f.write(content.encode('utf8'))
        elif isinstance(content, (bytes, bytearray, memoryview)):
            f.write(content)
        else:
            content(f)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def _content_size(content: FileContent) -> Optional[int]:
    if isinstance(content, str):
        return len(content.encode('utf8'))
    if isinstance(content, (bytes, bytearray, memoryview)):
        return len(content)
    return None


def write_file_atomic(path: str, data: Union[str, bytes], root: Optional[str] = None) -> None:
    """Replaces `path` atomically: `<path>.tmp-<pid>` written and fsynced, then os.replace — a
    reader sees the old or the new file, never a part (store.ts writeFileAtomic)."""
    tmp = f'{path}.tmp-{os.getpid()}'
    raw = data.encode('utf8') if isinstance(data, str) else data
    try:
        remove_quietly(tmp)
        _write_file(tmp, raw)
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)  # a full disk leaves no half-written temporary file behind
        if is_disk_fault(e):
            raise disk_fault(e, path, len(raw), root) from e
        raise
    _fsync_dir(os.path.dirname(path) or '.')


def write_dir_atomic(path: str, files: Dict[str, FileContent], root: Optional[str] = None) -> None:
    """Creates the folder `path` holding `files`, atomically: written into
    `.tmp-<name>-<pid>-<ms>` beside it (every file fsynced), then renamed (fileIO.ts writeDirAtomic).
    Refuses when `path` exists: a complete folder is never rewritten."""
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f'.tmp-{os.path.basename(path)}-{os.getpid()}-{int(time.time() * 1000)}')
    written = 0
    try:
        os.makedirs(tmp)
        for name, content in files.items():
            written += _write_file(os.path.join(tmp, name), content)
    except OSError as e:
        remove_quietly(tmp)
        if is_disk_fault(e):
            known = [_content_size(c) for c in files.values()]
            need = sum(k for k in known if k is not None) if all(k is not None for k in known) else None
            # A writer callback's size is unknown up front: what it had written when the disk filled.
            raise disk_fault(e, path, need if need is not None else max(written, 1), root) from e
        raise
    except BaseException:
        remove_quietly(tmp)
        raise
    if os.path.exists(path):
        remove_quietly(tmp)
        raise FileExistsError(f'{path} already exists; refusing to overwrite it')
    os.rename(tmp, path)
    _fsync_dir(parent)


# ---------------------------------------------------------------------------------------------
# metrics.jsonl reading (store.ts parseMetricLines / applyResumeMarkers)

def parse_metric_lines(buf: bytes, base: int = 0) -> List[Tuple[int, dict]]:
    """(offset, record) of every whole, parseable line; a torn line (a kill mid-write) is skipped."""
    out: List[Tuple[int, dict]] = []
    start = 0
    while start < len(buf):
        end = buf.find(b'\n', start)
        if end < 0:
            end = len(buf)
        line = buf[start:end]
        if line.strip():
            try:
                rec = json.loads(line.decode('utf8'))
                if isinstance(rec, dict):
                    out.append((base + start, rec))
            except (ValueError, UnicodeDecodeError):
                pass  # a partial line written when the process was killed: ignored, never rewritten
        start = end + 1
    return out


def apply_resume_markers(lines: List[Tuple[int, dict]]) -> List[Tuple[int, dict]]:
    """Every `resume` record drops its job's step and epoch records from its `supersedes` offset on."""
    out: List[Tuple[int, dict]] = []
    for off, r in lines:
        if r.get('type') == 'resume':
            sup = r.get('supersedes', 0)
            out = [(o, x) for (o, x) in out
                   if o < sup or x.get('job') != r.get('job') or x.get('type') not in ('step', 'epoch')]
        out.append((off, r))
    return out


# ---------------------------------------------------------------------------------------------
# checkpoints

def checkpoint_name(epoch: int, step: Optional[int] = None) -> str:
    """`epoch-0003` (epoch 3 done) or `epoch-0003-step-000120` (120 batches of epoch 3 done), the
    names of src/engine/runs/checkpoints.ts."""
    e = f'epoch-{epoch:04d}'
    return e if step is None else f'{e}-step-{step:06d}'


def _checkpoint_order(name: str) -> Optional[Tuple[int, float]]:
    """Sort key of a checkpoint folder name (an epoch end comes after every step of its epoch);
    None for anything else (temporary folders, strays)."""
    parts = name.split('-')
    try:
        if len(parts) == 2 and parts[0] == 'epoch':
            return (int(parts[1]), math.inf)
        if len(parts) == 4 and parts[0] == 'epoch' and parts[2] == 'step':
            return (int(parts[1]), int(parts[3]))
    except ValueError:
        return None
    return None


# ---------------------------------------------------------------------------------------------

class RunFolder:
    """One run folder, as its owner (this process) writes it. Constructing it ends a torn last line
    of metrics.jsonl, so the next record starts on a line of its own (store.ts MetricsLog)."""

    def __init__(self, run_dir: str):
        self.dir = os.path.abspath(run_dir)
        self.run_file = os.path.join(self.dir, 'run.json')
        self.metrics_file = os.path.join(self.dir, 'metrics.jsonl')
        if not os.path.isfile(self.run_file):
            raise FileNotFoundError(f'{self.dir}: not a run folder (no run.json)')
        self._jobs_with_records = set()
        for _, r in self.read_metrics_lines():
            if r.get('type') in ('step', 'epoch') and isinstance(r.get('job'), str):
                self._jobs_with_records.add(r['job'])
        self._end_torn_line()

    # -- run.json ------------------------------------------------------------------------------
    def run(self) -> dict:
        """run.json as it is on disk."""
        with open(self.run_file, 'r', encoding='utf8') as f:
            return json.load(f)

    def update_run(self, patch: Callable[[dict], None]) -> dict:
        """Reads run.json, applies `patch` (in place), stamps `updatedAt`, replaces it atomically."""
        run = self.run()
        patch(run)
        run['updatedAt'] = now_iso()
        write_file_atomic(self.run_file, dumps(run, indent=2), self.dir)
        return run

    # -- metrics.jsonl ---------------------------------------------------------------------------
    def _end_torn_line(self) -> None:
        try:
            size = os.path.getsize(self.metrics_file)
        except OSError:
            return
        if size == 0:
            return
        with open(self.metrics_file, 'rb') as f:
            f.seek(size - 1)
            last = f.read(1)
        if last != b'\n':
            self._append_bytes(b'\n')

    def _append_bytes(self, data: bytes) -> None:
        """Appends with one write(2) on an O_APPEND descriptor; a failed write is cut back off, so a
        full disk leaves no partial record."""
        fd = os.open(self.metrics_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            before = os.fstat(fd).st_size
            try:
                n = os.write(fd, data)
                if n != len(data):  # a short write is a full disk in disguise
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.metrics_file)
            except OSError as e:
                try:
                    os.ftruncate(fd, before)
                except OSError:
                    pass
                if is_disk_fault(e):
                    raise disk_fault(e, self.metrics_file, len(data), self.dir) from e
                raise
        finally:
            os.close(fd)

    def append(self, record: dict) -> None:
        """One metrics.jsonl line (step / epoch / event / resume), `t` stamped when absent."""
        if 't' not in record:
            record = {**record, 't': now_iso()}
        if record.get('type') in ('step', 'epoch') and isinstance(record.get('job'), str):
            self._jobs_with_records.add(record['job'])
        self._append_bytes((dumps(record) + '\n').encode('utf8'))

    def event(self, event: str, job: Optional[str] = None, message: Optional[str] = None) -> None:
        """An `event` record (start, resume, stop, failed, job-done)."""
        rec: Dict[str, Any] = {'type': 'event', 'event': event}
        if job is not None:
            rec['job'] = job
        if message is not None:
            rec['message'] = message
        self.append(rec)

    @property
    def metrics_size(self) -> int:
        """Where the next record starts (saved in checkpoints: a resume supersedes from there)."""
        try:
            return os.path.getsize(self.metrics_file)
        except OSError:
            return 0

    def has_records_of(self, job: str) -> bool:
        """Whether metrics.jsonl holds step or epoch records of `job` (an earlier attempt ran it)."""
        return job in self._jobs_with_records

    def read_metrics_lines(self) -> List[Tuple[int, dict]]:
        """Whole lines with their offsets, resume markers applied (store.ts readMetrics)."""
        try:
            with open(self.metrics_file, 'rb') as f:
                buf = f.read()
        except OSError:
            return []
        end = buf.rfind(b'\n')
        if end < 0:
            return []
        return apply_resume_markers(parse_metric_lines(buf[:end]))

    def read_metrics(self) -> List[dict]:
        """The records as readers see them: torn lines skipped, superseded records dropped."""
        return [r for _, r in self.read_metrics_lines()]

    # -- checkpoints -----------------------------------------------------------------------------
    def checkpoint_root(self, job: str) -> str:
        return os.path.join(self.dir, 'checkpoints', job)

    def save_checkpoint(self, job: str, name: str, state: dict) -> str:
        """Writes `checkpoints/<job>/<name>/state.pt` (torch.save of `state`) through a temporary
        folder renamed into place; returns the folder. One that exists is kept as it is (the same
        position saved before, e.g. a stop right at an epoch end): never rewritten."""
        if _checkpoint_order(name) is None:
            raise ValueError(f'checkpoint name {name!r}: expected epoch-NNNN or epoch-NNNN-step-NNNNNN')
        import torch  # local: the rest of this module needs no torch (tests of the format, the reader)
        path = os.path.join(self.checkpoint_root(job), name)
        if os.path.isfile(os.path.join(path, 'state.pt')):
            return path
        if os.path.exists(path):
            # A folder of that name without its state is no checkpoint (not one of ours): set aside.
            old = os.path.join(self.checkpoint_root(job), f'.tmp-old-{name}-{os.getpid()}')
            os.rename(path, old)
            shutil.rmtree(old, ignore_errors=True)
        buf = io.BytesIO()
        torch.save(state, buf)
        write_dir_atomic(path, {'state.pt': buf.getvalue()}, self.dir)
        return path

    def list_checkpoints(self, job: str) -> List[str]:
        """Complete checkpoint folders of `job`, oldest first (temporary folders ignored)."""
        root = self.checkpoint_root(job)
        try:
            names = os.listdir(root)
        except OSError:
            return []
        keyed = []
        for n in names:
            key = _checkpoint_order(n)
            if key is not None and os.path.isfile(os.path.join(root, n, 'state.pt')):
                keyed.append((key, n))
        return [os.path.join(root, n) for _, n in sorted(keyed)]

    def latest_checkpoint(self, job: str) -> Optional[Tuple[str, dict]]:
        """(folder, state) of the newest checkpoint that loads; an unreadable one is passed over."""
        import torch
        for path in reversed(self.list_checkpoints(job)):
            try:
                state = torch.load(os.path.join(path, 'state.pt'), map_location='cpu')
            except Exception:  # noqa: BLE001 — a corrupt file is not a usable checkpoint
                continue
            return path, state
        return None

    def prune_checkpoints(self, job: str) -> None:
        """Removes mid-epoch checkpoints older than the newest one (renamed to a temporary name
        first, so a kill never leaves a partial folder that looks like a checkpoint), and the
        temporary folders of this job left by dead processes. Epoch-end checkpoints stay."""
        root = self.checkpoint_root(job)
        all_ = self.list_checkpoints(job)
        for path in all_[:-1]:
            if _checkpoint_order(os.path.basename(path))[1] != math.inf:
                tmp = os.path.join(root, f'.tmp-old-{os.path.basename(path)}-{os.getpid()}')
                try:
                    os.rename(path, tmp)
                    shutil.rmtree(tmp, ignore_errors=True)
                except OSError:
                    pass
        try:
            names = os.listdir(root)
        except OSError:
            return
        for n in names:
            if n.startswith('.tmp-'):
                pid = _tmp_pid(n)
                if pid is not None and pid != os.getpid() and not _pid_alive(pid):
                    shutil.rmtree(os.path.join(root, n), ignore_errors=True)

    def remove_temp_files(self) -> List[str]:
        """Removes temporary files and folders of interrupted writes (diskFaults.ts removeTempFiles);
        only the owner calls it. Returns them relative to the run folder."""
        removed: List[str] = []

        def walk(d: str, depth: int) -> None:
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                return
            for ent in entries:
                if ent.name.startswith('.tmp-') or _is_tmp_file(ent.name):
                    if remove_quietly(ent.path):
                        removed.append(os.path.relpath(ent.path, self.dir))
                elif ent.is_dir(follow_symlinks=False) and depth < 4:
                    walk(ent.path, depth + 1)
        walk(self.dir, 0)
        return removed

    # -- models ----------------------------------------------------------------------------------
    def model_dir(self, job: str) -> str:
        """models/<job>/ (created)."""
        d = os.path.join(self.dir, 'models', job)
        os.makedirs(d, exist_ok=True)
        return d

    def save_model(self, job: str, state_dict: dict) -> str:
        """models/<job>/model.pt, written atomically; returns its path. An earlier attempt's folder
        (the job completed but run.json was not updated before a kill) is replaced by a rename."""
        import torch
        buf = io.BytesIO()
        torch.save(state_dict, buf)
        final = os.path.join(self.dir, 'models', job)
        if os.path.exists(final):
            old = os.path.join(self.dir, 'models', f'.tmp-old-{job}-{os.getpid()}')
            os.rename(final, old)
            shutil.rmtree(old, ignore_errors=True)
        write_dir_atomic(final, {'model.pt': buf.getvalue()}, self.dir)
        return os.path.join(final, 'model.pt')


def _is_tmp_file(name: str) -> bool:
    """`run.json.tmp-1234` or `x.tmp-1234-ab12`: a temporary file of an atomic write."""
    i = name.rfind('.tmp-')
    if i < 0:
        return False
    rest = name[i + 5:].split('-')
    return rest[0].isdigit() and len(rest) <= 2 and (len(rest) == 1 or all(c in '0123456789abcdef' for c in rest[1]))


def _tmp_pid(name: str) -> Optional[int]:
    """The writer's pid in `.tmp-<name>-<pid>-<ms>` or `.tmp-old-<name>-<pid>`."""
    parts = name.split('-')
    if name.startswith('.tmp-old-') and parts[-1].isdigit():
        return int(parts[-1])
    if len(parts) >= 4 and parts[-1].isdigit() and len(parts[-1]) >= 13 and parts[-2].isdigit():
        return int(parts[-2])
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:
        return True
    except OSError:
        return False
