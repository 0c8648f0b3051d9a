"""distill_torch.knowledge: taps, adapters, terms. The rules and messages themselves are held to the
TF.js engine's by test_conformance.py; here, what only the torch side does: hooks on real modules,
adapter modules and their gradients (finite differences), and the Terms a knowledge list builds."""
import math
import os
import sys

import pytest
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from distill_torch import knowledge as K  # noqa: E402
from distill_torch import losses as L  # noqa: E402
from distill_torch.errors import ConfigError  # noqa: E402

torch.set_num_threads(1)


class Net(nn.Module):
    """A tiny CNN: features.{0..5} (conv, bn, relu, pool, conv, relu), fc1, fc2."""

    def __init__(self, c1=4, c2=6, classes=3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU())
        self.fc1 = nn.Linear(c2 * 4 * 4, 8)
        self.fc2 = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.features(x).flatten(1))))


def entry(method, kind, pairs=None, **kw):
    e = {'kind': kind, 'method': method, 'weight': kw.pop('weight', 1.0), 'schedule': kw.pop('schedule', {'kind': 'constant'})}
    if pairs is not None:
        e['pairs'] = [dict({'adapter': 'auto'}, **p) for p in pairs]
    e.update(kw)
    return e


@pytest.fixture
def nets():
    torch.manual_seed(0)
    return Net(8, 12), Net(4, 6), torch.randn(6, 1, 8, 8)


def run(terms, teacher, student, x, y, epoch=1, idx=None):
    with K.Taps(teacher, terms.teacher_layers, role='teacher', path_of=lambda n: []) as tt, \
            K.Taps(student, terms.student_layers, role='student', path_of=lambda n: []) as ts:
        with torch.no_grad():
            zt = teacher(x)
        zs = student(x)
        return terms(s_logits=zs, t_logits=zt, s_feats=ts.outputs, t_feats=tt.outputs, labels=y,
                     indices=idx if idx is not None else torch.arange(x.shape[0]), epoch=epoch, epochs=10)


# ---------------------------------------------------------------------------------------------
# Taps.

def test_taps_capture_the_named_modules_outputs(nets):
    _, student, x = nets
    student.eval()
    with K.Taps(student, ['features.0', 'features.4', 'fc1'], role='student', path_of=lambda n: []) as taps:
        out = student(x)
        conv0 = student.features[0](x)
        assert torch.equal(taps.outputs['features.0'], conv0)
        f = student.features(x)
        assert torch.equal(taps.outputs['features.4'], student.features[4](student.features[3](student.features[2](student.features[1](conv0)))))
        assert torch.equal(taps.outputs['fc1'], student.fc1(f.flatten(1)))
        assert torch.equal(out, student.fc2(torch.relu(taps.outputs['fc1'])))
        # the student's taps carry gradients back to the student
        taps.outputs['features.0'].sum().backward()
        assert student.features[0].weight.grad is not None
    # hooks are gone after the block
    with torch.no_grad():
        student(x)
    assert len(student.features[0]._forward_hooks) == 0


def test_taps_take_the_first_tensor_of_a_tuple_output():
    class Pair(nn.Module):
        def forward(self, x):
            return x * 2, x * 3

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()

        def forward(self, x):
            a, b = self.pair(x)
            return a + b
    m = M()
    x = torch.randn(2, 3)
    with K.Taps(m, ['pair'], role='teacher', path_of=lambda n: []) as taps:
        m(x)
    assert torch.equal(taps.outputs['pair'], x * 2)


def test_a_wrong_layer_name_is_located_with_the_closest_names(nets):
    teacher, student, x = nets
    with pytest.raises(ConfigError) as e:
        K.Taps(teacher, ['features.4', 'featurs.4'], role='teacher', path_of=lambda n: ['knowledge', 0, 'pairs', 0, 'teacher'])
    assert e.value.path == ['knowledge', 0, 'pairs', 0, 'teacher']
    assert e.value.message == 'the teacher has no layer "featurs.4"; closest: "features.4", "features.0", "features.1"'
    # build_terms locates it at the pair that names it
    entries = [entry('at', 'feature', [{'teacher': 'features.4', 'student': 'features.4'}]),
               entry('fitnet', 'feature', [{'teacher': 'fc1', 'student': 'fc1'}, {'teacher': 'fc1', 'student': 'fc_1'}])]
    with pytest.raises(ConfigError) as e:
        K.build_terms(entries, teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=0)
    assert e.value.path == ['knowledge', 1, 'pairs', 1, 'student']
    assert e.value.message == 'the student has no layer "fc_1"; closest: "fc1", "fc2", "features"'


def test_a_torchscript_model_cannot_be_tapped(nets):
    teacher, _, x = nets
    scripted = torch.jit.trace(teacher.eval(), x[:1])
    with pytest.raises(ConfigError) as e:
        K.Taps(scripted, ['features.0'], role='teacher', path_of=lambda n: ['knowledge', 0, 'pairs', 0, 'teacher'])
    assert 'TorchScript' in e.value.message and e.value.path == ['knowledge', 0, 'pairs', 0, 'teacher']


def test_layer_shapes_leave_the_model_as_it_was(nets):
    teacher, _, x = nets
    teacher.train()
    bn = teacher.features[1]
    before = bn.running_mean.clone(), int(bn.num_batches_tracked)
    shapes = K.layer_shapes(teacher, ['features.0', 'fc1'], x[:2], role='teacher', path_of=lambda n: [])
    assert shapes == {'features.0': (None, 8, 8, 8), 'fc1': (None, 8)}
    assert teacher.training and bn.training
    assert torch.equal(bn.running_mean, before[0]) and int(bn.num_batches_tracked) == before[1]


# ---------------------------------------------------------------------------------------------
# Adapters.

@pytest.mark.parametrize('s_shape,t_shape,description', [
    ((None, 6), (None, 8), 'dense 6→8'),
    ((None, 3, 8, 8), (None, 4, 4, 4), 'avgpool 2×2 → conv1x1 3→4'),
    ((None, 3, 2, 2), (None, 4, 4, 4), 'upsample 2×2 → conv1x1 3→4'),
    ((None, 3, 4, 4), (None, 5, 4, 4), 'conv1x1 3→5'),
    ((None, 3, 4, 4), (None, 3, 4, 4), 'none'),
])
def test_adapter_shapes(s_shape, t_shape, description):
    plan = K.plan_adapter('fitnet', {'teacher': 't', 'student': 's', 'adapter': 'auto'}, s_shape, t_shape)
    assert plan.description == description
    assert plan.output_shape == t_shape
    module = plan.build()
    if description == 'none':
        assert module is None
        return
    y = module(torch.randn((5,) + s_shape[1:]))
    assert tuple(y.shape) == (5,) + t_shape[1:]
    # TF.js's initialisers: Glorot-uniform kernels, zero biases
    last = list(module)[-1]
    fan_in, fan_out = last.weight.shape[1] * last.weight[0, 0].numel(), last.weight.shape[0] * last.weight[0, 0].numel()
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert float(last.weight.abs().max()) <= bound and torch.equal(last.bias, torch.zeros_like(last.bias))


def test_pooling_and_upsampling_are_what_the_tfjs_layers_do():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float64).reshape(2, 1, 4, 4)
    up = K.Upsample(2, 2)(x)
    for b in range(2):
        for i in range(8):
            for j in range(8):
                assert up[b, 0, i, j] == x[b, 0, i // 2, j // 2]
    pooled = K.plan_adapter('at', {'teacher': 't', 'student': 's', 'adapter': 'auto'}, (None, 1, 4, 4), (None, 1, 2, 2)).build()(x)
    naive = torch.tensor([[[[x[b, 0, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean() for j in range(2)] for i in range(2)]] for b in range(2)],
                         dtype=torch.float64)
    assert torch.allclose(pooled, naive)


def test_adapter_path_gradients_match_finite_differences():
    """gradcheck (float64, central differences) through avgpool → conv1x1 → fitnet and upsample → conv1x1 → fitnet,
    w.r.t. the student's features and the adapter's weights."""
    torch.manual_seed(1)
    for s_shape, t_shape in [((None, 2, 4, 4), (None, 3, 2, 2)), ((None, 2, 2, 2), (None, 3, 4, 4))]:
        adapter = K.plan_adapter('fitnet', {'teacher': 't', 'student': 's', 'adapter': 'auto'}, s_shape, t_shape).build().double()
        conv = list(adapter)[-1]
        fs = torch.randn((2,) + s_shape[1:], dtype=torch.float64, requires_grad=True)
        ft = torch.randn((2,) + t_shape[1:], dtype=torch.float64)
        w = conv.weight.detach().clone().requires_grad_(True)
        b = conv.bias.detach().clone().requires_grad_(True)

        def f(fs_, w_, b_):
            y = torch.nn.functional.conv2d(list(adapter)[0](fs_), w_, b_)
            return L.fitnet_loss(y, ft)
        assert torch.autograd.gradcheck(f, (fs, w, b), eps=1e-6, atol=1e-8, rtol=1e-6)
        # and the module computes the same function
        assert torch.allclose(L.fitnet_loss(adapter(fs), ft), f(fs, conv.weight, conv.bias))


def test_review_fusion_shapes_and_gradient():
    torch.manual_seed(2)
    student = [(None, 2, 4, 4), (None, 3, 2, 2)]
    teacher = [(None, 3, 8, 8), (None, 2, 1, 1)]
    fusion = K.ReviewFusion(student, teacher, 2).double()
    xs = [torch.randn((2,) + s[1:], dtype=torch.float64, requires_grad=True) for s in student]
    outs = fusion(xs)
    assert [tuple(o.shape) for o in outs] == [(2, 3, 8, 8), (2, 2, 1, 1)]
    ts = [torch.randn(tuple(o.shape), dtype=torch.float64) for o in outs]
    assert torch.autograd.gradcheck(lambda a, b: L.review_loss(fusion([a, b]), ts), tuple(xs), eps=1e-6, atol=1e-8, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Terms.

def test_terms_names_pairs_and_weighted_total(nets):
    teacher, student, x = nets
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    entries = [
        entry('kd', 'response', temperature=4),
        entry('at', 'feature', [{'teacher': 'features.0', 'student': 'features.0'}, {'teacher': 'features.4', 'student': 'features.4'}]),
        entry('kd', 'response', temperature=2, weight=0.5, schedule={'kind': 'linear-warmup', 'epochs': 4}),
        entry('sp', 'relation', weight=0, pairs=[{'teacher': 'fc1', 'student': 'fc1'}]),
        entry('dkd', 'response', temperature=4, alpha=1, beta=8, warmup=2),
        entry('fsp', 'relation', pairs=[{'teacher': ['features.0', 'features.2'], 'student': ['features.0', 'features.2']}]),
    ]
    terms = K.build_terms(entries, teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=6, labels_weight=0.7)
    assert terms.names == ['kd', 'at', 'kd#2', 'dkd', 'fsp', 'labels']
    assert [t.pair_labels for t in terms.terms][1] == ['features.0→features.0', 'features.4→features.4']
    assert terms.terms[4].pair_labels == ['features.0+features.2→features.0+features.2']
    assert terms.terms[4].pair_adapters == ['conv1x1 4→8', 'conv1x1 4→8']
    assert terms.factors(1) == {'kd': 1, 'at': 1, 'kd#2': 0.5 * 0.25, 'dkd': 0.5, 'fsp': 1, 'labels': 0.7}
    assert terms.factors(3)['kd#2'] == 0.5 * 0.75 and terms.factors(3)['dkd'] == 1 and terms.factors(9)['kd#2'] == 0.5
    teacher.eval()
    losses, pairs, params = run(terms, teacher, student, x, y, epoch=3)
    assert list(losses) == ['kd', 'at', 'kd#2', 'dkd', 'fsp', 'labels', 'total']
    # each value is the loss function's on the same tensors (an independent call)
    with torch.no_grad():
        zt = teacher(x)
        zs = student(x)
    assert torch.allclose(losses['kd'], L.kd_loss(zs, zt, 4))
    assert torch.allclose(losses['kd#2'], L.kd_loss(zs, zt, 2))
    assert torch.allclose(losses['labels'], nn.functional.cross_entropy(zs, y))
    expected = sum(terms.factors(3)[k] * float(v) for k, v in losses.items() if k != 'total')
    assert float(losses['total']) == pytest.approx(expected, rel=1e-6)
    assert set(pairs) == {'at', 'fsp'} and sum(pairs['at'].values()) == pytest.approx(float(losses['at']), rel=1e-6)
    assert params == {}
    # the fsp adapters are parameters of the Terms module and get gradients
    losses['total'].backward()
    assert all(p.grad is not None for p in terms.parameters())


def test_fitnet_hint_epochs_switch_the_other_terms_off(nets):
    teacher, student, x = nets
    entries = [entry('kd', 'response', temperature=4),
               entry('fitnet', 'feature', [{'teacher': 'fc1', 'student': 'fc1'}], hintEpochs=2)]
    terms = K.build_terms(entries, teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=6, labels_weight=1)
    assert terms.hint_epochs == 2
    assert terms.factors(1) == {'kd': 0, 'fitnet': 1, 'labels': 0}
    assert terms.factors(2) == {'kd': 0, 'fitnet': 1, 'labels': 0}
    assert terms.factors(3) == {'kd': 1, 'fitnet': 1, 'labels': 1}


def test_ctkd_theta_climbs_the_loss_with_the_curriculum_weight(nets):
    teacher, student, x = nets
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    e = entry('ctkd', 'response', minTemperature=1, temperatureRange=20, maxReversal=1, reversalEpochs=10, initialTemperature=4)
    terms = K.build_terms([e], teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=6).double()
    theta = next(terms.parameters())
    assert float(theta) == pytest.approx(math.log((3 / 20) / (1 - 3 / 20)))
    teacher.double().eval()
    student.double()
    xd = x.double()
    losses, _, params = run(terms, teacher, student, xd, y, epoch=5)
    assert params['ctkd.temperature'] == pytest.approx(4.0)
    (g,) = torch.autograd.grad(losses['total'], [theta])
    # the plain derivative of the loss w.r.t. θ, by central differences
    with torch.no_grad():
        zt, zs = teacher(xd), student(xd)

    def plain(th):
        return float(L.ctkd_loss(zs, zt, torch.tensor([th], dtype=torch.float64), 0.0, 1, 20)[0])
    h = 1e-6
    d = (plain(float(theta) + h) - plain(float(theta) - h)) / (2 * h)
    lam = L.reversal_weight(5, 1, 10)
    assert lam == pytest.approx(0.5)
    assert float(g) == pytest.approx(-lam * d, rel=1e-5)


def test_multi_kd_uses_the_further_teachers_logits(nets):
    teacher, student, x = nets
    other = Net(8, 12)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    e = entry('multi-kd', 'response', temperature=3, teacherWeight=1, teachers=[{'module': 'm.py', 'export': 'f', 'weight': 3}])
    terms = K.build_terms([e], teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=6, extra_teachers=[other])
    assert terms.extra_teachers == 1
    with torch.no_grad():
        zt, zo = teacher(x), other(x)
    zs = student(x)
    losses, _, _ = terms(s_logits=zs, t_logits=zt, s_feats={}, t_feats={}, labels=y, epoch=1, extra_t_logits=[zo])
    assert torch.allclose(losses['multi-kd'], L.multi_kd_loss(zs, [zt, zo], [1, 3], 3))
    assert not torch.allclose(losses['multi-kd'], L.kd_loss(zs, zt, 3))


def crd_entry(**kw):
    return entry('crd', 'relation', [{'teacher': 'fc1', 'student': 'fc1'}], embedding=kw.pop('embedding', 4),
                 negatives=kw.pop('negatives', 3), temperature=0.5, momentum=0.5, maxMemoryMB=kw.pop('maxMemoryMB', 256))


def test_crd_banks_are_buffers_updated_after_the_step(nets):
    teacher, student, x = nets
    labels = torch.tensor([0, 1, 2] * 4)
    terms = K.build_terms([crd_entry()], teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=12,
                          train_labels=labels, prefix='adapter_distill')
    state = terms.state_dict()
    assert set(k for k in state if 'memory' in k or k.endswith('state')) == {'parts.k0.memory_s', 'parts.k0.memory_t', 'parts.k0.state'}
    # the TF.js engine's seeded start: the same banks for the same prefix and entry
    assert torch.equal(state['parts.k0.memory_s'], L.initial_memory(12, 4, L.string_seed('adapter_distill/0')))
    before = state['parts.k0.memory_s'].clone()
    idx = torch.tensor([3, 7, 10, 0, 5, 8])
    teacher.eval()
    losses, pairs, _ = run(terms, teacher, student, x, labels[idx], idx=idx)
    assert math.isfinite(float(losses['crd'])) and pairs['crd']['fc1→fc1'] == pytest.approx(float(losses['crd']))
    after = terms.state_dict()['parts.k0.memory_s']
    changed = (after != before).any(1)
    assert changed.tolist() == [i in idx.tolist() for i in range(12)]
    assert torch.allclose(after[idx].norm(dim=1), torch.ones(6), atol=1e-6)
    z = terms.state_dict()['parts.k0.state']
    assert float(z[2]) == 1 and float(z[0]) > 0 and float(z[1]) > 0
    # the heads train
    losses['total'].backward()
    assert terms.parts['k0'].head_s[1].weight.grad is not None
    # a resumed Terms continues with the saved banks and normalisers
    again = K.build_terms([crd_entry()], teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=12,
                          train_labels=labels, prefix='adapter_distill')
    again.load_state_dict(terms.state_dict())
    assert torch.equal(again.state_dict()['parts.k0.memory_s'], after)


def test_crd_refusals(nets):
    teacher, student, x = nets
    labels = torch.tensor([0, 1, 2] * 4)
    with pytest.raises(ConfigError) as e:
        K.build_terms([crd_entry(embedding=2 ** 20, maxMemoryMB=1)], teacher=teacher, student=student, sample=x[:2], num_classes=3,
                      num_train=12, train_labels=labels)
    assert e.value.path == ['knowledge', 0, 'embedding']
    assert e.value.message == ('crd: the memory banks hold 2 × 12 samples × 1048576 = 96 MB, above maxMemoryMB 1: lower "embedding", '
                               'limit the training split (data.train.limit), or raise "maxMemoryMB"')
    with pytest.raises(ConfigError) as e:
        K.build_terms([crd_entry(negatives=12)], teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=12,
                      train_labels=labels)
    assert e.value.path == ['knowledge', 0, 'negatives']
    assert e.value.message == 'crd: 12 negatives per sample, but the training split has 12 samples: give "negatives" below 12'
    with pytest.raises(ConfigError) as e:
        K.build_terms([crd_entry()], teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=12,
                      train_labels=torch.zeros(12, dtype=torch.long))
    assert e.value.message == 'crd: the training split has one class only, so there is no negative to contrast with'


def test_negatives_come_from_other_classes_and_are_deterministic():
    labels = [0, 1, 2, 3] * 25
    rows = L.sample_contrast([5, 17, 42], labels, 50)
    assert rows[:, 0].tolist() == [5, 17, 42]
    for r in rows:
        assert all(labels[int(c)] != labels[int(r[0])] for c in r[1:])
    assert torch.equal(rows, L.sample_contrast([5, 17, 42], labels, 50))
    assert not torch.equal(rows, L.sample_contrast([5, 17, 43], labels, 50))
    # the vectorised stream is the scalar generator's
    r = L.mulberry32(99)
    assert L.mulberry32_values(99, 0, 300).tolist() == [r() for _ in range(300)]


def test_reviewkd_term_and_its_stage_checks(nets):
    teacher, student, x = nets
    pairs = [{'teacher': 'features.0', 'student': 'features.0'}, {'teacher': 'features.4', 'student': 'features.4'}]
    terms = K.build_terms([entry('reviewkd', 'feature', pairs, midChannels=3)], teacher=teacher, student=student, sample=x[:2],
                          num_classes=3, num_train=6)
    assert terms.terms[0].pair_adapters == ['review fusion 8×8×4 → 8×8×8 (3 mid channels)', 'review fusion 4×4×6 → 4×4×12 (3 mid channels)']
    teacher.eval()
    losses, pairs_out, _ = run(terms, teacher, student, x, torch.zeros(6, dtype=torch.long))
    assert set(pairs_out['reviewkd']) == {'features.0→features.0', 'features.4→features.4'}
    with pytest.raises(ConfigError) as e:
        K.build_terms([entry('reviewkd', 'feature', list(reversed(pairs)), midChannels=3)], teacher=teacher, student=student,
                      sample=x[:2], num_classes=3, num_train=6)
    assert e.value.path == ['knowledge', 0, 'pairs', 1]
    assert e.value.message.startswith('reviewkd: stages go from shallow to deep')


def test_pair_problems_are_located_at_the_pair(nets):
    teacher, student, x = nets
    with pytest.raises(ConfigError) as e:
        K.build_terms([entry('nst', 'feature', [{'teacher': 'features.0', 'student': 'features.0'}, {'teacher': 'fc1', 'student': 'features.4'}])],
                      teacher=teacher, student=student, sample=x[:2], num_classes=3, num_train=6)
    assert e.value.path == ['knowledge', 0, 'pairs', 1]
    assert e.value.message == ('nst: teacher "fc1" [?,8] ↔ student "features.4" [?,4,4,6]: nst needs tensors of rank 4 '
                               '([B,H,W,C] feature maps); for vectors use "fitnet" with a "dense" adapter, or a relation method '
                               '(rkd-distance, sp, pkt, cc)')
