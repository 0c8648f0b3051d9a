"""Every loss of the method catalogue (src/methods/catalogue.ts) as a pure function of tensors.

Each function is the TF.js engine's definition (src/engine/losses/**), term for term: the same
reductions, epsilons, Huber delta, T² factors and masking, so a run on either engine optimises the
same objective. The cross-engine test (python/tests/test_conformance.py against
test/fixtures/conformance/losses.json) holds the two to each other, values and gradients.

Layout: torch is NCHW, the TF.js engine NHWC. Every function here takes torch's layout; each place
that differs is commented. Shapes in error messages are printed the way the TF.js engine names them
(rank-4 maps as [B,H,W,C], see `tf_shape`), so a pairing refused by either engine, or by the
editor's pre-flight check, reads the same.

Functions are dtype-agnostic (float32 for training, float64 in the conformance test).
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

Shape = Sequence[Optional[int]]

# ---------------------------------------------------------------------------------------------
# The catalogue's shape rules (src/methods/catalogue.ts): ranks, sameShape, sameSpatial, layerPairs.
# Held to the TypeScript catalogue by test_conformance.py (the fixture carries the TS rules).

CATALOGUE: Dict[str, dict] = {
    'kd': dict(kind='response', ranks=[2], sameShape=True, sameSpatial=False, layerPairs=False),
    'dkd': dict(kind='response', ranks=[2], sameShape=True, sameSpatial=False, layerPairs=False),
    'multi-kd': dict(kind='response', ranks=[2], sameShape=True, sameSpatial=False, layerPairs=False),
    'dist': dict(kind='response', ranks=[2], sameShape=True, sameSpatial=False, layerPairs=False),
    'ctkd': dict(kind='response', ranks=[2], sameShape=True, sameSpatial=False, layerPairs=False),
    'fitnet': dict(kind='feature', ranks='any', sameShape=True, sameSpatial=True, layerPairs=False),
    'at': dict(kind='feature', ranks=[4], sameShape=False, sameSpatial=True, layerPairs=False),
    'nst': dict(kind='feature', ranks=[4], sameShape=False, sameSpatial=True, layerPairs=False),
    'reviewkd': dict(kind='feature', ranks=[4], sameShape=False, sameSpatial=False, layerPairs=False),
    'rkd-distance': dict(kind='relation', ranks='any', sameShape=False, sameSpatial=False, layerPairs=False),
    'rkd-angle': dict(kind='relation', ranks='any', sameShape=False, sameSpatial=False, layerPairs=False),
    'sp': dict(kind='relation', ranks='any', sameShape=False, sameSpatial=False, layerPairs=False),
    'fsp': dict(kind='relation', ranks=[4], sameShape=False, sameSpatial=False, layerPairs=True),
    'pkt': dict(kind='relation', ranks='any', sameShape=False, sameSpatial=False, layerPairs=False),
    'cc': dict(kind='relation', ranks='any', sameShape=False, sameSpatial=False, layerPairs=False),
    'crd': dict(kind='relation', ranks='any', sameShape=False, sameSpatial=False, layerPairs=False),
    # issue 18 (adversarial.py CATALOGUE_ENTRY): a pair's features or the logits, fitnet's shape rules
    'adversarial': dict(kind='adversarial', ranks='any', sameShape=True, sameSpatial=True, layerPairs=False),
}


def tf_shape(shape: Shape) -> list:
    """The shape as the TF.js engine names it: a rank-4 NCHW map [B,C,H,W] becomes [B,H,W,C]; other
    ranks are the same in both engines. Used for every message, so both engines word a refusal alike."""
    s = list(shape)
    return [s[0], s[2], s[3], s[1]] if len(s) == 4 else s


def format_shape(shape: Shape) -> str:
    """`[8,32]` of an already TF-ordered shape; unknown dimensions print as `?` (catalogue.formatShape)."""
    return '[' + ','.join('?' if d is None else str(int(d)) for d in shape) + ']'


def format_spatial(shape: Shape) -> str:
    """`14×14` of an NHWC (TF-ordered) shape (catalogue.formatSpatial)."""
    def part(i):
        return '?' if len(shape) <= i or shape[i] is None else str(int(shape[i]))
    return f'{part(1)}×{part(2)}'


def _info(method: str) -> dict:
    info = CATALOGUE.get(method)
    if info is None:
        raise ValueError(f'unknown knowledge method "{method}"')
    return info


def _rank_ok(info: dict, rank: int) -> bool:
    if info['ranks'] == 'any':
        return rank >= (2 if info['kind'] == 'relation' else 1)
    return rank in info['ranks']


def _expected_rank(info: dict) -> str:
    if info['kind'] == 'response':
        return 'logits of rank 2 [B,K]'
    if info['ranks'] == 'any':
        return 'features of rank ≥ 2 [B,…]' if info['kind'] == 'relation' else 'features of rank ≥ 1 [B,…]'
    if info['ranks'] == [4]:
        return 'feature maps of rank 4 [B,H,W,C]'
    return 'tensors of rank ' + ' or '.join(str(r) for r in info['ranks'])


def rank_error(method: str, shape: Shape) -> Optional[str]:
    """catalogue.rankError of a TF-ordered shape: why one tensor cannot be fed to `method`, or None."""
    info = _info(method)
    if _rank_ok(info, len(shape)):
        return None
    return f'{method}: expected {_expected_rank(info)}, found rank {len(shape)} {format_shape(shape)}'


def _differs(a, b) -> bool:
    return a is not None and b is not None and a != b


def pair_shape_error(method: str, student: Shape, teacher: Shape, teacher_name: str = 'teacher') -> Optional[str]:
    """catalogue.pairShapeError of TF-ordered shapes (see `tf_shape`): ranks, batch, equal shapes
    (sameShape), equal H,W (sameSpatial); the first that fails, worded as the TF.js engine words it."""
    info = _info(method)
    err = rank_error(method, student) or rank_error(method, teacher)
    if err:
        return err
    if _differs(student[0], teacher[0]):
        return f'{method}: batch sizes differ: student {student[0]}, {teacher_name} {teacher[0]}'
    shape_differs = len(student) != len(teacher) or any(_differs(d, teacher[i]) for i, d in enumerate(student))
    if info['sameShape'] and shape_differs:
        hint = " (the student's adapter must map its features to the teacher's shape)" if info['kind'] in ('feature', 'adversarial') else ''
        return f'{method}: shapes differ: student {format_shape(student)}, {teacher_name} {format_shape(teacher)}{hint}'
    if (info['sameSpatial'] and len(student) == 4 and len(teacher) == 4
            and (_differs(student[1], teacher[1]) or _differs(student[2], teacher[2]))):
        return f'{method}: spatial sizes differ: student {format_spatial(student)}, {teacher_name} {format_spatial(teacher)}'
    return None


def assert_pair_shapes(method: str, fs: torch.Tensor, ft: torch.Tensor, teacher_name: str = 'teacher') -> None:
    """Raises ValueError(pair_shape_error) for two torch tensors (NCHW maps are named as NHWC)."""
    msg = pair_shape_error(method, tf_shape(fs.shape), tf_shape(ft.shape), teacher_name)
    if msg:
        raise ValueError(msg)


def assert_rank(method: str, f: torch.Tensor) -> None:
    msg = rank_error(method, tf_shape(f.shape))
    if msg:
        raise ValueError(msg)


def _check_temperature(method: str, t: float) -> None:
    if not (t > 0) or not math.isfinite(t):
        raise ValueError(f'{method}: temperature must be a positive number, found {_js_number(t)}')


def _l2_rows(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """x / sqrt(max(Σx², 1e-24)) along `dim`: F.normalize's 1e-12 floor on the norm, written as the TF.js
    engine writes it (the clamp is on the squared norm, so a zero row has a zero gradient)."""
    return x / torch.sqrt(torch.clamp((x * x).sum(dim, keepdim=True), min=1e-24))


def _flat(f: torch.Tensor) -> torch.Tensor:
    """[B,…] → [B,D]. The order of D differs from the TF.js engine's for NCHW maps; every relation
    method uses D only through inner products and norms, which do not depend on that order."""
    return f.reshape(f.shape[0], -1)


# ---------------------------------------------------------------------------------------------
# Labels and logit standardisation.

STANDARDIZE_EPS = 1e-7


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Hard-label cross-entropy (1/B) Σ_b −log softmax(z)(b, y_b) (labels.ts)."""
    log_p = F.log_softmax(logits, dim=-1)
    return -log_p.gather(-1, labels.long().reshape(-1, 1)).mean()


def standardize_logits(z: torch.Tensor) -> torch.Tensor:
    """Sun et al. 2024: (z − mean z)/(σ(z) + 1e-7) per row, σ the population standard deviation
    (standardize.ts; torch.std would divide by K − 1)."""
    mean = z.mean(-1, keepdim=True)
    var = ((z - mean) ** 2).mean(-1, keepdim=True)
    return (z - mean) / (torch.sqrt(var) + STANDARDIZE_EPS)


def _maybe_standardize(z: torch.Tensor, standardize: bool) -> torch.Tensor:
    return standardize_logits(z) if standardize else z


# ---------------------------------------------------------------------------------------------
# Response methods.

def _kl_rows(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Σ_c p·(log p − log q) per row."""
    return (torch.exp(log_p) * (log_p - log_q)).sum(-1)


def kd_loss(zs: torch.Tensor, zt: torch.Tensor, temperature: float, standardize: bool = False) -> torch.Tensor:
    """Hinton et al. 2015: T²·(1/B) Σ_b KL(softmax(z_t/T) ‖ softmax(z_s/T)) (kd.ts)."""
    t = temperature
    log_ps = F.log_softmax(_maybe_standardize(zs, standardize) / t, dim=-1)
    log_pt = F.log_softmax(_maybe_standardize(zt, standardize) / t, dim=-1)
    return _kl_rows(log_pt, log_ps).mean() * (t * t)


DKD_MASK = 1000.0


def dkd_loss(zs: torch.Tensor, zt: torch.Tensor, labels: torch.Tensor, alpha: float, beta: float,
             temperature: float, standardize: bool = False) -> torch.Tensor:
    """Decoupled KD (dkd.ts): T²·mean_b(α·KL(b_t‖b_s) + β·KL(p̂_t‖p̂_s)), in log space with the target
    logit pushed down by 1000 for the non-target softmax (mdistiller's masking), so p̂'s target entry
    is exactly 0 and no log 0 appears."""
    assert_pair_shapes('dkd', zs, zt)
    batch, classes = zs.shape
    if classes < 2:
        raise ValueError(f'dkd: needs at least 2 classes, found {classes} {format_shape(list(zs.shape))}')
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise ValueError(f'dkd: expected labels of shape [{batch}], found {format_shape(list(labels.shape))}')
    for v in labels.tolist():
        if v != int(v) or v < 0 or v >= classes:
            raise ValueError(f'dkd: label {_js_number(v)} is not a class index in 0..{classes - 1}')
    _check_temperature('dkd', temperature)
    t = temperature
    gt = F.one_hot(labels.long(), classes).to(zs.dtype)
    mask = gt * DKD_MASK

    def parts(z):
        x = z / t
        lse = torch.logsumexp(x, -1, keepdim=True)
        x_nt = x - mask
        lse_nt = torch.logsumexp(x_nt, -1, keepdim=True)
        log_binary = torch.cat([(gt * x).sum(-1, keepdim=True), lse_nt], 1) - lse
        return log_binary, x_nt - lse_nt

    sb, sn = parts(_maybe_standardize(zs, standardize))
    tb, tn = parts(_maybe_standardize(zt, standardize))
    per_sample = _kl_rows(tb, sb) * alpha + _kl_rows(tn, sn) * beta
    return per_sample.mean() * (t * t)


def multi_kd_loss(zs: torch.Tensor, zts: Sequence[torch.Tensor], weights: Sequence[float], temperature: float,
                  standardize: bool = False) -> torch.Tensor:
    """Multi-teacher KD (multiTeacher.ts): KL(Σᵢ wᵢ softmax(z_tᵢ/T) ‖ softmax(z_s/T))·T², weights
    normalised to sum 1, zero-weight teachers skipped, log p_t by logsumexp over the teachers."""
    if len(zts) == 0:
        raise ValueError('multi-kd: needs at least one teacher, found none')
    if len(weights) != len(zts):
        raise ValueError(f'multi-kd: expected {len(zts)} weights (one per teacher), found {len(weights)}')
    shown = ', '.join(_js_number(w) for w in weights)
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f'multi-kd: teacher weights must be finite and ≥ 0, found [{shown}]')
    total = float(sum(weights))
    if not total > 0:
        raise ValueError(f'multi-kd: teacher weights must not all be 0, found [{shown}]')
    for i, zt in enumerate(zts):
        assert_pair_shapes('multi-kd', zs, zt, f'teacher {i + 1}')
    _check_temperature('multi-kd', temperature)
    t = temperature
    log_ps = F.log_softmax(_maybe_standardize(zs, standardize) / t, dim=-1)
    terms = [F.log_softmax(_maybe_standardize(zt, standardize) / t, dim=-1) + math.log(w / total)
             for zt, w in zip(zts, weights) if w / total > 0]
    log_pt = torch.logsumexp(torch.stack(terms), 0)
    return _kl_rows(log_pt, log_ps).mean() * (t * t)


def _js_number(v) -> str:
    """A number as JavaScript's String(x) prints it (1 not 1.0, 1e-7 not 1e-07, 0.00001 not 1e-05),
    so messages that quote a number read exactly like the TF.js engine's."""
    x = float(v)
    if math.isnan(x):
        return 'NaN'
    if math.isinf(x):
        return 'Infinity' if x > 0 else '-Infinity'
    if x == 0:
        return '0'
    sign, digits, exp = Decimal(repr(x)).as_tuple()  # repr: the shortest round-trip digits, as JS uses
    ds = ''.join(str(d) for d in digits).rstrip('0') or '0'
    exp += len(''.join(str(d) for d in digits)) - len(ds)
    n = len(ds) + exp  # x = 0.ds × 10^n
    if -6 < n <= 21:
        if n <= 0:
            body = '0.' + '0' * (-n) + ds
        elif n >= len(ds):
            body = ds + '0' * (n - len(ds))
        else:
            body = ds[:n] + '.' + ds[n:]
    else:
        body = ds[0] + ('.' + ds[1:] if len(ds) > 1 else '') + 'e' + ('+' if n - 1 >= 0 else '-') + str(abs(n - 1))
    return ('-' if sign else '') + body


DIST_EPS = 1e-8


def _row_pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the rows of a and b: cosine of the mean-centred rows, ‖·‖ floored at
    1e-12 and 1e-8 added to the product of norms (dist.ts)."""
    ca = a - a.mean(1, keepdim=True)
    cb = b - b.mean(1, keepdim=True)
    dot = (ca * cb).sum(1)

    def norm(x):
        return torch.sqrt(torch.clamp((x * x).sum(1), min=1e-24))
    return dot / (norm(ca) * norm(cb) + DIST_EPS)


def dist_loss(zs: torch.Tensor, zt: torch.Tensor, beta: float, gamma: float, temperature: float,
              standardize: bool = False) -> torch.Tensor:
    """DIST (dist.ts): T²·(β·(1 − mean_b ρ(rows)) + γ·(1 − mean_k ρ(columns))) of Y = softmax(z/T)."""
    assert_pair_shapes('dist', zs, zt)
    _check_temperature('dist', temperature)
    t = temperature
    ys = F.softmax(_maybe_standardize(zs, standardize) / t, dim=-1)
    yt = F.softmax(_maybe_standardize(zt, standardize) / t, dim=-1)
    inter = 1 - _row_pearson(ys, yt).mean()
    intra = 1 - _row_pearson(ys.t(), yt.t()).mean()
    return (inter * beta + intra * gamma) * (t * t)


class _GradientReversal(torch.autograd.Function):
    """The identity forward, −λ·dy backward (Ganin & Lempitsky 2015): θ upstream climbs the loss."""

    @staticmethod
    def forward(ctx, x, lam):  # type: ignore[override]
        ctx.lam = float(lam)
        return x.clone()

    @staticmethod
    def backward(ctx, dy):  # type: ignore[override]
        return -ctx.lam * dy, None


def gradient_reversal(x: torch.Tensor, lam: float) -> torch.Tensor:
    return _GradientReversal.apply(x, lam)


def reversal_weight(epoch: int, max_reversal: float, reversal_epochs: float) -> float:
    """λ(e) = λ_max·(1 − cos(π·min(e, E)/E))/2 of the (1-based) epoch (ctkd.ts reversalWeight)."""
    if reversal_epochs <= 0:
        return max_reversal
    return max_reversal * (1 - math.cos(math.pi * min(max(epoch, 0), reversal_epochs) / reversal_epochs)) / 2


def initial_theta(min_temperature: float, temperature_range: float, initial_temperature: Optional[float] = None) -> float:
    """θ₀ = logit((τ₀ − τ_min)/τ_range), or the paper's 1 without τ₀ (ctkd.ts initialTheta)."""
    if initial_temperature is None:
        return 1.0
    u = (initial_temperature - min_temperature) / temperature_range if temperature_range else float('nan')
    if not (0 < u < 1):
        raise ValueError(f'ctkd: initialTemperature {_js_number(initial_temperature)} must lie strictly between minTemperature '
                         f'{_js_number(min_temperature)} and minTemperature + temperatureRange {_js_number(min_temperature + temperature_range)}')
    return math.log(u / (1 - u))


def ctkd_temperature(theta: float, min_temperature: float, temperature_range: float) -> float:
    return min_temperature + temperature_range / (1 + math.exp(-theta))


def ctkd_loss(zs: torch.Tensor, zt: torch.Tensor, theta: torch.Tensor, lam: float, min_temperature: float,
              temperature_range: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """CTKD (ctkd.ts): τ = τ_min + τ_range·sigmoid(GRL_λ(θ)), loss τ²·mean_b KL(softmax(z_t/τ) ‖ softmax(z_s/τ)).
    Returns (loss, τ as a 0-d tensor)."""
    assert_pair_shapes('ctkd', zs, zt)
    if not (min_temperature > 0) or not math.isfinite(min_temperature):
        raise ValueError(f'ctkd: minTemperature must be a positive number, found {_js_number(min_temperature)}')
    if not (temperature_range >= 0) or not math.isfinite(temperature_range):
        raise ValueError(f'ctkd: temperatureRange must be a finite number ≥ 0, found {_js_number(temperature_range)}')
    t = min_temperature + temperature_range * torch.sigmoid(gradient_reversal(theta.reshape(()), lam))
    log_ps = F.log_softmax(zs / t, dim=-1)
    log_pt = F.log_softmax(zt / t, dim=-1)
    return _kl_rows(log_pt, log_ps).mean() * (t * t), t


# ---------------------------------------------------------------------------------------------
# Feature methods (maps NCHW).

def fitnet_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """FitNets hint (fitnet.ts): mean over every element of (F_s − F_t)², fs already adapted."""
    assert_pair_shapes('fitnet', fs, ft)
    return ((fs - ft) ** 2).mean()


def attention_map(f: torch.Tensor, p: float = 2) -> torch.Tensor:
    """[B,C,H,W] → [B,H·W]: Σ_c |F_c|^p per position, rows divided by max(‖·‖₂, 1e-12) (at.ts;
    the channel sum runs over axis 1 here, axis 3 in NHWC; H·W is row-major in both)."""
    assert_rank('at', f)
    if not (p > 0) or not math.isfinite(p):
        raise ValueError(f'at: p must be a positive number, found {_js_number(p)}')
    powered = f * f if p == 2 else torch.abs(f) ** p
    q = powered.sum(1).reshape(f.shape[0], -1)
    return _l2_rows(q, 1)


def at_loss(fs: torch.Tensor, ft: torch.Tensor, p: float = 2) -> torch.Tensor:
    """Attention transfer (at.ts): (1/(B·H·W)) Σ (a_s − a_t)²."""
    assert_pair_shapes('at', fs, ft)
    return ((attention_map(fs, p) - attention_map(ft, p)) ** 2).mean()


def _channel_maps(f: torch.Tensor) -> torch.Tensor:
    """[B,C,H,W] → [B,C,H·W], each channel L2-normalised (floor 1e-12) (nst.ts)."""
    return _l2_rows(f.reshape(f.shape[0], f.shape[1], -1), -1)


def nst_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """NST with k(x,y) = (xᵀy)² (nst.ts): mean K(t,t) + mean K(s,s) − 2·mean K(t,s), the means over
    [B,C,C'] (so the batch mean of the per-sample MMD²)."""
    assert_pair_shapes('nst', fs, ft)
    s = _channel_maps(fs)
    t = _channel_maps(ft)

    def kernel_mean(a, b):
        return (torch.matmul(a, b.transpose(1, 2)) ** 2).mean()
    return kernel_mean(t, t) + kernel_mean(s, s) - 2 * kernel_mean(t, s)


HCL_LEVELS = (4, 2, 1)


def hcl_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """ReviewKD's hierarchical context loss of one stage (feature/reviewkd.ts): [mse + Σ_{l<H} 2^{−j}·
    mse(adaptive_avg_pool_l)] / (1 + Σ 2^{−j}), l ∈ (4, 2, 1). PyTorch's adaptive pooling windows
    (⌊i·n/l⌋ … ⌈(i+1)·n/l⌉) are the ones the TF.js engine builds by hand."""
    if fs.dim() != 4 or ft.dim() != 4:
        raise ValueError('reviewkd: expected feature maps of rank 4 [B,H,W,C], found '
                         f'{format_shape(tf_shape(fs.shape))} and {format_shape(tf_shape(ft.shape))}')
    if list(fs.shape) != list(ft.shape):
        raise ValueError(f'reviewkd: the fused student stage {format_shape(tf_shape(fs.shape))} and the teacher stage '
                         f'{format_shape(tf_shape(ft.shape))} differ')
    h = fs.shape[2]
    loss = ((fs - ft) ** 2).mean()
    cnt = 1.0
    tot = 1.0
    for level in HCL_LEVELS:
        if level >= h:
            continue
        cnt /= 2
        d = ((F.adaptive_avg_pool2d(fs, level) - F.adaptive_avg_pool2d(ft, level)) ** 2).mean()
        loss = loss + d * cnt
        tot += cnt
    return loss / tot


def review_loss(fused: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ over the stages of hcl_loss."""
    if len(fused) != len(teacher) or len(fused) == 0:
        raise ValueError('reviewkd: expected as many fused student stages as teacher stages (at least one), '
                         f'found {len(fused)} and {len(teacher)}')
    return sum(hcl_loss(f, t) for f, t in zip(fused, teacher))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Relation methods.

def _huber_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smooth L1 with δ = 1, mean: ½d² for |d| < 1, |d| − ½ beyond (rkd.ts huberMean)."""
    d = torch.abs(a - b)
    q = torch.clamp(d, max=1.0)
    return (0.5 * q * q + (d - q)).mean()


RKD_EPS = 1e-12


def _normalised_distances(x: torch.Tensor) -> torch.Tensor:
    """[B,B] pairwise distances (d² clamped at 1e-12 before the root, diagonal exactly 0) divided by
    their off-diagonal mean (floored at 1e-12) (rkd.ts)."""
    n = x.shape[0]
    sq = (x * x).sum(1)
    d2 = sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * (x @ x.t())
    off = 1 - torch.eye(n, dtype=x.dtype, device=x.device)
    d = torch.sqrt(torch.clamp(d2, min=RKD_EPS)) * off
    mean = d.sum() / max(n * (n - 1), 1)
    return d / torch.clamp(mean, min=RKD_EPS)


def _angles(x: torch.Tensor) -> torch.Tensor:
    """ψ[a,b,c] = ⟨e_ab, e_ac⟩, e_ab = (x_b − x_a)/max(‖·‖, 1e-12): [B,B,B] (rkd.ts angles)."""
    diff = x.unsqueeze(0) - x.unsqueeze(1)
    e = _l2_rows(diff, -1)
    return torch.matmul(e, e.transpose(1, 2))


def rkd_distance_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """RKD distance: (1/B²) Σ_ij Huber(ψ_D^s − ψ_D^t)."""
    assert_pair_shapes('rkd-distance', fs, ft)
    return _huber_mean(_normalised_distances(_flat(fs)), _normalised_distances(_flat(ft)))


def rkd_angle_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """RKD angle: (1/B³) Σ_ijk Huber(ψ_A^s − ψ_A^t)."""
    assert_pair_shapes('rkd-angle', fs, ft)
    return _huber_mean(_angles(_flat(fs)), _angles(_flat(ft)))


def _similarity(f: torch.Tensor) -> torch.Tensor:
    x = _flat(f)
    return _l2_rows(x @ x.t(), 1)


def sp_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """Similarity-preserving KD (sp.ts): ‖G̃_s − G̃_t‖_F² / B²."""
    assert_pair_shapes('sp', fs, ft)
    b = fs.shape[0]
    return ((_similarity(fs) - _similarity(ft)) ** 2).sum() / (b * b)


def _fsp_check(f1: torch.Tensor, f2: torch.Tensor, whose: str) -> None:
    assert_rank('fsp', f1)
    assert_rank('fsp', f2)
    if f1.shape[0] != f2.shape[0]:
        raise ValueError(f'fsp: batch sizes of {whose}two layers differ: first {f1.shape[0]}, second {f2.shape[0]}')
    if f1.shape[2] != f2.shape[2] or f1.shape[3] != f2.shape[3]:
        raise ValueError(f'fsp: spatial sizes of {whose}two layers differ: first {format_spatial(tf_shape(f1.shape))}, '
                         f'second {format_spatial(tf_shape(f2.shape))}')


def fsp_matrix(f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
    """G(b,i,j) = (1/(H·W)) Σ_hw F₁(b,i,h,w)·F₂(b,j,h,w): [B,C1,C2] (fsp.ts)."""
    b, c1, h, w = f1.shape
    a = f1.reshape(b, c1, h * w)
    c = f2.reshape(b, f2.shape[1], h * w)
    return torch.matmul(a, c.transpose(1, 2)) / (h * w)


def fsp_loss(fs1: torch.Tensor, fs2: torch.Tensor, ft1: torch.Tensor, ft2: torch.Tensor) -> torch.Tensor:
    """FSP (fsp.ts): mean (G_s − G_t)² over [B,C1,C2]."""
    _fsp_check(fs1, fs2, "the student's ")
    _fsp_check(ft1, ft2, "the teacher's ")
    if fs1.shape[0] != ft1.shape[0]:
        raise ValueError(f'fsp: batch sizes differ: student {fs1.shape[0]}, teacher {ft1.shape[0]}')
    if fs1.shape[1] != ft1.shape[1] or fs2.shape[1] != ft2.shape[1]:
        shapes = [format_shape(tf_shape(x.shape)) for x in (fs1, fs2, ft1, ft2)]
        raise ValueError(f'fsp: channel counts differ: student C1×C2 = {fs1.shape[1]}×{fs2.shape[1]}, teacher '
                         f'{ft1.shape[1]}×{ft2.shape[1]} (student {shapes[0]} {shapes[1]}, teacher {shapes[2]} {shapes[3]})')
    return ((fsp_matrix(fs1, fs2) - fsp_matrix(ft1, ft2)) ** 2).mean()


PKT_EPS = 1e-7


def _conditional(f: torch.Tensor) -> torch.Tensor:
    xn = _l2_rows(_flat(f), 1)
    k = (xn @ xn.t() + 1) / 2
    return k / k.sum(1, keepdim=True)


def pkt_loss(fs: torch.Tensor, ft: torch.Tensor, eps: float = PKT_EPS) -> torch.Tensor:
    """PKT (pkt.ts): (1/B) Σ_ij p_t·log((p_t + ε)/(p_s + ε)), p(j|i) ∝ (cos + 1)/2, ε = 1e-7."""
    assert_pair_shapes('pkt', fs, ft)
    ps = _conditional(fs)
    pt = _conditional(ft)
    return (pt * (torch.log(pt + eps) - torch.log(ps + eps))).sum() / fs.shape[0]


CC_GAMMA = 0.4


def _correlation(f: torch.Tensor, gamma: float) -> torch.Tensor:
    xn = _l2_rows(_flat(f), 1)
    sq = (xn * xn).sum(1)
    d2 = sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * (xn @ xn.t())
    return torch.exp(-gamma * d2)


def cc_loss(fs: torch.Tensor, ft: torch.Tensor, gamma: float = CC_GAMMA) -> torch.Tensor:
    """Correlation congruence (cc.ts): mean_ij (C_s − C_t)², C = exp(−γ‖x̂_i − x̂_j‖²), γ = 0.4."""
    assert_pair_shapes('cc', fs, ft)
    if not (gamma >= 0) or not math.isfinite(gamma):
        raise ValueError(f'cc: gamma must be a finite number ≥ 0, found {_js_number(gamma)}')
    return ((_correlation(fs, gamma) - _correlation(ft, gamma)) ** 2).mean()


# ---------------------------------------------------------------------------------------------
# CRD (relation/crd.ts): NCE against memory banks, and the banks' bookkeeping.

NCE_EPS = 1e-7


def l2_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by sqrt(max(Σx², 1e-24)) (the embedding heads' last step)."""
    return _l2_rows(x, 1)


def _crd_scores(memory: torch.Tensor, v: torch.Tensor, temperature: float) -> torch.Tensor:
    """exp(⟨m_bk, v_b⟩/τ): [B,K+1]."""
    return torch.exp(torch.bmm(memory, v.unsqueeze(2)).reshape(v.shape[0], -1) / temperature)


def crd_normalisers(es: torch.Tensor, et: torch.Tensor, mem_s: torch.Tensor, mem_t: torch.Tensor,
                    temperature: float, n: int) -> Tuple[float, float]:
    """Z = mean(exp(⟨m, v⟩/τ))·N for each direction, taken once on the first batch."""
    with torch.no_grad():
        zs = float(_crd_scores(mem_t, l2_rows(es), temperature).mean() * n)
        zt = float(_crd_scores(mem_s, l2_rows(et), temperature).mean() * n)
    return zs, zt


def _nce(p: torch.Tensor, n: int) -> torch.Tensor:
    b, k1 = p.shape
    k_pn = (k1 - 1) / n
    pos = p[:, :1]
    neg = p[:, 1:]
    log_d1 = torch.log(pos / (pos + (k_pn + NCE_EPS)))
    log_d0 = torch.log(k_pn / (neg + (k_pn + NCE_EPS)))
    return -(log_d1.sum() + log_d0.sum()) / b


def crd_loss(es: torch.Tensor, et: torch.Tensor, mem_s: torch.Tensor, mem_t: torch.Tensor, temperature: float,
             n: int, zs: float, zt: float) -> torch.Tensor:
    """L_NCE(P_s) + L_NCE(P_t) (crd.ts crdLoss): es, et the heads' raw outputs [B,D]; mem_s, mem_t the
    gathered memory rows [B,K+1,D] (row 0 the positive), constants here."""
    if es.dim() != 2 or et.dim() != 2 or es.shape[1] != et.shape[1] or es.shape[0] != et.shape[0]:
        raise ValueError('crd: expected student and teacher embeddings of one shape [B,D], found '
                         f'{format_shape(list(es.shape))} and {format_shape(list(et.shape))}')
    b, d = es.shape
    for m in (mem_s, mem_t):
        if m.dim() != 3 or m.shape[0] != b or m.shape[2] != d or m.shape[1] < 2:
            raise ValueError(f'crd: expected memory rows [{b},K+1,{d}] with K ≥ 1, found {format_shape(list(m.shape))}')
    if not temperature > 0:
        raise ValueError(f'crd: temperature must be a positive number, found {_js_number(temperature)}')
    ps = _crd_scores(mem_t, l2_rows(es), temperature) / zs
    pt = _crd_scores(mem_s, l2_rows(et), temperature) / zt
    return _nce(ps, n) + _nce(pt, n)


_M32 = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    """Math.imul as an unsigned 32-bit result."""
    return ((a & _M32) * (b & _M32)) & _M32


def batch_seed(idx: Sequence[int]) -> int:
    """FNV-1a over the batch's row indices (crd.ts batchSeed): the seed of its negatives."""
    h = 0x811C9DC5
    for v in idx:
        v = int(v)
        h ^= v & 0xFFFF
        h = _imul(h, 0x01000193)
        h ^= (v & _M32) >> 16
        h = _imul(h, 0x01000193)
    return h & _M32


def mulberry32(seed: int):
    """The TF.js engine's mulberry32 (crd.ts prng): the same stream of floats in [0, 1) for a seed,
    so both engines draw the same negatives and the same initial banks."""
    state = [(seed ^ 0x9E3779B9) & _M32]

    def next_float() -> float:
        state[0] = (state[0] + 0x6D2B79F5) & _M32
        t = state[0]
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & _M32
        return ((t ^ (t >> 14)) & _M32) / 4294967296
    return next_float


def mulberry32_values(seed: int, start: int, count: int) -> np.ndarray:
    """Draws start … start+count−1 of `mulberry32(seed)` at once (float64). The generator's state
    moves by a constant per draw, so draw i is a pure function of (seed, i): numpy computes a whole
    bank (N·D draws) or a batch's negatives without a Python loop per draw."""
    i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    m = np.uint64(_M32)
    s = (np.uint64((seed ^ 0x9E3779B9) & _M32) + i * np.uint64(0x6D2B79F5)) & m
    t = ((s ^ (s >> np.uint64(15))) * (s | np.uint64(1))) & m
    t = t ^ ((t + (((t ^ (t >> np.uint64(7))) * (t | np.uint64(61))) & m)) & m)
    return ((t ^ (t >> np.uint64(14))) & m).astype(np.float64) / 4294967296.0


def string_seed(s: str) -> int:
    """FNV-1a over the UTF-16 code units of s (knowledge/crd.ts stringSeed)."""
    h = 0x811C9DC5
    units = s.encode('utf-16-le')
    for i in range(0, len(units), 2):
        h = _imul(h ^ (units[i] | (units[i + 1] << 8)), 0x01000193)
    return h & _M32


def sample_contrast(idx: Sequence[int], labels: Sequence[int], k: int) -> torch.Tensor:
    """[B, K+1] rows of the training split: the sample, then K samples of other classes drawn with
    replacement by mulberry32 seeded with the batch's indices (crd.ts sampleContrast): deterministic,
    the job's random stream untouched, the same draws as the TF.js engine (a draw of the sample's own
    class is rejected and the next one taken, in stream order)."""
    idx = [int(i) for i in idx]
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    n = lab.shape[0]
    seed = batch_seed(idx)
    out = np.empty((len(idx), k + 1), dtype=np.int64)
    pos = 0  # next draw of the stream
    chunk = np.empty(0, dtype=np.int64)
    chunk_start = 0
    for b, i in enumerate(idx):
        y = lab[i]
        out[b, 0] = i
        got = 0
        while got < k:
            if pos >= chunk_start + chunk.shape[0]:
                chunk_start = pos
                chunk = np.floor(mulberry32_values(seed, pos, max(4 * k, 256)) * n).astype(np.int64)
            cand = chunk[pos - chunk_start:]
            ok = np.nonzero(lab[cand] != y)[0]
            take = ok[:k - got]
            out[b, 1 + got:1 + got + take.shape[0]] = cand[take]
            got += take.shape[0]
            if got < k:
                if ok.shape[0] == 0 and not np.any(lab != y):
                    raise ValueError(f'crd: no sample of a class other than {int(y)} in the training split to contrast with')
                pos = chunk_start + chunk.shape[0]
            else:
                pos += int(take[-1]) + 1 if take.shape[0] else 0
    return torch.from_numpy(out)


def update_memory(bank: torch.Tensor, idx: torch.Tensor, embeddings: torch.Tensor, momentum: float) -> None:
    """In place, without gradient: M[i] ← normalise₂(m·M[i] + (1 − m)·e) for the batch's rows
    (crd.ts updateMemory; a zero row stays zero)."""
    with torch.no_grad():
        rows = bank[idx] * momentum + embeddings.to(bank.dtype) * (1 - momentum)
        norm = torch.sqrt((rows * rows).sum(1, keepdim=True))
        norm = torch.where(norm > 0, norm, torch.ones_like(norm))
        bank[idx] = rows / norm


def initial_memory(n: int, d: int, seed: int) -> torch.Tensor:
    """The paper's initial bank, uniform in [−1/√(D/3), 1/√(D/3)] from mulberry32(seed): [N, D]
    float32, the TF.js engine's values bit for bit (crd.ts initialMemory: r·2·stdv − stdv in double,
    stored as float32)."""
    stdv = 1 / math.sqrt(d / 3)
    values = mulberry32_values(seed, 0, n * d) * 2 * stdv - stdv
    return torch.from_numpy(values.astype(np.float32)).reshape(n, d)


def memory_bytes(n: int, d: int) -> int:
    """Bytes of the two banks, 2·N·D float32."""
    return 2 * n * d * 4


__all__ = [
    'CATALOGUE', 'tf_shape', 'format_shape', 'format_spatial', 'rank_error', 'pair_shape_error', 'assert_pair_shapes',
    'cross_entropy', 'standardize_logits', 'kd_loss', 'dkd_loss', 'multi_kd_loss', 'dist_loss', 'ctkd_loss',
    'gradient_reversal', 'reversal_weight', 'initial_theta', 'ctkd_temperature', 'fitnet_loss', 'attention_map',
    'at_loss', 'nst_loss', 'hcl_loss', 'review_loss', 'rkd_distance_loss', 'rkd_angle_loss', 'sp_loss', 'fsp_matrix',
    'fsp_loss', 'pkt_loss', 'cc_loss', 'l2_rows', 'crd_normalisers', 'crd_loss', 'sample_contrast', 'update_memory',
    'initial_memory', 'memory_bytes', 'mulberry32', 'mulberry32_values', 'string_seed', 'batch_seed',
]
