"""The knowledge of an experiment as torch modules: taps, adapters and loss terms.

The TF.js engine's src/engine/knowledge/{pairs,terms,crd,reviewkd}.ts, ported rule for rule so the
same experiment file means the same objective on both engines:

- `Taps`: forward hooks on `named_modules()` paths; a name that is not there is a `ConfigError` at
  the pair's JSON path, worded as the TF.js engine words it (`the teacher has no layer "x"; closest:
  "a", "b", "c"`, closest by the same edit distance as src/config/names.ts).
- `plan_adapter`: the adapter rules of pairs.ts: vectors get a Linear D_s → D_t; NCHW maps are first
  average-pooled or (nearest) upsampled by a whole factor to the teacher's H×W, then mapped by a 1×1
  convolution C_s → C_t when the method needs equal shapes or `conv1x1` is asked for; relation
  methods take no adapter. Adapters start as the TF.js layers do (Glorot-uniform weights, zero bias).
- `build_terms` / `Terms`: one term per knowledge entry (names `kd`, `kd#2`, …, `labels`), each with
  its weight × schedule factor (constant, linear-warmup), dkd's warm-up, ctkd's θ and λ curriculum,
  crd's heads and memory banks (buffers: checkpointed with the module), reviewkd's fusion module,
  multi-kd's further teachers' logits, fitnet's hint epochs; the per-pair losses keyed
  `teacherLayer→studentLayer` (fsp: `t1+t2→s1+s2`).

Shapes in messages: torch maps are NCHW, the TF.js engine's NHWC; every message prints shapes the
way the TF.js engine names them (a torch map [B,C,H,W] is printed [B,H,W,C], the batch as `?`), so a
refusal reads the same whichever engine (or the editor's pre-flight check) made it.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import losses as L
from .errors import ConfigError

Shape = Tuple[Optional[int], ...]


# ---------------------------------------------------------------------------------------------
# Names (src/config/names.ts).

def edit_distance(a: str, b: str) -> int:
    """Damerau–Levenshtein distance (optimal string alignment), as names.ts editDistance."""
    d = [[i] + [0] * len(b) for i in range(len(a) + 1)]
    for j in range(1, len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def closest_names(name: str, names: Sequence[str], n: int = 3) -> List[str]:
    """The n names closest to `name`, best first, ties in their order (a stable sort, as JS's)."""
    return sorted(names, key=lambda x: edit_distance(name, x))[:n]


def quote_names(names: Sequence[str]) -> str:
    return ', '.join(f'"{n}"' for n in names)


def layer_names(model: nn.Module) -> List[str]:
    """named_modules() paths, '' (the model itself) excluded."""
    return [name for name, _ in model.named_modules() if name]


def unknown_layer_message(who: str, name: str, model: nn.Module) -> str:
    """`the teacher has no layer "x"; closest: "a", "b", "c"` (models/taps.ts unknownLayerMessage)."""
    return f'{who} has no layer "{name}"; closest: {quote_names(closest_names(name, layer_names(model)))}'


# ---------------------------------------------------------------------------------------------
# Taps.

def _first_tensor(out):
    """A module's output, or its first element (tuple/list outputs, as the TF.js taps take out[0])."""
    while isinstance(out, (tuple, list)) and out:
        out = out[0]
    return out


class Taps:
    """Forward hooks on named layers; after a forward, `outputs[name]` holds each layer's output
    (with its autograd graph: the student's taps carry gradients to the student).

    A context manager: the hooks are removed on exit (or by `close()`). A name that is not a
    `named_modules()` path raises ConfigError at `path_of(name)` with the closest names. `role` is
    'teacher' or 'student' (it names the model in the message)."""

    def __init__(self, model: nn.Module, names: Sequence[str], *, role: str,
                 path_of: Callable[[str], list]):
        if isinstance(model, torch.jit.ScriptModule) and names:
            raise ConfigError(path_of(names[0]), f'the {role} is a TorchScript model: its layers cannot be tapped '
                                                 f'(forward hooks need a Python nn.Module); load it from a module factory, '
                                                 f'or use a response method (kd, dkd, dist, …)')
        modules = dict(model.named_modules())
        for name in names:
            if not name or name not in modules:
                raise ConfigError(path_of(name), unknown_layer_message(f'the {role}', name, model))
        self.outputs: Dict[str, torch.Tensor] = {}
        self._handles = []
        for name in dict.fromkeys(names):
            self._handles.append(modules[name].register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            self.outputs[name] = _first_tensor(output)
        return hook

    def clear(self) -> None:
        self.outputs = {}

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> 'Taps':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def layer_shapes(model: nn.Module, names: Sequence[str], sample: torch.Tensor, *, role: str,
                 path_of: Callable[[str], list]) -> Dict[str, Shape]:
    """The output shape of each named layer on `sample` (batch → None), from one forward without
    gradient in eval mode (the model's training flags and buffers such as BN statistics are left
    as they were)."""
    if not names:
        return {}
    was_training = [m.training for m in model.modules()]
    with Taps(model, names, role=role, path_of=path_of) as taps:
        try:
            model.eval()
            with torch.no_grad():
                model(sample)
        finally:
            for m, t in zip(model.modules(), was_training):
                m.training = t
        out = {}
        for n in names:
            t = taps.outputs.get(n)
            if not isinstance(t, torch.Tensor):
                raise ConfigError(path_of(n), f'the {role}\'s layer "{n}" did not run in a forward pass (or returned no tensor)')
            out[n] = (None,) + tuple(int(d) for d in t.shape[1:])
    return out


# ---------------------------------------------------------------------------------------------
# Adapters (src/engine/knowledge/pairs.ts).

class PairError(Exception):
    """A pair that cannot be matched: the message names both layers, both shapes and the fix."""


class Upsample(nn.Module):
    """Nearest upsampling by whole factors (TF.js upSampling2d): each cell repeated k_h × k_w."""

    def __init__(self, kh: int, kw: int):
        super().__init__()
        self.kh, self.kw = int(kh), int(kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.kh, dim=2).repeat_interleave(self.kw, dim=3)


def _glorot(module: nn.Module) -> nn.Module:
    """TF.js's initialisers for dense/conv layers: Glorot-uniform kernel, zero bias."""
    nn.init.xavier_uniform_(module.weight)
    if getattr(module, 'bias', None) is not None:
        nn.init.zeros_(module.bias)
    return module


class AdapterPlan:
    """What `plan_adapter` decided: a description (`avgpool 2×2 → conv1x1 16→32`, `none`), the
    shape after the adapter (NCHW, batch None) and a builder of the module (None for `none`)."""

    def __init__(self, description: str, output_shape: Shape, steps: list):
        self.description = description
        self.output_shape = output_shape
        self._steps = steps

    def build(self) -> Optional[nn.Module]:
        if not self._steps:
            return None
        return nn.Sequential(*[make() for make in self._steps])


def _fmt(shape: Shape) -> str:
    return L.format_shape(L.tf_shape(shape))


def plan_adapter(method: str, pair: dict, student_shape: Shape, teacher_shape: Shape) -> AdapterPlan:
    """The adapter of one pair (pairs.ts planAdapter) for NCHW/[B,D] shapes, or PairError."""
    info = L.CATALOGUE.get(method)
    if info is None:
        raise PairError(f'unknown method "{method}"')
    adapter = pair.get('adapter', 'auto')
    what = f'teacher "{pair["teacher"]}" {_fmt(teacher_shape)} ↔ student "{pair["student"]}" {_fmt(student_shape)}'
    identity = AdapterPlan('none', tuple(student_shape), [])
    rs, rt = len(student_shape), len(teacher_shape)
    ranks = info['ranks']
    if ranks != 'any' and (rs not in ranks or rt not in ranks):
        fix = ('for vectors use "fitnet" with a "dense" adapter, or a relation method (rkd-distance, sp, pkt, cc)'
               if rs == 2 or rt == 2 else f'pair layers of rank {" or ".join(str(r) for r in ranks)}')
        raise PairError(f'{method}: {what}: {method} needs tensors of rank {" or ".join(str(r) for r in ranks)} '
                        f'([B,H,W,C] feature maps); {fix}')
    if info['kind'] == 'relation':
        if adapter not in ('auto', 'none'):
            raise PairError(f'{method}: {what}: relation methods compare sample-to-sample relations, so no adapter is needed; remove "adapter"')
        return identity

    def strip(err: str) -> str:
        return err.split(': ', 1)[1] if ': ' in err else err

    if adapter == 'none':
        err = L.pair_shape_error(method, L.tf_shape(student_shape), L.tf_shape(teacher_shape))
        if err:
            raise PairError(f'{method}: {what}: {strip(err)}; use "adapter": "auto" (or "{"conv1x1" if rs == 4 else "dense"}")')
        return identity
    if rs != rt:
        raise PairError(f'{method}: {what}: ranks differ ({rs} vs {rt}); pair layers of the same kind '
                        '(vectors with vectors, feature maps with feature maps)')
    steps: List[str] = []
    makers: List[Callable[[], nn.Module]] = []
    shape = list(student_shape)
    if rs == 4:
        if adapter == 'dense':
            raise PairError(f'{method}: {what}: a "dense" adapter is for vectors; use "conv1x1" for feature maps')
        hs, ws = shape[2], shape[3]
        ht, wt = teacher_shape[2], teacher_shape[3]
        if hs != ht or ws != wt:
            if hs % ht == 0 and ws % wt == 0 and hs // ht == ws // wt:
                k = hs // ht
                steps.append(f'avgpool {k}×{k}')
                makers.append(lambda k=k: nn.AvgPool2d(k, k))
            elif ht % hs == 0 and wt % ws == 0 and ht // hs == wt // ws:
                k = ht // hs
                steps.append(f'upsample {k}×{k}')
                makers.append(lambda k=k: Upsample(k, k))
            else:
                raise PairError(f'{method}: {what}: spatial sizes {hs}×{ws} and {ht}×{wt} are not integer multiples; '
                                'pair layers whose resolutions differ by a whole factor (pool or upsample), or the same resolution')
            shape = [shape[0], shape[1], ht, wt]
        cs, ct = shape[1], teacher_shape[1]
        if adapter == 'conv1x1' or (info['sameShape'] and cs != ct):
            steps.append(f'conv1x1 {cs}→{ct}')
            makers.append(lambda cs=cs, ct=ct: _glorot(nn.Conv2d(cs, ct, 1)))
            shape = [shape[0], ct, ht, wt]
    elif rs == 2:
        if adapter == 'conv1x1':
            raise PairError(f'{method}: {what}: a "conv1x1" adapter is for feature maps; use "dense" for vectors')
        ds, dt = shape[1], teacher_shape[1]
        if adapter == 'dense' or (info['sameShape'] and ds != dt):
            steps.append(f'dense {ds}→{dt}')
            makers.append(lambda ds=ds, dt=dt: _glorot(nn.Linear(ds, dt)))
            shape = [shape[0], dt]
    elif info['sameShape'] and _fmt(shape) != _fmt(teacher_shape):
        raise PairError(f'{method}: {what}: no adapter for rank-{rs} tensors; pair vectors or feature maps')
    err = L.pair_shape_error(method, L.tf_shape(shape), L.tf_shape(teacher_shape))
    if err:
        raise PairError(f'{method}: {what}: {strip(err)}')
    if not makers:
        return identity
    return AdapterPlan(' → '.join(steps), tuple(shape), makers)


# ---------------------------------------------------------------------------------------------
# ReviewKD's fusion (src/engine/knowledge/reviewkd.ts).

def _whole_ratio(big: int, small: int) -> Optional[int]:
    return big // small if big >= small and big % small == 0 else None


def review_stage_problems(pairs: list, student: List[Shape], teacher: List[Shape], ei: int) -> List[Tuple[list, str]]:
    """Why the stages cannot be reviewed, each (path, message) at its pair (reviewStageProblems)."""
    problems = []

    def at(i):
        return ['knowledge', ei, 'pairs', i]
    for i, p in enumerate(pairs):
        s, t = student[i], teacher[i]
        if len(s) != 4 or len(t) != 4 or any(d is None for x in (s, t) for d in x[1:]):
            problems.append((at(i), f'reviewkd: teacher "{p["teacher"]}" {_fmt(t)} ↔ student "{p["student"]}" {_fmt(s)}: reviewkd '
                                    'fuses feature maps of rank 4 [B,H,W,C]; pair convolutional stages (or use "fitnet" for vectors)'))
            continue
        h, w = s[2], s[3]
        ht, wt = t[2], t[3]

        def ok(a, b):
            return _whole_ratio(a, b) is not None or _whole_ratio(b, a) is not None
        if not ok(h, ht) or not ok(w, wt):
            problems.append((at(i), f'reviewkd: the student stage "{p["student"]}" is {h}×{w}, the teacher stage '
                                    f'"{p["teacher"]}" {ht}×{wt}: one must be a whole multiple of the other'))
    if problems:
        return problems
    for i in range(len(pairs) - 1):
        h, w = student[i][2], student[i][3]
        hd, wd = student[i + 1][2], student[i + 1][3]
        if _whole_ratio(h, hd) is None or _whole_ratio(w, wd) is None:
            problems.append((at(i + 1), f'reviewkd: stages go from shallow to deep, each as large as the next or a whole multiple '
                                        f'of it; the student\'s "{pairs[i]["student"]}" is {h}×{w}, the next "{pairs[i + 1]["student"]}" '
                                        f'{hd}×{wd}: list the pairs from the shallowest stage to the deepest'))
    return problems


class ReviewFusion(nn.Module):
    """The attention-based fusion of the student's stages (shallow → deep), reviewed from the deepest
    up: reduce (1×1 conv to `mid`), mix with the fused deeper stage (nearest upsampling, attention
    z = sigmoid(1×1 conv of [x, y]) → x·z₀ + y·z₁), resize to the teacher stage (upsample or average
    pool), 3×3 conv ('same') to its channels. No batch normalisation, as the TF.js module."""

    def __init__(self, student: List[Shape], teacher: List[Shape], mid: int):
        super().__init__()
        self.student = [tuple(s) for s in student]
        self.teacher = [tuple(t) for t in teacher]
        n = len(student)
        self.reduce = nn.ModuleList([_glorot(nn.Conv2d(s[1], mid, 1)) for s in student])
        self.att = nn.ModuleList([_glorot(nn.Conv2d(2 * mid, 2, 1)) if i < n - 1 else nn.Identity() for i in range(n)])
        self.out = nn.ModuleList([_glorot(nn.Conv2d(mid, t[1], 3, padding=1)) for t in teacher])

    def forward(self, stages: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        n = len(stages)
        outs: List[Optional[torch.Tensor]] = [None] * n
        res: Optional[torch.Tensor] = None
        for i in range(n - 1, -1, -1):
            h, w = self.student[i][2], self.student[i][3]
            x = self.reduce[i](stages[i])
            if res is not None:
                hd, wd = self.student[i + 1][2], self.student[i + 1][3]
                y = res if (h // hd, w // wd) == (1, 1) else Upsample(h // hd, w // wd)(res)
                z = torch.sigmoid(self.att[i](torch.cat([x, y], 1)))
                x = x * z[:, 0:1] + y * z[:, 1:2]
            res = x
            ht, wt = self.teacher[i][2], self.teacher[i][3]
            r = x
            if ht > h or wt > w:
                r = Upsample(ht // h, wt // w)(r)
            elif ht < h or wt < w:
                r = F.avg_pool2d(r, (h // ht, w // wt))
            outs[i] = self.out[i](r)
        return outs  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Terms (src/engine/knowledge/terms.ts).

def schedule_factor(schedule: Optional[dict], epoch: int) -> float:
    """constant → 1; linear-warmup over E epochs → min(1, epoch/E) (epoch 1-based)."""
    if not schedule or schedule.get('kind', 'constant') == 'constant':
        return 1.0
    return min(1.0, epoch / schedule['epochs'])


class Term:
    """One named, weighted loss term. `factor(epoch)` multiplies the weight (schedules, dkd warm-up,
    fitnet hint epochs); `compute(ctx)` → (value, per-pair values); `params()` its logged values."""

    def __init__(self, name: str, weight: float, entry_index: Optional[int]):
        self.name = name
        self.weight = float(weight)
        self.entry_index = entry_index
        self.factor: Callable[[int], float] = lambda epoch: 1.0
        self.teacher_layers: List[str] = []
        self.student_layers: List[str] = []
        self.pair_labels: List[str] = []
        self.pair_adapters: List[str] = []
        self.compute: Callable[[dict], Tuple[torch.Tensor, List[torch.Tensor]]] = lambda ctx: (torch.zeros(()), [])
        self.params: Callable[[], Dict[str, float]] = lambda: {}
        # adversarial (issue 18): the epoch's means of its figures, and D's step after the student's
        self.extras: Callable[[], Dict[str, float]] = lambda: {}
        self.after_step: Optional[Callable[[], None]] = None


class Terms(nn.Module):
    """The terms of a job. Its parameters (adapters, crd heads, ctkd's θ, reviewkd's fusion) train
    with the student; its buffers (crd's banks and normalisers) are checkpointed with its state_dict.

    forward(...) → (losses, pairs, params):
      losses: {term name: raw value (0-d tensor)} in term order, plus 'total' = Σ weight·factor·value
              (the tensor to backpropagate), as the TF.js engine's step;
      pairs:  {term name: {'teacherLayer→studentLayer': float}} for terms with pairs;
      params: {'ctkd.temperature': float, …} the learned values of the step.
    `epoch` is 1-based (the TF.js engine's), `indices` the batch's rows in the training split (crd)."""

    def __init__(self):
        super().__init__()
        self.terms: List[Term] = []
        self.parts = nn.ModuleDict()
        self.teacher_layers: List[str] = []
        self.student_layers: List[str] = []
        self.hint_epochs = 0
        self.extra_teachers = 0

    @property
    def names(self) -> List[str]:
        return [t.name for t in self.terms]

    @property
    def needs_teacher(self) -> bool:
        """Whether a step needs the teacher's logits or features (every term but `labels` does)."""
        return any(t.name != 'labels' for t in self.terms)

    def factors(self, epoch: int) -> Dict[str, float]:
        """weight × factor of every term in (1-based) `epoch`."""
        return {t.name: t.weight * t.factor(epoch) for t in self.terms}

    def forward(self, *, s_logits, t_logits, s_feats: dict, t_feats: dict, labels, indices=None,
                epoch: int, epochs: int = 0, extra_t_logits: Sequence[torch.Tensor] = ()):
        ctx = dict(zs=s_logits, zt=t_logits, student=s_feats, teacher=t_feats, labels=labels, idx=indices,
                   epoch=epoch, epochs=epochs, extra=list(extra_t_logits))
        losses: Dict[str, torch.Tensor] = {}
        pairs: Dict[str, Dict[str, float]] = {}
        params: Dict[str, float] = {}
        total = s_logits.new_zeros(())
        for t in self.terms:
            value, pair_values = t.compute(ctx)
            losses[t.name] = value
            if t.pair_labels:
                pairs[t.name] = {label: float(v.detach()) for label, v in zip(t.pair_labels, pair_values)}
            # always added, as the TF.js engine does: a term switched off (factor 0) keeps the graph whole
            total = total + value * (t.weight * t.factor(epoch))
            for k, v in t.params().items():
                params[f'{t.name}.{k}'] = v
        losses['total'] = total
        return losses, pairs, params

    def after_step(self) -> None:
        """What trains after the student's optimizer step: adversarial terms' discriminators."""
        for t in self.terms:
            if t.after_step is not None:
                t.after_step()

    def epoch_extras(self) -> Dict[str, float]:
        """The epoch record's extras of the terms (`adversarial.discLoss`, …: epoch means), then reset."""
        out: Dict[str, float] = {}
        for t in self.terms:
            for k, v in t.extras().items():
                out[f'{t.name}.{k}'] = v
        return out


def _need(t: Optional[torch.Tensor]) -> torch.Tensor:
    if t is None:
        raise RuntimeError("this loss term needs the teacher's logits")
    return t


def _get(m: dict, layer: str) -> torch.Tensor:
    t = m.get(layer)
    if t is None:
        raise RuntimeError(f'layer "{layer}" was not tapped')
    return t


class _CrdState(nn.Module):
    """crd's heads and banks: Linear heads on the flattened layer outputs, banks [N,D] and the
    normalisers [Z_s, Z_t, initialised] as buffers (so a checkpoint carries them)."""

    def __init__(self, s_shape: Shape, t_shape: Shape, d: int, n: int, seed: int):
        super().__init__()
        self.head_s = nn.Sequential(nn.Flatten(), _glorot(nn.Linear(math.prod(s_shape[1:]), d)))
        self.head_t = nn.Sequential(nn.Flatten(), _glorot(nn.Linear(math.prod(t_shape[1:]), d)))
        self.register_buffer('memory_s', L.initial_memory(n, d, seed))
        self.register_buffer('memory_t', L.initial_memory(n, d, (seed ^ 0x5BD1E995) & 0xFFFFFFFF))
        self.register_buffer('state', torch.zeros(3))


def build_terms(entries: list, *, teacher: nn.Module, student: nn.Module, sample: torch.Tensor, num_classes: int,
                num_train: int, extra_teachers: Sequence[nn.Module] = (), labels_weight: float = 0.0,
                train_labels: Optional[torch.Tensor] = None, prefix: str = 'adapter',
                teacher_sample: Optional[torch.Tensor] = None) -> Terms:
    """The Terms of a distillation job from the experiment's `knowledge` list (terms.ts buildTerms).

    Checks every pair against the models (layer names, shapes, adapters) with one forward of each
    network on `sample` (a small batch; `teacher_sample` if the teacher takes another input) and
    raises ConfigError at the first problem's path (all problems in `.problems`, as (path, message)).
    `labels_weight` > 0 adds the `labels` cross-entropy term (config['labels']['weight']), last, as
    the TF.js engine does. crd needs `train_labels` (int [N], N = num_train): the negatives are drawn
    from other classes and the banks hold N rows. `prefix` seeds crd's initial banks as the TF.js
    engine's adapter prefix does (`adapter_<job>` in its learners)."""
    # an adversarial entry's method may be left out (its one method is the default)
    entries = [dict(e, method='adversarial') if e.get('kind') == 'adversarial' and not e.get('method') else e for e in entries]
    terms = Terms()
    terms.num_classes = int(num_classes)
    problems: List[Tuple[list, str]] = []
    used: Dict[str, int] = {}
    wanted_t: Dict[str, list] = {}
    wanted_s: Dict[str, list] = {}

    # Every layer the entries name, with its first path (for the unknown-name message).
    def pair_layers(entry, ei):
        out = []
        for pi, pair in enumerate(entry.get('pairs') or []):
            base = ['knowledge', ei, 'pairs', pi]
            for who in ('teacher', 'student'):
                names = pair[who] if isinstance(pair[who], list) else [pair[who]]
                for k, nm in enumerate(names):
                    out.append((who, nm, base + [who] + ([k] if isinstance(pair[who], list) else [])))
        return out

    known = {'teacher': set(layer_names(teacher)) if teacher is not None else set(), 'student': set(layer_names(student))}
    for ei, entry in enumerate(entries):
        if entry.get('weight', 1) <= 0:
            continue
        for who, nm, path in pair_layers(entry, ei):
            model = teacher if who == 'teacher' else student
            if model is None:
                problems.append((path, f'no {who} model to read "{nm}" from'))
            elif nm not in known[who]:
                problems.append((path, unknown_layer_message(f'the {who}', nm, model)))
            else:
                (wanted_t if who == 'teacher' else wanted_s).setdefault(nm, path)
    if problems:
        _raise(problems)
    t_shapes = layer_shapes(teacher, list(wanted_t), teacher_sample if teacher_sample is not None else sample,
                            role='teacher', path_of=lambda n: wanted_t[n]) if teacher is not None else {}
    s_shapes = layer_shapes(student, list(wanted_s), sample, role='student', path_of=lambda n: wanted_s[n])
    with torch.no_grad():
        was = [(m, m.training) for m in [student, teacher, *extra_teachers] if m is not None]
        try:
            for m, _ in was:
                m.eval()
            s_logits_shape = tuple(student(sample).shape)
            t_logits_shape = tuple(teacher(teacher_sample if teacher_sample is not None else sample).shape) if teacher is not None else None
            extra_shapes = [tuple(m(teacher_sample if teacher_sample is not None else sample).shape) for m in extra_teachers]
        finally:
            for m, tr in was:
                m.train(tr)

    for ei, entry in enumerate(entries):
        method = entry['method']
        n_used = used.get(method, 0) + 1
        used[method] = n_used
        name = method if n_used == 1 else f'{method}#{n_used}'
        weight = float(entry.get('weight', 1))
        if weight <= 0:
            continue
        term = Term(name, weight, ei)
        schedule = entry.get('schedule')
        term.factor = lambda epoch, s=schedule: schedule_factor(s, epoch)
        key = f'k{ei}'
        built = _build_entry(term, entry, ei, key, terms, problems, t_shapes, s_shapes, s_logits_shape, t_logits_shape,
                             extra_shapes, train_labels, num_train, prefix)
        if built:
            terms.terms.append(term)
            terms.teacher_layers += [x for x in term.teacher_layers if x not in terms.teacher_layers]
            terms.student_layers += [x for x in term.student_layers if x not in terms.student_layers]
    if problems:
        _raise(problems)
    if labels_weight > 0:
        t = Term('labels', labels_weight, None)
        t.compute = lambda ctx: (L.cross_entropy(ctx['zs'], ctx['labels']), [])
        terms.terms.append(t)
    # FitNets stage 1: during the hint epochs only the hint terms train; every other term is off.
    hint_entries = {i for i, e in enumerate(entries) if e['method'] == 'fitnet' and (e.get('hintEpochs') or 0) > 0}
    terms.hint_epochs = max([0] + [entries[i].get('hintEpochs') or 0 for i in hint_entries])
    if terms.hint_epochs > 0:
        for t in terms.terms:
            if t.entry_index in hint_entries:
                continue
            t.factor = (lambda base, h: (lambda epoch: 0.0 if epoch <= h else base(epoch)))(t.factor, terms.hint_epochs)
    return terms


def _raise(problems: List[Tuple[list, str]]) -> None:
    err = ConfigError(problems[0][0], problems[0][1])
    err.problems = problems  # type: ignore[attr-defined]
    raise err


def _build_entry(term: Term, entry: dict, ei: int, key: str, terms: Terms, problems: list, t_shapes: dict, s_shapes: dict,
                 s_logits: tuple, t_logits: Optional[tuple], extra_shapes: list, train_labels, num_train: int, prefix: str) -> bool:
    """Fills `term` for one entry; returns False (after adding problems) when it cannot be built."""
    method = entry['method']
    here = ['knowledge', ei]
    if L.CATALOGUE.get(method, {}).get('kind') == 'response' and t_logits is not None:
        err = L.pair_shape_error(method, list(s_logits), list(t_logits))
        if err:
            problems.append((here, err))
            return False
    if method == 'kd':
        temp, std = entry['temperature'], bool(entry.get('standardize'))
        term.compute = lambda ctx: (L.kd_loss(ctx['zs'], _need(ctx['zt']), temp, std), [])
        return True
    if method == 'dkd':
        sched, warm = term.factor, entry.get('warmup', 0) or 0
        term.factor = lambda epoch: sched(epoch) * (min(1.0, epoch / warm) if warm > 0 else 1.0)
        a, b, temp, std = entry['alpha'], entry['beta'], entry['temperature'], bool(entry.get('standardize'))
        term.compute = lambda ctx: (L.dkd_loss(ctx['zs'], _need(ctx['zt']), ctx['labels'], a, b, temp, std), [])
        return True
    if method == 'multi-kd':
        teachers = entry.get('teachers') or []
        weights = [entry.get('teacherWeight', 1)] + [t.get('weight', 1) for t in teachers]
        if len(extra_shapes) != len(teachers):
            problems.append((here + ['teachers'], f'multi-kd: {len(teachers)} further teachers in the entry, but {len(extra_shapes)} models were built'))
            return False
        for i, shape in enumerate(extra_shapes):
            err = L.pair_shape_error('multi-kd', list(s_logits), list(shape), f'teacher {i + 2}')
            if err:
                problems.append((here + ['teachers', i], err))
                return False
        terms.extra_teachers = max(terms.extra_teachers, len(teachers))
        temp, std = entry['temperature'], bool(entry.get('standardize'))
        n_extra = len(teachers)
        term.compute = lambda ctx: (L.multi_kd_loss(ctx['zs'], [_need(ctx['zt'])] + list(ctx['extra'][:n_extra]), weights, temp, std), [])
        return True
    if method == 'dist':
        b, g, temp, std = entry['beta'], entry['gamma'], entry['temperature'], bool(entry.get('standardize'))
        term.compute = lambda ctx: (L.dist_loss(ctx['zs'], _need(ctx['zt']), b, g, temp, std), [])
        return True
    if method == 'ctkd':
        lo, rng = entry['minTemperature'], entry['temperatureRange']
        try:
            theta0 = L.initial_theta(lo, rng, entry.get('initialTemperature'))
        except ValueError as e:
            problems.append((here + ['initialTemperature'], str(e)))
            return False
        holder = nn.Module()
        holder.theta = nn.Parameter(torch.tensor([theta0], dtype=torch.float32))
        terms.parts[key] = holder
        last = {'temperature': float('nan')}
        lam_max, lam_epochs = entry.get('maxReversal', 1), entry.get('reversalEpochs', 10)

        def compute(ctx):
            lam = L.reversal_weight(ctx['epoch'] if ctx['epoch'] is not None else 1, lam_max, lam_epochs)
            loss, t = L.ctkd_loss(ctx['zs'], _need(ctx['zt']), holder.theta, lam, lo, rng)
            last['temperature'] = float(t.detach())
            return loss, []
        term.compute = compute
        term.params = lambda: dict(last)
        return True
    if method == 'crd':
        return _build_crd(term, entry, ei, key, terms, problems, t_shapes, s_shapes, train_labels, num_train, prefix)
    if method == 'reviewkd':
        pairs = entry['pairs']
        student = [s_shapes[p['student']] for p in pairs]
        teacher = [t_shapes[p['teacher']] for p in pairs]
        found = review_stage_problems(pairs, student, teacher, ei)
        if found:
            problems.extend(found)
            return False
        mid = entry.get('midChannels', 64)
        fusion = ReviewFusion(student, teacher, mid)
        terms.parts[key] = fusion
        term.student_layers = [p['student'] for p in pairs]
        term.teacher_layers = [p['teacher'] for p in pairs]
        term.pair_labels = [f'{p["teacher"]}→{p["student"]}' for p in pairs]
        term.pair_adapters = [f'review fusion {"×".join(str(d) for d in L.tf_shape(student[i])[1:])} → '
                              f'{"×".join(str(d) for d in L.tf_shape(teacher[i])[1:])} ({mid} mid channels)' for i in range(len(pairs))]

        def compute(ctx):
            fused = fusion([_get(ctx['student'], p['student']) for p in pairs])
            values = [L.hcl_loss(f, _get(ctx['teacher'], pairs[i]['teacher'])) for i, f in enumerate(fused)]
            return (values[0] if len(values) == 1 else sum(values)), values
        term.compute = compute
        return True
    if method == 'adversarial':
        from . import adversarial
        return adversarial.build(term, entry, ei, key, terms, problems, t_shapes, s_shapes, s_logits, t_logits, terms.num_classes)
    if method == 'fsp':
        return _build_fsp(term, entry, ei, key, terms, problems, t_shapes, s_shapes)
    loss_of = {
        'fitnet': lambda fs, ft: L.fitnet_loss(fs, ft),
        'at': lambda fs, ft, p=entry.get('p', 2): L.at_loss(fs, ft, p),
        'nst': L.nst_loss, 'rkd-distance': L.rkd_distance_loss, 'rkd-angle': L.rkd_angle_loss,
        'sp': L.sp_loss, 'pkt': lambda fs, ft: L.pkt_loss(fs, ft), 'cc': lambda fs, ft: L.cc_loss(fs, ft),
    }.get(method)
    if loss_of is None:
        problems.append((here + ['method'], f'unknown method "{method}"'))
        return False
    plans = []
    ok = True
    for pi, pair in enumerate(entry.get('pairs') or []):
        try:
            plan = plan_adapter(method, pair, s_shapes[pair['student']], t_shapes[pair['teacher']])
        except PairError as e:
            problems.append((here + ['pairs', pi], str(e)))
            ok = False
            continue
        adapter = plan.build()
        if adapter is not None:
            terms.parts[f'{key}_p{pi}'] = adapter
        plans.append((pair, adapter))
        term.pair_labels.append(f'{pair["teacher"]}→{pair["student"]}')
        term.pair_adapters.append(plan.description)
        term.teacher_layers.append(pair['teacher'])
        term.student_layers.append(pair['student'])

    def compute(ctx):
        values = []
        for pair, adapter in plans:
            fs = _get(ctx['student'], pair['student'])
            values.append(loss_of(adapter(fs) if adapter is not None else fs, _get(ctx['teacher'], pair['teacher'])))
        return (values[0] if len(values) == 1 else sum(values)), values
    term.compute = compute
    return ok


def _build_fsp(term, entry, ei, key, terms, problems, t_shapes, s_shapes) -> bool:
    plans = []
    for pi, pair in enumerate(entry['pairs']):
        path = ['knowledge', ei, 'pairs', pi]
        ts = [t_shapes[x] for x in pair['teacher']]
        ss = [s_shapes[x] for x in pair['student']]

        def spatial(a, b):
            return len(a) == 4 and len(b) == 4 and a[2] == b[2] and a[3] == b[3]
        if not spatial(ts[0], ts[1]):
            problems.append((path + ['teacher'], f'fsp: the teacher\'s layers "{pair["teacher"][0]}" {_fmt(ts[0])} and "{pair["teacher"][1]}" '
                                                 f'{_fmt(ts[1])} must be feature maps of the same spatial size'))
            continue
        if not spatial(ss[0], ss[1]):
            problems.append((path + ['student'], f'fsp: the student\'s layers "{pair["student"][0]}" {_fmt(ss[0])} and "{pair["student"][1]}" '
                                                 f'{_fmt(ss[1])} must be feature maps of the same spatial size'))
            continue
        adapters = []
        for k in (0, 1):
            cs, ct = ss[k][1], ts[k][1]
            if cs == ct:
                adapters.append(None)
                continue
            term.pair_adapters.append(f'conv1x1 {cs}→{ct}')
            a = _glorot(nn.Conv2d(cs, ct, 1))
            terms.parts[f'{key}_p{pi}_{k}'] = a
            adapters.append(a)
        if all(a is None for a in adapters):
            term.pair_adapters.append('none')
        plans.append((pair, adapters))
        term.pair_labels.append(f'{"+".join(pair["teacher"])}→{"+".join(pair["student"])}')
        term.teacher_layers += list(pair['teacher'])
        term.student_layers += list(pair['student'])

    def compute(ctx):
        values = []
        for pair, adapters in plans:
            s = [adapters[k](_get(ctx['student'], l)) if adapters[k] is not None else _get(ctx['student'], l)
                 for k, l in enumerate(pair['student'])]
            values.append(L.fsp_loss(s[0], s[1], _get(ctx['teacher'], pair['teacher'][0]), _get(ctx['teacher'], pair['teacher'][1])))
        return (values[0] if len(values) == 1 else sum(values)), values
    term.compute = compute
    return len(plans) == len(entry['pairs'])


def _build_crd(term, entry, ei, key, terms, problems, t_shapes, s_shapes, train_labels, num_train, prefix) -> bool:
    pair = entry['pairs'][0]
    here = ['knowledge', ei]
    d = int(entry.get('embedding', 128))
    k = int(entry.get('negatives', 1024))
    temperature = float(entry.get('temperature', 0.07))
    momentum = float(entry.get('momentum', 0.5))
    max_mb = entry.get('maxMemoryMB', 256)
    shapes = {'student': s_shapes[pair['student']], 'teacher': t_shapes[pair['teacher']]}
    for who in ('student', 'teacher'):
        shape = shapes[who]
        if len(shape) < 2 or any(x is None for x in shape[1:]):
            problems.append((here + ['pairs', 0, who], f'crd: the {who}\'s layer "{pair[who]}" {_fmt(shape)} must have a known shape [B,…]'))
            return False
    if train_labels is None:
        problems.append((here + ['method'], 'crd: the term needs the training split\'s labels (build_terms(train_labels=…)) for its memory banks'))
        return False
    labels = torch.as_tensor(train_labels).reshape(-1).cpu()
    n = int(labels.shape[0])
    if num_train and num_train != n:
        problems.append((here + ['method'], f'crd: num_train {num_train} differs from the {n} training labels given'))
        return False
    mb = L.memory_bytes(n, d) / 2 ** 20
    if mb > max_mb:
        problems.append((here + ['embedding'], f'crd: the memory banks hold 2 × {n} samples × {d} = {math.floor(mb + 0.5)} MB, above maxMemoryMB '
                                               f'{L._js_number(max_mb)}: lower "embedding", limit the training split (data.train.limit), or raise "maxMemoryMB"'))
        return False
    if k >= n:
        problems.append((here + ['negatives'], f'crd: {k} negatives per sample, but the training split has {n} samples: give "negatives" below {n}'))
        return False
    if len(set(labels.tolist())) < 2:
        problems.append((here + ['method'], 'crd: the training split has one class only, so there is no negative to contrast with'))
        return False
    state = _CrdState(shapes['student'], shapes['teacher'], d, n, L.string_seed(f'{prefix}/{ei}'))
    terms.parts[key] = state
    label_list = labels.numpy()
    term.student_layers = [pair['student']]
    term.teacher_layers = [pair['teacher']]
    term.pair_labels = [f'{pair["teacher"]}→{pair["student"]}']
    term.pair_adapters = [f'crd heads {"×".join(str(x) for x in L.tf_shape(shapes["student"])[1:])}→{d}, '
                          f'{"×".join(str(x) for x in L.tf_shape(shapes["teacher"])[1:])}→{d}; memory 2×{n}×{d}']

    def compute(ctx):
        idx = ctx['idx']
        if idx is None:
            raise RuntimeError("crd: needs the batch's row indices in the training split")
        idx_list = [int(i) for i in torch.as_tensor(idx).reshape(-1).tolist()]
        fs = _get(ctx['student'], pair['student'])
        ft = _get(ctx['teacher'], pair['teacher'])
        rows = L.sample_contrast(idx_list, label_list, k).to(state.memory_s.device)
        b = len(idx_list)
        es = state.head_s(fs)
        et = state.head_t(ft)
        mem_s = state.memory_s[rows.reshape(-1)].reshape(b, k + 1, d).to(es.dtype)
        mem_t = state.memory_t[rows.reshape(-1)].reshape(b, k + 1, d).to(et.dtype)
        if float(state.state[2]) != 1.0:
            zs, zt = L.crd_normalisers(es, et, mem_s, mem_t, temperature, n)
            state.state.copy_(torch.tensor([zs, zt, 1.0]))
        zs, zt = float(state.state[0]), float(state.state[1])
        loss = L.crd_loss(es, et, mem_s, mem_t, temperature, n, zs, zt)
        if terms.training:
            # The banks move after the scores are taken: this batch's rows, from its new embeddings.
            where = torch.tensor(idx_list, device=state.memory_s.device)
            L.update_memory(state.memory_s, where, L.l2_rows(es.detach()), momentum)
            L.update_memory(state.memory_t, where, L.l2_rows(et.detach()), momentum)
        return loss, [loss]
    term.compute = compute
    return True


__all__ = ['Taps', 'layer_names', 'layer_shapes', 'unknown_layer_message', 'closest_names', 'edit_distance', 'PairError',
           'AdapterPlan', 'plan_adapter', 'Upsample', 'ReviewFusion', 'review_stage_problems', 'schedule_factor', 'Term',
           'Terms', 'build_terms']
