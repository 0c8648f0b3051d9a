"""One job's training loop — the PyTorch twin of src/engine/training/train.ts.

A job (the teacher, a scratch student, a distilled student, an online or self-distillation job)
trains one `Learner` for `training.epochs` epochs: batches in an order that is a pure function of
(seed, epoch), the learner's loss, an optimizer step, step records every `logEvery` steps, an epoch
record with the evaluation, checkpoints at every epoch end and mid-epoch (`checkpointEvery`), a
stop honoured within one step, and an exact resume from the newest checkpoint.

Why so much care about resume: a run killed with SIGKILL and resumed must end with bitwise the
same weights and (after the `resume` markers are applied) the same metrics as a run never
interrupted. Everything the rest of a job depends on is therefore in a checkpoint: model,
optimizer, the terms' state (adapters, memory banks, θ), the learner's further modules (peers,
heads), every random generator (torch CPU and CUDA, numpy, `random`), the gradient scaler, and
the loop position with its running sums. The batch order and the augmentation are pure functions
of their arguments (data.py), so nothing about them needs saving.

Names follow the TF.js engine: loss terms as the knowledge entries' methods (`kd`, `at#2`),
`labels`, `total`; record fields of src/runs/store.ts; optimizer and schedule semantics of
train.ts and schedule.ts (see `make_optimizer` for which TF.js hyper-parameters are matched).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import losses as L
from .runfolder import checkpoint_name, now_iso

# TF.js's backend epsilon for float32 (`ENGINE.backend.epsilon()`): the default `epsilon` of its
# Adam and RMSProp optimizers. PyTorch's defaults differ (1e-8), so it is passed explicitly.
TFJS_EPSILON = 1e-7

# Mid-epoch checkpoints when `training.checkpointEvery` is not given: a kill repeats at most about a minute.
DEFAULT_CHECKPOINT_EVERY = {'minutes': 1}

# Job kind → the `phase` of progress messages (train.ts PHASE).
PHASE = {'teacher': 'teacher', 'scratch': 'scratch', 'distill': 'distill', 'online': 'distill', 'self': 'distill'}

# Version of the checkpoint payload below (a later change of its layout can still read old ones).
CHECKPOINT_FORMAT = 1


class TrainingError(Exception):
    """The job cannot go on (a non-finite loss, a checkpoint that does not fit the job); the message
    is what the run ends `failed` with."""


# ---------------------------------------------------------------------------------------------
# seeds (src/engine/training/seeds.ts): each purpose its own stream, values fixed by existing runs

def seed_for(seed: int, purpose: Any) -> int:
    """The seed a job derives for `purpose`: 'adapters', 'selfHeads', 'training', or {'peer': k}."""
    if isinstance(purpose, dict):
        return seed * 1000 + int(purpose['peer'])
    table = {'adapters': seed * 7919 + 1, 'selfHeads': seed * 7919 + 2, 'training': seed * 7919 + 17}
    if purpose not in table:
        raise ValueError(f'unknown seed purpose {purpose!r}')
    return table[purpose]


def seed_everything(seed: int) -> None:
    """Seeds every generator a training step may draw from (dropout, user code): torch (CPU and
    CUDA), numpy's global generator, Python's `random`."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)


def rng_states() -> dict:
    """Every random generator's state, for a checkpoint — as tensors and plain values only, so the
    file also loads with `torch.load(weights_only=True)` (the default of newer torch releases, which
    refuses numpy arrays)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    out = {'torch': torch.get_rng_state(),
           'numpy': {'kind': kind, 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
                     'hasGauss': int(has_gauss), 'gauss': float(gauss)},
           'random': random.getstate()}
    if torch.cuda.is_available():
        out['cuda'] = torch.cuda.get_rng_state_all()
    return out


def set_rng_states(states: dict) -> None:
    """Restores what `rng_states` saved (the CUDA states only where CUDA is present)."""
    torch.set_rng_state(states['torch'])
    n = states['numpy']
    np.random.set_state((n['kind'], n['keys'].numpy().astype(np.uint32), n['pos'], n['hasGauss'], n['gauss']))
    random.setstate(states['random'])
    if 'cuda' in states and torch.cuda.is_available() and len(states['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states['cuda'])


# ---------------------------------------------------------------------------------------------
# optimizers

class TfjsRMSprop(torch.optim.Optimizer):
    """RMSProp exactly as `tf.train.rmsprop(lr)` computes it, which torch.optim.RMSprop cannot:

        ms  ← decay·ms + (1 − decay)·g²            (ms starts at 0; decay 0.9, torch's default is 0.99)
        mom ← momentum·mom + lr·g / √(ms + ε)      (ε inside the root; torch adds it outside)
        θ   ← θ − mom

    with TF.js's defaults decay 0.9, momentum 0, ε 1e-7."""

    def __init__(self, params: Iterable, lr: float, decay: float = 0.9, momentum: float = 0.0,
                 eps: float = TFJS_EPSILON):
        super().__init__(params, {'lr': lr, 'decay': decay, 'momentum': momentum, 'eps': eps})

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, decay, momentum, eps = group['lr'], group['decay'], group['momentum'], group['eps']
            for p in group['params']:
                if p.grad is None:
                    continue
                g = p.grad
                st = self.state[p]
                if not st:
                    st['ms'] = torch.zeros_like(p)
                    st['mom'] = torch.zeros_like(p)
                ms, mom = st['ms'], st['mom']
                ms.mul_(decay).add_(g * g * (1 - decay))
                mom.mul_(momentum).add_((g * lr) / torch.sqrt(ms + eps))
                p.sub_(mom)
        return loss


def make_optimizer(cfg: dict, params: List[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer of `training.optimizer`, with the TF.js engine's hyper-parameters:

    - adam: β 0.9 / 0.999 and ε = 1e-7 (TF.js's, not torch's 1e-8); TF.js and torch compute the
      same update lr·m̂ / (√v̂ + ε) with m̂, v̂ bias-corrected.
    - sgd: plain θ ← θ − lr·g.
    - momentum: `momentum` (default 0.9), no dampening, not Nesterov: acc ← μ·acc + g, θ ← θ − lr·acc
      (torch.optim.SGD's first step sets acc = g, as TF.js's zero-initialised accumulator gives).
    - rmsprop: `TfjsRMSprop` (decay 0.9, ε inside the root), see there.
    """
    kind = cfg.get('kind')
    lr = float(cfg['learningRate'])
    if kind == 'adam':
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=TFJS_EPSILON)
    if kind == 'sgd':
        return torch.optim.SGD(params, lr=lr)
    if kind == 'momentum':
        m = cfg.get('momentum')
        return torch.optim.SGD(params, lr=lr, momentum=0.9 if m is None else float(m))
    if kind == 'rmsprop':
        return TfjsRMSprop(params, lr=lr)
    raise TrainingError(f'training.optimizer.kind: expected adam, sgd, momentum or rmsprop, found {kind!r}')


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g['lr'] = lr


# ---------------------------------------------------------------------------------------------
# schedules (src/engine/training/schedule.ts, knowledge/terms.ts scheduleFactor)

def _js_round(x: float) -> int:
    """JavaScript's Math.round (halves go up), not Python's banker's rounding."""
    return math.floor(x + 0.5)


def _opt(cfg: dict, key: str, default: Any) -> Any:
    v = cfg.get(key)
    return default if v is None else v


def learning_rate_at(opt: dict, epochs: int, steps_per_epoch: int, global_step: int) -> float:
    """The learning rate of the step numbered `global_step` (0-based): a function of the global step
    alone, so a resumed run continues on the same curve.

        warm-up   lr·(s+1)/W over the first W = round(warmupEpochs·stepsPerEpoch) steps
        constant  lr
        cosine    minLr + (lr − minLr)·(1 + cos(π·p))/2, p = (s − W)/max(1, total − 1 − W), capped at 1
        step      lr·gamma^⌊⌊s / stepsPerEpoch⌋ / max(1, stepEpochs)⌋ (stepEpochs default: epochs)
    """
    lr = float(opt['learningRate'])
    total = max(1, epochs * steps_per_epoch)
    warm = _js_round(float(_opt(opt, 'warmupEpochs', 0)) * steps_per_epoch)
    if global_step < warm:
        return lr * (global_step + 1) / warm
    kind = _opt(opt, 'schedule', 'constant')
    if kind == 'constant':
        return lr
    if kind == 'cosine':
        lo = float(_opt(opt, 'minLearningRate', 0))
        span = max(1, total - 1 - warm)
        p = min(1.0, (global_step - warm) / span)
        return lo + (lr - lo) * (1 + math.cos(math.pi * p)) / 2
    if kind == 'step':
        epoch = global_step // steps_per_epoch
        period = max(1, float(_opt(opt, 'stepEpochs', epochs)))
        return lr * float(_opt(opt, 'gamma', 0.1)) ** math.floor(epoch / period)
    raise TrainingError(f'training.optimizer.schedule: expected constant, cosine or step, found {kind!r}')


def labels_weight(config: dict, kind: str) -> float:
    """The weight of the `labels` cross-entropy: 1 for teacher and scratch jobs (a plain supervised
    model), `labels.weight` for a distill job (0: no labels term), which its Terms hold as their last
    term (knowledge.build_terms with `labels_weight`, off during fitnet's hint epochs)."""
    if kind in ('teacher', 'scratch'):
        return 1.0
    return max(0.0, float((config.get('labels') or {}).get('weight', 1)))


def steps_per_epoch(n: int, training: dict) -> int:
    full = math.ceil(n / int(training['batchSize']))
    spe = training.get('stepsPerEpoch')
    return min(full, int(spe)) if spe else full


def checkpoint_due(every: dict, steps: int, seconds: float) -> bool:
    """Whether a mid-epoch checkpoint is due, `steps` and `seconds` after the last one."""
    s, m = every.get('steps'), every.get('minutes')
    return (s is not None and steps >= s) or (m is not None and seconds >= m * 60)


class ProgressClock:
    """Counts steps over the whole run, for samples/s and the ETA (measured from the first step of
    this session, so a resumed run does not count the time it was not running)."""

    def __init__(self, total_steps: int, done_steps: int = 0):
        self.total_steps = total_steps
        self.done_steps = done_steps
        self._in_session = 0
        self._first_at = 0.0

    def tick(self) -> None:
        if self._in_session == 0:
            self._first_at = time.monotonic()
        self.done_steps += 1
        self._in_session += 1

    def steps_per_second(self) -> float:
        s = time.monotonic() - self._first_at
        return (self._in_session - 1) / s if self._in_session > 1 and s > 0 else 0.0

    def eta_seconds(self) -> float:
        r = self.steps_per_second()
        return max(0, self.total_steps - self.done_steps) / r if r > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# precision

class Precision:
    """Autocast for `precision` on `device`: bf16 autocast on CPU and CUDA; fp16 autocast with a
    GradScaler on CUDA. Where torch 1.13 has no such autocast (fp16 on CPU, anything on MPS) the job
    runs in fp32 and says so once (`note`)."""

    def __init__(self, device: torch.device, precision: str):
        self.device = device
        self.precision = precision or 'fp32'
        self.dtype: Optional[torch.dtype] = None
        self.scaler: Optional[Any] = None
        self.note: Optional[str] = None
        if self.precision not in ('fp32', 'bf16', 'fp16'):
            raise TrainingError(f'precision: expected fp32, bf16 or fp16, found {self.precision!r}')
        if self.precision == 'fp32':
            return
        if device.type == 'cuda':
            self.dtype = torch.bfloat16 if self.precision == 'bf16' else torch.float16
            if self.precision == 'fp16':
                self.scaler = torch.cuda.amp.GradScaler()
        elif device.type == 'cpu' and self.precision == 'bf16':
            self.dtype = torch.bfloat16
        else:
            self.note = f'precision {self.precision} has no autocast on {device.type} with torch {torch.__version__}: training in fp32'

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


# ---------------------------------------------------------------------------------------------
# evaluation (src/engine/training/evaluate.ts)

@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, device: torch.device, precision: Optional[Precision] = None,
                   batch_size: int = 512) -> torch.Tensor:
    """Logits of `model` (put in eval mode by the caller) for every row of `x`, float32 on the CPU."""
    outs = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size].to(device)
        with (precision.autocast() if precision else contextlib.nullcontext()):
            z = model(xb)
        outs.append(z.float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def per_class(pred: torch.Tensor, labels: torch.Tensor, c: int) -> dict:
    """{acc, confusion}: counts[true][predicted] and each class's accuracy (None without samples)."""
    m = torch.zeros(c, c, dtype=torch.int64)
    ok = (labels >= 0) & (labels < c) & (pred >= 0) & (pred < c)
    m.index_put_((labels[ok], pred[ok]), torch.ones(int(ok.sum()), dtype=torch.int64), accumulate=True)
    confusion = m.tolist()
    acc = [row[i] / sum(row) if sum(row) > 0 else None for i, row in enumerate(confusion)]
    return {'acc': acc, 'confusion': confusion}


def mean_kl(t: torch.Tensor, s: torch.Tensor) -> float:
    """Mean over rows of KL(softmax(t) ‖ softmax(s)), in float64."""
    lt = F.log_softmax(t.double(), dim=-1)
    ls = F.log_softmax(s.double(), dim=-1)
    return float((lt.exp() * (lt - ls)).sum(-1).mean()) if t.shape[0] else 0.0


def evaluate_logits(logits: torch.Tensor, labels: torch.Tensor, c: int, teacher_logits: Optional[torch.Tensor] = None) -> dict:
    """Accuracy, errors, per-class figures (and, given the teacher's logits of the same samples,
    top-1 agreement and KL(t ‖ s) at T=1)."""
    pred = logits.argmax(-1)
    labels = labels.cpu().long()
    n = max(1, labels.shape[0])
    correct = int((pred == labels).sum())
    ev = {'acc': correct / n, 'errors': labels.shape[0] - correct, 'perClass': per_class(pred, labels, c)}
    if teacher_logits is not None:
        ev['agreement'] = int((pred == teacher_logits.argmax(-1)).sum()) / n
        ev['klTeacher'] = mean_kl(teacher_logits, logits)
    return ev


# ---------------------------------------------------------------------------------------------
# learners: what a job trains (train.ts Learner)

@dataclass
class StepOutput:
    """One step's loss: `total` (the tensor backpropagated), every term's unweighted value, the
    per-pair losses and learned values the terms report, and the logits of the evaluated model."""
    total: torch.Tensor
    losses: Dict[str, torch.Tensor]
    logits: torch.Tensor
    pairs: Dict[str, Dict[str, float]] = field(default_factory=dict)
    params: Dict[str, float] = field(default_factory=dict)


class Learner:
    """What a job trains; the loop is the same for every scheme. Subclasses say which modules move,
    how one batch's loss is computed and which further figures an epoch reports."""

    model: torch.nn.Module

    def modules(self) -> Dict[str, torch.nn.Module]:
        """Every trained module besides `model` (terms, peers, heads), by a stable name: their
        parameters train with the model and their state_dicts go into checkpoints."""
        return {}

    def parameters(self) -> List[torch.nn.Parameter]:
        out: List[torch.nn.Parameter] = []
        seen = set()
        for m in [self.model, *self.modules().values()]:
            for p in m.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def train(self, mode: bool = True) -> None:
        for m in [self.model, *self.modules().values()]:
            m.train(mode)

    def open(self) -> None:
        """Installs what the steps need (forward hooks); `close` removes it."""

    def close(self) -> None:
        pass

    def step(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, epoch: int, epochs: int) -> StepOutput:
        raise NotImplementedError

    def teacher_eval_logits(self, precision: Precision) -> Optional[Dict[str, torch.Tensor]]:
        """Teacher logits of `val` / `test` now (for agreement and klTeacher), or None."""
        return None

    def epoch_extras(self, precision: Precision) -> Dict[str, float]:
        return {}

    def after_step(self) -> None:
        """What trains after the optimizer's step, with its own optimizer (adversarial discriminators)."""

    def before_checkpoint(self) -> None:
        """Writes state kept outside state_dicts into them (none here; terms keep banks as buffers)."""


def at_least_f32(t: torch.Tensor) -> torch.Tensor:
    """Half-precision values (autocast's bf16/fp16) as float32 for the losses; float32 and float64 as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """losses.cross_entropy, in float32 at least (autocast may hand bf16/fp16 logits)."""
    return L.cross_entropy(at_least_f32(logits), labels)


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """losses.kd_loss (T²·batch-mean KL(softmax(t/T) ‖ softmax(s/T))), in float32 at least."""
    return L.kd_loss(at_least_f32(student), at_least_f32(teacher), temperature)


class DistillLearner(Learner):
    """Teacher, scratch and distill jobs: the model on `labels` (weight·CE) plus the knowledge terms
    against a fixed teacher (run under no_grad in eval mode, its tapped layers captured by
    knowledge.Taps — or its outputs read from `ctx.teacher_outputs`, the disk cache, when the engine
    gives them). With a teacher but no terms (a scratch student) the teacher only serves the
    agreement figures."""

    def __init__(self, ctx: 'JobContext'):
        self.ctx = ctx
        self.model = ctx.model
        self.terms = ctx.terms
        self.teacher = ctx.teacher
        self.kind = ctx.job['kind']
        self._taps = contextlib.ExitStack()
        self._s_taps = None
        self._t_taps = None
        self._teacher_eval: Optional[Dict[str, torch.Tensor]] = None

    def modules(self) -> Dict[str, torch.nn.Module]:
        return {'terms': self.terms} if self.terms is not None else {}

    def parameters(self) -> List[torch.nn.Parameter]:
        # The fixed teachers never train, even if a term held a reference to one of their layers.
        fixed = {id(p) for t in [self.teacher, *self.ctx.extra_teachers] if t is not None for p in t.parameters()}
        return [p for p in super().parameters() if id(p) not in fixed]

    def train(self, mode: bool = True) -> None:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # fixed: BatchNorm statistics and dropout never move
        for t in self.ctx.extra_teachers:
            t.eval()

    def open(self) -> None:
        if self.terms is None:
            return
        from .knowledge import Taps  # the knowledge module (taps, adapters) is only needed with terms
        s_layers = list(getattr(self.terms, 'student_layers', []) or [])
        t_layers = list(getattr(self.terms, 'teacher_layers', []) or [])
        path_of = lambda name: ['knowledge']  # noqa: E731 — pairs were checked by build_terms already
        self._s_taps = self._taps.enter_context(Taps(self.model, s_layers, role='student', path_of=path_of))
        if self.teacher is not None and self.ctx.teacher_outputs is None:
            self._t_taps = self._taps.enter_context(Taps(self.teacher, t_layers, role='teacher', path_of=path_of))

    def close(self) -> None:
        self._taps.close()

    def after_step(self) -> None:
        if self.terms is not None and hasattr(self.terms, 'after_step'):
            self.terms.after_step()

    def epoch_extras(self, precision) -> Dict[str, float]:
        return self.terms.epoch_extras() if self.terms is not None and hasattr(self.terms, 'epoch_extras') else {}

    def step(self, x, y, idx, epoch, epochs) -> StepOutput:
        ctx = self.ctx
        z = self.model(x)
        if self.terms is None:
            w = labels_weight(ctx.config, self.kind)
            if w <= 0:
                raise TrainingError(f'{ctx.job_id}: nothing to train: no knowledge terms and labels.weight is 0')
            ce = cross_entropy(z, y)
            return StepOutput(total=ce * w, losses={'labels': ce}, logits=z)
        t_logits, t_feats, extra = None, {}, []
        with torch.no_grad():
            if ctx.teacher_outputs is not None:
                t_logits, t_feats = ctx.teacher_outputs.batch(idx, x.device)
            elif self.teacher is not None:
                t_logits = self.teacher(x)
                t_feats = dict(self._t_taps.outputs) if self._t_taps is not None else {}
            extra = [t(x) for t in ctx.extra_teachers]
        s_feats = dict(self._s_taps.outputs) if self._s_taps is not None else {}
        # The terms weigh themselves (weight × schedule factor × warm-ups, fitnet's hint epochs)
        # and return the weighted sum as `total`, beside every term's raw value.
        losses, pairs, params = self.terms(
            s_logits=z, t_logits=t_logits, s_feats=s_feats, t_feats=t_feats, labels=y, indices=idx,
            epoch=epoch, epochs=epochs, extra_t_logits=extra)
        losses = dict(losses)
        total = losses.pop('total')
        return StepOutput(total=total, losses=losses, logits=z, pairs=pairs or {}, params=params or {})

    def teacher_eval_logits(self, precision):
        if self.teacher is None:
            return None
        if self._teacher_eval is None:  # a fixed teacher: computed once per job
            d = self.ctx.data
            self.teacher.eval()
            self._teacher_eval = {'test': predict_logits(self.teacher, d.test.x, self.ctx.device, precision)}
            if d.val is not None:
                self._teacher_eval['val'] = predict_logits(self.teacher, d.val.x, self.ctx.device, precision)
        return self._teacher_eval


# ---------------------------------------------------------------------------------------------
# the job

@dataclass
class JobContext:
    """Everything one job's loop needs; built by engine.py (see python/README.md)."""
    job_id: str
    job: dict                         # run.json jobs[job_id]: kind, seed, …
    training: dict                    # the TrainingConfig this job uses (teacher.train for the teacher job)
    config: dict                      # the whole validated experiment
    data: Any                         # data.Prepared
    device: torch.device
    precision: str                    # 'fp32' | 'bf16' | 'fp16'
    model: torch.nn.Module            # what this job trains (and exports)
    teacher: Optional[torch.nn.Module]
    terms: Optional[torch.nn.Module]  # knowledge.Terms
    extra_teachers: list
    folder: Any                       # runfolder.RunFolder
    send: Callable[[dict], None]
    should_stop: Callable[[], bool]
    clock: ProgressClock
    base_dir: str = '.'               # where the experiment's relative paths resolve (online peers' models)
    # A fixed teacher's training-split outputs (teacher_cache.TeacherOutputs: `batch(idx, device)` →
    # logits, {layer: features}); when given, a distill job reads them instead of running the teacher.
    teacher_outputs: Optional[Any] = None
    # Filled by train_job: the learner's further trained models that a job's result includes
    # (online: {'teacher': the teacher peer}); engine.py saves them as models/<job>-<name>.
    outputs: Dict[str, torch.nn.Module] = field(default_factory=dict)
    # A data-parallel run's distributed.Group: this rank's share of each global batch, gradients and
    # figures summed over the ranks (None: one process).
    dist: Optional[Any] = None


def make_learner(ctx: JobContext) -> Learner:
    """The job kind's learner (schemes/learners.ts LEARNERS)."""
    kind = ctx.job['kind']
    if kind in ('teacher', 'scratch', 'distill'):
        return DistillLearner(ctx)
    from . import schemes
    if kind == 'online':
        return schemes.online_learner(ctx)
    if kind == 'self':
        return schemes.self_learner(ctx)
    raise TrainingError(f'{ctx.job_id}: unknown job kind {kind!r}')


def _js_number(v: float) -> str:
    """A number as JavaScript prints it (NaN, Infinity), for messages that match the TF.js engine's."""
    if math.isnan(v):
        return 'NaN'
    if math.isinf(v):
        return 'Infinity' if v > 0 else '-Infinity'
    return repr(v)


def _fresh_state() -> dict:
    """The loop position of a job that has not started (checkpoints.ts LoopState)."""
    return {'epoch': 1, 'step': 0, 'epochEnd': False, 'globalStep': 0, 'sums': {}, 'seen': 0, 'correct': 0,
            'best': None, 'elapsedSeconds': 0.0}


def train_job(ctx: JobContext) -> str:
    """Trains a job to its last epoch, continuing from its newest checkpoint when there is one.
    Returns 'completed' or 'cancelled' (a stop: a checkpoint of the position was written)."""
    from . import data as data_mod  # batch_order and augment_batch: pure functions of their arguments

    job, folder, send, training = ctx.job_id, ctx.folder, ctx.send, ctx.training
    kind = ctx.job['kind']
    seed = int(ctx.job['seed'])
    epochs = int(training['epochs'])
    batch_size = int(training['batchSize'])
    log_every = max(1, int(training.get('logEvery') or 20))
    train = ctx.data.train
    n = int(train.y.shape[0])
    steps = steps_per_epoch(n, training)
    precision = Precision(ctx.device, ctx.precision)
    if precision.note:
        send({'type': 'log', 'level': 'warn', 'message': f'{job}: {precision.note}'})
    learner = make_learner(ctx)
    for name, m in learner.modules().items():
        m.to(ctx.device)
    optimizer = make_optimizer(training['optimizer'], learner.parameters())
    aug_cfg = (ctx.config.get('data') or {}).get('augment')
    augment = aug_cfg if data_mod.augment_applies(aug_cfg, kind) else None

    dist = ctx.dist
    state = _fresh_state()
    ckpt = folder.latest_checkpoint(job)
    if ckpt:
        path, saved = ckpt
        _restore(ctx, learner, optimizer, precision, saved, path)
        loop = saved['loop']
        state = ({**loop, 'epoch': loop['epoch'] + 1, 'step': 0, 'epochEnd': False, 'sums': {}, 'seen': 0, 'correct': 0}
                 if loop['epochEnd'] else {**loop, 'sums': dict(loop['sums'])})
        send({'type': 'log', 'level': 'info',
              'message': f'{job}: resuming at epoch {state["epoch"]}, step {state["step"]} from {os.path.relpath(path, folder.dir)}'})
    else:
        seed_everything(seed_for(seed, 'training'))
    step_module = None
    if dist is not None:
        # DistributedDataParallel over every trained module (it starts every rank from rank 0's state).
        step_module = dist.wrap(learner)
    if ckpt or folder.has_records_of(job):
        # What an interrupted attempt logged past the checkpoint is superseded by what follows.
        supersedes = ckpt[1]['loop'].get('metricsOffset', 0) if ckpt else 0
        folder.append({'type': 'resume', 'job': job, 'epoch': state['epoch'], 'step': state['step'],
                       'supersedes': supersedes, 't': now_iso()})
    folder.prune_checkpoints(job)
    every = training.get('checkpointEvery') or DEFAULT_CHECKPOINT_EVERY
    last_saved = {'globalStep': state['globalStep'], 'at': time.monotonic()}

    def checkpoint() -> str:
        state['metricsOffset'] = folder.metrics_size
        learner.before_checkpoint()
        payload = {
            'format': CHECKPOINT_FORMAT,
            'job': job,
            'loop': _plain(state),
            'model': ctx.model.state_dict(),
            'modules': {name: m.state_dict() for name, m in learner.modules().items()},
            'optimizer': optimizer.state_dict(),
            'optimizerKind': training['optimizer'].get('kind'),
            'scaler': precision.scaler.state_dict() if precision.scaler is not None else None,
            'rng': rng_states(),
        }
        name = checkpoint_name(state['epoch'], None if state['epochEnd'] else state['step'])
        path = folder.save_checkpoint(job, name, payload)
        folder.prune_checkpoints(job)
        last_saved.update(globalStep=state['globalStep'], at=time.monotonic())
        send({'type': 'checkpoint', 'job': job, 'epoch': state['epoch'], 'path': path})
        return path

    learner.open()
    try:
        while state['epoch'] <= epochs:
            epoch = state['epoch']
            epoch_start = time.monotonic()
            order = data_mod.batch_order(n, seed, epoch)
            last_progress = 0.0
            learner.train(True)
            while state['step'] < steps:
                step = state['step']
                t0 = time.monotonic()
                idx = order[step * batch_size:(step + 1) * batch_size]
                x, y = train.x[idx], train.y[idx]
                if augment:
                    x = data_mod.augment_batch(x, augment, seed, epoch, step)
                scale = 1.0
                if dist is not None:  # this rank's rows of the (augmented) global batch
                    idx, x, y, scale = dist.shard(idx, x, y)
                lr = learning_rate_at(training['optimizer'], epochs, steps, state['globalStep'])
                set_learning_rate(optimizer, lr)
                out = _train_step(learner, optimizer, precision, x.to(ctx.device), y.to(ctx.device),
                                  idx.to(ctx.device), epoch, epochs, step_module=step_module, scale=scale)
                losses = {k: float(v) for k, v in out.losses.items()}
                losses['total'] = float(out.total)
                m = int(idx.shape[0])
                correct = int((out.logits.detach().argmax(-1) == y.to(out.logits.device)).sum())
                if dist is not None:  # the global batch's figures, from every rank's
                    losses, out.pairs, out.params, m, correct = dist.reduce_step(losses, out.pairs, out.params, m, correct)
                state['step'] += 1
                state['globalStep'] += 1
                ctx.clock.tick()
                bad = next(((k, v) for k, v in losses.items() if not math.isfinite(v)), None)
                if bad:
                    raise TrainingError(
                        f'{job}: loss term "{bad[0]}" is {_js_number(bad[1])} at epoch {epoch}, step {state["step"]} '
                        f'(global step {state["globalStep"]}); the run stopped there. Lower the learning rate or check the inputs.')
                for k, v in losses.items():
                    state['sums'][k] = state['sums'].get(k, 0.0) + v * m
                state['seen'] += m
                state['correct'] += correct
                state['elapsedSeconds'] += time.monotonic() - t0

                if state['step'] % log_every == 0 or state['step'] == steps:
                    rec: Dict[str, Any] = {'type': 'step', 'job': job, 'epoch': epoch, 'step': state['step'],
                                           'globalStep': state['globalStep'], 'losses': losses}
                    if out.pairs:
                        rec['pairs'] = out.pairs
                    rec['lr'] = lr
                    if out.params:
                        rec['params'] = out.params
                    rec['t'] = now_iso()
                    folder.append(rec)
                if state['step'] < steps and checkpoint_due(every, state['globalStep'] - last_saved['globalStep'],
                                                            time.monotonic() - last_saved['at']):
                    checkpoint()
                now = time.monotonic()
                if now - last_progress > 0.25 or state['step'] == steps:
                    last_progress = now
                    send({'type': 'progress', 'job': job, 'phase': PHASE.get(kind, 'distill'), 'epoch': epoch,
                          'epochs': epochs, 'step': state['step'], 'steps': steps, 'losses': losses,
                          'samplesPerSecond': ctx.clock.steps_per_second() * min(batch_size, n),
                          'etaSeconds': ctx.clock.eta_seconds()})
                if state['step'] < steps and ctx.should_stop():
                    checkpoint()
                    return 'cancelled'

            # Epoch end: evaluate, log, checkpoint.
            seen = max(1, state['seen'])
            means = {k: v / seen for k, v in state['sums'].items()}
            record = _evaluate_epoch(ctx, learner, precision, state, means, time.monotonic() - epoch_start)
            folder.append(record)
            numbers = {k: v for k, v in record.items()
                       if k not in ('type', 'job', 'epoch', 'losses', 't', 'perClass', 'extras')}
            send({'type': 'epoch', 'job': job, 'epoch': epoch,
                  'metrics': {**numbers, **{f'loss.{k}': v for k, v in means.items()}, **record.get('extras', {})}})
            state['step'] = steps
            state['epochEnd'] = True
            checkpoint()
            state['epochEnd'] = False

            def done(r: dict, e: int = epoch) -> None:
                r['jobs'][job]['completedEpochs'] = e
            folder.update_run(done)
            if ctx.should_stop() and epoch < epochs:
                return 'cancelled'
            state.update(epoch=epoch + 1, step=0, sums={}, seen=0, correct=0)
    finally:
        learner.close()
        learner.train(False)
    ctx.outputs.update(getattr(learner, 'outputs', {}))
    return 'completed'


def _train_step(learner: Learner, optimizer, precision: Precision, x, y, idx, epoch: int, epochs: int,
                step_module: Optional[torch.nn.Module] = None, scale: float = 1.0) -> StepOutput:
    """One optimizer step (under autocast, with the gradient scaler for fp16 on CUDA). In a
    data-parallel run the step goes through `step_module` (DistributedDataParallel over the
    learner's trained modules, distributed.Group.wrap), which averages the gradients over the ranks
    during backward, and the rank's loss is scaled by `scale` (its share of the global batch)."""
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        if step_module is not None:
            total, out = step_module(x, y, idx, epoch, epochs)
        else:
            out = learner.step(x, y, idx, epoch, epochs)
            total = out.total
    loss = total * scale if scale != 1.0 else total
    if precision.scaler is not None:
        precision.scaler.scale(loss).backward()
        precision.scaler.step(optimizer)
        precision.scaler.update()
    else:
        loss.backward()
        optimizer.step()
    learner.after_step()  # adversarial terms: D's own step on this step's detached tensors
    return out


def _evaluate_epoch(ctx: JobContext, learner: Learner, precision: Precision, state: dict, means: dict, seconds: float) -> dict:
    """The epoch record (store.ts EpochRecord): training figures of the epoch, the evaluation of
    the model on val/test (agreement and KL against the teacher when there is one), extras."""
    d = ctx.data
    learner.train(False)
    try:
        tl = learner.teacher_eval_logits(precision)
        c = int(d.num_classes)
        val = None
        if d.val is not None:
            val = evaluate_logits(predict_logits(ctx.model, d.val.x, ctx.device, precision), d.val.y, c,
                                  tl.get('val') if tl else None)
        test = evaluate_logits(predict_logits(ctx.model, d.test.x, ctx.device, precision), d.test.y, c,
                               tl.get('test') if tl else None)
        extras = learner.epoch_extras(precision)
    finally:
        learner.train(True)
    select = val['acc'] if val else test['acc']
    if not state.get('best') or select > state['best']['acc']:
        state['best'] = {'epoch': state['epoch'], 'acc': select}
    rec: Dict[str, Any] = {'type': 'epoch', 'job': ctx.job_id, 'epoch': state['epoch'], 'losses': means,
                           'trainAcc': state['correct'] / max(1, state['seen'])}
    if val:
        rec['valAcc'] = val['acc']
    rec['testAcc'] = test['acc']
    rec['testErrors'] = test['errors']
    if 'agreement' in test:
        rec['agreement'] = test['agreement']
        rec['klTeacher'] = test['klTeacher']
    if extras:
        rec['extras'] = extras
    rec['perClass'] = test['perClass']
    rec['seconds'] = seconds
    rec['t'] = now_iso()
    return rec


def _plain(state: dict) -> dict:
    """A copy of the loop position made of plain Python values (no aliasing with the live dict)."""
    return {**state, 'sums': dict(state['sums']), 'best': dict(state['best']) if state.get('best') else None}


def _restore(ctx: JobContext, learner: Learner, optimizer, precision: Precision, saved: dict, path: str) -> None:
    """Loads a checkpoint into the job's model, modules, optimizer, scaler and random generators;
    refuses one that does not fit the job with a message naming the checkpoint."""
    where = os.path.relpath(path, ctx.folder.dir)
    if saved.get('format') != CHECKPOINT_FORMAT or 'loop' not in saved:
        raise TrainingError(f'{where}: not a checkpoint of this engine (format {saved.get("format")!r}, expected {CHECKPOINT_FORMAT})')
    kind = ctx.training['optimizer'].get('kind')
    if saved.get('optimizerKind') != kind:
        raise TrainingError(f'{where}: the checkpoint\'s optimizer is {saved.get("optimizerKind")}, the experiment uses {kind}')
    modules = learner.modules()
    problem = learner.resume_problem(saved) if hasattr(learner, 'resume_problem') else None
    if problem:
        raise TrainingError(f'run folder {ctx.folder.dir}: {where}: {problem}')
    if set(saved['modules']) != set(modules):
        raise TrainingError(f'{where}: the checkpoint holds modules {sorted(saved["modules"])}, the job has {sorted(modules)}')
    try:
        ctx.model.load_state_dict(saved['model'])
        for name, m in modules.items():
            m.load_state_dict(saved['modules'][name])
        optimizer.load_state_dict(saved['optimizer'])
    except (RuntimeError, ValueError, KeyError) as e:
        raise TrainingError(f'{where}: does not fit the job\'s models ({e})') from e
    if precision.scaler is not None and saved.get('scaler'):
        precision.scaler.load_state_dict(saved['scaler'])
    set_rng_states(saved['rng'])
