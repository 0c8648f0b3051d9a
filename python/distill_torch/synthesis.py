"""Data-free distillation (issue 18): the training inputs are synthesised from the teacher itself
(DeepInversion, Yin et al. 2020, "Dreaming to Distill"; the competition term of its Adaptive
DeepInversion as an option), then the student is distilled on them; the test split stays real.

What a data-free run is (`data.train` `{"format": "teacher-synthesized", …}`, the contract
`TeacherSynthesizedSource` in src/config/types.ts):

    synthesize          batch b = 1…⌈samples/batchSize⌉: x from N(0, 1) (rng.ts's mulberry32 and
                        makeGaussian seeded by hashSeed(seed, b, 0xd1ef) alone, drawn channels last:
                        the TF.js engine's starting noise, value for value), labels i mod classes
                        (i = the sample's index in the run),
                        `iterations` Adam steps (learningRate; β 0.9/0.999, ε 1e-7 as TF.js's Adam)
                        on x of
                            class · CE(teacher(x), y)                      (weight 1)
                          + bnWeight · Σ_l ‖μ_l(x) − running_mean_l‖₂ + ‖σ²_l(x) − running_var_l‖₂
                          + tvWeight · mean_i Σ (x_i[h+1, w] − x_i[h, w])² + (x_i[h, w+1] − x_i[h, w])²
                                                                                (images only)
                          + l2Weight · mean_i ‖x_i‖₂
                          [+ competition.weight · (1 − JS(softmax(z_t/T), softmax(z_s/T)))]
                        with the teacher in eval mode: l runs over its BatchNorm1d/2d layers, μ_l and
                        σ²_l are the per-channel mean and (biased) variance of the layer's INPUT over
                        the batch (and the spatial positions); the priors are per input, averaged over
                        the batch (the TF.js engine's deepInversion.ts, term for term). After each step
                        x is clamped to [0, 1] when `data.normalize` is `scale` (the teacher's input
                        range). A batch's bnLoss.end, classLoss and teacherAcc are measured on the
                        final (clamped) inputs; bnLoss.start and the curve on the iterations' inputs.
    distill-s<seed>     the student distilled on the synthesised inputs (their target labels are
                        the labels term's), evaluated on the real test split
    scratch-s<seed>     the baseline: on `reference` when given, else on the synthesised inputs
    real-s<seed>        with `reference`: the same distillation on the real data (not exported)

The competition term (Adaptive DeepInversion): before batch b > 1 a fresh copy of the student
(built from the first seed, as the first distill job starts) is distilled for `studentSteps` Adam
(1e-3) steps, step j on the whole written batch (j mod (b − 1)) + 1, with
T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)); it then scores batch b's inputs and is discarded. JS is
the Jensen–Shannon divergence in nats, averaged over the batch.

Jitter and flips (`jitter`, `flip`; DeepInversion's): at iteration i the teacher (and the
competition's student) see torch.roll(x, (dy, dx), dims=(H, W)), mirrored along W when `flip` and
the draw says so; the gradient goes back through the view to x, and the priors stay on x. The draws
are jitter.ts's stream (jitter_draws here), value for value. Not here: a learning-rate schedule,
multi-resolution synthesis.

The inputs go to `<run>/synthesized/` in the format of src/runs/synthesized.ts (meta.json first;
per batch the .bin, channels last, then its .json, each atomically): the folder is the synthesis's
checkpoint. A resumed run starts at the first batch without a .json; since a batch depends only on
(seed, b), the teacher and the batches before it, the resumed batch is bit-equal to an
uninterrupted one. A stop inside a batch drops that batch's progress (it is redone on resume).

The synthesize job logs step records (epoch = batch, step = iteration, losses total/bn/class/tv/
l2[/competition]: the unweighted terms and the weighted total) every `training.logEvery` iterations
(default 10) and at the last, one epoch record per batch, and progress messages (phase
`teacher`, as the TF.js engine's synthesizeJob.ts: ProgressMessage has no synthesis phase) like any
job (store.ts's comment on the job plan).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError
from .runfolder import dumps, now_iso, write_file_atomic

FORMAT = 'teacher-synthesized'
DIR = 'synthesized'
DEFAULTS = {'batchSize': 128, 'iterations': 200, 'learningRate': 0.1, 'bnWeight': 1.0, 'tvWeight': 1e-4,
            'l2Weight': 1e-5, 'seed': 0, 'jitter': 0, 'flip': False}
JITTER_SALT = 0x717E  # jitter.ts JITTER_SALT
ADAM_EPS = 1e-7  # TF.js's Adam epsilon (train.TFJS_EPSILON), so both engines take the same steps
STUDENT_LR = 1e-3
BN_TYPES = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
TRAIN_PATH = ['data', 'train']


# ---------------------------------------------------------------------------------------------
# the experiment's source

def source_of(config: dict) -> Optional[dict]:
    """The `teacher-synthesized` training source of an experiment (None when the run has real data)."""
    train = ((config or {}).get('data') or {}).get('train')
    return train if isinstance(train, dict) and train.get('format') == FORMAT else None


def is_data_free(config: dict) -> bool:
    return source_of(config) is not None


def settings(src: dict) -> dict:
    """The source with its defaults; ConfigError at data.train.<field> for a malformed value."""
    out = {**DEFAULTS, **{k: v for k, v in src.items() if v is not None}}

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    for key in ('samples', 'batchSize', 'iterations'):
        v = out.get(key)
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            what = 'missing' if v is None else f'found {json.dumps(v)}'
            raise ConfigError(TRAIN_PATH + [key], f'expected a whole number ≥ 1 ({key} of the teacher-synthesized inputs), {what}')
    if not (number(out['learningRate']) and out['learningRate'] > 0):
        raise ConfigError(TRAIN_PATH + ['learningRate'], f'expected a number > 0, found {json.dumps(out["learningRate"])}')
    for key in ('bnWeight', 'tvWeight', 'l2Weight'):
        if not (number(out[key]) and out[key] >= 0):
            raise ConfigError(TRAIN_PATH + [key], f'expected a number ≥ 0, found {json.dumps(out[key])}')
    if not (isinstance(out['seed'], int) and not isinstance(out['seed'], bool)):
        raise ConfigError(TRAIN_PATH + ['seed'], f'expected a whole number, found {json.dumps(out["seed"])}')
    j = out['jitter']
    if not (isinstance(j, int) and not isinstance(j, bool) and j >= 0):
        raise ConfigError(TRAIN_PATH + ['jitter'], f'expected a whole number of pixels ≥ 0, found {json.dumps(j)}')
    if not isinstance(out['flip'], bool):
        raise ConfigError(TRAIN_PATH + ['flip'], f'expected true or false, found {json.dumps(out["flip"])}')
    comp = out.get('competition')
    if comp is not None:
        p = TRAIN_PATH + ['competition']
        if not isinstance(comp, dict):
            raise ConfigError(p, 'expected {"weight", "temperature", "studentSteps"}')
        if not (number(comp.get('weight')) and comp['weight'] >= 0):
            raise ConfigError(p + ['weight'], f'expected a number ≥ 0, found {json.dumps(comp.get("weight"))}')
        if not (number(comp.get('temperature')) and comp['temperature'] > 0):
            raise ConfigError(p + ['temperature'], f'expected a number > 0, found {json.dumps(comp.get("temperature"))}')
        s = comp.get('studentSteps')
        if not (isinstance(s, int) and not isinstance(s, bool) and s >= 0):
            raise ConfigError(p + ['studentSteps'], f'expected a whole number ≥ 0, found {json.dumps(s)}')
    return out


def batch_count(cfg: dict) -> int:
    return -(-int(cfg['samples']) // int(cfg['batchSize']))


def batch_rows(cfg: dict, index: int) -> Tuple[int, int]:
    """The sample indices [start, end) of 1-based batch `index` (the last one may be smaller)."""
    start = (index - 1) * int(cfg['batchSize'])
    return start, min(int(cfg['samples']), start + int(cfg['batchSize']))


def batch_labels(cfg: dict, index: int, classes: int) -> torch.Tensor:
    start, end = batch_rows(cfg, index)
    return torch.arange(start, end, dtype=torch.int64) % int(classes)


def noise_seed(seed: int, index: int) -> int:
    """The seed of batch `index`'s starting noise: (seed, index) alone (rng.ts hashSeed, as
    deepInversion.ts startingNoise)."""
    from .data import hash_seed
    return hash_seed(int(seed), int(index), 0xD1EF)


def starting_noise(seed: int, index: int, count: int, input_shape: Sequence[int]) -> torch.Tensor:
    """Batch `index`'s starting inputs [count, …] in the engine's layout: N(0, 1) values of
    makeGaussian(mulberry32(noise_seed)) drawn in the folder's (channels-last) order, as the TF.js
    engine draws them, then laid out NCHW."""
    from .data import Mulberry32
    shape = stored_shape(input_shape)
    values = Mulberry32(noise_seed(seed, index)).gauss(int(count) * int(np.prod(shape))).astype(np.float32)
    return to_channels_first(torch.from_numpy(values.reshape(int(count), *shape))).contiguous()


def jitter_draws(seed: int, index: int, iterations: int, jitter: int) -> List[Tuple[int, int, bool]]:
    """(dy, dx, flip) of batch `index` for iterations 1..`iterations` (element i − 1 is iteration i's):
    jitter.ts jitterDraws, value for value. Stream mulberry32(hash_seed(seed, index, 0x717e)); iteration
    i takes values 3i−3, 3i−2, 3i−1 = u_y, u_x, u_f: dy = ⌊u_y·(2j + 1)⌋ − j, dx likewise, flip = u_f < 0.5."""
    from .data import Mulberry32, hash_seed
    u = Mulberry32(hash_seed(int(seed), int(index), JITTER_SALT)).uniform(3 * int(iterations)).reshape(-1, 3)
    j = int(jitter)
    span = 2 * j + 1
    return [(int(math.floor(a * span)) - j, int(math.floor(b * span)) - j, bool(c < 0.5)) for a, b, c in u]


def jitter_view(x: torch.Tensor, draw: Tuple[int, int, bool], flip: bool) -> torch.Tensor:
    """The teacher's view of a batch of images [N, C, H, W] at one iteration: rolled by (dy, dx)
    (out[r] = x[(r − dy) mod H], torch.roll), then mirrored along W when `flip` and the draw says so.
    Vectors are returned as they are (the validator refuses jitter and flip for them)."""
    if x.dim() != 4:
        return x
    dy, dx, f = draw
    v = torch.roll(x, shifts=(dy, dx), dims=(2, 3)) if (dy or dx) else x
    return torch.flip(v, dims=(3,)) if (flip and f) else v


def jitter_shape_problem(jitter: int, input_shape: Sequence[int]) -> Optional[Tuple[str, str]]:
    """(field, message) when `jitter` (or, at 0, `flip`) does not fit inputs of `input_shape` (one
    sample's, channels first): dataFreeRules.ts jitterShapeProblem's messages."""
    shape = stored_shape(input_shape)
    field = 'jitter' if jitter > 0 else 'flip'
    if len(shape) != 3:
        fix = ': remove "jitter" (or set it to 0)' if field == 'jitter' else ': remove "flip"'
        return field, f'{field} moves the pixels of images [H, W, C], but the inputs are vectors of shape [{", ".join(str(d) for d in shape)}]{fix}'
    if jitter > 0 and jitter >= min(shape[0], shape[1]):
        return 'jitter', f"expected a jitter below the image's height and width ({shape[0]}×{shape[1]}), found {jitter}"
    return None


# ---------------------------------------------------------------------------------------------
# data (data.py's hook): the splits of a data-free experiment

def load_data(cfg: dict, base_dir: str):
    """data.load_data for a `teacher-synthesized` train source. Refused as src/config/dataFreeRules.ts
    refuses them: `standardize` (no real training data to fit it on), a validation split (none to
    hold out), `jitter` / `flip` on vectors or a jitter not below the image size. `data.augment` is
    allowed: the student jobs augment the synthesised inputs (train.py) and the teacher runs on every
    augmented batch (engine.py keeps no teacher cache then). The Prepared it returns has
    the REFERENCE as its train split when there is one (`scale` fitted on it), else an empty train
    split (`scale` takes the test source's maximum: 255 for images). The synthesised inputs replace
    the train split per job (`job_data`)."""
    src = cfg['train']
    s = settings(src)
    why = 'data-free distillation (data.train "teacher-synthesized")'
    if cfg.get('normalize', 'scale') == 'standardize':
        raise ConfigError(['data', 'normalize'], f'{why} has no training data to fit "standardize" on: use "scale" '
                                                 '(inputs synthesised in [0, 1]) or "none"')
    if cfg.get('validation') is not None:
        raise ConfigError(['data', 'validation'], f'{why} has no real training data to hold out a validation split from: '
                                                  'remove "validation"')
    prepared = _load_base(cfg, base_dir, src)
    if s['jitter'] > 0 or s['flip']:
        problem = jitter_shape_problem(int(s['jitter']), prepared.input_shape)
        if problem is not None:
            raise ConfigError(TRAIN_PATH + [problem[0]], problem[1])
    return prepared


def _load_base(cfg: dict, base_dir: str, src: dict):
    """The reference's Prepared, or the test source's with an empty train split."""
    from . import data as data_mod
    ref = src.get('reference')
    if ref is not None:
        if not isinstance(ref, dict) or ref.get('format') == FORMAT:
            raise ConfigError(TRAIN_PATH + ['reference'], 'expected a real data source (mnist, idx, csv, …) to compare with')
        try:
            return data_mod.load_data({**cfg, 'train': ref}, base_dir)
        except ConfigError as e:
            p = list(e.path)
            if p[:2] == TRAIN_PATH:
                p = TRAIN_PATH + ['reference'] + p[2:]
            raise ConfigError(p, e.message) from e
    # The test source stands in for the fit of `scale` (its maximum); its rows train nothing.
    prepared = data_mod.load_data({**cfg, 'train': cfg['test']}, base_dir)
    empty = data_mod.Split(prepared.test.x[:0].clone(), prepared.test.y[:0].clone())
    return dataclasses.replace(prepared, train=empty, val=None, warnings=[],
                               names={'train': 'teacher-synthesized', 'test': prepared.names.get('test', 'test')})


def clamp_range(config: dict) -> Optional[Tuple[float, float]]:
    """[0, 1] when the inputs are scaled to it (`data.normalize` scale), else no clamp."""
    return (0.0, 1.0) if ((config.get('data') or {}).get('normalize', 'scale')) == 'scale' else None


# ---------------------------------------------------------------------------------------------
# prepare checks

def check_config(config: dict) -> None:
    """What a data-free experiment cannot have, refused where it is written (the messages of
    src/config/dataFreeRules.ts, which the validator gives first; here for a config that bypassed it)."""
    if not is_data_free(config):
        return
    scheme = (config.get('scheme') or {}).get('kind', 'offline')
    if scheme != 'offline':
        raise ConfigError(['scheme', 'kind'], 'data-free distillation (data.train "teacher-synthesized") synthesises its inputs from a '
                                              f'fixed, trained teacher: it needs scheme "offline", found "{scheme}"')
    teacher = config.get('teacher')
    if not isinstance(teacher, dict):
        raise ConfigError(['teacher'], 'a data-free run synthesises its inputs from the teacher: a teacher is required')
    if teacher.get('train') is not None:
        raise ConfigError(['teacher', 'train'], 'data-free distillation (data.train "teacher-synthesized") has no training data to '
                                                'train the teacher on: give a teacher trained elsewhere (remove "train")')
    from . import distributed
    if distributed.world_size(config) > 1:
        raise ConfigError(['distributed', 'processes'], 'a data-free run runs in one process (the synthesis is one sequence of '
                                                        'batches); remove distributed / --processes')


def bn_layers(model: torch.nn.Module) -> List[Tuple[str, torch.nn.Module]]:
    """The BatchNorm1d/2d layers with running statistics, in named_modules() order."""
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, BN_TYPES) and m.track_running_stats and m.running_mean is not None]


def check_teacher(config: dict, teacher: torch.nn.Module) -> None:
    """A teacher without BatchNormalization layers is refused (DeepInversion has nothing to match)."""
    if not is_data_free(config):
        return
    if not bn_layers(teacher):
        from .models import describe_spec
        raise ConfigError(['teacher'], "DeepInversion matches the statistics of the teacher's BatchNormalization layers; "
                                       f"teacher {describe_spec(config['teacher'])} has none")


# ---------------------------------------------------------------------------------------------
# the losses

class BNStatistics:
    """Forward hooks on every BatchNorm layer of `model`: after a forward, `.terms` holds per layer
    ‖μ(x) − running_mean‖₂ + ‖σ²(x) − running_var‖₂ of the layer's input x (batch statistics over
    every axis but the channel axis 1, biased variance); `loss()` is their sum."""

    def __init__(self, model: torch.nn.Module):
        self.layers = bn_layers(model)
        self.terms: Dict[str, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> 'BNStatistics':
        for name, m in self.layers:
            self._handles.append(m.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.terms[name] = bn_term(inputs[0], module.running_mean, module.running_var)
        return hook

    def loss(self) -> torch.Tensor:
        if not self.terms:
            raise RuntimeError('BNStatistics: no BatchNorm layer ran in the forward pass')
        return torch.stack([self.terms[n] for n, _ in self.layers if n in self.terms]).sum()


def bn_term(x: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor) -> torch.Tensor:
    dims = [0] + list(range(2, x.dim()))
    var, mean = torch.var_mean(x.float(), dim=dims, unbiased=False)
    return torch.linalg.vector_norm(mean - running_mean.float()) + torch.linalg.vector_norm(var - running_var.float())


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """The total-variation prior: per input, Σ of the squared differences of vertically and
    horizontally neighbouring pixels (every channel), averaged over the batch; 0 for inputs that are
    not images ([N, C, H, W])."""
    if x.dim() != 4:
        return x.new_zeros(())
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).sum()
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).sum()
    return (dh + dw) / x.shape[0]


def l2_prior(x: torch.Tensor) -> torch.Tensor:
    """‖x_i‖₂ over each input's values, averaged over the batch."""
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1), dim=1).mean()


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence (nats) of each row of two probability matrices; [N]."""
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * (torch.log(a.clamp_min(1e-12)) - torch.log(b.clamp_min(1e-12)))).sum(-1)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def _logits(y: Any) -> torch.Tensor:
    return y[0] if isinstance(y, (tuple, list)) else y


# ---------------------------------------------------------------------------------------------
# one batch

@dataclasses.dataclass
class BatchResult:
    x: torch.Tensor            # [count, …] NCHW, float32, CPU
    labels: torch.Tensor       # int64 [count]
    info: dict                 # the batch .json (synthesized.ts SynthesizedBatch)
    last: Dict[str, float]     # the last iteration's losses


def synthesize_batch(teacher: torch.nn.Module, cfg: dict, index: int, *, input_shape: Sequence[int], classes: int,
                     device: torch.device, clamp: Optional[Tuple[float, float]] = None,
                     student: Optional[torch.nn.Module] = None,
                     on_step: Optional[Callable[[int, Dict[str, float]], None]] = None,
                     should_stop: Callable[[], bool] = lambda: False) -> Optional[BatchResult]:
    """Optimises batch `index` (1-based) of the synthesis; None when stopped inside it.
    `student`: the competition term's distilled copy (used when cfg['competition'] is set)."""
    t0 = time.monotonic()
    labels = batch_labels(cfg, index, classes)
    n = int(labels.shape[0])
    x = starting_noise(cfg['seed'], index, n, input_shape).to(device).requires_grad_(True)
    y = labels.to(device)
    was = teacher.training
    teacher.eval()
    comp = cfg.get('competition') if student is not None else None
    if comp is not None:
        student.eval()
    opt = torch.optim.Adam([x], lr=float(cfg['learningRate']), betas=(0.9, 0.999), eps=ADAM_EPS)
    iterations = int(cfg['iterations'])
    flip = bool(cfg.get('flip', False))
    jittered = int(cfg.get('jitter', 0)) > 0 or flip
    draws = jitter_draws(cfg['seed'], index, iterations, int(cfg.get('jitter', 0))) if jittered else []
    curve: List[List[float]] = []
    start = None
    last: Dict[str, float] = {}
    try:
        with BNStatistics(teacher) as bn:
            for it in range(1, iterations + 1):
                opt.zero_grad(set_to_none=True)
                seen = jitter_view(x, draws[it - 1], flip) if jittered else x  # the networks' view; priors on x
                z_t = _logits(teacher(seen))
                bn_l = bn.loss()
                cls = F.cross_entropy(z_t.float(), y)
                tv = tv_loss(x)
                l2 = l2_prior(x)
                total = cls + cfg['bnWeight'] * bn_l + cfg['tvWeight'] * tv + cfg['l2Weight'] * l2
                terms = {'bn': bn_l, 'class': cls, 'tv': tv, 'l2': l2}
                if comp is not None:
                    temp = float(comp['temperature'])
                    z_s = _logits(student(seen))
                    js = js_divergence(F.softmax(z_t.float() / temp, -1), F.softmax(z_s.float() / temp, -1)).mean()
                    c = 1.0 - js
                    total = total + float(comp['weight']) * c
                    terms['competition'] = c
                total.backward()
                opt.step()
                if clamp is not None:
                    with torch.no_grad():
                        x.clamp_(clamp[0], clamp[1])
                last = {'total': float(total), **{k: float(v) for k, v in terms.items()}}
                if not all(math.isfinite(v) for v in last.values()):
                    bad = next(k for k, v in last.items() if not math.isfinite(v))
                    raise RuntimeError(f'synthesize: loss term "{bad}" is {last[bad]} at batch {index}, iteration {it}; '
                                       'lower data.train.learningRate')
                if start is None:
                    start = last['bn']
                if it % 10 == 0 or it == iterations:
                    curve.append([it, last['bn']])
                if on_step is not None:
                    on_step(it, last)
                if it < iterations and should_stop():
                    return None
            with torch.no_grad():  # the figures of what is kept: the final inputs
                z = _logits(teacher(x))
                end = float(bn.loss())
                class_loss = float(F.cross_entropy(z.float(), y))
                pred = z.argmax(-1)
    finally:
        teacher.train(was)
    correct = int((pred == y).sum())
    info = {'count': n, 'labels': [int(v) for v in labels.tolist()], 'bnLoss': {'start': start, 'end': end},
            'classLoss': class_loss, 'teacherAcc': correct / max(1, n), 'seconds': time.monotonic() - t0, 'curve': curve}
    return BatchResult(x.detach().float().cpu(), labels, info, last)


def train_competitor(student: torch.nn.Module, teacher: torch.nn.Module, batches: List[torch.Tensor], *, steps: int,
                     temperature: float, device: torch.device) -> torch.nn.Module:
    """The competition term's student for the next batch: `student` (a fresh copy) distilled with
    T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) for `steps` Adam (1e-3) steps, step j on the whole written
    batch j mod len(batches) (synthesizeJob.ts competitionStudent): the same student whenever that
    batch is made. Returned in eval mode, frozen."""
    student = student.to(device)
    opt = torch.optim.Adam(student.parameters(), lr=STUDENT_LR, eps=ADAM_EPS)
    teacher.eval()
    student.train()
    targets: Dict[int, torch.Tensor] = {}
    for j in range(int(steps)):
        b = j % len(batches)
        xb = batches[b].to(device)
        if b not in targets:
            with torch.no_grad():
                targets[b] = F.softmax(_logits(teacher(xb)).float() / temperature, -1)
        p = targets[b]
        logq = F.log_softmax(_logits(student(xb)).float() / temperature, -1)
        loss = (p * (torch.log(p + 1e-12) - logq)).sum(1).mean() * temperature ** 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    student.eval()
    for p in student.parameters():
        p.requires_grad_(False)
    return student


# ---------------------------------------------------------------------------------------------
# the synthesized/ folder (src/runs/synthesized.ts)

def batch_name(index: int) -> str:
    return f'batch-{index:04d}'


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


def to_channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


def stored_shape(input_shape: Sequence[int]) -> List[int]:
    """One input's shape as the folder stores it (channels last)."""
    s = [int(d) for d in input_shape]
    return s[1:] + s[:1] if len(s) == 3 else s


def write_meta(run_dir: str, meta: dict) -> None:
    """synthesized/meta.json, once (an existing one must agree: a resumed run of the same config)."""
    d = os.path.join(run_dir, DIR)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, 'meta.json')
    if os.path.exists(path):
        with open(path, encoding='utf8') as f:
            old = json.load(f)
        if old != meta:
            raise RuntimeError(f'{path}: written for {old}, the run now asks for {meta}; the synthesised inputs cannot be reused')
        return
    write_file_atomic(path, dumps(meta, indent=2), run_dir)


def write_batch(run_dir: str, index: int, x: torch.Tensor, info: dict) -> None:
    """batch-NNNN.bin (float32 little-endian, channels last) then batch-NNNN.json, each atomically."""
    d = os.path.join(run_dir, DIR)
    values = to_channels_last(x).contiguous().numpy().astype('<f4', copy=False)
    write_file_atomic(os.path.join(d, f'{batch_name(index)}.bin'), values.tobytes(), run_dir)
    write_file_atomic(os.path.join(d, f'{batch_name(index)}.json'), dumps(info, indent=2), run_dir)


def read_meta(run_dir: str) -> Optional[dict]:
    path = os.path.join(run_dir, DIR, 'meta.json')
    if not os.path.isfile(path):
        return None
    with open(path, encoding='utf8') as f:
        return json.load(f)


def written_batches(run_dir: str) -> List[Tuple[int, dict]]:
    """(index, batch .json) of the batches written, in order, stopping at the first missing one."""
    out = []
    i = 1
    while True:
        path = os.path.join(run_dir, DIR, f'{batch_name(i)}.json')
        if not os.path.isfile(path):
            return out
        with open(path, encoding='utf8') as f:
            out.append((i, json.load(f)))
        i += 1


def read_batch_inputs(run_dir: str, index: int, shape: Sequence[int]) -> torch.Tensor:
    """One batch's inputs as the engine holds them (NCHW for images), from the channels-last file."""
    path = os.path.join(run_dir, DIR, f'{batch_name(index)}.bin')
    per = int(np.prod(shape))
    raw = np.fromfile(path, dtype='<f4')
    if raw.size % per:
        raise RuntimeError(f'{path}: {raw.size} values is not a whole number of inputs of shape {list(shape)}')
    x = torch.from_numpy(raw.astype(np.float32).reshape(-1, *[int(d) for d in shape]))
    return to_channels_first(x).contiguous()


def read_inputs(run_dir: str) -> Tuple[torch.Tensor, torch.Tensor, List[dict]]:
    """Every written batch: x [N, …] NCHW, labels [N], the batch infos."""
    meta = read_meta(run_dir)
    if meta is None:
        raise RuntimeError(f'{os.path.join(run_dir, DIR)}: no synthesised inputs (meta.json missing)')
    xs, ys, infos = [], [], []
    for i, info in written_batches(run_dir):
        x = read_batch_inputs(run_dir, i, meta['shape'])
        if x.shape[0] != info['count'] or len(info['labels']) != info['count']:
            raise RuntimeError(f'{os.path.join(run_dir, DIR, batch_name(i))}: {x.shape[0]} inputs for count {info["count"]}')
        xs.append(x)
        ys.append(torch.tensor(info['labels'], dtype=torch.int64))
        infos.append(info)
    if not xs:
        raise RuntimeError(f'{os.path.join(run_dir, DIR)}: no batch written')
    return torch.cat(xs), torch.cat(ys), infos


# ---------------------------------------------------------------------------------------------
# the engine's hooks

def steps_per_epoch(session, state: dict) -> Optional[int]:
    """Steps of one epoch of a job of a data-free run (for the run's progress clock), or None when
    the run is not data-free (engine.py counts it)."""
    c = session.config
    src = source_of(c)
    if src is None:
        return None
    cfg = settings(src)
    if state['kind'] == 'synthesize':
        return int(cfg['iterations'])
    training = session._training_of(state)
    n = int(session.data.train.x.shape[0]) if state.get('data') == 'reference' else int(cfg['samples'])
    full = -(-n // int(training['batchSize']))
    limit = training.get('stepsPerEpoch')
    return min(full, int(limit)) if limit else full


@contextlib.contextmanager
def job_data(session, state: dict) -> Iterator[None]:
    """During a job of a data-free run, session.data's train split is the job's: the reference
    (`data: reference`) or the synthesised inputs; restored after."""
    if not is_data_free(session.config) or state['kind'] == 'synthesize' or state.get('data') == 'reference':
        yield
        return
    base = session.data
    x, y, _ = read_inputs(session.run_dir)
    session.data = dataclasses.replace(base, train=type(base.train)(x, y))
    try:
        yield
    finally:
        session.data = base


def run_job(session, job: str, state: dict) -> str:
    """The synthesize job: every batch not yet written, then the job marked completed."""
    c = session.config
    cfg = settings(source_of(c))
    folder, send, device = session.folder, session.send, session.device
    d = session.data
    classes = int(d.num_classes)
    batches = batch_count(cfg)
    if int(state['epochs']) != batches:
        raise RuntimeError(f'run.json: job {job} plans {state["epochs"]} batches, data.train asks for {batches}')

    def running(r: dict) -> None:
        r['jobs'][job]['status'] = 'running'
    folder.update_run(running)
    write_meta(session.run_dir, {'version': 1, 'shape': stored_shape(d.input_shape), 'classes': classes,
                                 'samples': int(cfg['samples']), 'batchSize': int(cfg['batchSize']), 'batches': batches})
    done = written_batches(session.run_dir)
    if folder.has_records_of(job):
        # What an interrupted batch logged is superseded by its redo.
        first = [off for off, r in folder.read_metrics_lines()
                 if r.get('job') == job and r.get('type') in ('step', 'epoch') and r.get('epoch', 0) > len(done)]
        folder.append({'type': 'resume', 'job': job, 'epoch': len(done) + 1, 'step': 0,
                       'supersedes': min(first) if first else folder.metrics_size, 't': now_iso()})
        session.log(f'{job}: resuming at batch {len(done) + 1} of {batches}')
    teacher = session.fixed_teacher('teacher')
    clamp = clamp_range(c)
    comp = cfg.get('competition')
    iterations = int(cfg['iterations'])
    log_every = max(1, int((c.get('training') or {}).get('logEvery') or 10))
    session.log(f'{job}: {cfg["samples"]} inputs in {batches} batches of {cfg["batchSize"]}, {iterations} iterations each'
                f'{" (with the competition term)" if comp else ""}')
    for index in range(len(done) + 1, batches + 1):
        if session.should_stop():
            return 'cancelled'
        student = None
        if comp is not None and index > 1 and float(comp['weight']) > 0:
            meta = read_meta(session.run_dir)
            written = [read_batch_inputs(session.run_dir, b, meta['shape']) for b in range(1, index)]
            fresh = session.build('student', session._seed0())
            student = train_competitor(fresh, teacher, written, steps=int(comp['studentSteps']),
                                       temperature=float(comp['temperature']), device=device)
        last_progress = [0.0]

        def on_step(it: int, losses: Dict[str, float], b: int = index) -> None:
            session.clock.tick()
            if it % log_every == 0 or it == iterations:
                folder.append({'type': 'step', 'job': job, 'epoch': b, 'step': it, 'globalStep': (b - 1) * iterations + it,
                               'losses': losses, 'lr': float(cfg['learningRate']), 't': now_iso()})
            now = time.monotonic()
            if now - last_progress[0] > 0.25 or it == iterations:
                last_progress[0] = now
                start, end = batch_rows(cfg, b)
                send({'type': 'progress', 'job': job, 'phase': 'teacher', 'epoch': b, 'epochs': batches, 'step': it,
                      'steps': iterations, 'losses': losses,
                      'samplesPerSecond': session.clock.steps_per_second() * (end - start), 'etaSeconds': session.clock.eta_seconds()})
        res = synthesize_batch(teacher, cfg, index, input_shape=d.input_shape, classes=classes, device=device, clamp=clamp,
                               student=student, on_step=on_step, should_stop=session.should_stop)
        if res is None:
            session.log(f'{job}: stopped inside batch {index}; it is redone on resume')
            return 'cancelled'
        write_batch(session.run_dir, index, res.x, res.info)
        info = res.info
        errors = info['count'] - int(round(info['teacherAcc'] * info['count']))
        record = {'type': 'epoch', 'job': job, 'epoch': index, 'losses': res.last, 'trainAcc': info['teacherAcc'],
                  'testAcc': info['teacherAcc'], 'testErrors': errors,
                  'extras': {'synth.bnLoss': info['bnLoss']['end'], 'synth.bnLossStart': info['bnLoss']['start']},
                  'seconds': info['seconds'], 't': now_iso()}
        folder.append(record)
        send({'type': 'epoch', 'job': job, 'epoch': index,
              'metrics': {'trainAcc': info['teacherAcc'], 'testAcc': info['teacherAcc'], 'testErrors': errors, 'seconds': info['seconds'],
                          **{f'loss.{k}': v for k, v in res.last.items()}, **record['extras']}})

        def progressed(r: dict, e: int = index) -> None:
            r['jobs'][job]['completedEpochs'] = e
        folder.update_run(progressed)
        session.log(f'{job}: batch {index}/{batches}: BN loss {info["bnLoss"]["start"]:.4g} → {info["bnLoss"]["end"]:.4g}, '
                    f'teacher accuracy on it {info["teacherAcc"] * 100:.1f}%')

    def completed(r: dict) -> None:
        r['jobs'][job]['status'] = 'completed'
        r['jobs'][job]['completedEpochs'] = r['jobs'][job]['epochs']
    folder.update_run(completed)
    folder.event('job-done', job=job)
    return 'completed'


def report(session, records: List[dict]) -> Optional[dict]:
    """report.json `dataFree` (src/runs/report.ts DataFreeReport), or None for a run with real data."""
    src = source_of(session.config)
    if src is None:
        return None
    from .engine import stat
    cfg = settings(src)
    batches = written_batches(session.run_dir)
    infos = [b for _, b in batches]
    n = sum(int(b['count']) for b in infos)
    out: Dict[str, Any] = {
        'samples': int(cfg['samples']), 'batches': len(infos),
        'bnLoss': {'start': sum(b['bnLoss']['start'] for b in infos) / max(1, len(infos)),
                   'end': sum(b['bnLoss']['end'] for b in infos) / max(1, len(infos))},
        'teacherAcc': sum(b['teacherAcc'] * b['count'] for b in infos) / max(1, n),
    }
    ref = src.get('reference')
    if ref is not None:
        jobs = session.folder.run()['jobs']
        epochs = [r for r in records if r.get('type') == 'epoch']
        last = []
        for job, state in jobs.items():
            if state['kind'] != 'distill' or state.get('data') != 'reference':
                continue
            mine = [r for r in epochs if r.get('job') == job]
            if mine:
                last.append(max(mine, key=lambda r: r['epoch']))
        if last:
            out['reference'] = {'format': str(ref.get('format')),
                                'distill': {'testAcc': stat([r['testAcc'] for r in last]), 'testErrors': stat([r['testErrors'] for r in last])}}
    return out
