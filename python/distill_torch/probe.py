"""The panels' questions about a torch experiment (`probe` messages of src/protocol/torch.ts).

The TF.js engine answers the ProbeQuery kinds of src/protocol/engine.ts in src/engine/probe.ts;
this module answers the same kinds, with the same answer types, for experiments whose file says
`"engine": "torch"`, so the pairing panel, Problems, the feature-map panel, `distill inspect`,
`suggest-pairs` and the time estimate work on PyTorch models. It runs in a long-lived Python
process (the engine worker keeps one, src/engine/torch/probe.ts): built models, layer rows and the
prepared data are cached between questions, keyed by what they were built from.

Shapes: every shape this module reports is in the TF.js engine's order — a rank-4 NCHW map
[B,C,H,W] is reported [B,H,W,C] (`losses.tf_shape`), the batch as null. The pairing panel displays
them and hands them back in `checkPair`, the editor's pair messages (knowledge.py) already print
them that way, and the TF.js side's planAdapter/suggest rules read the channel count at index 3;
one convention on both engines means the panels need not know which engine a row came from.
`checkPair` converts them back to NCHW for knowledge.plan_adapter.

Parameters and FLOPs of a row are the module's own (its children's excluded): a `named_modules()`
path may name a block (`layer2`) as well as its leaves (`layer2.1.conv2`), and the rows must add
up to the model's totals as the TF.js engine's flat layer rows do (the compression panel computes
each row's share of the model from that sum). A block shows 0 unless it holds parameters itself.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from . import knowledge
from . import losses as L
from .errors import ConfigError

# As src/engine/probe.ts: channels shown per map, samples of the CKA batch, thumbnails offered.
MAX_CHANNELS = 32
CKA_BATCH = 64
THUMBNAILS = 16
# As src/engine/training/budget.ts: optimizer steps timed per architecture after one warm-up step.
MEASURED_STEPS = 3

Shape = List[Optional[int]]


class ProbeError(Exception):
    """A question that cannot be answered (no such checkpoint, sample out of range …): said as is."""


# ---------------------------------------------------------------------------------------------
# shapes in the TF.js order

def tf_order(shape: Sequence[Optional[int]]) -> Shape:
    """NCHW → NHWC for rank 4 (the batch as None); other ranks unchanged."""
    return list(L.tf_shape([None if d is None else int(d) for d in shape]))


def torch_order(shape: Sequence[Optional[int]]) -> Shape:
    """NHWC → NCHW for rank 4 (the inverse of `tf_order`)."""
    s = [None if d is None else int(d) for d in shape]
    return [s[0], s[3], s[1], s[2]] if len(s) == 4 else s


# ---------------------------------------------------------------------------------------------
# similarity (a port of src/engine/results/similarity.ts, float64, same definitions)

def _centred_gram(x: torch.Tensor) -> torch.Tensor:
    c = x - x.mean(dim=0, keepdim=True)
    return c @ c.T


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of X (n×p) and Y (n×q), columns centred: ⟨K, L⟩ / (‖K‖·‖L‖) of the Gram matrices.
    NaN when either representation is constant (as the TS version: 0/0)."""
    n = x.shape[0]
    k = _centred_gram(x.reshape(n, -1).double())
    l_ = _centred_gram(y.reshape(n, -1).double())
    kl = float((k * l_).sum())
    den = math.sqrt(float((k * k).sum()) * float((l_ * l_).sum()))
    return kl / den if den != 0 else float('nan')


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    if a.numel() != b.numel():
        raise ValueError(f'cosine: lengths differ ({a.numel()} vs {b.numel()})')
    aa, bb = float(a @ a), float(b @ b)
    return 0.0 if aa == 0 or bb == 0 else float(a @ b) / math.sqrt(aa * bb)


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    if a.numel() != b.numel():
        raise ValueError(f'mse: lengths differ ({a.numel()} vs {b.numel()})')
    return float(((a - b) ** 2).sum()) / max(1, a.numel())


def channel_images(hwc: torch.Tensor, max_channels: int = MAX_CHANNELS) -> List[List[float]]:
    """One sample's map h×w×c (channels last) as up to `max_channels` row-major h×w images."""
    h, w, c = hwc.shape
    return [hwc[:, :, ch].reshape(-1).double().tolist() for ch in range(min(c, max_channels))]


def attention_map(hwc: torch.Tensor, p: float = 2) -> List[float]:
    """Σ_c |F_c|^p (h×w), divided by its L2 norm (attention transfer)."""
    a = hwc.double().abs().pow(p).sum(dim=2).reshape(-1)
    norm = float(a.norm())
    return (a / norm).tolist() if norm > 0 else a.tolist()


def _grid(values: torch.Tensor) -> Tuple[dict, Optional[Tuple[int, int, int]]]:
    """A ProbeGrid of one sample's features (NHWC map, or a vector as one strip)."""
    if values.dim() == 3:
        h, w, c = (int(d) for d in values.shape)
        return {'channels': channel_images(values), 'h': h, 'w': w}, (h, w, c)
    flat = values.reshape(-1).double().tolist()
    return {'channels': [flat], 'h': 1, 'w': len(flat)}, None


# ---------------------------------------------------------------------------------------------
# the catalogue's methods the pairing panel offers (METHOD_INFO of src/methods/catalogue.ts with
# layer pairs, response methods and multi-layer-pair methods left out, in the catalogue's order)

PAIR_METHODS = [
    ('fitnet', 'feature', 'FitNets hints'),
    ('at', 'feature', 'Attention transfer'),
    ('nst', 'feature', 'Neuron selectivity transfer'),
    ('reviewkd', 'feature', 'Knowledge review (attention-based fusion + hierarchical context loss)'),
    ('rkd-distance', 'relation', 'Relational KD: distance'),
    ('rkd-angle', 'relation', 'Relational KD: angle'),
    ('sp', 'relation', 'Similarity-preserving KD'),
    ('pkt', 'relation', 'Probabilistic knowledge transfer'),
    ('cc', 'relation', 'Correlation congruence'),
    ('crd', 'relation', 'Contrastive representation distillation'),
]


# ---------------------------------------------------------------------------------------------
# pair checks

def check_pair(method: str, teacher: str, student: str, teacher_shape: Sequence, student_shape: Sequence,
               adapter: str = 'auto') -> dict:
    """PairCheckAnswer of TF-ordered shapes: knowledge.plan_adapter's verdict (its messages)."""
    pair = {'teacher': teacher, 'student': student, 'adapter': adapter or 'auto'}
    try:
        if method == 'adversarial':  # D's pair: fitnet's adapter rules (issue 18)
            from . import adversarial
            plan = adversarial.plan_pair(pair, tuple(torch_order(student_shape)), tuple(torch_order(teacher_shape)))
        else:
            plan = knowledge.plan_adapter(method, pair, tuple(torch_order(student_shape)), tuple(torch_order(teacher_shape)))
    except knowledge.PairError as e:
        return {'ok': False, 'reason': str(e)}
    return {'ok': True, 'adapter': plan.description, 'outputShape': tf_order(plan.output_shape)}


def pair_list(config: dict) -> List[dict]:
    """Every layer pair of a feature or relation entry (fsp's double pairs excepted), as
    src/engine/probe.ts pairList: id `entry:pair`."""
    out = []
    for ei, entry in enumerate(config.get('knowledge') or []):
        if 'pairs' not in entry or entry.get('method') == 'fsp':
            continue
        for pi, p in enumerate(entry['pairs'] or []):
            out.append({'id': f'{ei}:{pi}', 'entry': ei, 'pair': pi, 'p': p, 'method': entry['method']})
    return out


def script_message(role: str) -> str:
    """Why a TorchScript model's layers have no shapes (knowledge.Taps refuses to tap them alike)."""
    return (f'the {role} is a TorchScript model: its layers cannot be tapped (forward hooks need a Python nn.Module); '
            'load it from a module factory, or use a response method (kd, dkd, dist, …)')


def links_of(config: dict, teacher_rows: List[dict], student_rows: List[dict], scripted: Sequence[str] = ()) -> List[dict]:
    """LayersAnswer.links: every pair resolved to its adapter, or why not (same rules as training).
    `scripted`: the roles ('teacher', 'student') that are TorchScript models (no layer shapes)."""
    t_shape = {r['name']: r['outputShape'] for r in teacher_rows}
    s_shape = {r['name']: r['outputShape'] for r in student_rows}
    links = []
    for item in pair_list(config):
        p = item['p']
        base = {'entry': item['entry'], 'pair': item['pair'], 'method': item['method'], 'teacher': p['teacher'], 'student': p['student']}
        ts, ss = t_shape.get(p['teacher']), s_shape.get(p['student'])
        bad = next((role for role in ('teacher', 'student') if role in scripted), None)
        if bad:
            links.append({**base, 'adapter': '–', 'error': script_message(bad)})
            continue
        if not ts or not ss or not _single(ts) or not _single(ss):
            missing = f'teacher layer "{p["teacher"]}"' if not ts or not _single(ts) else f'student layer "{p["student"]}"'
            links.append({**base, 'adapter': '–', 'error': f'no {missing}'})
            continue
        c = check_pair(item['method'], p['teacher'], p['student'], ts, ss, p.get('adapter', 'auto'))
        links.append({**base, 'adapter': c['adapter'], 'adapterShape': c['outputShape']} if c['ok'] else {**base, 'adapter': '–', 'error': c['reason']})
    return links


def _single(shape) -> bool:
    """A shape of one tensor (not the list of shapes of a module returning several)."""
    return isinstance(shape, list) and all(d is None or isinstance(d, int) for d in shape)


# ---------------------------------------------------------------------------------------------
# layer rows

def _leaf(m: torch.nn.Module) -> bool:
    return next(iter(m.children()), None) is None


def layer_rows(model: torch.nn.Module, input_shape: tuple) -> List[dict]:
    """ProbeLayer rows of every named module, in named_modules() order: TF-ordered output shape of
    one sample (from one forward in eval mode), the module's own parameters and FLOPs per sample,
    and `order`: when the module's first forward call finished (a block after its children; None:
    it did not run)."""
    from . import figures, models
    rows = models.layer_table(model, input_shape)
    first_call: Dict[str, int] = {}
    def seen(name: str):
        def hook(*_args) -> None:  # returns None: a hook's return value would replace the output
            first_call.setdefault(name, len(first_call))
        return hook
    models.forward_with_hooks(model, input_shape, {name: seen(name) for name, _ in model.named_modules() if name})
    try:
        leaf_flops = {k: v['flops'] for k, v in figures.count_flops(model, input_shape).items()}
    except Exception:  # noqa: BLE001 — a model whose FLOPs cannot be counted still lists its layers
        leaf_flops = {}
    modules = dict(model.named_modules())
    out = []
    for r in rows:
        shape = r['outputShape']
        name = r['name']
        own = sum(p.numel() for p in modules[name].parameters(recurse=False))
        out.append({'name': name, 'type': r['type'],
                    'outputShape': tf_order(shape) if _single(shape) else ([tf_order(s) for s in shape] if shape else []),
                    'params': int(own), 'flops': int(round(leaf_flops.get(name, 0))), 'order': first_call.get(name)})
    return out


def public_rows(rows: List[dict]) -> List[dict]:
    """The rows as LayersAnswer carries them (without the probe's own `order`, `leaf`, `script`)."""
    return [{k: v for k, v in r.items() if k not in ('order', 'leaf', 'script')} for r in rows]


# ---------------------------------------------------------------------------------------------
# suggestions (a port of src/engine/knowledge/suggest.ts on TF-ordered rows)

_SKIP = {'Dropout', 'Dropout2d', 'Dropout1d', 'AlphaDropout', 'Flatten', 'Unflatten', 'Identity'}


def stages(rows: List[dict]) -> List[dict]:
    """Block outputs: among the leaves in the order they run, the last one at each spatial
    resolution, and the last hidden vector layer (the final layer is the output)."""
    leaves = sorted((r for r in rows if r.get('leaf') and r.get('order') is not None and _single(r['outputShape'])),
                    key=lambda r: r['order'])
    for i, r in enumerate(leaves):
        r['index'] = i
    usable = [r for r in leaves if r['type'] not in _SKIP]
    if len(usable) < 2:
        return []
    hidden = usable[:-1]
    last = len(leaves) - 1

    def key(s):
        return f'{s[1]}x{s[2]}' if len(s) == 4 else f'r{len(s)}'
    out = []
    for i, l in enumerate(hidden):
        nxt = hidden[i + 1] if i + 1 < len(hidden) else None
        if (nxt is None or key(nxt['outputShape']) != key(l['outputShape'])) and len(l['outputShape']) in (2, 4):
            out.append({**l, 'depth': l['index'] / last if last > 0 else 0})
    return out


def _res(s) -> str:
    return f'{s[1]}×{s[2]}'


def suggest_pairs(teacher_rows: List[dict], student_rows: List[dict]) -> List[dict]:
    """Pairs by resolution first, relative depth second; `at` for equal channels, else `fitnet`
    with the adapter plan_adapter builds; each with the TF.js engine's reason wording."""
    ts, ss = stages(teacher_rows), stages(student_rows)
    used = set()
    out = []
    for s in ss:
        so = s['outputShape']
        candidates = [t for t in ts if t['name'] not in used and len(t['outputShape']) == len(so)]
        if not candidates:
            continue
        by_depth = (lambda t: abs(t['depth'] - s['depth']))
        if len(so) == 4:
            same = [t for t in candidates if t['outputShape'][1] == so[1] and t['outputShape'][2] == so[2]]
            pool = same or [t for t in candidates if t['outputShape'][1] % so[1] == 0 or so[1] % t['outputShape'][1] == 0]
            if not pool:
                continue
            best = sorted(pool, key=by_depth)[0]
            why = f'same resolution {_res(so)}' if same else f'resolution: teacher {_res(best["outputShape"])} vs student {_res(so)}'
        else:
            best = sorted(candidates, key=by_depth)[0]
            why = 'last hidden vectors'
        bo = best['outputShape']
        method = 'at' if len(so) == 4 and so[1] == bo[1] else 'fitnet'
        c = check_pair(method, best['name'], s['name'], bo, so)
        if not c['ok']:
            continue
        adapter = c['adapter']
        used.add(best['name'])
        depth = f'relative depth: teacher {best["depth"]:.2f} vs student {s["depth"]:.2f}'
        how = (f"attention transfer compares spatial maps, so the teacher's {bo[3]} vs the student's {so[3]} channels need no adapter"
               if method == 'at' else
               f'FitNets hint through {"no adapter (same shape)" if adapter == "none" else f"a {adapter} adapter"}')
        out.append({'teacher': best['name'], 'student': s['name'], 'method': method, 'adapter': adapter,
                    'teacherShape': bo, 'studentShape': so, 'reason': f'{why}, {depth}; {how}'})
    return out


_TABLE_NOTE = ("(shapes in the TF.js engine's order: feature maps [B,H,W,C]; params and FLOPs per module, "
               "its children's excluded)")


def _shape_text(s) -> str:
    return json.dumps(s, separators=(',', ':')).replace('null', '?').replace(',', ', ')


def suggest_text(pairs: List[dict]) -> str:
    """`distill suggest-pairs` output (src/engine/inspect.ts suggestForExperiment) for one list."""
    if not pairs:
        return 'no pairs to suggest: the student has no hidden stage that matches a teacher stage'
    lines = [f'{i + 1}. teacher "{p["teacher"]}" {_shape_text(p["teacherShape"])} ← student "{p["student"]}" {_shape_text(p["studentShape"])}'
             f'  [{p["method"]}{"" if p["adapter"] == "none" else ", adapter " + p["adapter"]}]\n   {p["reason"]}' for i, p in enumerate(pairs)]
    by_method: Dict[str, list] = {}
    for p in pairs:
        by_method.setdefault(p['method'], []).append(p)
    entries = [{'kind': 'feature', 'method': m, 'weight': 100 if m == 'at' else 1,
                'pairs': [{'teacher': p['teacher'], 'student': p['student']} for p in ps]} for m, ps in by_method.items()]
    return '\n'.join(lines) + '\n\nknowledge entries to add:\n' + json.dumps(entries, indent=2, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# the probe

def _stamp(config: dict, base: str) -> str:
    """Modification times of the files the model specs name (a changed models.py means new rows)."""
    out = []
    for spec in (config.get('teacher'), config.get('student')):
        for k in ('module', 'model', 'weights'):
            f = (spec or {}).get(k)
            if isinstance(f, str):
                try:
                    out.append(str(os.stat(os.path.join(base, f)).st_mtime_ns))
                except OSError:
                    out.append('0')
    return ','.join(out)


def read_snapshot(run_dir: str) -> dict:
    """config.json of a run folder: {experimentFile, experimentText, config}."""
    path = os.path.join(run_dir, 'config.json')
    try:
        with open(path, encoding='utf8') as f:
            snap = json.load(f)
    except FileNotFoundError:
        raise ProbeError(f'{run_dir} is not a run folder (no config.json)') from None
    if not isinstance(snap, dict) or not isinstance(snap.get('config'), dict):
        raise ProbeError(f'{path}: expected {{experimentFile, experimentText, config}}')
    return snap


def read_run(run_dir: str) -> dict:
    path = os.path.join(run_dir, 'run.json')
    try:
        with open(path, encoding='utf8') as f:
            return json.load(f)
    except FileNotFoundError:
        raise ProbeError(f'{run_dir} is not a run folder (no run.json)') from None


class Probe:
    """Answers probe queries; keeps the last data set and layer rows it built."""

    def __init__(self, log: Callable[[str], None] = lambda m: None):
        self.log = log
        self._data: Optional[Tuple[str, Any]] = None
        self._rows: Dict[str, Tuple[List[dict], List[dict]]] = {}

    # -- dispatch ---------------------------------------------------------------------------------
    def answer(self, query: dict, snapshot: Optional[dict] = None, jobs: Optional[dict] = None) -> Any:
        kind = query.get('kind')
        if kind == 'checkPair':
            return check_pair(query['method'], query['teacher'], query['student'], query['teacherShape'], query['studentShape'])
        if kind == 'layers':
            if query.get('runDir'):
                return self.layers(read_snapshot(query['runDir']))
            return self.layers(self._need(snapshot, kind))
        if kind == 'suggest':
            return self.suggest(self._need(snapshot, kind))
        if kind == 'suggestText':
            return {'text': self.suggest_text(self._need(snapshot, kind))}
        if kind == 'featureMapsInit':
            return self.feature_maps_init(query['runDir'])
        if kind == 'featureMaps':
            return self.feature_maps(query['runDir'], query['checkpoint'], int(query['sample']), int(query['entry']), int(query['pair']))
        if kind == 'check':
            return self.check(self._need(snapshot, kind), jobs or {})
        if kind == 'inspect':
            return {'text': self.inspect(self._need(snapshot, kind))}
        if kind == 'estimate':
            return self.estimate(self._need(snapshot, kind), jobs or {})
        if kind == 'figures':
            return self.figures(self._need(snapshot, kind))
        raise ProbeError(f'unknown probe kind {kind!r}')

    @staticmethod
    def _need(snapshot: Optional[dict], kind: str) -> dict:
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get('config'), dict):
            raise ProbeError(f'{kind}: the probe needs the experiment\'s validated snapshot {{experimentFile, experimentText, config}}')
        return snapshot

    # -- shared pieces ----------------------------------------------------------------------------
    @staticmethod
    def _base(snapshot: dict) -> str:
        f = snapshot.get('experimentFile') or ''
        return os.path.dirname(os.path.abspath(f)) if f else os.getcwd()

    def data(self, snapshot: dict):
        """The prepared data of an experiment (the last one is kept)."""
        from . import data as data_mod
        config, base = snapshot['config'], self._base(snapshot)
        key = json.dumps([config.get('data'), base], sort_keys=True)
        if self._data is None or self._data[0] != key:
            self._data = None
            self._data = (key, data_mod.load_data(config, base))
        return self._data[1]

    def build(self, snapshot: dict, model: str = 'student', seed: Optional[int] = None) -> torch.nn.Module:
        """A fresh architecture of the experiment (`teacher`, `student`, `assistant:<i>`); weights a
        spec names are loaded. ConfigError at the spec's path when it does not build."""
        from . import engine, models
        config = snapshot['config']
        d = self.data(snapshot)
        spec, path = engine.model_spec(config, model)
        s = int(seed if seed is not None else (config.get('seeds') or [1])[0])
        return models.build_model(spec, self._base(snapshot), path=path, input_shape=tuple(d.input_shape),
                                  num_classes=int(d.num_classes), teacher_spec=config.get('teacher'), seed=s)

    def rows(self, snapshot: dict) -> Tuple[List[dict], List[dict]]:
        """(teacher rows, student rows), cached by the model specs and their files' times."""
        config, base = snapshot['config'], self._base(snapshot)
        key = json.dumps([config.get('teacher'), config.get('student'), (config.get('seeds') or [1])[0], config.get('data'), base,
                          _stamp(config, base)], sort_keys=True)
        hit = self._rows.get(key)
        if hit is not None:
            return hit
        d = self.data(snapshot)
        shape = tuple(d.input_shape)

        def rows_of(model):
            rows = layer_rows(model, shape)
            leaves = {n for n, m in model.named_modules() if n and _leaf(m)}
            script = isinstance(model, torch.jit.ScriptModule)
            for r in rows:
                r['leaf'] = r['name'] in leaves
                r['script'] = script
            return rows
        student = rows_of(self.build(snapshot, 'student'))
        teacher = rows_of(self.build(snapshot, 'teacher')) if config.get('teacher') is not None else []
        self._rows.clear()  # one experiment's rows at a time
        self._rows[key] = (teacher, student)
        return teacher, student

    # -- layers, suggestions, inspect -------------------------------------------------------------
    def layers(self, snapshot: dict) -> dict:
        teacher, student = self.rows(snapshot)
        t, s = public_rows(teacher), public_rows(student)
        return {'teacher': t, 'student': s, 'links': links_of(snapshot['config'], t, s, self._scripted(teacher, student)),
                'methods': [{'method': m, 'kind': k, 'title': title} for m, k, title in PAIR_METHODS]}

    def suggest(self, snapshot: dict) -> dict:
        if snapshot['config'].get('teacher') is None:
            return {'suggestions': [], 'error': 'this experiment has no teacher to pair with'}
        teacher, student = self.rows(snapshot)
        scripted = self._scripted(teacher, student)
        if scripted:
            return {'suggestions': [], 'error': script_message(scripted[0])}
        return {'suggestions': [{k: p[k] for k in ('teacher', 'student', 'method', 'adapter', 'reason')}
                                for p in suggest_pairs(teacher, student)]}

    @staticmethod
    def _scripted(teacher: List[dict], student: List[dict]) -> List[str]:
        """The roles whose model is TorchScript (its rows carry no shapes)."""
        return [role for role, rows in (('teacher', teacher), ('student', student)) if rows and rows[0].get('script')]

    def suggest_text(self, snapshot: dict) -> str:
        if snapshot['config'].get('teacher') is None:
            raise ProbeError(f'{snapshot.get("experimentFile")}: no teacher to pair with (scheme self pairs heads, not teacher layers)')
        teacher, student = self.rows(snapshot)
        scripted = self._scripted(teacher, student)
        if scripted:
            raise ProbeError(script_message(scripted[0]))
        return suggest_text(suggest_pairs(teacher, student))

    def inspect(self, snapshot: dict) -> str:
        """`distill inspect` of a torch experiment: each model's table, then the compression ratios."""
        from . import models
        config = snapshot['config']
        teacher, student = self.rows(snapshot)

        def table(title, rows):
            fmt = (lambda n: f'{n:,}')
            body = [['layer', 'type', 'output shape', 'params', 'FLOPs']]
            body += [[r['name'], r['type'], _shape_text(r['outputShape']), fmt(r['params']), fmt(r['flops'])] for r in rows]
            params, flops = sum(r['params'] for r in rows), sum(r['flops'] for r in rows)
            body.append(['total', '', '', fmt(params), fmt(flops)])
            w = [max(len(r[i]) for r in body) for i in range(5)]
            line = (lambda r: '  '.join(c.ljust(w[i]) if i < 3 else c.rjust(w[i]) for i, c in enumerate(r)))
            return '\n'.join([title, line(body[0]), '  '.join('─' * x for x in w)] + [line(r) for r in body[1:]]
                             + [f'{fmt(4 * params)} bytes (float32)']), params, flops
        s_text, sp, sf = table(f'student: {models.describe_spec(config["student"])}', student)
        if config.get('teacher') is None:
            return s_text + '\n' + _TABLE_NOTE
        t_text, tp, tf_ = table(f'teacher: {models.describe_spec(config["teacher"])}', teacher)
        return '\n'.join([t_text, '', s_text, '',
                          f'compression: {tp / max(1, sp):.2f}× parameters, {tp / max(1, sp):.2f}× bytes, {tf_ / max(1, sf):.2f}× FLOPs per sample',
                          _TABLE_NOTE])

    # -- check --------------------------------------------------------------------------------------
    def check(self, snapshot: dict, jobs: dict) -> List[dict]:
        """The torch engine's `prepare` without a run: data, every model, every pair. Each problem as
        {path, message} (the TypeScript side locates it in the file); [] when there is none."""
        from . import engine
        threads = torch.get_num_threads()
        try:
            session = engine.Session({'snapshot': snapshot, 'jobs': jobs}, lambda m: None, lambda: False, {})
            session.prepare()
        except ConfigError as e:
            problems = getattr(e, 'problems', None) or [(e.path, e.message)]
            return [{'path': list(p), 'message': m} for p, m in problems]
        finally:
            torch.set_num_threads(threads)
        return []

    # -- estimate ---------------------------------------------------------------------------------
    def figures(self, snapshot: dict) -> dict:
        """issue 18, a search candidate: the student built as engine.py builds it (a derived one from
        the teacher's architecture, fresh seeded weights), measured as the report measures it —
        parameters, float32 bytes, FLOPs per sample (figures.count_flops), the median latency of a
        batch of 1 on the run's device (5 warm-up, 30 timed passes) — and the Conv2d layers its
        derive swapped to depthwise-separable ones."""
        from . import engine, figures, models
        config = snapshot['config']
        d = self.data(snapshot)
        shape = tuple(d.input_shape)
        seed = int((config.get('seeds') or [1])[0])
        spec, path = engine.model_spec(config, 'student')
        swapped = 0
        if isinstance(spec, dict) and 'derive' in spec:
            # as models.build_model derives a student, keeping derive's account of the swaps
            teacher_spec = config.get('teacher') or spec.get('from')
            if not isinstance(teacher_spec, dict):
                raise ConfigError(path + ['derive'], 'a derived student needs a teacher to derive from: give "teacher"')
            teacher = models.build_model({k: v for k, v in teacher_spec.items() if k != 'weights'}, self._base(snapshot), path=['teacher'],
                                         input_shape=shape, num_classes=int(d.num_classes), seed=seed)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model, info = models.derive_student(teacher, spec.get('derive') or {}, shape, seed=seed, path=path + ['derive'])
            swapped = len(info['swapped'])
        else:
            model = self.build(snapshot, 'student', seed)
        device = engine.resolve_device(config.get('device'))
        model = model.to(device)
        params = sum(p.numel() for p in model.parameters())
        flops = sum(v['flops'] for v in figures.count_flops(model, shape, device).values())
        if isinstance(model, torch.jit.ScriptModule):
            flops = figures.profiler_flops(model, shape, device)
        latency = figures.measure_latency(model, shape, device, 1, warmup=5, runs=30)
        return {'student': {'params': int(params), 'bytes': int(figures.state_bytes(model)), 'flops': float(flops),
                            'latencyMsPerSample': float(latency)}, 'swapped': swapped}

    def estimate(self, snapshot: dict, jobs: dict) -> dict:
        """Seconds of training on this machine: per architecture and batch size, the median of
        MEASURED_STEPS timed optimizer steps (Adam, cross-entropy, after one warm-up step) × the
        steps the run's jobs take (budget.ts remainingSteps/estimateDuration, ported)."""
        config = snapshot['config']
        d = self.data(snapshot)
        n_train = int(d.train.x.shape[0])
        synth = config['data']['train'] if config['data']['train'].get('format') == 'teacher-synthesized' else None
        steps: Dict[Tuple[str, int], int] = {}
        for j in jobs.values():
            if j.get('status') == 'completed':
                continue
            if synth is not None and j['kind'] == 'synthesize':
                # issue 18: each remaining batch is `iterations` teacher passes with gradients (counted as steps)
                batch = int(synth.get('batchSize') or 128)
                key = ('teacher', batch)
                steps[key] = steps.get(key, 0) + max(0, int(j['epochs']) - int(j.get('completedEpochs', 0))) * int(synth.get('iterations') or 200)
                continue
            # a data-free run's students train on the synthesised inputs, except those on the reference
            n = int(synth['samples']) if synth is not None and j.get('data') != 'reference' else n_train
            training = config['teacher']['train'] if j['kind'] == 'teacher' and (config.get('teacher') or {}).get('train') else config['training']
            per_epoch = math.ceil(n / int(training['batchSize']))
            if training.get('stepsPerEpoch'):
                per_epoch = min(per_epoch, int(training['stepsPerEpoch']))
            k = max(0, int(j['epochs']) - int(j.get('completedEpochs', 0))) * per_epoch
            model = j.get('model') or 'student'
            models_ = (['teacher'] + [model] * (int(config['scheme'].get('peers', 2)) - 1)
                       if j['kind'] == 'online' and config['scheme'].get('kind') == 'online' else [model])
            for m in models_:
                key = (m, max(1, min(int(training['batchSize']), n)))
                steps[key] = steps.get(key, 0) + k
        if not steps:
            return {}
        parts = []
        for (model, batch), k in steps.items():
            parts.append((model, batch, k, self._step_seconds(snapshot, model, batch)))
        seconds = sum(k * s for _, _, k, s in parts)
        from . import models

        def label(model):
            from . import engine
            name = f'assistant {int(model.split(":")[1]) + 1}' if model.startswith('assistant:') else model
            return f'{name} ({models.describe_spec(engine.model_spec(config, model)[0])})'
        said = ', '.join(f'{k} steps of the {label(m)} at {s * 1000:.2f} ms' for m, _, k, s in parts)
        return {'seconds': seconds, 'description': f'estimated training time {human_duration(seconds)} ({said}; measured over '
                                                   f'{MEASURED_STEPS} steps; evaluation and teacher passes not included)'}

    def _step_seconds(self, snapshot: dict, model: str, batch: int) -> float:
        d = self.data(snapshot)
        net = self.build(snapshot, model)
        net.train()
        # a data-free run without a reference has no training split: time on test inputs (same shape)
        split = d.train if int(d.train.x.shape[0]) > 0 else d.test
        x, y = split.x[:batch], split.y[:batch]
        if x.shape[0] < batch:  # a batch larger than the split: repeat it (only the time is measured)
            reps = math.ceil(batch / max(1, int(x.shape[0])))
            x, y = x.repeat(reps, *([1] * (x.dim() - 1)))[:batch], y.repeat(reps)[:batch]
        opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
        rng = torch.get_rng_state()
        times = []
        try:
            for i in range(MEASURED_STEPS + 1):
                t0 = time.perf_counter()
                opt.zero_grad()
                out = net(x)
                out = knowledge._first_tensor(out)
                loss = torch.nn.functional.cross_entropy(out, y.clamp(max=out.shape[1] - 1))
                loss.backward()
                opt.step()
                if i:
                    times.append(time.perf_counter() - t0)
        finally:
            torch.set_rng_state(rng)  # dropout draws leave no trace
        times.sort()
        return times[len(times) // 2]

    # -- feature maps ---------------------------------------------------------------------------------
    def feature_maps_init(self, run_dir: str) -> dict:
        """The run's epoch-end checkpoints of distill jobs, the first test samples as thumbnails, the pairs."""
        from .runfolder import _checkpoint_order
        snap = read_snapshot(run_dir)
        run = read_run(run_dir)
        checkpoints = []
        for job, state in run.get('jobs', {}).items():
            if state.get('kind') != 'distill':
                continue
            root = os.path.join(run_dir, 'checkpoints', job)
            try:
                names = [n for n in os.listdir(root) if _checkpoint_order(n) is not None and os.path.isfile(os.path.join(root, n, 'state.pt'))]
            except FileNotFoundError:
                names = []
            for name in sorted(names, key=_checkpoint_order):
                if '-step-' in name:
                    continue  # mid-epoch: the panel offers epoch ends
                checkpoints.append({'id': f'{job}/{name}', 'label': f'{job} · epoch {int(name.split("-")[1])}'})
        d = self.data(snap)
        samples = []
        x = d.test.x
        for i in range(min(THUMBNAILS, int(x.shape[0]))):
            xi = x[i].double()
            if xi.dim() == 3:  # C,H,W → mean over channels
                px, h, w = xi.mean(dim=0), int(xi.shape[1]), int(xi.shape[2])
            elif xi.dim() == 2:
                px, h, w = xi, int(xi.shape[0]), int(xi.shape[1])
            else:
                px, h, w = xi.reshape(-1), 1, int(xi.numel())
            px = px.reshape(-1)
            lo, hi = float(px.min()), float(px.max())
            label = int(d.test.y[i])
            s = {'id': i, 'label': label, 'pixels': ((px - lo) / (hi - lo)).tolist() if hi > lo else [0.0] * px.numel(), 'h': h, 'w': w}
            if d.class_names and label < len(d.class_names):
                s['className'] = d.class_names[label]
            samples.append(s)
        return {'checkpoints': checkpoints, 'samples': samples,
                'pairs': [{'id': p['id'], 'label': f'{p["method"]}: {p["p"]["teacher"]} ↔ {p["p"]["student"]}'} for p in pair_list(snap['config'])]}

    def _run_teacher(self, snap: dict, run_dir: str, run: dict, source: str) -> torch.nn.Module:
        """The teacher a distill job learnt from: the final model of its source job
        (models/<job>/model.pt), else the experiment's teacher as its spec gives it."""
        jobs = run.get('jobs', {})
        saved = os.path.join(run_dir, 'models', source, 'model.pt')
        if source in jobs:
            state = jobs[source]
            arch = state.get('model') or ('teacher' if state['kind'] == 'teacher' else 'student')
            if os.path.isfile(saved):
                model = self.build(snap, arch, int(state.get('seed', 1)))
                model.load_state_dict(torch.load(saved, map_location='cpu'))
                return model
            if source != 'teacher':
                raise ProbeError(f'{saved}: the final model of job {source}, the teacher of this job, is missing')
        return self.build(snap, 'teacher')

    def feature_maps(self, run_dir: str, checkpoint: str, sample: int, entry: int, pair_index: int) -> dict:
        """One checkpoint's teacher and (adapted) student features for one pair and test sample,
        with linear CKA over a batch that starts with the sample, cosine and MSE when the shapes match."""
        snap = read_snapshot(run_dir)
        config = snap['config']
        run = read_run(run_dir)
        job, _, ck_name = checkpoint.partition('/')
        state = run.get('jobs', {}).get(job)
        if not state or state.get('kind') != 'distill':
            raise ProbeError(f'no distill job "{job}" in this run')
        ck_file = os.path.join(run_dir, 'checkpoints', job, ck_name, 'state.pt')
        if not ck_name or not os.path.isfile(ck_file):
            raise ProbeError(f'no checkpoint {checkpoint}')
        pair = next((p for p in pair_list(config) if p['entry'] == entry and p['pair'] == pair_index), None)
        if pair is None:
            raise ProbeError(f'no pair {entry}:{pair_index} in this run\'s experiment')
        d = self.data(snap)
        n_test = int(d.test.x.shape[0])
        if sample < 0 or sample >= n_test:
            raise ProbeError(f'sample {sample} is outside the test split (0..{n_test - 1})')

        saved = torch.load(ck_file, map_location='cpu')
        teacher = self._run_teacher(snap, run_dir, run, state.get('teacher') or 'teacher').eval()
        student = self.build(snap, state.get('model') or 'student', int(state.get('seed', 1)))
        from . import qat
        qat.prepare_model(student, state)  # issue 18: a qat job's checkpoint is of the fake-quantised student
        student.load_state_dict(saved['model'])
        student.eval()
        # Only the entries with layer pairs are built (weight 0 skips the others but keeps every
        # entry's index, which names its adapters `k<entry>_p<pair>`): response terms such as
        # multi-kd would need models this panel does not use.
        shown = {p['entry'] for p in pair_list(config)}
        entries = [e if i in shown else {**e, 'weight': 0} for i, e in enumerate(config.get('knowledge') or [])]
        terms = knowledge.build_terms(entries, teacher=teacher, student=student, sample=d.train.x[:2],
                                      num_classes=int(d.num_classes), num_train=int(d.train.x.shape[0]),
                                      train_labels=d.train.y, prefix=f'adapter_{job}')
        term_state = (saved.get('modules') or {}).get('terms')
        if term_state is not None:
            # the skipped entries' parameters (ctkd's θ …) are in the checkpoint, not in these terms
            missing = terms.load_state_dict(term_state, strict=False).missing_keys
            if missing:
                raise ProbeError(f'{ck_file}: the checkpoint has no {", ".join(missing[:3])} for this run\'s knowledge entries')
        elif len(terms.state_dict()):
            raise ProbeError(f'{ck_file}: the checkpoint holds no knowledge-term state (adapters) for this run\'s entries')
        terms.eval()
        label = f'{pair["p"]["teacher"]}→{pair["p"]["student"]}'
        term = next((t for t in terms.terms if t.entry_index == entry and label in t.pair_labels), None)
        adapter_text = term.pair_adapters[term.pair_labels.index(label)] if term is not None else 'none'
        adapter = terms.parts[f'k{entry}_p{pair_index}'] if f'k{entry}_p{pair_index}' in terms.parts else None

        idx = [sample] + [i for i in range(n_test) if i != sample][:min(CKA_BATCH, n_test) - 1]
        xb = d.test.x[idx]
        with torch.no_grad():
            ft = self._tap(teacher, pair['p']['teacher'], xb, 'teacher')
            fs = self._tap(student, pair['p']['student'], xb, 'student')
            if adapter is not None:
                fs = adapter(fs)
        ft, fs = ft.float(), fs.float()
        # NHWC, as the TF.js engine's maps: one sample's map is h×w×c
        nhwc = (lambda t: t.permute(0, 2, 3, 1) if t.dim() == 4 else t)
        ft, fs = nhwc(ft), nhwc(fs)
        t_shape = [None] + [int(x) for x in ft.shape[1:]]
        s_shape = [None] + [int(x) for x in fs.shape[1:]]
        t0, s0 = ft[0], fs[0]
        tg, t_hwc = _grid(t0)
        sg, s_hwc = _grid(s0)
        b = len(idx)
        answer: Dict[str, Any] = {'teacher': tg, 'student': sg, 'teacherShape': t_shape, 'studentShape': s_shape,
                                  'adapter': adapter_text, 'batch': b}
        if b > 1:
            cka = linear_cka(fs.reshape(b, -1), ft.reshape(b, -1))
            if not math.isnan(cka):
                answer['cka'] = cka
        if t_shape == s_shape:
            answer['cosine'] = cosine(s0, t0)
            answer['mse'] = mse(s0, t0)
            answer['difference'] = _grid(s0 - t0)[0]
        else:
            answer['note'] = (f'shapes differ after the adapter ({"×".join(_dim(x) for x in s_shape)} vs {"×".join(_dim(x) for x in t_shape)}): '
                              'no difference map, cosine or MSE; CKA compares them all the same')
        if t_hwc and s_hwc:
            answer['attentionTeacher'] = {'channels': [attention_map(t0)], 'h': t_hwc[0], 'w': t_hwc[1]}
            answer['attentionStudent'] = {'channels': [attention_map(s0)], 'h': s_hwc[0], 'w': s_hwc[1]}
        more = [f'first {MAX_CHANNELS} of {g[3]} channels shown' for g in (t_shape, s_shape) if len(g) == 4 and g[3] > MAX_CHANNELS]
        if more:
            answer['note'] = '. '.join(x for x in [answer.get('note'), f'teacher/student: {"; ".join(more)}'] if x)
        return answer

    @staticmethod
    def _tap(model: torch.nn.Module, layer: str, x: torch.Tensor, role: str) -> torch.Tensor:
        with knowledge.Taps(model, [layer], role=role, path_of=lambda n: []) as taps:
            model(x)
            out = taps.outputs.get(layer)
        if not isinstance(out, torch.Tensor):
            raise ProbeError(f'the {role}\'s layer "{layer}" did not run in a forward pass (or returned no tensor)')
        return out


def _dim(d) -> str:
    return '' if d is None else str(d)  # JS's Array.join prints null as ''


def human_duration(seconds: float) -> str:
    """`3.2 days`, `5 h 12 min`, `4 min 10 s`, `12 s` (budget.ts humanDuration)."""
    if not math.isfinite(seconds):
        return 'forever'
    day = 24 * 3600
    if seconds >= day:
        return f'{seconds / day:.1f} days'
    s = int(math.floor(seconds + 0.5))
    if s >= 3600:
        return f'{s // 3600} h {(s % 3600) // 60} min'
    if s >= 60:
        return f'{s // 60} min {s % 60} s'
    return 'under 1 s' if seconds < 1 else f'{s} s'


__all__ = ['Probe', 'ProbeError', 'check_pair', 'links_of', 'layer_rows', 'suggest_pairs', 'stages', 'linear_cka', 'cosine', 'mse',
           'attention_map', 'channel_images', 'tf_order', 'torch_order', 'human_duration']
