"""The learners of the schemes that train more than one model in a job — the PyTorch twins of
src/engine/schemes/online.ts and self.ts. train.py runs them like any other learner; their further
modules (peers, heads) train with the job's model and go into its checkpoints.

online — deep mutual learning (Zhang, Xiang, Hospedales & Lu, CVPR 2018): K peers (the teacher
architecture and K−1 students) train together from scratch; peer k minimises

    L_k = w_labels·CE(y, z_k) + 1/(K−1)·Σ_{j≠k} T²·KL(softmax(z_j/T) ‖ softmax(z_k/T))

with the other peers' outputs as targets (no gradient into peer j through L_k); one optimizer step
updates every peer with Σ_k L_k. The first student peer is the job's model.

self — "be your own teacher" (Zhang et al., ICCV 2019): auxiliary heads on shallower layers of
the student learn from its own deepest output z and deepest features F (the input of its output
layer, flattened):

    L = CE(y, z) + Σ_h [ (1−α)·CE(y, z_h) + α·T²·KL(softmax(z/T) ‖ softmax(z_h/T)) + β·mean(r_h(f_h) − F)² ]

z and F are targets (no gradient through them from the head terms). A head is a Linear to the
classes on the layer's output FLATTENED in channels-last order, as the TF.js engine reads it: an
NCHW map as `f.permute(0, 2, 3, 1).flatten(1)` (H·W·C values in NHWC order), an NCL sequence as
its L·C values (channels last), a vector as it is; r_h is a Linear from those values to F's width.
F (the output layer's input) is read the same way; when it is an `nn.Flatten`'s output (NCHW
order; directly or through order-keeping leaves such as Dropout or an activation), it is viewed as
the map the Flatten read, so its values are in the TF.js order too. (A flatten inside a module's own
`forward`, not an nn.Flatten, cannot be seen: F then stays in that order.) So with the same
head weights both engines compute the same numbers (the conformance fixture's `byot` case). Heads
are not part of the exported model.

Runs started before heads read flattened maps (they pooled them) cannot resume: their checkpoints'
heads have other shapes, and the job refuses them naming the run folder (SelfLearner.resume_problem).
"""
from __future__ import annotations

import difflib
from typing import Callable, Dict, List, Optional, Tuple

import torch

from .errors import ConfigError
from .train import (JobContext, Learner, Precision, StepOutput, at_least_f32, cross_entropy, evaluate_logits, kd_loss,
                    predict_logits, seed_for)


# ---------------------------------------------------------------------------------------------
# online: deep mutual learning

class OnlineLearner(Learner):
    """K ≥ 2 peers `(name, module)`; peers[0] is the teacher architecture, peers[1] the job's model."""

    def __init__(self, peers: List[Tuple[str, torch.nn.Module]], *, labels_weight: float, temperature: float,
                 data, num_classes: int, device: torch.device):
        if len(peers) < 2:
            raise ValueError('online distillation needs at least two peers')
        self.peers = peers
        self.model = peers[1][1]
        self.labels_weight = labels_weight
        self.temperature = temperature
        self.data = data
        self.num_classes = num_classes
        self.device = device
        self._teacher_eval: Optional[Dict[str, torch.Tensor]] = None
        # The teacher peer is part of the job's result (models/<job>-teacher).
        self.outputs = {'teacher': peers[0][1]}

    def modules(self) -> Dict[str, torch.nn.Module]:
        return {f'peer:{name}': m for name, m in self.peers if m is not self.model}

    def parameters(self) -> List[torch.nn.Parameter]:
        # Peer order (teacher, student, student2, …), as the TF.js learner lists its variables.
        out, seen = [], set()
        for _, m in self.peers:
            for p in m.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def step(self, x, y, idx, epoch, epochs) -> StepOutput:
        logits = [m(x) for _, m in self.peers]
        losses, total = dml_losses(logits, y, [name for name, _ in self.peers], self.labels_weight, self.temperature)
        return StepOutput(total=total, losses=losses, logits=logits[1])

    def teacher_eval_logits(self, precision: Precision):
        teacher = self.peers[0][1]
        d = self.data
        # The teacher peer learns: its logits are computed anew every epoch.
        self._teacher_eval = {'test': predict_logits(teacher, d.test.x, self.device, precision)}
        if d.val is not None:
            self._teacher_eval['val'] = predict_logits(teacher, d.val.x, self.device, precision)
        return self._teacher_eval

    def epoch_extras(self, precision: Precision) -> Dict[str, float]:
        out: Dict[str, float] = {}
        test = self.data.test
        for i, (name, m) in enumerate(self.peers):
            if m is self.model:
                continue
            logits = self._teacher_eval['test'] if i == 0 and self._teacher_eval else predict_logits(m, test.x, self.device, precision)
            out[f'peer:{name}.testAcc'] = evaluate_logits(logits, test.y, self.num_classes)['acc']
        return out


def dml_losses(logits: List[torch.Tensor], labels: torch.Tensor, names: List[str], labels_weight: float,
               temperature: float) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """Every peer's `<name>.labels` (CE) and `<name>.dml` (mean KD to the other peers, whose logits
    are detached targets), and the total Σ_k w·CE_k + DML_k."""
    targets = [z.detach() for z in logits]
    losses: Dict[str, torch.Tensor] = {}
    total = 0
    for k, z in enumerate(logits):
        ce = cross_entropy(z, labels)
        others = [kd_loss(z, t, temperature) for j, t in enumerate(targets) if j != k]
        dml = torch.stack(others).sum() / len(others)
        losses[f'{names[k]}.labels'] = ce
        losses[f'{names[k]}.dml'] = dml
        total = total + ce * labels_weight + dml
    return losses, total


def online_learner(ctx: JobContext, build: Optional[Callable[..., torch.nn.Module]] = None) -> OnlineLearner:
    """The online job's learner: the teacher architecture (seed·1000+1) and the students 2…K−1
    (seed·1000+k) built fresh beside the job's model. `build` is models.build_model's signature."""
    if build is None:
        from .models import build_model as build
    c = ctx.config
    scheme = c.get('scheme') or {}
    if scheme.get('kind') != 'online':
        raise ValueError(f'{ctx.job_id}: an online job outside scheme online')
    if not c.get('teacher'):
        raise ConfigError(['teacher'], 'scheme "online" trains the teacher architecture with the students: give "teacher"')
    d = ctx.data
    seed = int(ctx.job['seed'])
    shape = tuple(d.input_shape)
    teacher = build(c['teacher'], ctx.base_dir, path=['teacher'], input_shape=shape, num_classes=d.num_classes,
                    seed=seed_for(seed, {'peer': 1}))
    peers = [('teacher', teacher.to(ctx.device)), ('student', ctx.model)]
    for k in range(2, int(scheme.get('peers', 2))):
        m = build(c['student'], ctx.base_dir, path=['student'], input_shape=shape, num_classes=d.num_classes,
                  teacher_spec=c.get('teacher'), seed=seed_for(seed, {'peer': k}))
        peers.append((f'student{k}', m.to(ctx.device)))
    w = float((c.get('labels') or {}).get('weight', 1))
    return OnlineLearner(peers, labels_weight=w if w > 0 else 1.0, temperature=float(scheme.get('temperature', 1)),
                         data=d, num_classes=int(d.num_classes), device=ctx.device)


# ---------------------------------------------------------------------------------------------
# self: be your own teacher

def output_layer(model: torch.nn.Module) -> str:
    """The student's output layer: the last leaf module (named_modules order) with parameters."""
    leaves = [name for name, m in model.named_modules() if name and not list(m.children())
              and any(True for _ in m.parameters(recurse=False))]
    if not leaves:
        raise ValueError('self-distillation needs a student with a trainable output layer')
    return leaves[-1]


def check_heads(model: torch.nn.Module, heads: List[dict]) -> List[Tuple[int, str]]:
    """(index, message) for every head that names no layer of the student or its output layer."""
    names = [n for n, _ in model.named_modules() if n]
    out_layer = output_layer(model)
    problems = []
    for i, h in enumerate(heads):
        layer = h.get('layer')
        if layer not in names:
            close = difflib.get_close_matches(str(layer), names, n=3, cutoff=0.3) or names[:3]
            problems.append((i, f'the student has no layer "{layer}"; closest: {", ".join(repr(c) for c in close)}'))
        elif layer == out_layer:
            problems.append((i, f'"{layer}" is the student\'s output layer; a head goes on a shallower layer'))
    return problems


def _first(o):
    """A layer's output tensor (the first of a tuple, as an LSTM returns)."""
    return o[0] if isinstance(o, (tuple, list)) else o


def feature_rows(t: torch.Tensor) -> torch.Tensor:
    """A layer's output as one row per sample, flattened channels-last as the TF.js engine holds
    it: an NCHW map as `t.permute(0, 2, 3, 1).flatten(1)`, an NCL sequence as [B, L·C] (channels
    last), a vector as it is (self.ts featureRows)."""
    if t.dim() <= 2:
        return t
    return t.movedim(1, -1).flatten(1)


# Leaves that keep a vector's element order (each value maps to the value at its own position).
_ORDER_KEEPING = (torch.nn.Dropout, torch.nn.Identity, torch.nn.ReLU, torch.nn.ReLU6, torch.nn.LeakyReLU, torch.nn.ELU,
                  torch.nn.GELU, torch.nn.SiLU, torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.Hardswish, torch.nn.BatchNorm1d)


def _flatten_before(model: torch.nn.Module, out_layer: str) -> Optional[str]:
    """The nn.Flatten(1, -1) whose values the output layer reads (leaf order: right before it, or
    before order-keeping leaves such as Dropout or an activation), if any."""
    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
    i = [n for n, _ in leaves].index(out_layer) - 1
    while i >= 0 and isinstance(leaves[i][1], _ORDER_KEEPING):
        i -= 1
    if i >= 0:
        name, m = leaves[i]
        if isinstance(m, torch.nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
            return name
    return None


class SelfLearner(Learner):
    """The student with one auxiliary head and one hint adapter per `heads[].layer`."""

    def __init__(self, model: torch.nn.Module, layers: List[str], *, temperature: float, alpha: float, beta: float,
                 data, num_classes: int, device: torch.device, seed: int):
        problems = check_heads(model, [{'layer': l} for l in layers])
        if problems:
            i, msg = problems[0]
            raise ConfigError(['scheme', 'heads', i, 'layer'], msg)
        self.model = model
        self.layers = layers
        self.temperature, self.alpha, self.beta = temperature, alpha, beta
        self.data, self.num_classes, self.device = data, num_classes, device
        self.out_layer = output_layer(model)
        # F is the output layer's input. When that is an nn.Flatten's output (NCHW order), `deep_shape`
        # is the map's shape [C, H, W]: F is viewed as that map and read channels-last (NHWC order).
        self.deep_shape: Optional[Tuple[int, ...]] = None
        self._flatten = _flatten_before(model, self.out_layer)
        self._feats: Dict[str, torch.Tensor] = {}
        self._hooks: list = []
        # Shapes from one forward pass in eval mode (no statistics move, nothing random is drawn).
        was_training = model.training
        model.eval()
        self._probing = True
        self.open()
        try:
            with torch.no_grad():
                model(data.train.x[:2].to(next(model.parameters()).device))
            widths = {l: feature_rows(self._feats[l]).shape[1] for l in layers}
            deep = feature_rows(self._feats['<deep>']).shape[1]
            source = self._feats.get('<flatten-in>')
            if source is not None and source.dim() > 2 and self._feats['<deep>'].dim() == 2 and source[0].numel() == deep:
                self.deep_shape = tuple(source.shape[1:])
        finally:
            self.close()
            self._probing = False
            model.train(was_training)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(seed, 'selfHeads'))
            self.heads = torch.nn.ModuleList([torch.nn.Linear(widths[l], num_classes) for l in layers]).to(device)
            self.hints = torch.nn.ModuleList([torch.nn.Linear(widths[l], deep) for l in layers]).to(device)

    def modules(self) -> Dict[str, torch.nn.Module]:
        out: Dict[str, torch.nn.Module] = {}
        for l, h, r in zip(self.layers, self.heads, self.hints):
            out[f'head:{l}'] = h
            out[f'hint:{l}'] = r
        return out

    def open(self) -> None:
        mods = dict(self.model.named_modules())
        for l in self.layers:
            self._hooks.append(mods[l].register_forward_hook(lambda _m, _i, o, l=l: self._feats.__setitem__(l, _first(o))))
        self._hooks.append(mods[self.out_layer].register_forward_pre_hook(
            lambda _m, inp: self._feats.__setitem__('<deep>', inp[0])))
        if self._flatten and self._probing:  # the shape probe of __init__: the Flatten's input
            self._hooks.append(mods[self._flatten].register_forward_pre_hook(
                lambda _m, inp: self._feats.__setitem__('<flatten-in>', inp[0])))

    def close(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
        self._feats = {}

    def deep_features(self) -> torch.Tensor:
        """F of the last forward pass: the output layer's input, viewed as the map an nn.Flatten made
        it from (deep_shape) so that byot_losses reads it in NHWC order as the TF.js engine does."""
        f = self._feats['<deep>']
        return f.reshape(f.shape[0], *self.deep_shape) if self.deep_shape else f

    def resume_problem(self, saved: dict) -> Optional[str]:
        """Why a checkpoint's heads cannot be loaded (None when they fit): a run started when the
        torch engine's heads read pooled maps has heads of other widths."""
        for l, h in zip(self.layers, self.heads):
            w = ((saved.get('modules') or {}).get(f'head:{l}') or {}).get('weight')
            if w is not None and tuple(w.shape) != tuple(h.weight.shape):
                return (f'the self-distillation head on "{l}" in this checkpoint reads {w.shape[1]} values per sample, '
                        f'the job\'s reads {h.in_features}: the run was started when the PyTorch engine\'s heads read the '
                        f'layer\'s map pooled per channel; they now read it flattened (NHWC order, as the TF.js engine does), '
                        f'so this run cannot resume: start a new run')
        return None

    def step(self, x, y, idx, epoch, epochs) -> StepOutput:
        z = self.model(x)
        losses, total = byot_losses(z, self.deep_features(), [self._feats[l] for l in self.layers], y,
                                    self.layers, self.heads, self.hints, self.temperature, self.alpha, self.beta)
        return StepOutput(total=total, losses=losses, logits=z)

    def epoch_extras(self, precision: Precision) -> Dict[str, float]:
        """Test accuracy of every auxiliary head (the hooks are installed while the job trains)."""
        test = self.data.test
        hits = [0] * len(self.layers)
        with torch.no_grad():
            for start in range(0, test.x.shape[0], 512):
                xb = test.x[start:start + 512].to(self.device)
                yb = test.y[start:start + 512].to(self.device)
                with precision.autocast():
                    self.model(xb)
                    preds = [h(feature_rows(self._feats[l])).argmax(-1) for l, h in zip(self.layers, self.heads)]
                for i, p in enumerate(preds):
                    hits[i] += int((p == yb).sum())
        n = max(1, test.x.shape[0])
        return {f'head:{l}.testAcc': hits[i] / n for i, l in enumerate(self.layers)}


def byot_losses(z: torch.Tensor, deep: torch.Tensor, feats: List[torch.Tensor], labels: torch.Tensor, layers: List[str],
                heads, hints, temperature: float, alpha: float, beta: float) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """`labels` and per head `head:<layer>.labels`, `.kd`, `.hint` (unweighted), and the total
    CE + Σ_h (1−α)·CE_h + α·KD_h + β·hint_h. `deep` (F) and every `feats[h]` are read by
    feature_rows (flattened channels-last: NCHW maps in NHWC order), as self.ts byotLosses reads its
    NHWC tensors; z and F are detached targets."""
    target = z.detach()
    deep_f = at_least_f32(feature_rows(deep.detach()))
    ce = cross_entropy(z, labels)
    losses: Dict[str, torch.Tensor] = {'labels': ce}
    total = ce
    for l, f_map, head, hint in zip(layers, feats, heads, hints):
        f = feature_rows(f_map)
        zh = head(f)
        ce_h = cross_entropy(zh, labels)
        kd_h = kd_loss(zh, target, temperature)
        hint_h = ((at_least_f32(hint(f)) - deep_f) ** 2).mean()
        losses[f'head:{l}.labels'] = ce_h
        losses[f'head:{l}.kd'] = kd_h
        losses[f'head:{l}.hint'] = hint_h
        total = total + ce_h * (1 - alpha) + kd_h * alpha + hint_h * beta
    return losses, total


def self_learner(ctx: JobContext) -> SelfLearner:
    """The self job's learner from `scheme` (heads, temperature, alpha, beta), heads seeded from the job's seed."""
    scheme = ctx.config.get('scheme') or {}
    if scheme.get('kind') != 'self':
        raise ValueError(f'{ctx.job_id}: a self job outside scheme self')
    d = ctx.data
    return SelfLearner(ctx.model, [h['layer'] for h in scheme.get('heads') or []],
                       temperature=float(scheme.get('temperature', 3)), alpha=float(scheme.get('alpha', 0.3)),
                       beta=float(scheme.get('beta', 0.03)), data=d, num_classes=int(d.num_classes),
                       device=ctx.device, seed=int(ctx.job['seed']))
