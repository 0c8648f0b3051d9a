"""adversarial.py: the discriminator, the student term, D's loss and accuracy against hand-computed
values (numpy, independent of torch), gradients against central finite differences in float64, D's
own Adam step (after the student's, from D's loss alone), the term inside knowledge.Terms (defaults,
adapters, refusals), a tiny synthetic run that logs the figures, and the discriminator-wins warning."""
import json
import math
import os

import numpy as np
import pytest
import torch

import train_helpers as H
from distill_torch import adversarial as A
from distill_torch import distributed
from distill_torch.errors import ConfigError
from distill_torch.knowledge import build_terms
from distill_torch.runfolder import RunFolder
from distill_torch.train import train_job

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# hand-computed case

W1 = np.array([[0.5, -1.0, 0.25], [-0.75, 0.5, 1.0]])   # hidden 2 ← input 3 ([out, in], torch's layout)
B1 = np.array([0.1, -0.2])
W2 = np.array([[1.5, -2.0]])
B2 = np.array([0.05])
XT = np.array([[1.0, 0.0, 0.5], [0.2, 0.3, -0.4]])     # teacher rows
XS = np.array([[-1.0, 0.5, 0.0], [1.0, 0.0, 0.0]])     # student rows (the second fools D)


def np_d(x):
    h = x @ W1.T + B1
    h = np.where(h > 0, h, 0.2 * h)
    return (h @ W2.T + B2)[:, 0]


def np_log_sigmoid(v):
    return np.log(1.0 / (1.0 + np.exp(-v)))


def fixed_disc(dtype=torch.float64):
    d = A.Discriminator(3, [2]).to(dtype)
    lin1, act, lin2 = d.net
    assert isinstance(act, torch.nn.LeakyReLU) and act.negative_slope == 0.2
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor(W1))
        lin1.bias.copy_(torch.tensor(B1))
        lin2.weight.copy_(torch.tensor(W2))
        lin2.bias.copy_(torch.tensor(B2))
    return d


def test_discriminator_terms_match_a_hand_computation():
    d = fixed_disc()
    dt, ds = d(torch.tensor(XT)), d(torch.tensor(XS))
    want_t, want_s = np_d(XT), np_d(XS)
    # by hand, first teacher row: h = [0.5+0+0.125+0.1, -0.75+0+0.5-0.2] = [0.725, -0.45] → [0.725, -0.09]
    assert want_t[0] == pytest.approx(1.5 * 0.725 - 2.0 * -0.09 + 0.05, abs=1e-12)
    assert np.allclose(dt.detach().numpy(), want_t, atol=1e-12) and np.allclose(ds.detach().numpy(), want_s, atol=1e-12)
    student = A.student_term(ds)
    assert float(student) == pytest.approx(-np.mean(np_log_sigmoid(want_s)), rel=1e-12)
    loss = A.discriminator_loss(dt, ds)
    want = -np.mean(np_log_sigmoid(want_t) + np.log(1 - 1 / (1 + np.exp(-want_s))))
    assert float(loss) == pytest.approx(want, rel=1e-12)
    right = int((want_t > 0).sum()) + int((want_s < 0).sum())
    assert A.discriminator_accuracy(dt, ds) == right / 4
    assert 0 < right < 4  # the case has right and wrong outputs
    # far-out logits: logsigmoid stays finite where log(sigmoid) would not
    big = torch.tensor([-200.0, 200.0], dtype=torch.float64)
    assert float(A.student_term(big)) == pytest.approx(100.0, rel=1e-12)
    assert float(A.discriminator_loss(big, -big)) == pytest.approx(200.0, rel=1e-12)  # (400 + 0) / 2


def test_accuracy_counts_each_side():
    t = torch.tensor([1.0, -1.0, 2.0])
    s = torch.tensor([-1.0, -3.0, 0.5])
    assert A.discriminator_accuracy(t, s) == 4 / 6


def test_discriminator_starts_as_tfjs_dense_layers():
    torch.manual_seed(0)
    d = A.Discriminator(30, [20, 10])
    lins = [m for m in d.net if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in lins] == [(30, 20), (20, 10), (10, 1)]
    for l in lins:
        bound = math.sqrt(6 / (l.in_features + l.out_features))
        assert float(l.weight.abs().max()) <= bound and float(l.weight.abs().max()) > 0.5 * bound
        assert torch.count_nonzero(l.bias) == 0
    assert d(torch.zeros(5, 30)).shape == (5,)


def central_difference(f, x, eps=1e-6):
    g = torch.zeros_like(x)
    flat = x.view(-1)
    for i in range(flat.numel()):
        old = float(flat[i])
        flat[i] = old + eps
        up = float(f(x))
        flat[i] = old - eps
        down = float(f(x))
        flat[i] = old
        g.view(-1)[i] = (up - down) / (2 * eps)
    return g


def test_gradients_match_finite_differences():
    torch.manual_seed(3)
    d = A.Discriminator(5 + 3, [6, 4]).double()
    zs = torch.randn(4, 5, dtype=torch.float64)
    zt = torch.randn(4, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2])

    def student(z):  # the student term through softmax(z/T) and the one-hot labels
        return A.student_term(d(A.d_input(A.softened(z, 2.0), y, 3, True)))
    z = zs.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(student(z), [z])
    fd = central_difference(lambda v: student(v), zs.clone())
    assert float(g.abs().max()) > 0
    assert torch.allclose(g, fd, rtol=1e-6, atol=1e-9)

    xt = A.d_input(A.softened(zt, 2.0), y, 3, True)
    xs = A.d_input(A.softened(zs, 2.0), y, 3, True)
    for p in d.parameters():  # D's loss w.r.t. every parameter of D
        (gp,) = torch.autograd.grad(A.discriminator_loss(d(xt), d(xs)), [p])

        def f(v, p=p):
            with torch.no_grad():
                saved = p.detach().clone()
                p.copy_(v)
                out = A.discriminator_loss(d(xt), d(xs))
                p.copy_(saved)
            return out
        fd = central_difference(f, p.detach().clone())
        assert torch.allclose(gp, fd, rtol=1e-6, atol=1e-9), p.shape


def test_feature_rows_are_flattened_in_the_tfjs_order():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)  # NCHW
    flat = A.flatten_tf(x)
    assert flat.shape == (2, 12)
    assert flat[0].tolist() == x[0].permute(1, 2, 0).reshape(-1).tolist()  # h, w, then c
    assert flat[0, :3].tolist() == [0.0, 4.0, 8.0]
    rows = A.d_input(torch.zeros(2, 4), torch.tensor([1, 0]), 3, True)
    assert rows.tolist() == [[0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0, 0]]


# ---------------------------------------------------------------------------------------------
# inside Terms

def _terms(knowledge, data=None, seed=0):
    data = data or H.make_data(n_train=48, n_test=12)
    student, teacher = H.student_cnn(), H.teacher_cnn().eval()
    torch.manual_seed(seed)
    terms = build_terms(knowledge, teacher=teacher, student=student, sample=data.train.x[:4], num_classes=data.num_classes,
                        num_train=data.train.y.shape[0], labels_weight=0.0, train_labels=data.train.y)
    return terms, student, teacher, data


def _state(terms, i=0):
    return next(m for m in terms.parts.values() if isinstance(m, A.AdversarialState)) if i == 0 else \
        [m for m in terms.parts.values() if isinstance(m, A.AdversarialState)][i]


def test_defaults_and_d_outside_the_students_parameters():
    terms, *_ = _terms([{'kind': 'adversarial', 'weight': 1}])  # every other field left out
    assert terms.names == ['adversarial']
    st = _state(terms)
    lins = [m for m in st.disc.net if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in lins] == [(3, 64), (64, 1)]  # softened logits of 3 classes
    group = st.optimizer.param_groups[0]
    assert group['lr'] == 0.0002 and group['betas'] == (0.5, 0.999) and group['eps'] == 1e-8
    assert isinstance(st.optimizer, torch.optim.Adam)
    d_ids = {id(p) for p in st.disc.parameters()}
    assert not d_ids & {id(p) for p in terms.parameters()}
    assert list(terms.parameters()) == []  # nothing else to train in this entry
    assert A.options({'temperature': None}) == {'temperature': 1.0, 'hidden': [64], 'learningRate': 0.0002, 'conditional': False}


def test_one_step_trains_d_by_one_adam_step_on_its_own_loss():
    lr, temp = 0.01, 2.0
    terms, student, teacher, data = _terms([{'kind': 'adversarial', 'method': 'adversarial', 'weight': 1, 'temperature': temp,
                                             'hidden': [5], 'learningRate': lr, 'conditional': True}])
    st = _state(terms)
    before = {k: v.clone() for k, v in st.disc.state_dict().items()}
    x, y = data.train.x[:8], data.train.y[:8]
    terms.train()
    zs = student(x)
    with torch.no_grad():
        zt = teacher(x)
    losses, _, params = terms(s_logits=zs, t_logits=zt, s_feats={}, t_feats={}, labels=y, epoch=1)
    # the independent figures: a copy of D on the same detached rows
    ref = A.Discriminator(3 + 3, [5])
    ref.load_state_dict(before)
    xs = A.d_input(torch.softmax(zs.detach() / temp, -1), y, 3, True)
    xt = A.d_input(torch.softmax(zt / temp, -1), y, 3, True)
    ds, dt = ref(xs), ref(xt)
    assert float(losses['adversarial']) == pytest.approx(float(-torch.nn.functional.logsigmoid(ds).mean()), rel=1e-6)
    d_loss = -(torch.nn.functional.logsigmoid(dt) + torch.log1p(-torch.sigmoid(ds))).mean()
    assert params['adversarial.discLoss'] == pytest.approx(float(d_loss), rel=1e-6)
    assert params['adversarial.discAcc'] == (int((dt > 0).sum()) + int((ds < 0).sum())) / 16
    grads = torch.autograd.grad(d_loss, list(ref.parameters()))
    losses['total'].backward()  # the student's backward also reaches D: D's step must ignore it
    assert all(p.grad is not None for p in st.disc.parameters())
    assert student[0].weight.grad is not None and float(student[0].weight.grad.abs().max()) > 0
    terms.after_step()
    # Adam's first step: m̂ = g, v̂ = g², θ ← θ − lr·g/(|g| + ε)
    for (name, p), g in zip(ref.named_parameters(), grads):
        want = before[name] - lr * g / (g.abs() + 1e-8)
        assert torch.allclose(st.disc.state_dict()[name], want, rtol=0, atol=1e-7), name
    terms.after_step()  # nothing pending: no second step
    for (name, p), g in zip(ref.named_parameters(), grads):
        assert torch.allclose(st.disc.state_dict()[name], before[name] - lr * g / (g.abs() + 1e-8), rtol=0, atol=1e-7)


def test_eval_forward_does_not_train_d_nor_count():
    terms, student, teacher, data = _terms([{'kind': 'adversarial', 'weight': 1}])
    st = _state(terms)
    terms.eval()
    x, y = data.train.x[:8], data.train.y[:8]
    terms(s_logits=student(x), t_logits=teacher(x), s_feats={}, t_feats={}, labels=y, epoch=1)
    before = [p.clone() for p in st.disc.parameters()]
    terms.after_step()
    assert all(torch.equal(a, b) for a, b in zip(before, st.disc.parameters()))
    assert terms.epoch_extras() == {}


def test_feature_pair_uses_fitnets_adapter_and_second_entry_is_numbered():
    knowledge = [{'kind': 'adversarial', 'weight': 1},
                 {'kind': 'adversarial', 'weight': 0.5, 'hidden': [7], 'pairs': [{'teacher': '3', 'student': '3', 'adapter': 'auto'}]}]
    terms, *_ = _terms(knowledge)
    assert terms.names == ['adversarial', 'adversarial#2']
    t2 = terms.terms[1]
    assert t2.pair_adapters == ['conv1x1 4→8; discriminator 72→7→1'] and t2.pair_labels == ['3→3']
    assert t2.teacher_layers == ['3'] and t2.student_layers == ['3']
    st = _state(terms, 1)
    assert st.disc.net[0].in_features == 8 * 3 * 3  # the teacher's pooled map, flattened
    adapter_ids = {id(p) for p in terms.parts['k1_p0'].parameters()}
    assert adapter_ids and adapter_ids <= {id(p) for p in terms.parameters()}  # the adapter trains with the student


def test_refusals_are_located():
    with pytest.raises(ConfigError) as e:
        _terms([{'kind': 'adversarial', 'weight': 1, 'pairs': [{'teacher': '3', 'student': '3'}, {'teacher': '5', 'student': '6'}]}])
    assert e.value.path == ['knowledge', 0, 'pairs'] and 'at most one pair' in e.value.message
    with pytest.raises(ConfigError) as e:
        _terms([{'kind': 'response', 'method': 'kd', 'temperature': 2, 'weight': 1},
                {'kind': 'adversarial', 'weight': 1, 'hidden': [0]}])
    assert e.value.path == ['knowledge', 1, 'hidden'] and 'positive integers' in e.value.message
    with pytest.raises(ConfigError) as e:
        _terms([{'kind': 'adversarial', 'weight': 1, 'pairs': [{'teacher': '3', 'student': 'nope'}]}])
    assert e.value.path == ['knowledge', 0, 'pairs', 0, 'student'] and 'nope' in e.value.message
    with pytest.raises(ConfigError) as e:  # a vector paired with a map
        _terms([{'kind': 'adversarial', 'weight': 1, 'pairs': [{'teacher': '3', 'student': '6', 'adapter': 'auto'}]}])
    assert e.value.path == ['knowledge', 0, 'pairs', 0] and e.value.message.startswith('adversarial: ') and 'ranks differ' in e.value.message
    config = {'knowledge': [{'kind': 'response', 'method': 'kd', 'weight': 1}, {'kind': 'adversarial', 'weight': 1}],
              'training': {'batchSize': 16}}
    distributed.check_config(config, 96, 1, torch.device('cpu'))  # one process: fine
    distributed.check_config(config, 96, 2, torch.device('cpu'))  # data-parallel too (D synchronises itself: test_distributed.py)


def test_checkpointed_state_restores_d_and_its_optimizer():
    knowledge = [{'kind': 'adversarial', 'weight': 1, 'learningRate': 0.01}]
    terms, student, teacher, data = _terms(knowledge)
    terms.train()
    for i in range(3):
        x, y = data.train.x[i * 8:(i + 1) * 8], data.train.y[i * 8:(i + 1) * 8]
        losses, _, _ = terms(s_logits=student(x).detach(), t_logits=teacher(x), s_feats={}, t_feats={}, labels=y, epoch=1)
        terms.after_step()
    saved = terms.state_dict()
    other, *_ = _terms(knowledge, seed=99)  # another D to start with
    st, so = _state(terms), _state(other)
    assert not torch.equal(st.disc.net[0].weight, so.disc.net[0].weight)
    other.load_state_dict(saved)
    for a, b in zip(st.disc.parameters(), so.disc.parameters()):
        assert torch.equal(a, b)
    sa, sb = st.optimizer.state_dict(), so.optimizer.state_dict()
    assert sa['param_groups'] == sb['param_groups']
    for k in sa['state']:
        for name in ('exp_avg', 'exp_avg_sq', 'step'):
            assert torch.equal(sa['state'][k][name], sb['state'][k][name])
    assert so.sums == st.sums and st.sums[2] == 24


# ---------------------------------------------------------------------------------------------
# a tiny synthetic run

ADV_CONFIG = {
    'scheme': {'kind': 'offline'},
    'labels': {'weight': 0.5},
    'knowledge': [
        {'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 0.9},
        {'kind': 'adversarial', 'method': 'adversarial', 'weight': 0.5, 'conditional': True, 'learningRate': 0.001},
        {'kind': 'adversarial', 'weight': 0.3, 'hidden': [16, 8], 'temperature': 2,
         'pairs': [{'teacher': '3', 'student': '3', 'adapter': 'auto'}]},
    ],
}


def test_a_tiny_run_logs_d_figures_per_step_and_epoch(tmp_path):
    cfg = H.training(epochs=2, logEvery=1)
    ctx = H.distill_context(str(tmp_path / 'r'), config=ADV_CONFIG, train_cfg=cfg)
    assert train_job(ctx) == 'completed'
    recs = RunFolder(ctx.folder.dir).read_metrics()
    steps = [r for r in recs if r['type'] == 'step']
    epochs = [r for r in recs if r['type'] == 'epoch']
    assert len(steps) == 20 and len(epochs) == 2
    keys = {'adversarial.discLoss', 'adversarial.discAcc', 'adversarial#2.discLoss', 'adversarial#2.discAcc'}
    for r in steps:
        assert set(r['params']) == keys
        assert 0 <= r['params']['adversarial.discAcc'] <= 1 and r['params']['adversarial.discLoss'] > 0
        assert {'adversarial', 'adversarial#2', 'kd', 'labels', 'total'} == set(r['losses'])
        assert set(r['pairs']) == {'adversarial#2'}
    rows = [min(16, 150 - 16 * i) for i in range(10)]  # the batch sizes of an epoch (150 samples, 16 a batch)
    for e in epochs:
        mine = [r for r in steps if r['epoch'] == e['epoch']]
        for k in keys:
            want = sum(r['params'][k] * m for r, m in zip(mine, rows)) / sum(rows)
            assert e['extras'][k] == pytest.approx(want, rel=1e-12)
    msgs = [m for m in ctx.send.of('epoch')]
    assert all(k in msgs[0]['metrics'] for k in keys)
    # D moved (its own optimizer) and the figures changed over the run
    assert len({r['params']['adversarial.discLoss'] for r in steps}) > 10


def test_discriminator_wins_warning():
    recs = [{'type': 'epoch', 'job': 'distill-s1', 'epoch': 1, 'extras': {'adversarial.discAcc': 0.98}},
            {'type': 'epoch', 'job': 'distill-s1', 'epoch': 2, 'extras': {'adversarial.discAcc': 0.99, 'adversarial#2.discAcc': 0.5}},
            {'type': 'epoch', 'job': 'distill-s1', 'epoch': 3, 'extras': {'adversarial.discAcc': 1.0}},
            {'type': 'epoch', 'job': 'distill-s2', 'epoch': 1, 'extras': {'adversarial#2.discAcc': 0.995, 'adversarial.discLoss': 2.0}},
            {'type': 'epoch', 'job': 'scratch-s1', 'epoch': 1}]
    w = A.discriminator_warning(recs)
    assert set(w) == {'kind', 'message', 'causes'} and w['kind'] == 'discriminator-wins' and len(w['causes']) == 3
    # the TF.js engine's wording (adversarialHealth.ts), every epoch at ≥ 99 % named in record order
    assert w['message'] == ('the adversarial discriminator wins: its mean accuracy over an epoch reached ≥ 99% in '
                            'distill-s1 epoch 2 (adversarial): 99.0%; distill-s1 epoch 3 (adversarial): 100.0%; '
                            'distill-s2 epoch 1 (adversarial#2): 99.5%; a discriminator that always tells the student from the '
                            'teacher gives the student no useful signal')
    assert A.discriminator_warning(recs[:1]) is None and A.discriminator_warning([]) is None
    many = [{'type': 'epoch', 'job': 'distill-s1', 'epoch': e, 'extras': {'adversarial.discAcc': 1}} for e in range(1, 8)]
    assert A.discriminator_warning(many)['message'].count('distill-s1 epoch') == 5
    assert ' and 2 more epoch(s);' in A.discriminator_warning(many)['message']
    schema = json.load(open(os.path.join(os.path.dirname(__file__), '..', '..', 'schema', 'report.schema.json')))
    assert 'discriminator-wins' in schema['properties']['warnings']['items']['properties']['kind']['enum']


def test_probe_checks_an_adversarial_pair_by_fitnets_rules():
    from distill_torch import probe
    ok = probe.check_pair('adversarial', 't', 's', [None, 3, 3, 8], [None, 3, 3, 4])
    assert ok == {'ok': True, 'adapter': 'conv1x1 4→8', 'outputShape': [None, 3, 3, 8]}
    bad = probe.check_pair('adversarial', 't', 's', [None, 3, 3, 8], [None, 16])
    assert not bad['ok'] and bad['reason'].startswith('adversarial: ') and 'ranks differ' in bad['reason']
    links = probe.links_of({'knowledge': [{'kind': 'adversarial', 'method': 'adversarial', 'pairs': [{'teacher': 't', 'student': 's'}]}]},
                           [{'name': 't', 'outputShape': [None, 3, 3, 8]}], [{'name': 's', 'outputShape': [None, 6, 6, 4]}])
    assert links[0]['adapter'] == 'avgpool 2×2 → conv1x1 4→8' and links[0]['method'] == 'adversarial'


# ---------------------------------------------------------------------------------------------
# end to end through the protocol: the folder validates, D wins, the report says so

SHIFTED_MODELS = '''
import torch
from torch import nn


class Shift(nn.Module):
    """Adds a constant: the teacher's features sit at +4, the student's at -4 (D tells them apart at once)."""
    def __init__(self, by):
        super().__init__()
        self.by = by

    def forward(self, x):
        return x + self.by


def teacher(width=8):
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), Shift(4.0),
                         nn.Linear(width * 4, 3))


def student(width=8):
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), Shift(-4.0),
                         nn.Linear(width * 4, 3))
'''


def test_a_protocol_run_flags_a_winning_discriminator(tmp_path):
    from conftest import create_run, tiny_experiment
    from schema_check import check
    from test_protocol import Engine
    knowledge = [{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}},
                 {'kind': 'adversarial', 'method': 'adversarial', 'weight': 0.001, 'schedule': {'kind': 'constant'}, 'temperature': 1,
                  'hidden': [16], 'learningRate': 0.05, 'conditional': False,
                  'pairs': [{'teacher': '4', 'student': '4', 'adapter': 'none'}]}]
    msg = tiny_experiment(str(tmp_path / 'exp'), epochs=3, knowledge=knowledge, baseline=False)
    with open(os.path.join(str(tmp_path / 'exp'), 'models.py'), 'w') as f:
        f.write(SHIFTED_MODELS)
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    assert e.expect('done', timeout=300)['status'] == 'completed'
    assert e.wait() == 0
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        records = [json.loads(l) for l in f if l.strip()]
    for r in records:
        check(r, 'metrics.schema.json')
    epochs = [r for r in records if r['type'] == 'epoch']
    accs = [r['extras']['adversarial.discAcc'] for r in epochs]
    assert len(accs) == 3 and accs[-1] >= 0.99, accs
    assert all('adversarial.discLoss' in r['params'] for r in records if r['type'] == 'step')
    report = json.load(open(os.path.join(run_dir, 'report.json')))
    check(report, 'report.schema.json')
    wins = [w for w in report['warnings'] if w['kind'] == 'discriminator-wins']
    first = next(r['epoch'] for r in epochs if r['extras']['adversarial.discAcc'] >= 0.99)
    assert len(wins) == 1 and f'distill-s1 epoch {first} (adversarial): ' in wins[0]['message']
    assert any('discriminator' in m.get('message', '') and m.get('level') == 'warn' for m in e.seen if m['type'] == 'log')
    # D is not part of the exported student, nor of the student's optimizer state
    ck = sorted(os.listdir(os.path.join(run_dir, 'checkpoints', 'distill-s1')))[-1]
    import torch as _t
    saved = _t.load(os.path.join(run_dir, 'checkpoints', 'distill-s1', ck, 'state.pt'))
    extra = [k for k in saved['modules']['terms'] if k.endswith('_extra_state')]
    assert extra == ['parts.k1._extra_state'] and saved['modules']['terms'][extra[0]]['optimizer']['state']
    n_student = sum(v.numel() for v in saved['model'].values())
    n_opt = sum(s['exp_avg'].numel() for s in saved['optimizer']['state'].values())
    assert n_opt == sum(p.numel() for k, p in saved['model'].items() if 'running' not in k and 'num_batches' not in k) <= n_student
