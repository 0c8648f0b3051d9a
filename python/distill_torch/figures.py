"""What a model costs, for report.json (schema/report.schema.json `modelFigures`) and the panels:
parameters, bytes, FLOPs per sample, latency on the run's device; the int8 student
(torch.ao.quantization) and the student's exports (state_dict, TorchScript, ONNX).

FLOPs follow the TF.js engine's convention (src/engine/metrics/modelStats.ts) so that both engines
give the same number for the same architecture: a multiply-add is 2 FLOPs, counted by forward hooks
per call on the layer modules —
  Linear           positions · (2·in·out + out with bias)
  Conv1d/2d/3d     2·K·(Cin/groups)·Cout·O + O·Cout with bias (K kernel volume, O output positions;
                   groups = Cin is modelStats' DepthwiseConv2D)
  ConvTranspose    2·K·(Cin/groups)·Cout·I + O·Cout with bias (I input positions)
  BatchNorm        2·size;  activation modules (ReLU, GELU, Softmax, …)  size
  Max/AvgPool      pool volume · output size;  AdaptiveAvg/MaxPool  input size
  Flatten, Dropout, Identity, padding, Upsample  0
Functional calls inside forward() (F.relu, x + y) are not modules and are not counted; a leaf module
of another type counts 0 and says so in its row's `note`.
"""
from __future__ import annotations

import io
import math
import os
import statistics
import time
import warnings as _warnings
from typing import Dict, List, Optional

import torch
from torch import nn

from .models import forward_with_hooks, layer_table

__all__ = ['model_figures', 'report_figures', 'count_flops', 'quantize_int8', 'evaluate', 'export_student', 'ExportResult',
           'state_bytes', 'measure_latency']

_ZERO = (nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d if hasattr(nn, 'Dropout1d') else nn.Dropout, nn.Dropout2d,
         nn.Dropout3d, nn.AlphaDropout, nn.Identity, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ReflectionPad2d,
         nn.ReplicationPad2d, nn.Upsample, nn.UpsamplingNearest2d, nn.PixelShuffle)
_ACT = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.PReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
        nn.Hardsigmoid, nn.Hardtanh, nn.Mish, nn.Softmax, nn.LogSoftmax, nn.Softplus, nn.SELU, nn.CELU, nn.Threshold)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_APOOL = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
          nn.AdaptiveMaxPool3d)


def _per_sample(t: torch.Tensor) -> int:
    return int(t[0].numel()) if t.dim() > 0 else 1


def _call_flops(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> Optional[float]:
    """FLOPs per sample of one call (see the module docstring); None = a type not counted."""
    if isinstance(m, nn.Linear):
        positions = _per_sample(inp) // m.in_features
        return positions * (2 * m.in_features * m.out_features + (m.out_features if m.bias is not None else 0))
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        k = math.prod(m.kernel_size)
        o = _per_sample(out) // m.out_channels
        return 2 * k * (m.in_channels // m.groups) * m.out_channels * o + (o * m.out_channels if m.bias is not None else 0)
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        k = math.prod(m.kernel_size)
        i = _per_sample(inp) // m.in_channels
        o = _per_sample(out) // m.out_channels
        return 2 * k * (m.in_channels // m.groups) * m.out_channels * i + (o * m.out_channels if m.bias is not None else 0)
    if isinstance(m, _NORM):
        return 2 * _per_sample(out)
    if isinstance(m, _ACT):
        return _per_sample(out)
    if isinstance(m, _POOL):
        ks = m.kernel_size
        vol = math.prod(ks) if isinstance(ks, tuple) else ks ** (out.dim() - 2)
        return vol * _per_sample(out)
    if isinstance(m, _APOOL):
        return _per_sample(inp)
    if isinstance(m, _ZERO):
        return 0
    return None


def _is_leaf(m: nn.Module) -> bool:
    return next(iter(m.children()), None) is None


def count_flops(model: nn.Module, input_shape: tuple, device=None) -> Dict[str, dict]:
    """{leaf module name: {flops, note?}} per sample, from one forward pass of a zero batch of 2
    (per-sample counts do not depend on the batch; 2 keeps BatchNorm happy in any mode)."""
    res: Dict[str, dict] = {}
    hooks = {}
    for name, m in model.named_modules():
        if not name or not _is_leaf(m):
            continue

        def hook(mod, inputs, output, name=name):
            row = res.setdefault(name, {'flops': 0, 'calls': 0})
            row['calls'] += 1
            inp = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            if inp is None or not isinstance(output, torch.Tensor):
                row['note'] = 'FLOPs not counted: non-tensor input or output'
                return
            f = _call_flops(mod, inp, output)
            if f is None:
                if any(True for _ in mod.parameters(recurse=False)):
                    row['note'] = f'FLOPs not counted: unknown layer type {type(mod).__name__}'
                return
            row['flops'] += f
        hooks[name] = hook
    forward_with_hooks(model, input_shape, hooks, batch=2, device=device)
    for row in res.values():
        if row.pop('calls') > 1:
            row['note'] = (row.get('note', '') + '; ' if row.get('note') else '') + 'applied several times; FLOPs are summed over the calls'
    return res


_PROF_MATMUL = ('aten::conv1d', 'aten::conv2d', 'aten::conv3d', 'aten::addmm', 'aten::mm', 'aten::bmm')
_PROF_ACT = ('aten::relu', 'aten::relu_', 'aten::gelu', 'aten::sigmoid', 'aten::tanh', 'aten::softmax', 'aten::log_softmax',
             'aten::hardswish', 'aten::hardswish_', 'aten::silu', 'aten::silu_', 'aten::leaky_relu', 'aten::elu', 'aten::hardtanh',
             'aten::hardtanh_', 'aten::hardsigmoid', 'aten::mish', 'aten::softplus', 'aten::prelu')
_PROF_POOL = ('aten::max_pool1d', 'aten::max_pool2d', 'aten::max_pool3d', 'aten::avg_pool1d', 'aten::avg_pool2d', 'aten::avg_pool3d',
              'aten::adaptive_avg_pool1d', 'aten::adaptive_avg_pool2d', 'aten::adaptive_avg_pool3d', 'aten::adaptive_max_pool2d')


def profiler_flops(model: nn.Module, input_shape: tuple, device=None) -> float:
    """FLOPs per sample of a model that takes no forward hooks (a TorchScript file), from the
    operators torch.profiler records, in the same convention: convolutions and matrix products from
    the profiler's count (2 per multiply-add) plus their bias (one per output), batch_norm 2·size,
    activations size, pooling its input size (exact for non-overlapping pools)."""
    from torch.profiler import profile
    device = torch.device(device) if device is not None else next((p.device for p in model.parameters()), torch.device('cpu'))
    batch = 2
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), profile(with_flops=True, record_shapes=True) as prof:
            model(torch.zeros((batch,) + tuple(input_shape), device=device))
    finally:
        model.train(was)
    total = 0.0
    numel = lambda shape: math.prod(shape) if shape else 0  # noqa: E731
    for e in prof.events():
        shapes = e.input_shapes or []
        if e.name in _PROF_MATMUL and e.flops:
            total += e.flops
            if e.name.startswith('aten::conv') and len(shapes) > 2 and shapes[2]:
                w = shapes[1]  # [Cout, Cin/groups, k…]: 2·(Cin/groups)·K FLOPs per output value
                total += e.flops / (2 * numel(w[1:]))
            elif e.name == 'aten::addmm' and len(shapes) > 2 and shapes[2]:
                total += e.flops / (2 * shapes[2][0])  # one bias addition per output value
        elif e.name == 'aten::batch_norm' and shapes:
            total += 2 * numel(shapes[0])
        elif e.name in _PROF_ACT and shapes:
            total += numel(shapes[0])
        elif e.name in _PROF_POOL and shapes:
            total += numel(shapes[0])
    return total / batch


def state_bytes(model: nn.Module) -> int:
    """float32 bytes of the parameters and buffers (4 per floating value; other buffers, e.g.
    BatchNorm's num_batches_tracked, at their own size): what the float32 state_dict holds."""
    n = 0
    seen = set()
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) in seen:
            continue
        seen.add(id(t))
        n += t.numel() * (4 if t.is_floating_point() else t.element_size())
    return n


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    elif device.type == 'mps' and hasattr(torch, 'mps'):
        torch.mps.synchronize()


def measure_latency(model: nn.Module, input_shape: tuple, device, batch: int = 1, warmup: int = 3, runs: int = 10) -> float:
    """Median milliseconds of one forward pass of a zero batch (eval mode, no grad), after `warmup`
    untimed passes; waits for the device each time."""
    device = torch.device(device)
    x = torch.zeros((batch,) + tuple(input_shape), device=device)
    was = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model(x)
            _sync(device)
            for _ in range(runs):
                t0 = time.perf_counter()
                model(x)
                _sync(device)
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        model.train(was)
    return statistics.median(times)


def model_figures(model: nn.Module, input_shape: tuple, device, *, batch: int = 32, runs: int = 10, warmup: int = 3) -> dict:
    """{params, trainableParams, bytes, flops, latencyMsPerSample, latencyBatch: {batch, msPerSample},
    device, layers: [{name, type, outputShape, params, trainableParams, flops, note?}]} — the
    modelFigures of report.json (report_figures() keeps only those keys) plus the layer table."""
    device = torch.device(device)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    flops = count_flops(model, input_shape, device)
    rows = layer_table(model, input_shape, device)
    for r in rows:
        f = flops.get(r['name'])
        if f is not None:
            r['flops'] = f['flops']
            if 'note' in f:
                r['note'] = f['note']
        else:
            # a container: the sum of its leaves (its own row, not counted twice in the total)
            prefix = r['name'] + '.'
            r['flops'] = sum(v['flops'] for k, v in flops.items() if k.startswith(prefix))
    total = sum(v['flops'] for v in flops.values())
    notes = []
    if isinstance(model, torch.jit.ScriptModule):
        # A TorchScript model takes no forward hooks: its FLOPs come from the profiler, not per layer.
        total = profiler_flops(model, input_shape, device)
        notes.append('TorchScript model: FLOPs from torch.profiler operator counts; no per-layer FLOPs or output shapes')
    ms1 = measure_latency(model, input_shape, device, 1, warmup, runs)
    msb = measure_latency(model, input_shape, device, batch, warmup, runs)
    return {'params': int(params), 'trainableParams': int(trainable), 'bytes': int(state_bytes(model)), 'flops': float(total),
            'latencyMsPerSample': ms1, 'latencyBatch': {'batch': batch, 'msPerSample': msb / batch}, 'device': str(device),
            'layers': rows, **({'notes': notes} if notes else {})}


def report_figures(fig: dict) -> dict:
    """The keys of report.json's modelFigures, from model_figures()."""
    return {k: fig[k] for k in ('params', 'bytes', 'flops', 'latencyMsPerSample', 'latencyBatch') if k in fig}


# ---------------------------------------------------------------------------------------------
# int8


def _serialized_bytes(model: nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return len(buf.getvalue())


def quantize_int8(model: nn.Module, calibration: Optional[torch.Tensor] = None, input_shape: Optional[tuple] = None) -> nn.Module:
    """An int8 copy of `model` for the CPU (the model itself is not changed).

    With calibration inputs and a model torch.fx can trace: static post-training quantisation
    (FX graph mode, the qnnpack engine — this torch has no fbgemm): Conv/Linear (+ fused BN/ReLU)
    with int8 weights and activations. Otherwise dynamic quantisation of the Linear layers (int8
    weights, float activations) and every other layer stays float. The result carries
    `int8_info = {format, method, floatLayers, bytes}` saying which."""
    import copy

    from torch.ao import quantization as tq
    src = copy.deepcopy(model).cpu().eval()
    engines = torch.backends.quantized.supported_engines
    engine = 'qnnpack' if 'qnnpack' in engines else ('fbgemm' if 'fbgemm' in engines else None)
    if engine:
        torch.backends.quantized.engine = engine
    weighted = [n for n, m in src.named_modules() if n and _is_leaf(m) and any(True for _ in m.parameters(recurse=False))]
    static_error = None
    if calibration is not None and engine:
        try:
            from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
            with _warnings.catch_warnings():
                _warnings.simplefilter('ignore')
                prepared = prepare_fx(src, tq.get_default_qconfig_mapping(engine), example_inputs=(calibration[:1].cpu(),))
                with torch.no_grad():
                    for s in range(0, len(calibration), 64):
                        prepared(calibration[s:s + 64].cpu())
                q = convert_fx(prepared)
            still_float = []
            qmods = dict(q.named_modules())
            for n in weighted:
                qm = qmods.get(n)
                if qm is None:
                    continue  # fused into a neighbour (BatchNorm into its conv)
                if not type(qm).__module__.startswith(('torch.ao.nn.quantized', 'torch.nn.quantized', 'torch.ao.nn.intrinsic.quantized',
                                                       'torch.nn.intrinsic.quantized')):
                    still_float.append(n)
            q.int8_info = {'format': f'torch.ao.quantization static int8 ({engine})', 'method': 'static',
                           'floatLayers': still_float, 'bytes': _serialized_bytes(q)}
            return q
        except Exception as e:  # noqa: BLE001 — not FX-traceable, an op without an int8 kernel: fall back
            static_error = f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    q = tq.quantize_dynamic(src, {nn.Linear}, dtype=torch.qint8)
    float_layers = [n for n in weighted if not isinstance(dict(src.named_modules())[n], nn.Linear)]
    q.int8_info = {'format': 'torch.ao.quantization dynamic int8 (Linear)', 'method': 'dynamic', 'floatLayers': float_layers,
                   'bytes': _serialized_bytes(q)}
    if static_error:
        q.int8_info['staticError'] = static_error
    return q


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, teacher_pred: Optional[torch.Tensor] = None,
             batch: int = 256, device='cpu') -> dict:
    """{acc, errors, n, pred, agreement?}: top-1 accuracy on (x, y) in eval mode; `agreement` is the
    fraction of predictions equal to `teacher_pred` (the teacher's top-1 on the same samples)."""
    device = torch.device(device)
    was = model.training
    model.eval()
    preds = []
    try:
        with torch.no_grad():
            for s in range(0, len(x), batch):
                preds.append(model(x[s:s + batch].to(device)).argmax(1).cpu())
    finally:
        model.train(was)
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
    correct = int((pred == y.cpu()).sum())
    out = {'acc': correct / max(1, len(y)), 'errors': len(y) - correct, 'n': len(y), 'pred': pred}
    if teacher_pred is not None:
        out['agreement'] = float((pred == teacher_pred.cpu()).float().mean()) if len(pred) else 0.0
    return out


# ---------------------------------------------------------------------------------------------
# exports


class ExportResult(list):
    """The files written (absolute paths), with `.warnings`: one sentence per optional export
    (TorchScript, ONNX) that failed — the state_dict is the one that must succeed."""

    def __init__(self, files=(), warnings=()):
        super().__init__(files)
        self.warnings: List[str] = list(warnings)


def export_student(model: nn.Module, out_dir: str, sample: torch.Tensor) -> ExportResult:
    """Writes `model.pt` (state_dict), `model.torchscript.pt` (torch.jit.trace on `sample`, else
    torch.jit.script) and `model.onnx` (torch.onnx.export, opset 13, dynamic batch axis) into
    out_dir, each via a temporary file and a rename. `sample` is a batch of inputs ([1, …] is enough)."""
    os.makedirs(out_dir, exist_ok=True)
    cpu = sample.detach().cpu()
    was = model.training
    device = next((p.device for p in model.parameters()), torch.device('cpu'))
    m = model.eval()
    res = ExportResult()

    def atomic(name: str, write) -> str:
        final = os.path.join(out_dir, name)
        tmp = final + '.tmp'
        try:
            write(tmp)
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return final

    try:
        state = {k: v.detach().cpu() for k, v in m.state_dict().items()}
        res.append(atomic('model.pt', lambda p: torch.save(state, p)))
        m_cpu = m.cpu() if device.type != 'cpu' else m
        try:
            with torch.no_grad(), _warnings.catch_warnings():
                _warnings.simplefilter('ignore')
                try:
                    ts = torch.jit.trace(m_cpu, cpu, check_trace=False)
                    check = torch.allclose(ts(cpu), m_cpu(cpu), rtol=1e-4, atol=1e-5)
                    if not check:
                        raise RuntimeError('the traced model gives other outputs than the model (data-dependent control flow)')
                except Exception as trace_error:  # noqa: BLE001
                    try:
                        ts = torch.jit.script(m_cpu)
                    except Exception:  # noqa: BLE001
                        raise trace_error from None
            res.append(atomic('model.torchscript.pt', lambda p: torch.jit.save(ts, p)))
        except Exception as e:  # noqa: BLE001
            res.warnings.append(f'TorchScript export failed ({type(e).__name__}: {_first_line(e)}); the state_dict was written')
        try:
            with torch.no_grad(), _warnings.catch_warnings():
                _warnings.simplefilter('ignore')

                def onnx(p):
                    torch.onnx.export(m_cpu, cpu, p, opset_version=13, input_names=['input'], output_names=['logits'],
                                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
                res.append(atomic('model.onnx', onnx))
        except Exception as e:  # noqa: BLE001
            res.warnings.append(f'ONNX export failed ({type(e).__name__}: {_first_line(e)}); the state_dict was written')
    finally:
        if device.type != 'cpu':
            model.to(device)
        model.train(was)
    return res


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else ''
