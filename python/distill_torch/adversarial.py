"""Adversarial distillation (issue 18; `"kind": "adversarial"`, src/config/types.ts AdversarialKnowledge).

A discriminator D — an MLP of `hidden` widths with LeakyReLU(0.2) and one output logit, trained with
the student and never exported — learns to tell the teacher's inputs-to-D from the student's; the
student learns to fool it (Xu et al. 2018; Wang et al. 2018, KDGAN). Formulas, as the TF.js engine's:

    D's input      softmax(z / temperature) of the logits (no `pairs`), or one pair's features
                   flattened in the TF.js order (maps NHWC), the student's through the adapter that
                   fitnet would use (knowledge.plan_adapter); one-hot labels appended when `conditional`
    student term   −mean_b log σ(D(s_b))                                  (non-saturating)
    D's loss       −mean_b [log σ(D(t_b)) + log(1 − σ(D(s_b)))]           (on the step's detached inputs)
    D's accuracy   share of the 2B outputs on the right side of 0 (D(t) > 0, D(s) < 0)

D is initialised as TF.js's dense layers (Glorot-uniform kernels, zero biases) and has its own Adam
(lr `learningRate`, β 0.5 / 0.999, ε 1e-7 as the engine's TF.js-matched Adam), stepped once after
each student step (`Terms.after_step`, called by train.py) on the step's detached tensors. D is kept
out of the student's optimizer: it is not a registered submodule of the term's state module, whose
state_dict carries it anyway through `get_extra_state` (D's weights, D's optimizer state and the
epoch's running sums of D's figures), so a checkpoint of the Terms resumes D exactly.

Logged: step `params` `<term>.discLoss` / `<term>.discAcc` (term `adversarial`, `adversarial#2`, …),
epoch `extras` with their epoch means (weighted by the batch rows, as the loss means), and report.json
`warnings` `discriminator-wins` when an epoch's mean accuracy reached 0.99 (`discriminator_warning`,
from the metrics records, worded as the TF.js engine's adversarialHealth.ts).

Data-parallel runs (distributed.py): D is no parameter of DistributedDataParallel's module (it is
kept out of the student's optimizer), so it joins the group itself (`AdversarialState.join_group`,
called by `distributed.Group.wrap`): rank 0's D is broadcast to every rank once, and each D step
all-reduces, in one float64 buffer, every rank's gradient times its rows, its loss and accuracy
times its rows, and its rows; D's gradient is then Σ_r m_r·g_r / Σ_r m_r — the gradient of the
global batch's mean loss, what the student's DDP all-reduce gives (each rank's loss scaled by
N·m_r/m, then sum/N) — so every rank takes the same Adam step and D and its Adam state stay
identical on every rank. The epoch sums are those global figures, the same on every rank: a
checkpoint (written by rank 0) resumes with any number of processes. The step `params` are
reduced with the other step figures (`Group.reduce_step`: means weighted by rows).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import ConfigError

# Defaults of the fields (the TS validator fills them; a config written by hand may lack them).
DEFAULTS = {'temperature': 1.0, 'hidden': [64], 'learningRate': 0.0002, 'conditional': False}

# D's Adam: the GAN betas of the contract; ε 1e-8 as the TF.js engine's discriminator (src/engine/losses/adversarial.ts DISC_EPSILON) and torch's default.
BETAS = (0.5, 0.999)
EPSILON = 1e-8

# An epoch whose mean discriminator accuracy reaches this is flagged (report warning `discriminator-wins`).
WINS_AT = 0.99

# The catalogue row this engine expects for the method, should src/methods/catalogue.ts list it
# (test_conformance.py holds the TS row to it): D's input pairs like fitnet's (any rank, same shape
# after the adapter).
CATALOGUE_ENTRY = dict(kind='adversarial', ranks='any', sameShape=True, sameSpatial=True, layerPairs=False)


def options(entry: dict) -> dict:
    """The entry's fields with the defaults filled in (temperature, hidden, learningRate, conditional)."""
    out = {k: entry.get(k, v) if entry.get(k) is not None else v for k, v in DEFAULTS.items()}
    out['temperature'] = float(out['temperature'])
    out['hidden'] = [int(h) for h in out['hidden']]
    out['learningRate'] = float(out['learningRate'])
    out['conditional'] = bool(out['conditional'])
    return out


def plan_pair(pair: dict, student_shape: tuple, teacher_shape: tuple):
    """knowledge.plan_adapter of D's pair, by fitnet's rules (the student's features mapped to the
    teacher's shape), its refusals worded `adversarial: …` (raises knowledge.PairError)."""
    from .knowledge import PairError, plan_adapter
    try:
        return plan_adapter('fitnet', pair, student_shape, teacher_shape)
    except PairError as e:
        msg = str(e)
        raise PairError('adversarial:' + msg[len('fitnet:'):] if msg.startswith('fitnet:') else msg) from None


def check_entry(entry: dict, ei: int) -> List[tuple]:
    """Problems (path, message) of one adversarial entry's own fields."""
    here = ['knowledge', ei]
    problems = []
    o = {k: entry.get(k) for k in DEFAULTS}
    if o['temperature'] is not None and not (isinstance(o['temperature'], (int, float)) and o['temperature'] > 0):
        problems.append((here + ['temperature'], f'adversarial: temperature must be a number > 0, found {o["temperature"]!r}'))
    if o['hidden'] is not None and not (isinstance(o['hidden'], list) and all(isinstance(h, int) and h > 0 for h in o['hidden'])):
        problems.append((here + ['hidden'], f'adversarial: hidden must be a list of positive integers (D\'s widths), found {o["hidden"]!r}'))
    if o['learningRate'] is not None and not (isinstance(o['learningRate'], (int, float)) and o['learningRate'] > 0):
        problems.append((here + ['learningRate'], f'adversarial: learningRate must be a number > 0, found {o["learningRate"]!r}'))
    if len(entry.get('pairs') or []) > 1:
        problems.append((here + ['pairs'], f'adversarial: at most one pair (D sees one layer\'s features), found {len(entry["pairs"])}'))
    return problems


# ---------------------------------------------------------------------------------------------
# the pieces, as pure functions of tensors

class Discriminator(nn.Module):
    """D: Linear → LeakyReLU(0.2) per hidden width, then Linear → one logit ([B] out).
    Glorot-uniform weights and zero biases, as TF.js's dense layers start."""

    def __init__(self, in_features: int, hidden: Sequence[int]):
        super().__init__()
        layers: List[nn.Module] = []
        d = int(in_features)
        for h in hidden:
            layers += [_glorot(nn.Linear(d, int(h))), nn.LeakyReLU(0.2)]
            d = int(h)
        layers.append(_glorot(nn.Linear(d, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _glorot(layer: nn.Linear) -> nn.Linear:
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def student_term(d_s: torch.Tensor) -> torch.Tensor:
    """−mean_b log σ(D(s_b)): the non-saturating generator loss (logsigmoid: no overflow)."""
    return -F.logsigmoid(d_s).mean()


def discriminator_loss(d_t: torch.Tensor, d_s: torch.Tensor) -> torch.Tensor:
    """−mean_b [log σ(D(t_b)) + log(1 − σ(D(s_b)))], with log(1 − σ(x)) = log σ(−x)."""
    return -(F.logsigmoid(d_t) + F.logsigmoid(-d_s)).mean()


def discriminator_accuracy(d_t: torch.Tensor, d_s: torch.Tensor) -> float:
    """Share of the 2B outputs on the right side of 0: teacher's above, student's below."""
    n = int(d_t.numel()) + int(d_s.numel())
    return (int((d_t > 0).sum()) + int((d_s < 0).sum())) / max(1, n)


def flatten_tf(x: torch.Tensor) -> torch.Tensor:
    """[B, …] → [B, D] in the TF.js engine's element order (an NCHW map is flattened as NHWC), so
    D's first kernel means the same on both engines."""
    if x.dim() == 4:
        x = x.permute(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


def d_input(x: torch.Tensor, labels: Optional[torch.Tensor], num_classes: int, conditional: bool) -> torch.Tensor:
    """D's input rows: the flattened features (or softened logits), with the one-hot labels appended."""
    x = flatten_tf(x)
    if conditional:
        x = torch.cat([x, F.one_hot(labels.long(), num_classes).to(x.dtype)], dim=1)
    return x


def softened(z: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.softmax(z / temperature, dim=-1)


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


# ---------------------------------------------------------------------------------------------
# the term's state: D, its optimizer, the step's pending update and the epoch's sums

class AdversarialState(nn.Module):
    """Held in `Terms.parts` (so `.to()`, `train()` and state_dict reach it) while D itself is not a
    registered submodule: the student's optimizer, which takes `Terms.parameters()`, never sees D's
    parameters. `_apply` moves D with the module; `get_extra_state` / `set_extra_state` carry D's
    weights, D's Adam state and the epoch sums in the Terms' state_dict (thus in checkpoints)."""

    def __init__(self, in_features: int, hidden: Sequence[int], learning_rate: float):
        super().__init__()
        disc = Discriminator(in_features, hidden)
        object.__setattr__(self, 'disc', disc)  # not registered: kept out of Terms.parameters()
        object.__setattr__(self, 'optimizer', torch.optim.Adam(disc.parameters(), lr=learning_rate, betas=BETAS, eps=EPSILON))
        self.in_features = int(in_features)
        self.pending: Optional[torch.Tensor] = None
        # (discLoss·B, discAcc·B, B) of the pending step: added to `sums` by `step` (over every rank's rows in a data-parallel run).
        self.pending_figures: Optional[List[float]] = None
        # Σ discLoss·B, Σ discAcc·B, Σ B over the epoch so far (Python floats: exact through a checkpoint).
        self.sums = [0.0, 0.0, 0.0]
        self.last: Dict[str, float] = {}
        object.__setattr__(self, 'group', None)  # distributed.Group of a data-parallel run (join_group)

    def _apply(self, fn):
        super()._apply(fn)
        self.disc._apply(fn)
        return self

    def get_extra_state(self):
        return {'disc': self.disc.state_dict(), 'optimizer': self.optimizer.state_dict(), 'sums': list(self.sums)}

    def set_extra_state(self, state) -> None:
        self.disc.load_state_dict(state['disc'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.sums = [float(v) for v in state['sums']]
        self.pending = None
        self.pending_figures = None

    def figures(self, d_t: torch.Tensor, d_s: torch.Tensor) -> None:
        """Keeps D's loss (with its graph to D's parameters, for `step`) and accuracy of this step."""
        loss = discriminator_loss(_f32(d_t), _f32(d_s))
        acc = discriminator_accuracy(d_t.detach(), d_s.detach())
        b = float(d_s.shape[0])
        value = float(loss.detach())
        self.last = {'discLoss': value, 'discAcc': acc}
        if self.training:
            self.pending = loss
            self.pending_figures = [value * b, acc * b, b]

    def join_group(self, group) -> None:
        """A data-parallel run (called by distributed.Group.wrap on every rank, after any restore):
        rank 0's D is broadcast to the others, as DistributedDataParallel does for the modules it
        wraps, and each later `step` synchronises D's gradient and figures over the ranks."""
        object.__setattr__(self, 'group', group)
        with torch.no_grad():
            for t in list(self.disc.parameters()) + list(self.disc.buffers()):
                group.broadcast(t)

    def step(self) -> None:
        """D's Adam step on the pending loss (after the student's step; D's gradients from the
        student's backward are dropped first). In a data-parallel run the gradient is the global
        batch's (`_synchronise`), so every rank steps alike; the figures added to the epoch sums are
        the global batch's too."""
        if self.pending is None:
            return
        loss, self.pending = self.pending, None
        figures, self.pending_figures = self.pending_figures, None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.group is not None:
            figures = self._synchronise(figures)
        self.optimizer.step()
        self.sums = [s + f for s, f in zip(self.sums, figures)]

    def _synchronise(self, figures: List[float]) -> List[float]:
        """One all-reduce (sum, float64) of [m_r·∇D…, discLoss·m_r, discAcc·m_r, m_r] over the ranks;
        D's gradients become Σ_r m_r·g_r / Σ_r m_r (the global batch's mean loss: the student's DDP
        average, exact for an uneven last batch too). Returns the summed figures."""
        params = list(self.disc.parameters())
        b = figures[2]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        buf = torch.cat([g.detach().reshape(-1).double() * b for g in grads]
                        + [torch.tensor(figures, dtype=torch.float64, device=grads[0].device)])
        buf = self.group.all_reduce_sum(buf)
        total = float(buf[-1])
        at = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = (buf[at:at + n] / total).to(dtype=p.dtype).reshape(p.shape)
            at += n
        return [float(v) for v in buf[-3:]]

    def epoch_means(self) -> Dict[str, float]:
        """{'discLoss', 'discAcc'}: the epoch's means so far, then the sums start over."""
        s = self.sums
        self.sums = [0.0, 0.0, 0.0]
        if s[2] <= 0:
            return {}
        return {'discLoss': s[0] / s[2], 'discAcc': s[1] / s[2]}


def build(term, entry: dict, ei: int, key: str, terms, problems: list, t_shapes: dict, s_shapes: dict,
          s_logits: tuple, t_logits: Optional[tuple], num_classes: int) -> bool:
    """Fills knowledge.Term `term` for one adversarial entry (knowledge._build_entry's branch):
    D's input width, the pair's adapter (in `terms.parts[key_p0]`, trained with the student), D and its
    optimizer (`terms.parts[key]`), the compute, params and epoch extras. False after adding problems."""
    from .knowledge import PairError, _get, _need  # knowledge imports this module lazily
    here = ['knowledge', ei]
    found = check_entry(entry, ei)
    if found:
        problems.extend(found)
        return False
    o = options(entry)
    pairs = entry.get('pairs') or []
    adapter = None
    if pairs:
        pair = pairs[0]
        try:
            plan = plan_pair(pair, s_shapes[pair['student']], t_shapes[pair['teacher']])
        except PairError as e:
            problems.append((here + ['pairs', 0], str(e)))
            return False
        t_shape = t_shapes[pair['teacher']]
        if any(d is None for d in t_shape[1:]):
            from . import losses as L
            problems.append((here + ['pairs', 0, 'teacher'], f'adversarial: the teacher\'s layer "{pair["teacher"]}" '
                                                             f'{L.format_shape(L.tf_shape(t_shape))} must have a known shape [B,…]'))
            return False
        adapter = plan.build()
        if adapter is not None:
            terms.parts[f'{key}_p0'] = adapter
        width = 1
        for d in t_shape[1:]:
            width *= int(d)
        term.pair_labels = [f'{pair["teacher"]}→{pair["student"]}']
        term.pair_adapters = ['']  # completed below with D's widths, as the TF.js engine's
        term.teacher_layers = [pair['teacher']]
        term.student_layers = [pair['student']]
    else:
        if t_logits is not None and tuple(s_logits[1:]) != tuple(t_logits[1:]):
            problems.append((here, f'adversarial: D compares the softened logits, but the student has {s_logits[1:]} outputs and the '
                                   f'teacher {t_logits[1:]}; give a layer pair instead'))
            return False
        width = int(s_logits[-1])
    if o['conditional']:
        width += int(num_classes)
    state = AdversarialState(width, o['hidden'], o['learningRate'])
    terms.parts[key] = state
    if pairs:
        term.pair_adapters = [f'{plan.description}; discriminator {"→".join(str(w) for w in [width, *o["hidden"], 1])}']
    temp, cond, c = o['temperature'], o['conditional'], int(num_classes)

    def compute(ctx):
        if pairs:
            fs = _get(ctx['student'], pairs[0]['student'])
            fs = adapter(fs) if adapter is not None else fs
            ft = _get(ctx['teacher'], pairs[0]['teacher'])
        else:
            fs, ft = softened(_f32(ctx['zs']), temp), softened(_f32(_need(ctx['zt'])), temp)
        fs = _f32(fs)
        ft = _f32(ft).to(fs.dtype).detach()
        xs = d_input(fs, ctx['labels'], c, cond)
        xt = d_input(ft, ctx['labels'], c, cond)
        value = student_term(_f32(state.disc(xs)))
        with torch.enable_grad():
            both = state.disc(torch.cat([xt, xs.detach()], 0))
        b = xt.shape[0]
        state.figures(both[:b], both[b:])
        return value, ([value] if pairs else [])

    term.compute = compute
    term.params = lambda: dict(state.last)
    term.extras = state.epoch_means
    term.after_step = state.step
    return True


# ---------------------------------------------------------------------------------------------
# refusals and warnings

def entries(config: dict) -> List[int]:
    """Indices of the adversarial entries (weight > 0) of the config's `knowledge`."""
    return [i for i, e in enumerate(config.get('knowledge') or [])
            if isinstance(e, dict) and (e.get('kind') == 'adversarial' or e.get('method') == 'adversarial') and e.get('weight', 1) > 0]


def _js_number(x: float) -> str:
    """A number as JavaScript prints it (99, not 99.0)."""
    return str(int(x)) if float(x).is_integer() else repr(x)


def discriminator_warning(records: Sequence[dict]) -> Optional[dict]:
    """The `discriminator-wins` warning of report.json (src/engine/results/adversarialHealth.ts, the
    same wording): every epoch whose mean D accuracy (`<term>.discAcc` in its extras) reached
    WINS_AT, once per run, the first five named (job, epoch, term, accuracy); None when none did."""
    hits = []
    for r in records:
        if r.get('type') != 'epoch' or not r.get('extras'):
            continue
        for k, v in r['extras'].items():
            if k.endswith('.discAcc') and isinstance(v, (int, float)) and v >= WINS_AT:
                hits.append((r['job'], k[:-len('.discAcc')], r['epoch'], float(v)))
    if not hits:
        return None
    shown = [f'{job} epoch {epoch} ({term}): {acc * 100:.1f}%' for job, term, epoch, acc in hits[:5]]
    more = f' and {len(hits) - len(shown)} more epoch(s)' if len(hits) > len(shown) else ''
    return {
        'kind': 'discriminator-wins',
        'message': (f'the adversarial discriminator wins: its mean accuracy over an epoch reached ≥ {_js_number(WINS_AT * 100)}% in '
                    f'{"; ".join(shown)}{more}; a discriminator that always tells the student from the teacher gives the student '
                    'no useful signal'),
        'causes': [
            'the discriminator learns faster than the student: lower its "learningRate" (default 0.0002) or use fewer "hidden" units',
            'what it sees separates the networks trivially (a near one-hot teacher softmax against a softer student\'s): raise '
            '"temperature", or let a KD term close the gap first (a "linear-warmup" schedule on the adversarial term)',
            'the adversarial term\'s weight is too small for the student to answer: raise its "weight"',
        ],
    }


__all__ = ['DEFAULTS', 'BETAS', 'EPSILON', 'WINS_AT', 'CATALOGUE_ENTRY', 'options', 'plan_pair', 'check_entry', 'Discriminator', 'student_term',
           'discriminator_loss', 'discriminator_accuracy', 'flatten_tf', 'd_input', 'softened', 'AdversarialState', 'build',
           'entries', 'discriminator_warning']
