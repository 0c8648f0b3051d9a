"""The image-folder decode cache, shared with the TF.js engine: the same folder, file format and key
as src/engine/data/images.ts, so either engine reuses what the other decoded.

    <experiment dir>/.distill/cache/images/
      <key>.u8      the decoded pixels, uint8 [N, H, W, C] (row-major, channels last)
      <key>.json    its header: {version, folder, shape: [H, W, C], size: N, classNames, labels, files}
      index-<sha256(folder)[:16]>.json   {version: 1, files: {"<class>/<name>": {size, mtimeMs, sha256}}}

key = SHA-256 of JSON.stringify({v: 1, size: [H, W] | null, channels, files: [[label, "<class>/<name>",
sha256 of the file's bytes], …]}) over the files used (after `limit`), in sample order. The content
hashes are remembered per folder by size and modification time (mtimeMs as Node computes it:
sec·1000 + nsec/10⁶), so a second run only lists and stats the files: it reads no image.

Writes are atomic: the pixels go to a temporary file renamed into place, then the header (the same
way), so an entry with a header has its pixels. An entry is used only when its header parses and
agrees with what this load expects (version, count, shape, channels, size, labels, file names, class
names) and the pixel file has exactly N·H·W·C bytes; anything else is ignored and decoded again
(the new entry replaces it).
"""
import hashlib
import json
import math
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .runfolder import write_file_atomic

CACHE_VERSION = 1  # images.ts CACHE_VERSION: bump in both when the decoded values would change

# What a load did (tests read them): images decoded, image files read (for hashing or decoding).
stats = {'decoded': 0, 'files_read': 0}


def cache_dir(base_dir: str) -> str:
    return os.path.join(base_dir, '.distill', 'cache', 'images')


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def js_json(value) -> str:
    """JSON.stringify(value) for the plain values of a key (no spaces, non-ASCII kept)."""
    return json.dumps(value, separators=(',', ':'), ensure_ascii=False, allow_nan=False)


def mtime_ms(st: os.stat_result) -> float:
    """Node's Stats.mtimeMs: sec · 1000 + nsec / 1e6, in doubles (the same number in both engines)."""
    sec, nsec = divmod(st.st_mtime_ns, 1_000_000_000)
    return float(sec * 1000) + nsec / 1e6


def _rate(n: int, s: float) -> int:
    return int(math.floor(n / max(s, 1e-6) + 0.5))  # Math.round


def _num(v: float):
    return int(v) if float(v).is_integer() else v  # 1700000000000, not 1700000000000.0, as JSON.stringify


def write_atomic(file: str, data: bytes) -> None:
    """The run folder's atomic replace (runfolder.write_file_atomic: fsynced temporary file, rename,
    nothing left behind on a fault), into a cache folder made on first use."""
    os.makedirs(os.path.dirname(file), exist_ok=True)
    write_file_atomic(file, data)


def content_hashes(files: Sequence[Tuple[str, str]], folder: str, cdir: str) -> List[str]:
    """SHA-256 of each (rel, abs) file, remembered by size and mtimeMs in the folder's index file."""
    memo_file = os.path.join(cdir, f'index-{_sha256(os.path.abspath(folder).encode("utf-8"))[:16]}.json')
    memo = {'version': 1, 'files': {}}
    try:
        with open(memo_file, 'rb') as f:
            m = json.loads(f.read().decode('utf-8'))
        if isinstance(m, dict) and m.get('version') == 1 and isinstance(m.get('files'), dict):
            memo = m
    except (OSError, ValueError):
        pass  # no memo yet (or an unreadable one: rebuilt)
    changed = False
    out = []
    for rel, absf in files:
        st = os.stat(absf)
        size, ms = st.st_size, mtime_ms(st)
        hit = memo['files'].get(rel)
        if isinstance(hit, dict) and hit.get('size') == size and hit.get('mtimeMs') == ms and isinstance(hit.get('sha256'), str):
            out.append(hit['sha256'])
            continue
        stats['files_read'] += 1
        with open(absf, 'rb') as f:
            h = _sha256(f.read())
        memo['files'][rel] = {'size': size, 'mtimeMs': _num(ms), 'sha256': h}
        changed = True
        out.append(h)
    if changed:
        try:
            write_atomic(memo_file, js_json(memo).encode('utf-8'))
        except OSError:
            pass  # a memo that cannot be written: the next run hashes again
    return out


def cache_key(size: Optional[Sequence[int]], channels: int, entries: Sequence[Tuple[int, str, str]]) -> str:
    """images.ts: sha256(JSON.stringify({v, size, channels, files: [[label, rel, sha256], …]}))."""
    return _sha256(js_json({'v': CACHE_VERSION, 'size': list(size) if size is not None else None, 'channels': channels,
                            'files': [[int(label), rel, h] for label, rel, h in entries]}).encode('utf-8'))


def read_entry(cdir: str, key: str, *, size: Optional[Sequence[int]], channels: int, labels: List[int], files: List[str],
               class_names: List[str]) -> Optional[np.ndarray]:
    """The cached pixels uint8 [N, H, W, C], or None when the entry is absent or does not agree with
    this load in every respect (then it is not trusted: the caller decodes again)."""
    try:
        with open(os.path.join(cdir, f'{key}.json'), 'rb') as f:
            header = json.loads(f.read().decode('utf-8'))
        n = len(files)
        shape = header['shape']
        ok = (header.get('version') == CACHE_VERSION and header.get('size') == n
              and isinstance(shape, list) and len(shape) == 3 and all(type(v) is int and v > 0 for v in shape)
              and shape[2] == channels and (size is None or list(shape[:2]) == list(size))
              and header.get('labels') == labels and header.get('files') == files and header.get('classNames') == class_names)
        if not ok:
            return None
        pixels = os.path.join(cdir, f'{key}.u8')
        h, w, c = shape
        if os.stat(pixels).st_size != n * h * w * c:
            return None
        return np.fromfile(pixels, dtype=np.uint8).reshape(n, h, w, c)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_entry(cdir: str, key: str, *, folder: str, pixels: np.ndarray, labels: List[int], files: List[str],
                class_names: List[str]) -> None:
    """Pixels (uint8 [N, H, W, C]) first, then the header that makes the entry visible."""
    n, h, w, c = pixels.shape
    write_atomic(os.path.join(cdir, f'{key}.u8'), np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    header = {'version': CACHE_VERSION, 'folder': folder, 'shape': [h, w, c], 'size': n, 'classNames': class_names,
              'labels': labels, 'files': files}
    write_atomic(os.path.join(cdir, f'{key}.json'), js_json(header).encode('utf-8'))


def decode_cached(*, base_dir: str, folder: str, field: str, order: Sequence[Tuple[int, str, str]], size, channels: int,
                  class_names: List[str], decode: Callable[[], np.ndarray], clock: Callable[[], float]) -> Tuple[np.ndarray, str]:
    """The pixels of `order` ((label, rel, abs) in sample order) from the cache, or from `decode()`
    (uint8 [N, H, W, C]) written to it; and the log line, as images.ts says it."""
    t0 = clock()
    cdir = cache_dir(base_dir)
    labels = [int(label) for label, _, _ in order]
    rels = [rel for _, rel, _ in order]
    key = cache_key(size, channels, list(zip(labels, rels, content_hashes([(rel, a) for _, rel, a in order], folder, cdir))))
    where = os.path.relpath(folder, base_dir)
    where = '.' if where == '.' else where.replace(os.sep, '/')
    px = read_entry(cdir, key, size=size, channels=channels, labels=labels, files=rels, class_names=class_names)
    n = len(order)
    if px is not None:
        s = clock() - t0
        return px, (f'{field}: {n} images of {where} found in the decode cache in {s:.2f} s '
                    f'({_rate(n, s)} images/s; no image read)')
    px = decode()
    stats['decoded'] += n
    stats['files_read'] += n
    tail = 'into .distill/cache/images'
    try:
        write_entry(cdir, key, folder=folder, pixels=px, labels=labels, files=rels, class_names=class_names)
    except OSError as e:
        tail = f'(not cached: {e})'  # a read-only or full disk costs the next run a decode, not this run
    s = clock() - t0
    return px, f'{field}: {n} images of {where} decoded in {s:.2f} s ({_rate(n, s)} images/s) {tail}'
