"""figures.py: FLOPs by hand count, bytes, latency, int8 against float, exports loaded back."""
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from distill_torch import figures as F  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.join(os.path.dirname(__file__), '..', '..')


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),           # 0: out 4×8×8
        nn.BatchNorm2d(4),                       # 1
        nn.ReLU(),                               # 2
        nn.MaxPool2d(2),                         # 3: out 4×4×4
        nn.Conv2d(4, 6, 3, bias=False),          # 4: out 6×2×2
        nn.Conv2d(6, 6, 1, groups=6),            # 5: depthwise 1×1, out 6×2×2
        nn.Flatten(),                            # 6: 24
        nn.Dropout(0.1),                         # 7
        nn.Linear(24, 5),                        # 8
    )


def test_flops_hand_count():
    m = small_cnn()
    fig = F.model_figures(m, (1, 8, 8), 'cpu', batch=4, runs=2, warmup=1)
    # hand count, multiply-add = 2 (modelStats.ts):
    conv0 = 2 * 9 * 1 * 4 * 64 + 4 * 64       # 2·K·Cin·Cout·O + bias
    bn = 2 * 4 * 64
    relu = 4 * 64
    pool = 4 * (4 * 16)                        # pool volume · output size
    conv4 = 2 * 9 * 4 * 6 * 4                  # no bias
    conv5 = 2 * 1 * 1 * 6 * 4 + 6 * 4          # depthwise: Cin/groups = 1
    lin = 2 * 24 * 5 + 5
    assert fig['flops'] == conv0 + bn + relu + pool + conv4 + conv5 + lin
    rows = {r['name']: r for r in fig['layers']}
    assert rows['0']['flops'] == conv0 and rows['4']['flops'] == conv4 and rows['6']['flops'] == 0
    assert rows['8']['outputShape'] == [None, 5]
    params = (9 * 4 + 4) + 8 + 9 * 4 * 6 + (6 + 6) + (24 * 5 + 5)
    assert fig['params'] == params
    # float32 params + BN running mean/var (4 each) + num_batches_tracked (int64)
    assert fig['bytes'] == 4 * params + 4 * 8 + 8
    assert fig['latencyMsPerSample'] > 0 and fig['latencyBatch']['batch'] == 4 and fig['latencyBatch']['msPerSample'] > 0


def test_flops_counts_repeated_calls_and_notes_unknown():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.odd = nn.Bilinear(3, 3, 2)

        def forward(self, x):
            y = self.fc(self.fc(x))
            return self.odd(y, y)
    f = F.count_flops(Twice(), (3,))
    assert f['fc']['flops'] == 2 * (2 * 3 * 3 + 3) and 'several times' in f['fc']['note']
    assert f['odd']['flops'] == 0 and 'unknown layer type Bilinear' in f['odd']['note']


def test_report_figures_fit_the_schema():
    schema = json.load(open(os.path.join(ROOT, 'schema', 'report.schema.json')))['definitions']['modelFigures']
    fig = F.report_figures(F.model_figures(small_cnn(), (1, 8, 8), 'cpu', batch=2, runs=1, warmup=0))
    assert set(schema['required']) <= set(fig) and set(fig) <= set(schema['properties'])
    assert isinstance(fig['params'], int) and isinstance(fig['bytes'], int)
    assert set(fig['latencyBatch']) == set(schema['properties']['latencyBatch']['required'])


def test_int8_static_close_to_float():
    m = small_cnn().eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 1, 8, 8, generator=g)
    q = F.quantize_int8(m, calibration=x)
    assert q.int8_info['method'] == 'static', q.int8_info
    assert q.int8_info['floatLayers'] == []
    kinds = {n: type(mod).__module__ for n, mod in q.named_modules()}
    assert all('quantized' in kinds[n] for n in ('0', '4', '5', '8')), kinds
    assert 'quantized' not in kinds['6']
    with torch.no_grad():
        ref, out = m(x), q(x)
    span = float(ref.max() - ref.min())
    assert float((ref - out).abs().max()) < 0.05 * span
    assert (ref.argmax(1) == out.argmax(1)).float().mean() > 0.9
    assert q.int8_info['bytes'] > 0
    ev = F.evaluate(q, x, ref.argmax(1), teacher_pred=ref.argmax(1))
    assert ev['acc'] == ev['agreement'] and ev['errors'] == 64 - round(ev['acc'] * 64)


def test_int8_dynamic_without_calibration():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4)).eval()
    q = F.quantize_int8(m)
    assert q.int8_info['method'] == 'dynamic' and q.int8_info['floatLayers'] == []
    x = torch.randn(50, 20)
    with torch.no_grad():
        ref, out = m(x), q(x)
    assert float((ref - out).abs().max()) < 0.05 * float(ref.abs().max())
    assert q.int8_info['bytes'] < F._serialized_bytes(m)


def test_evaluate_against_naive_count():
    m = nn.Linear(4, 3)
    x = torch.randn(30, 4)
    y = torch.randint(0, 3, (30,))
    ev = F.evaluate(m, x, y, batch=7)
    with torch.no_grad():
        naive = sum(int(m(x[i:i + 1]).argmax()) == int(y[i]) for i in range(30))
    assert ev['errors'] == 30 - naive and ev['acc'] == naive / 30


def test_exports_load_back(tmp_path):
    m = small_cnn()
    x = torch.rand(3, 1, 8, 8)
    files = F.export_student(m, str(tmp_path), x[:1])
    assert [os.path.basename(f) for f in files] == ['model.pt', 'model.torchscript.pt', 'model.onnx'] and files.warnings == []
    assert m.training  # the model's mode is restored
    m.eval()
    ts = torch.jit.load(str(tmp_path / 'model.torchscript.pt'))
    fresh = small_cnn()
    with torch.no_grad():
        fresh[0].weight.zero_()
    fresh.load_state_dict(torch.load(str(tmp_path / 'model.pt')))
    fresh.eval()
    with torch.no_grad():
        assert torch.allclose(ts(x), m(x), atol=1e-6)  # batch 3 through a trace made at batch 1
        assert torch.equal(fresh(x), m(x))
    assert (tmp_path / 'model.onnx').stat().st_size > 1000
    assert not any(p.name.endswith('.tmp') for p in tmp_path.iterdir())


def test_export_failures_are_warnings(tmp_path):
    class Spectral(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(torch.fft.rfft(x).abs()[:, :8].repeat(1, 2)[:, :8])
    files = F.export_student(Spectral(), str(tmp_path), torch.rand(1, 8))
    names = [os.path.basename(f) for f in files]
    assert 'model.pt' in names and 'model.onnx' not in names
    assert any(w.startswith('ONNX export failed') for w in files.warnings)


def test_int8_falls_back_to_dynamic_and_names_float_layers():
    class Branchy(nn.Module):  # data-dependent control flow: torch.fx cannot trace it
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(2 * 6 * 6, 3)

        def forward(self, x):
            if x.sum() > 0:
                x = x * 2
            return self.fc(self.c(x).flatten(1))
    m = Branchy().eval()
    x = torch.rand(4, 1, 8, 8)
    q = F.quantize_int8(m, calibration=x)
    assert q.int8_info['method'] == 'dynamic' and q.int8_info['floatLayers'] == ['c']
    assert 'TraceError' in q.int8_info['staticError']
    with torch.no_grad():
        assert torch.allclose(q(x), m(x), atol=0.05 * float(m(x).abs().max()))


def test_torchscript_flops_match_the_hook_count(tmp_path):
    m = small_cnn().eval()
    torch.jit.save(torch.jit.script(m), str(tmp_path / 'm.pt'))
    t = torch.jit.load(str(tmp_path / 'm.pt'))
    hooks = F.model_figures(m, (1, 8, 8), 'cpu', batch=2, runs=1, warmup=0)['flops']
    fig = F.model_figures(t, (1, 8, 8), 'cpu', batch=2, runs=1, warmup=0)
    # the pool here does not overlap (kernel = stride), so the profiler's rule gives the same count
    assert fig['flops'] == hooks and 'TorchScript' in fig['notes'][0]
    assert fig['params'] == sum(p.numel() for p in m.parameters())
