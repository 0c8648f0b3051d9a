"""models.py: module factories, TorchScript, state_dict files, torchvision, derived students."""
import os
import sys
import textwrap

import pytest
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from distill_torch import ConfigError  # noqa: E402
from distill_torch import models as M  # noqa: E402

torch.set_num_threads(1)

MODELS_PY = textwrap.dedent('''
    import torch
    from torch import nn

    def mlp(hidden=32, classes=10):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                             nn.Linear(hidden, classes))

    def cnn(width=8):
        return nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()),
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(width * 16, 10))

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(64, 64)
        def forward(self, x):
            return x.flatten(1) + self.a(x.flatten(1))

    def not_a_model():
        return 42

    HELPER = 3
''')


@pytest.fixture()
def base(tmp_path):
    (tmp_path / 'models.py').write_text(MODELS_PY)
    return str(tmp_path)


def build(spec, base, **kw):
    return M.build_model(spec, base, path=kw.pop('path', ['student']), input_shape=kw.pop('input_shape', (1, 8, 8)),
                         num_classes=10, **kw)


def test_module_factory_args_and_seed(base):
    a = build({'module': 'models.py', 'export': 'mlp', 'args': {'hidden': 16}}, base, seed=3)
    b = build({'module': 'models.py', 'export': 'mlp', 'args': {'hidden': 16}}, base, seed=3)
    c = build({'module': 'models.py', 'export': 'mlp', 'args': {'hidden': 16}}, base, seed=4)
    assert a[1].out_features == 16
    assert torch.equal(a[1].weight, b[1].weight) and not torch.equal(a[1].weight, c[1].weight)
    assert M.layer_names(a) == ['0', '1', '2', '3', '4', '5']
    assert M.describe_spec({'module': 'models.py', 'export': 'mlp'}) == 'models.py#mlp'


def test_module_errors(base):
    with pytest.raises(ConfigError) as e:
        build({'module': 'models.py', 'export': 'mpl'}, base)
    assert e.value.path == ['student', 'export']
    assert '"mlp"' in e.value.message and '"cnn"' in e.value.message and 'HELPER' not in e.value.message
    with pytest.raises(ConfigError) as e:
        build({'module': 'models.py', 'export': 'not_a_model'}, base)
    assert e.value.path == ['student', 'export'] and 'returned int' in e.value.message
    with pytest.raises(ConfigError) as e:
        build({'module': 'models.py', 'export': 'mlp', 'args': {'depth': 3}}, base)
    assert e.value.path == ['student', 'args'] and 'depth' in e.value.message
    with pytest.raises(ConfigError) as e:
        build({'module': 'nope.py', 'export': 'mlp'}, base)
    assert e.value.path == ['student', 'module'] and 'file not found' in e.value.message


def test_weights_and_mismatch(base, tmp_path):
    a = build({'module': 'models.py', 'export': 'mlp'}, base, seed=1)
    torch.save(a.state_dict(), tmp_path / 't.pt')
    b = build({'module': 'models.py', 'export': 'mlp', 'weights': 't.pt'}, base, seed=2)
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(a.eval()(x), b.eval()(x))
    with pytest.raises(ConfigError) as e:
        build({'module': 'models.py', 'export': 'mlp', 'args': {'hidden': 8}, 'weights': 't.pt'}, base, path=['teacher'])
    assert e.value.path == ['teacher', 'weights'] and 'wrong shape' in e.value.message and '1.weight' in e.value.message
    torch.save({'module.' + k: v for k, v in a.state_dict().items()}, tmp_path / 'dp.pt')
    with pytest.raises(ConfigError) as e:
        build({'module': 'models.py', 'export': 'mlp', 'weights': 'dp.pt'}, base)
    assert 'missing 6' in e.value.message and 'unexpected 6' in e.value.message and 'DataParallel' in e.value.message


def test_torchscript_teacher(base, tmp_path):
    a = build({'module': 'models.py', 'export': 'cnn'}, base).eval()
    torch.jit.save(torch.jit.script(a), tmp_path / 'ts.pt')
    t = build({'model': 'ts.pt'}, base, path=['teacher']).eval()
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(t(x), a(x))
    torch.save(a.state_dict(), tmp_path / 'sd.pt')
    with pytest.raises(ConfigError) as e:
        build({'model': 'sd.pt'}, base, path=['teacher'])
    assert e.value.path == ['teacher', 'model'] and 'not a TorchScript file' in e.value.message


def test_torchvision_lazy_and_closest(base):
    pytest.importorskip('torchvision')
    m = build({'torchvision': 'resnet18'}, base, input_shape=(3, 32, 32))
    assert m.fc.out_features == 10  # the experiment's classes
    with pytest.raises(ConfigError) as e:
        build({'torchvision': 'resnet19'}, base)
    assert e.value.path == ['student', 'torchvision'] and '"resnet18"' in e.value.message


def test_layer_table(base):
    m = build({'module': 'models.py', 'export': 'cnn'}, base)
    rows = {r['name']: r for r in M.layer_table(m, (1, 8, 8))}
    assert rows['0']['outputShape'] == [None, 8, 8, 8] and rows['0']['type'] == 'Conv2d'
    assert rows['0']['params'] == 8 * 9 + 8
    assert rows['6']['outputShape'] == [None, 128] and rows['7']['outputShape'] == [None, 10]
    assert rows['3']['params'] == 8 * 8 * 9 + 8  # a nested block counts its children


# --- derive ------------------------------------------------------------------------------------

def test_derive_width_halves_hidden_units(base):
    teacher = {'module': 'models.py', 'export': 'mlp', 'args': {'hidden': 32}}
    s = build({'derive': {'width': 0.5}}, base, teacher_spec=teacher, seed=1)
    assert [s[1].in_features, s[1].out_features, s[3].in_features, s[3].out_features, s[5].in_features, s[5].out_features] \
        == [64, 16, 16, 16, 16, 10]
    assert M.layer_names(s) == ['0', '1', '2', '3', '4', '5']  # names kept
    assert [w['to'] for w in s.derive_info['widths']] == [16, 16]
    s2 = build({'derive': {'width': 0.3, 'round': 8}}, base, teacher_spec=teacher)
    assert s2[1].out_features == 8  # round(9.6 / 8) * 8
    s3 = build({'derive': {'width': 0.5, 'keep': ['2']}}, base, teacher_spec=teacher)
    assert s3[1].out_features == 32 and s3[3].out_features == 16


def test_derive_fresh_seeded_weights(base):
    teacher = {'module': 'models.py', 'export': 'mlp'}
    t = build(teacher, base, seed=1)
    a = build({'derive': {'width': 1}}, base, teacher_spec=teacher, seed=5)
    b = build({'derive': {'width': 1}}, base, teacher_spec=teacher, seed=5)
    assert torch.equal(a[1].weight, b[1].weight)
    assert not torch.equal(a[1].weight, t[1].weight)


def test_derive_cnn_width_swap_depth(base):
    teacher = {'module': 'models.py', 'export': 'cnn', 'args': {'width': 8}}
    s = build({'derive': {'width': 0.5, 'swap': {'Conv2D': 'SeparableConv2D'}, 'depth': 0.5}}, base, teacher_spec=teacher)
    # widths: 8 → 4 for the convs; the Linear reads 4 · 16; the output layer keeps 10
    assert s[0].depthwise.groups == 1 and s[0].pointwise.out_channels == 4
    assert s[1].num_features == 4
    assert isinstance(s[3][0], nn.Sequential) and s[3][0].depthwise.groups == 4
    kids = dict(s.named_children())
    assert '4' not in kids and '3' in kids  # depth 0.5 of the 2 droppable blocks: the last one goes
    assert kids['7'].in_features == 4 * 16 and kids['7'].out_features == 10
    assert '3.0.pointwise' in M.layer_names(s) and '4.0' not in M.layer_names(s)
    assert s(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    s = build({'derive': {'drop': ['3.0']}}, base, teacher_spec=teacher)
    assert '3' not in dict(s.named_children()) and '4' in dict(s.named_children())


def test_derive_refusals(base):
    with pytest.raises(ConfigError) as e:
        build({'derive': {'width': 0.5}}, base, teacher_spec={'module': 'models.py', 'export': 'Res'})
    assert e.value.path == ['student', 'derive'] and 'Res' in e.value.message and 'forward()' in e.value.message
    with pytest.raises(ConfigError) as e:
        build({'derive': {'drop': ['7']}}, base, teacher_spec={'module': 'models.py', 'export': 'cnn'})
    assert e.value.path == ['student', 'derive', 'drop', 0] and 'output layer' in e.value.message
    with pytest.raises(ConfigError) as e:
        build({'derive': {'drop': ['0']}}, base, teacher_spec={'module': 'models.py', 'export': 'cnn'})
    assert 'keep the shape' in e.value.message
    with pytest.raises(ConfigError) as e:
        build({'derive': {'keep': ['9']}}, base, teacher_spec={'module': 'models.py', 'export': 'cnn'})
    assert e.value.path == ['student', 'derive', 'keep', 0]
    with pytest.raises(ConfigError) as e:
        build({'derive': {'width': 0.001}}, base, teacher_spec={'module': 'models.py', 'export': 'cnn'})
    assert e.value.path == ['student', 'derive', 'width'] and 'rounds to zero' in e.value.message


def test_derive_refuses_a_torchscript_teacher(base, tmp_path):
    a = build({'module': 'models.py', 'export': 'mlp'}, base)
    torch.jit.save(torch.jit.script(a), tmp_path / 'ts.pt')
    with pytest.raises(ConfigError) as e:
        build({'derive': {'width': 0.5}}, base, teacher_spec={'model': 'ts.pt'})
    assert e.value.path == ['student', 'derive'] and 'TorchScript' in e.value.message


def test_derived_student_exports_and_counts(base, tmp_path):
    from distill_torch import figures as F
    teacher = {'module': 'models.py', 'export': 'cnn', 'args': {'width': 8}}
    t = build(teacher, base)
    s = build({'derive': {'width': 0.5, 'swap': {'Conv2D': 'SeparableConv2D'}}}, base, teacher_spec=teacher)
    files = F.export_student(s, str(tmp_path / 'out'), torch.zeros(1, 1, 8, 8))
    assert len(files) == 3 and files.warnings == []
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(files[1])(x), s.eval()(x), atol=1e-6)
    ft, fs = F.count_flops(t, (1, 8, 8)), F.count_flops(s, (1, 8, 8))
    # the first conv: 1 → 8 filters 3×3 becomes depthwise 3×3 on 1 channel + pointwise 1 → 4
    assert ft['0']['flops'] == 2 * 9 * 8 * 64 + 8 * 64
    assert fs['0.depthwise']['flops'] == 2 * 9 * 64 and fs['0.pointwise']['flops'] == 2 * 4 * 64 + 4 * 64
    assert sum(v['flops'] for v in fs.values()) < sum(v['flops'] for v in ft.values()) / 3
