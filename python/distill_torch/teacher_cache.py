"""A fixed teacher's outputs on the training split, computed once and kept on disk (logits in
float32 as teacherDiskCache.ts keeps them, tapped features in float16 as teacherSource.ts does).

Why: in offline distillation without augmentation the teacher sees the same training images every
epoch, so its logits and tapped features never change. Running it every batch costs as much as
(often more than) the student's step. Computed once, a later epoch — and a later run with the same
teacher and data (any student, any seed, any experiment) — reads them instead
(src/engine/models/teacherDiskCache.ts and teacherSource.ts do the same for the TF.js engine).

    <runs folder>/.cache/teacher-outputs/<key>.pt     {'logits': [N, C] f32, 'features': {layer: [N, …] f16}}
    <runs folder>/.cache/teacher-outputs/<key>.json   header: format, key, teacher, backend, classes, rows, layers

The key is a hash of what the outputs depend on, as teacherDiskCache.ts: the teacher's files by
content (weights, TorchScript file, the module's source) and its spec, the experiment's data
section, a fingerprint of the prepared inputs and labels (a changed file or normalisation never
matches), the input shape, the device kind, and the tapped layers. Files are written once (a
complete temporary file linked into place, never over an existing one) and read back only when the
header agrees; anything else is ignored and recomputed. `teacherCacheMB` bounds the size (0 = off);
outputs larger than it are not cached (the teacher then runs every batch).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .runfolder import dumps, now_iso

FORMAT = 1
EVAL_BATCH = 256


def outputs_dir(run_dir: str) -> str:
    """`<runs>/.cache/teacher-outputs` for a run folder `<runs>/<experiment>/<id>`."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(run_dir))), '.cache', 'teacher-outputs')


def teacher_files_hash(spec: dict, base_dir: str) -> Optional[str]:
    """sha256 of the teacher's spec and of every file it names (weights, TorchScript model, the
    factory module); None when one is unreadable (then nothing is cached)."""
    h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode('utf8'))
    for field in ('model', 'weights', 'module'):
        p = spec.get(field)
        if not isinstance(p, str):
            continue
        try:
            with open(os.path.join(base_dir, p), 'rb') as f:
                h.update(f'\0{field}\0'.encode('utf8'))
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    h.update(chunk)
        except OSError:
            return None
    return h.hexdigest()


def data_fingerprint(data) -> str:
    """Sizes, every label and every 7th input value of each split (teacherDiskCache.ts)."""
    h = hashlib.sha256(json.dumps([list(data.input_shape), int(data.num_classes)]).encode('utf8'))
    for split in (data.train, getattr(data, 'val', None), data.test):
        if split is None:
            h.update(b'-')
            continue
        h.update(f'{int(split.x.shape[0])}:'.encode('utf8'))
        h.update(split.y.to(torch.int32).contiguous().cpu().numpy().tobytes())
        h.update(split.x.reshape(-1)[::7].to(torch.float32).contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def outputs_key(*, teacher_hash: str, data_config: dict, fingerprint: str, input_shape: Sequence[int],
                backend: str, layers: Sequence[str]) -> str:
    parts = {'teacherHash': teacher_hash, 'data': data_config, 'fingerprint': fingerprint,
             'inputShape': list(input_shape), 'backend': backend, 'layers': sorted(layers)}
    return hashlib.sha256(json.dumps([FORMAT, parts], sort_keys=True).encode('utf8')).hexdigest()[:24]


class TeacherOutputs:
    """The teacher's outputs on the training split, by row: what train.py reads instead of running
    the teacher (`batch(idx)` gives float32 logits and features on the device)."""

    def __init__(self, logits: torch.Tensor, features: Dict[str, torch.Tensor], source: str):
        self.logits = logits
        self.features = features
        self.source = source  # 'computed' | 'disk'

    def batch(self, idx: torch.Tensor, device: torch.device) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        i = idx.cpu()
        return (self.logits.index_select(0, i).to(device, torch.float32),
                {k: v.index_select(0, i).to(device, torch.float32) for k, v in self.features.items()})

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [self.logits, *self.features.values()])


def compute_outputs(teacher: torch.nn.Module, x: torch.Tensor, layers: Sequence[str], device: torch.device,
                    should_stop: Callable[[], bool] = lambda: False) -> Optional[TeacherOutputs]:
    """Runs the teacher over `x` once (eval, no grad), tapping `layers` with forward hooks (features kept in float16).
    None when stopped midway."""
    modules = dict(teacher.named_modules())
    missing = [n for n in layers if n not in modules]
    if missing:
        raise ValueError(f'teacher has no layer {missing[0]!r}')
    current: Dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(_m, _inp, out):
            current[name] = out[0] if isinstance(out, (tuple, list)) else out
        return hook
    handles = [modules[n].register_forward_hook(hook_for(n)) for n in layers]
    logits_parts: List[torch.Tensor] = []
    feats: Dict[str, List[torch.Tensor]] = {n: [] for n in layers}
    was = teacher.training
    teacher.eval()
    try:
        with torch.no_grad():
            for i in range(0, x.shape[0], EVAL_BATCH):
                if should_stop():
                    return None
                current.clear()
                out = teacher(x[i:i + EVAL_BATCH].to(device))
                if isinstance(out, (tuple, list)):
                    out = out[0]
                logits_parts.append(out.detach().to('cpu', torch.float32))
                for n in layers:
                    feats[n].append(current[n].detach().to('cpu', torch.float16))
    finally:
        for h in handles:
            h.remove()
        teacher.train(was)
    return TeacherOutputs(torch.cat(logits_parts), {n: torch.cat(v) for n, v in feats.items()}, 'computed')


def estimate_bytes(teacher: torch.nn.Module, sample: torch.Tensor, layers: Sequence[str], rows: int) -> int:
    """Bytes of the outputs for `rows` samples, from one forward of `sample` (1 row)."""
    one = compute_outputs(teacher, sample[:1], layers, sample.device)
    return 0 if one is None else one.nbytes * rows


def read_outputs(d: str, key: str, *, rows: int, classes: int, layers: Sequence[str]) -> Tuple[Optional[TeacherOutputs], Optional[str]]:
    """The cached outputs for `key` when both files are there and the header agrees; else
    (None, why) — (None, None) when simply absent."""
    header_file = os.path.join(d, f'{key}.json')
    data_file = os.path.join(d, f'{key}.pt')
    if not (os.path.isfile(header_file) and os.path.isfile(data_file)):
        return None, None
    try:
        with open(header_file, encoding='utf8') as f:
            header = json.load(f)
    except (OSError, ValueError) as e:
        return None, f'{header_file}: unreadable ({e})'
    if (header.get('format') != FORMAT or header.get('key') != key or header.get('classes') != classes
            or (header.get('rows') or {}).get('train') != rows or sorted(header.get('layers') or {}) != sorted(layers)):
        return None, (f'{header_file}: expected format {FORMAT}, {classes} classes, {rows} training rows and layers '
                      f'{sorted(layers)}, found format {header.get("format")}, {header.get("classes")} classes, '
                      f'rows {header.get("rows")}, layers {sorted(header.get("layers") or {})}')
    try:
        blob = torch.load(data_file, map_location='cpu')
        logits, feats = blob['logits'], blob['features']
    except Exception as e:  # noqa: BLE001 — a damaged file is recomputed, said in the log
        return None, f'{data_file}: unreadable ({type(e).__name__}: {e})'
    if tuple(logits.shape) != (rows, classes) or any(tuple(feats[n].shape) != (rows, *header['layers'][n]) for n in layers):
        return None, f'{data_file}: its tensors do not have the shapes its header gives'
    return TeacherOutputs(logits, {n: feats[n] for n in layers}, 'disk'), None


def _write_once(target: str, data: bytes) -> bool:
    """`target` from a complete temporary file, never over an existing one; False if it existed."""
    tmp = f'{target}.tmp-{os.getpid()}-{os.urandom(4).hex()}'
    try:
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


def write_outputs(d: str, key: str, outputs: TeacherOutputs, meta: Dict[str, str]) -> Optional[str]:
    """Saves complete outputs under `key`: the data file first, then the header that makes it
    readable. Returns the header file, or None when the entry existed."""
    header_file = os.path.join(d, f'{key}.json')
    if os.path.exists(header_file):
        return None
    os.makedirs(d, exist_ok=True)
    buf = io.BytesIO()
    torch.save({'logits': outputs.logits, 'features': outputs.features}, buf)
    _write_once(os.path.join(d, f'{key}.pt'), buf.getvalue())
    header = {'format': FORMAT, 'key': key, **meta, 'classes': int(outputs.logits.shape[1]),
              'rows': {'train': int(outputs.logits.shape[0])},
              'layers': {n: list(t.shape[1:]) for n, t in outputs.features.items()}, 'createdAt': now_iso()}
    return header_file if _write_once(header_file, dumps(header, indent=2).encode('utf8')) else None


def teacher_outputs(*, teacher: torch.nn.Module, spec: dict, base_dir: str, data, data_config: dict, layers: Sequence[str],
                    device: torch.device, run_dir: str, cache_mb: float, log: Callable[[str], None],
                    should_stop: Callable[[], bool] = lambda: False) -> Optional[TeacherOutputs]:
    """The training-split outputs of a fixed, pre-trained teacher: read from disk when a run
    before computed them for the same teacher and data, else computed now and saved. None when the
    cache is off (`teacherCacheMB` 0), the teacher's files cannot be hashed, the outputs would
    exceed `teacherCacheMB`, or a stop came while computing: the teacher then runs every batch."""
    if not cache_mb:
        log('teacher output cache disabled (teacherCacheMB 0): the teacher runs on every batch')
        return None
    rows = int(data.train.x.shape[0])
    layers = list(dict.fromkeys(layers))
    need = estimate_bytes(teacher, data.train.x[:1].to(device), layers, rows)
    if need > cache_mb * (1 << 20):
        log(f'teacher outputs ({need / (1 << 20):.1f} MB) are larger than teacherCacheMB ({cache_mb} MB): '
            'the teacher runs on every batch')
        return None
    th = teacher_files_hash(spec, base_dir)
    if th is None:
        log('teacher files could not be read for the output cache key: the teacher runs on every batch')
        return None
    key = outputs_key(teacher_hash=th, data_config=data_config, fingerprint=data_fingerprint(data),
                      input_shape=list(data.input_shape), backend=device.type, layers=layers)
    d = outputs_dir(run_dir)
    found, problem = read_outputs(d, key, rows=rows, classes=int(data.num_classes), layers=layers)
    if problem:
        log(f'teacher outputs on disk ignored: {problem}')
    if found is not None:
        log(f'teacher outputs read from {os.path.join(d, key)}.pt ({found.nbytes / (1 << 20):.1f} MB): the teacher does not run on the training split')
        return found
    out = compute_outputs(teacher, data.train.x, layers, device, should_stop)
    if out is None:
        return None
    try:
        saved = write_outputs(d, key, out, {'teacher': str(spec.get('weights') or spec.get('model') or spec.get('export') or 'teacher'),
                                           'backend': device.type, 'run': os.path.basename(run_dir)})
        if saved:
            log(f'teacher outputs saved to {saved[:-5]}.pt for later runs')
    except OSError as e:
        log(f'teacher outputs not saved for later runs: {e}')
    return out
