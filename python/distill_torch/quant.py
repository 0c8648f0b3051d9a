"""Quantisation of a student at 8 or 4 bits (issue 18, `student.quantize`): the one quantiser both
engines use for training (fake quantisation with a straight-through estimator) and for export.

The rule (src/config/types.ts QuantizeConfig): per-channel affine on every kernel — a parameter of
dim ≥ 2; the channel axis is dim 0 (the output channels of Conv/Linear, depthwise convs included,
which is the TF.js kernels' last axis); biases and normalisation parameters stay float:

    qmin = −2^(bits−1), qmax = 2^(bits−1) − 1
    S_c  = (max(0, max w_c) − min(0, min w_c)) / (2^bits − 1)        (S_c = 1 when that is 0)
    Z_c  = clamp(round(qmin − min(0, min w_c) / S_c), qmin, qmax)
    q    = clamp(round(w / S_c) + Z_c, qmin, qmax),   ŵ = (q − Z_c) · S_c
    round: half away from zero

Activations (optional, `activations`): each quantised module's output, per tensor, 8-bit with the
same affine rule over [min(0, lo), max(0, hi)], lo/hi an exponential moving average (momentum 0.9)
of the batch min/max in training (the first batch sets them), fixed in eval mode; values outside the
range get no gradient. The range is the buffer `qat_activation_range` = [lo, hi, seen] of the
module, so it is in the model's state_dict and every checkpoint.

Fake quantisation is attached with torch.nn.utils.parametrize (the forward value is exactly ŵ, the
gradient passes straight through to w); `plain_state_dict` gives the model's state_dict under the
plain student's keys (the latent float weights) and `activation_ranges` the ranges.

The export (`export_state`): a dict, per kernel {q, scale, zero_point, axis, bits, shape} (q int8;
at 4 bits two values a byte, low nibble first, as uint8) and the float tensors for the rest.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch
from torch.nn.utils import parametrize

RANGE_BUFFER = 'qat_activation_range'
MOMENTUM = 0.9
ACTIVATION_BITS = 8


def qrange(bits: int) -> Tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """round() with ties away from zero (torch.round rounds ties to even)."""
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def channel_params(w: torch.Tensor, bits: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(S_c, Z_c) of a kernel, per channel of dim 0 (float32 [C], float32 integral [C])."""
    qmin, qmax = qrange(bits)
    flat = w.detach().float().reshape(w.shape[0], -1)
    lo = torch.clamp(flat.min(dim=1).values, max=0.0)
    hi = torch.clamp(flat.max(dim=1).values, min=0.0)
    return affine_params(lo, hi, bits)


def affine_params(lo: torch.Tensor, hi: torch.Tensor, bits: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(S, Z) of ranges [lo, hi] with lo ≤ 0 ≤ hi (tensors of any shape)."""
    qmin, qmax = qrange(bits)
    scale = (hi - lo) / float((1 << bits) - 1)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    zero = torch.clamp(round_half_away(qmin - lo / scale), qmin, qmax)
    return scale, zero


def _view(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape((-1,) + (1,) * (like.dim() - 1))


def quantize_kernel(w: torch.Tensor, bits: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q as float32 integers, S_c, Z_c) of a kernel."""
    qmin, qmax = qrange(bits)
    scale, zero = channel_params(w, bits)
    q = torch.clamp(round_half_away(w.detach().float() / _view(scale, w)) + _view(zero, w), qmin, qmax)
    return q, scale, zero


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """ŵ = (q − Z_c)·S_c, per channel of dim 0."""
    return (q.float() - _view(zero.float(), q)) * _view(scale.float(), q)


def fake_quantize_kernel(w: torch.Tensor, bits: int) -> torch.Tensor:
    """ŵ of a kernel (no gradient; see `KernelSTE`)."""
    q, scale, zero = quantize_kernel(w, bits)
    return dequantize(q, scale, zero).to(w.dtype)


def fake_quantize_range(x: torch.Tensor, lo: float, hi: float, bits: int = ACTIVATION_BITS) -> torch.Tensor:
    """x̂ of a tensor quantised per tensor over [min(0, lo), max(0, hi)] (no gradient)."""
    qmin, qmax = qrange(bits)
    a = torch.tensor(min(0.0, float(lo)), dtype=torch.float32, device=x.device)
    b = torch.tensor(max(0.0, float(hi)), dtype=torch.float32, device=x.device)
    scale, zero = affine_params(a, b, bits)
    q = torch.clamp(round_half_away(x.detach().float() / scale) + zero, qmin, qmax)
    return ((q - zero) * scale).to(x.dtype)


class KernelSTE(torch.autograd.Function):
    """Forward ŵ, backward the identity (the straight-through estimator)."""

    @staticmethod
    def forward(ctx, w, bits):  # noqa: D401
        return fake_quantize_kernel(w, bits)

    @staticmethod
    def backward(ctx, g):
        return g, None


class RangeSTE(torch.autograd.Function):
    """Forward x̂ over a fixed range, backward the gradient where min(0,lo) ≤ x ≤ max(0,hi), else 0."""

    @staticmethod
    def forward(ctx, x, lo, hi, bits):
        a, b = min(0.0, float(lo)), max(0.0, float(hi))
        ctx.save_for_backward((x >= a) & (x <= b))
        return fake_quantize_range(x, lo, hi, bits)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside.to(g.dtype), None, None, None


class FakeQuantKernel(torch.nn.Module):
    """The parametrization of one kernel: w ↦ ŵ with the straight-through estimator."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = int(bits)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return KernelSTE.apply(w, self.bits)


def kernel_names(module: torch.nn.Module) -> List[str]:
    """The module's own parameters that are kernels (dim ≥ 2)."""
    return [n for n, p in module.named_parameters(recurse=False) if p is not None and p.dim() >= 2]


def _activation_hook(module: torch.nn.Module, inputs, output):
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        return output
    r = getattr(module, RANGE_BUFFER)
    if module.training:
        with torch.no_grad():
            x = output.detach().float()
            lo, hi = x.min(), x.max()
            if r[2] > 0:
                lo = MOMENTUM * r[0] + (1 - MOMENTUM) * lo
                hi = MOMENTUM * r[1] + (1 - MOMENTUM) * hi
            r.copy_(torch.stack([lo, hi, torch.ones_like(lo)]))
    elif r[2] <= 0:
        return output  # never trained: no range yet
    return RangeSTE.apply(output, float(r[0]), float(r[1]), ACTIVATION_BITS)


def attach(model: torch.nn.Module, bits: int, activations: bool = False) -> torch.nn.Module:
    """Fake quantisation on `model` in place: every kernel through `FakeQuantKernel(bits)`, and
    with `activations` every quantised module's output through the EMA range. Returns the model."""
    if bits not in (4, 8):
        raise ValueError(f'bits: expected 8 or 4, found {bits!r}')
    for name, m in list(model.named_modules()):
        if '.parametrizations' in f'.{name}' or isinstance(m, FakeQuantKernel):
            continue
        names = kernel_names(m)
        if not names:
            continue
        for n in names:
            parametrize.register_parametrization(m, n, FakeQuantKernel(bits))
        if activations:
            m.register_buffer(RANGE_BUFFER, torch.zeros(3, device=next(m.parameters()).device))
            m.register_forward_hook(_activation_hook)
    return model


def apply_activation_ranges(model: torch.nn.Module, ranges: Dict[str, List[float]]) -> torch.nn.Module:
    """A plain model measured as the QAT one: the saved ranges ({module path: [lo, hi]}) applied,
    fixed, to those modules' outputs."""
    mods = dict(model.named_modules())
    for name, (lo, hi) in ranges.items():
        if name not in mods:
            raise KeyError(f'activation range of layer "{name}": the model has no such layer')

        def hook(module, inputs, output, lo=float(lo), hi=float(hi)):
            if not isinstance(output, torch.Tensor) or not output.is_floating_point():
                return output
            return RangeSTE.apply(output, lo, hi, ACTIVATION_BITS)
        mods[name].register_forward_hook(hook)
    return model


def plain_state_dict(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The state_dict of a fake-quantised model under the plain model's keys (latent float kernels,
    `…parametrizations.<p>.original` → `…<p>`), without the activation ranges; detached, on the CPU."""
    out = {}
    for k, v in model.state_dict().items():
        if k.endswith('.' + RANGE_BUFFER) or k == RANGE_BUFFER:
            continue
        if '.parametrizations.' in f'.{k}':
            head, _, tail = f'.{k}'.rpartition('.parametrizations.')
            pname, _, rest = tail.partition('.')
            if rest != 'original':
                continue
            k = f'{head}.{pname}'.lstrip('.')
        out[k] = v.detach().cpu()
    return out


def activation_ranges(model: torch.nn.Module) -> Dict[str, List[float]]:
    """{module path: [lo, hi]} of the fake-quantised modules whose range has been set."""
    out = {}
    for name, m in model.named_modules():
        r = getattr(m, RANGE_BUFFER, None) if RANGE_BUFFER in getattr(m, '_buffers', {}) else None
        if r is not None and float(r[2]) > 0:
            out[name] = [float(r[0]), float(r[1])]
    return out


def kernel_keys(model: torch.nn.Module) -> List[str]:
    """state_dict keys (plain model) of the kernels the quantiser takes."""
    out = []
    for name, m in model.named_modules():
        if parametrize.is_parametrized(m):
            for p in m.parametrizations.keys():
                out.append(f'{name}.{p}' if name else p)
        elif not isinstance(m, FakeQuantKernel) and '.parametrizations' not in f'.{name}':
            out += [f'{name}.{n}' if name else n for n in kernel_names(m)]
    return out


# ---------------------------------------------------------------------------------------------
# the exported form

def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """Values in [−8, 7] → uint8, two a byte, low nibble first (row-major; a last odd value's high
    nibble is 0)."""
    flat = q.reshape(-1).to(torch.int16) & 0xF
    if flat.numel() % 2:
        flat = torch.cat([flat, torch.zeros(1, dtype=flat.dtype)])
    pairs = flat.reshape(-1, 2)
    return (pairs[:, 0] | (pairs[:, 1] << 4)).to(torch.uint8)


def unpack_int4(packed: torch.Tensor, n: int) -> torch.Tensor:
    """The inverse of pack_int4: `n` signed values (int8)."""
    b = packed.reshape(-1).to(torch.int16)
    nib = torch.stack([b & 0xF, (b >> 4) & 0xF], dim=1).reshape(-1)[:n]
    return torch.where(nib >= 8, nib - 16, nib).to(torch.int8)


def quantized_entry(w: torch.Tensor, bits: int) -> dict:
    q, scale, zero = quantize_kernel(w, bits)
    qi = q.to(torch.int8)
    return {'q': pack_int4(qi) if bits == 4 else qi, 'scale': scale.float().cpu(), 'zero_point': zero.to(torch.int8).cpu(),
            'axis': 0, 'bits': int(bits), 'shape': list(w.shape)}


def entry_q(e: dict) -> torch.Tensor:
    """The int8 values of an entry, in its shape."""
    n = int(math.prod(e['shape']))
    q = unpack_int4(e['q'], n) if e['bits'] == 4 else e['q'].reshape(-1)
    return q.reshape(e['shape'])


def export_state(state: Dict[str, torch.Tensor], keys: List[str], bits: int) -> dict:
    """The exported dict of a plain state_dict: the kernels `keys` quantised, the rest as they are."""
    out = {}
    for k, v in state.items():
        out[k] = quantized_entry(v.detach().cpu(), bits) if k in keys else v.detach().cpu()
    return out


def dequantize_state(exported: dict) -> Dict[str, torch.Tensor]:
    """A plain state_dict from the exported dict: ŵ = (q − Z_c)·S_c for the quantised entries."""
    out = {}
    for k, v in exported.items():
        if isinstance(v, dict):
            out[k] = dequantize(entry_q(v), v['scale'], v['zero_point'])
        else:
            out[k] = v
    return out


def exported_bytes(exported: dict) -> int:
    """Stored bytes: packed values + float32 scales + int8 zero points + the other tensors."""
    n = 0
    for v in exported.values():
        if isinstance(v, dict):
            n += v['q'].numel() * v['q'].element_size() + v['scale'].numel() * 4 + v['zero_point'].numel()
        elif isinstance(v, torch.Tensor):
            n += v.numel() * v.element_size()
    return n


def quantization_info(exported: dict, bits: int, *, method: str, job: Optional[str],
                      activations: Optional[Dict[str, List[float]]]) -> dict:
    """quantization.json: what a reader needs to rebuild the weights and apply the ranges."""
    kernels = [{'name': k, 'shape': v['shape'], 'axis': 0, 'channels': int(v['scale'].numel())}
               for k, v in exported.items() if isinstance(v, dict)]
    info = {'format': f'distill-int{bits}-per-channel', 'bits': int(bits), 'method': method,
            'rule': 'per-channel affine on dim 0; q = clamp(round(w/S)+Z, qmin, qmax); round half away from zero',
            'packing': 'int4: two values a byte, low nibble first, uint8' if bits == 4 else 'int8',
            'kernels': kernels, 'bytes': exported_bytes(exported)}
    if job:
        info['job'] = job
    if activations:
        acts = {}
        for name, (lo, hi) in activations.items():
            s, z = affine_params(torch.tensor(min(0.0, lo)), torch.tensor(max(0.0, hi)), ACTIVATION_BITS)
            acts[name] = {'min': lo, 'max': hi, 'scale': float(s), 'zeroPoint': int(z)}
        info['activations'] = {'bits': ACTIVATION_BITS, 'perTensor': True, 'ranges': acts}
    return info
