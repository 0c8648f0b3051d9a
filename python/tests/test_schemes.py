"""schemes.py: the DML and BYOT losses against naive per-sample loops, and online / self jobs run by
train_job end to end (records, extras, every module checkpointed: a crash and resume is exact)."""
import math
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_helpers as H  # noqa: E402
from distill_torch.errors import ConfigError  # noqa: E402
from distill_torch.models import build_model  # noqa: E402
from distill_torch.runfolder import RunFolder  # noqa: E402
from distill_torch.schemes import SelfLearner, byot_losses, check_heads, dml_losses, feature_rows, output_layer  # noqa: E402
from distill_torch.train import JobContext, ProgressClock, TrainingError, seed_for, steps_per_epoch, train_job  # noqa: E402

torch.set_num_threads(1)


def _log_softmax_row(z, T=1.0):
    m = max(v / T for v in z)
    lse = m + math.log(sum(math.exp(v / T - m) for v in z))
    return [v / T - lse for v in z]


def _kd_row(zs, zt, T):
    ls, lt = _log_softmax_row(zs, T), _log_softmax_row(zt, T)
    return T * T * sum(math.exp(a) * (a - b) for a, b in zip(lt, ls))


# ---------------------------------------------------------------------------------------------
# losses against naive loops

def test_dml_losses_against_a_naive_loop():
    g = torch.Generator().manual_seed(3)
    K, B, C, T, w = 3, 4, 5, 2.0, 0.7
    logits = [torch.randn(B, C, generator=g, dtype=torch.float64) * 2 for _ in range(K)]
    y = torch.tensor([0, 3, 4, 1])
    names = ['teacher', 'student', 'student2']
    losses, total = dml_losses(logits, y, names, w, T)
    assert list(losses) == ['teacher.labels', 'teacher.dml', 'student.labels', 'student.dml', 'student2.labels', 'student2.dml']
    want_total = 0.0
    for k in range(K):
        zk = logits[k].tolist()
        ce = sum(-_log_softmax_row(zk[b])[int(y[b])] for b in range(B)) / B
        dml = 0.0
        for j in range(K):
            if j != k:
                dml += sum(_kd_row(zk[b], logits[j][b].tolist(), T) for b in range(B)) / B
        dml /= K - 1
        assert float(losses[f'{names[k]}.labels']) == pytest.approx(ce, rel=1e-6)
        assert float(losses[f'{names[k]}.dml']) == pytest.approx(dml, rel=1e-6)
        want_total += w * ce + dml
    assert float(total) == pytest.approx(want_total, rel=1e-6)


def test_dml_gradient_reaches_each_peer_through_its_own_terms_only():
    g = torch.Generator().manual_seed(4)
    logits = [torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    y = torch.tensor([1, 0, 3])
    _, total = dml_losses(logits, y, ['teacher', 'student'], 1.0, 3.0)
    total.backward()
    # peer 0's gradient from CE_0 + KD(z_0 ← z_1) alone, z_1 a constant; by central differences
    z0 = logits[0].detach().clone()
    z1 = logits[1].detach().clone()

    def own(z):
        losses, _ = dml_losses([z, z1], y, ['teacher', 'student'], 1.0, 3.0)
        return float(losses['teacher.labels'] + losses['teacher.dml'])
    eps = 1e-6
    for i in range(3):
        for c in range(4):
            zp, zm = z0.clone(), z0.clone()
            zp[i, c] += eps
            zm[i, c] -= eps
            assert float(logits[0].grad[i, c]) == pytest.approx((own(zp) - own(zm)) / (2 * eps), rel=1e-5, abs=1e-9)


def test_byot_losses_against_a_naive_loop():
    g = torch.Generator().manual_seed(5)
    B, C, T, alpha, beta = 3, 4, 3.0, 0.3, 0.03
    z = torch.randn(B, C, generator=g, dtype=torch.float64)
    deep = torch.randn(B, 6, generator=g, dtype=torch.float64)
    f_map = torch.randn(B, 2, 3, 2, generator=g, dtype=torch.float64)    # NCHW (C 2, H 3, W 2): read as its 12 values in NHWC order
    f_vec = torch.randn(B, 5, generator=g, dtype=torch.float64)          # a vector as it is
    torch.manual_seed(0)
    heads = [torch.nn.Linear(12, C).double(), torch.nn.Linear(5, C).double()]
    hints = [torch.nn.Linear(12, 6).double(), torch.nn.Linear(5, 6).double()]
    y = torch.tensor([2, 0, 1])
    losses, total = byot_losses(z, deep, [f_map, f_vec], y, ['a', 'b'], heads, hints, T, alpha, beta)
    assert list(losses) == ['labels', 'head:a.labels', 'head:a.kd', 'head:a.hint', 'head:b.labels', 'head:b.kd', 'head:b.hint']

    def lin(layer, v):
        W, b = layer.weight.tolist(), layer.bias.tolist()
        return [sum(W[o][i] * v[i] for i in range(len(v))) + b[o] for o in range(len(b))]
    ce = sum(-_log_softmax_row(z[r].tolist())[int(y[r])] for r in range(B)) / B
    want = ce
    assert float(losses['labels']) == pytest.approx(ce, rel=1e-9)
    for name, f, head, hint in (('a', f_map, heads[0], hints[0]), ('b', f_vec, heads[1], hints[1])):
        ce_h = kd_h = sq = 0.0
        for r in range(B):
            v = ([float(f[r, ch, i, j]) for i in range(f.shape[2]) for j in range(f.shape[3]) for ch in range(f.shape[1])]
                 if f.dim() == 4 else f[r].tolist())  # NHWC order: channel fastest
            zh = lin(head, v)
            ce_h += -_log_softmax_row(zh)[int(y[r])] / B
            kd_h += _kd_row(zh, z[r].tolist(), T) / B
            sq += sum((a - b) ** 2 for a, b in zip(lin(hint, v), deep[r].tolist()))
        hint_h = sq / (B * 6)
        assert float(losses[f'head:{name}.labels']) == pytest.approx(ce_h, rel=1e-9)
        assert float(losses[f'head:{name}.kd']) == pytest.approx(kd_h, rel=1e-9)
        assert float(losses[f'head:{name}.hint']) == pytest.approx(hint_h, rel=1e-9)
        want += (1 - alpha) * ce_h + alpha * kd_h + beta * hint_h
    assert float(total) == pytest.approx(want, rel=1e-9)


def test_heads_are_checked():
    m = H.student_cnn()
    assert output_layer(m) == '8'
    problems = check_heads(m, [{'layer': '2'}, {'layer': 'nope'}, {'layer': '8'}])
    assert problems[0][0] == 1 and 'has no layer "nope"' in problems[0][1]
    assert problems[1] == (2, '"8" is the student\'s output layer; a head goes on a shallower layer')


# ---------------------------------------------------------------------------------------------
# jobs

MODELS_PY = '''
import torch
def cnn(width=4):
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.BatchNorm2d(width), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.2), torch.nn.Linear(9 * width, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
'''


def _context(tmp_path, run: str, scheme: dict, kind: str, should_stop=lambda: False) -> JobContext:
    base = tmp_path / 'exp'
    base.mkdir(exist_ok=True)
    (base / 'models.py').write_text(MODELS_PY)
    config = {'teacher': {'module': 'models.py', 'export': 'cnn', 'args': {'width': 6}},
              'student': {'module': 'models.py', 'export': 'cnn'}, 'scheme': scheme, 'labels': {'weight': 0.5}, 'knowledge': []}
    data = H.make_data(n_train=96)
    train_cfg = H.training(checkpointEvery={'steps': 4})
    job = f'{kind}-s1'
    folder = H.make_run(str(tmp_path / run), {job: {'kind': kind, 'seed': 1, 'status': 'running', 'epochs': 2, 'completedEpochs': 0}})
    model = build_model(config['student'], str(base), path=['student'], input_shape=data.input_shape, num_classes=3, seed=1)
    steps = steps_per_epoch(96, train_cfg) * 2
    return JobContext(job_id=job, job={'kind': kind, 'seed': 1}, training=train_cfg, config=config, data=data,
                      device=torch.device('cpu'), precision='fp32', model=model, teacher=None, terms=None, extra_teachers=[],
                      folder=folder, send=H.Sink(), should_stop=should_stop, clock=ProgressClock(steps), base_dir=str(base))


class _Crash(Exception):
    pass


def _crash_and_resume(tmp_path, scheme, kind, at: int) -> JobContext:
    def crash():
        if ctx.clock.done_steps == at:
            raise _Crash()
        return False
    ctx = _context(tmp_path, 'crashed', scheme, kind, crash)
    with pytest.raises(_Crash):
        train_job(ctx)
    again = _context(tmp_path, 'crashed', scheme, kind)
    assert train_job(again) == 'completed'
    return again


def test_online_job(tmp_path):
    scheme = {'kind': 'online', 'peers': 3, 'temperature': 2}
    ctx = _context(tmp_path, 'straight', scheme, 'online')
    assert train_job(ctx) == 'completed'
    recs = RunFolder(ctx.folder.dir).read_metrics()
    step = next(r for r in recs if r['type'] == 'step')
    assert list(step['losses']) == ['teacher.labels', 'teacher.dml', 'student.labels', 'student.dml',
                                    'student2.labels', 'student2.dml', 'total']
    ls = step['losses']
    assert ls['total'] == pytest.approx(sum(0.5 * ls[f'{p}.labels'] + ls[f'{p}.dml'] for p in ('teacher', 'student', 'student2')), rel=1e-6)
    epoch = [r for r in recs if r['type'] == 'epoch'][-1]
    assert set(epoch['extras']) == {'peer:teacher.testAcc', 'peer:student2.testAcc'}
    assert 'agreement' in epoch and 'klTeacher' in epoch
    assert 'peer:teacher.testAcc' in ctx.send.of('epoch')[-1]['metrics']
    teacher = ctx.outputs['teacher']
    assert sum(p.numel() for p in teacher.parameters()) > sum(p.numel() for p in ctx.model.parameters())  # width 6
    # the teacher peer's figures are its own: recompute its test accuracy
    teacher.eval()
    with torch.no_grad():
        acc = float((teacher(ctx.data.test.x).argmax(-1) == ctx.data.test.y).float().mean())
    assert epoch['extras']['peer:teacher.testAcc'] == pytest.approx(acc)
    # the teacher peer was built from seed·1000 + 1: a fresh build with that seed differs from the trained one
    fresh = build_model({'module': 'models.py', 'export': 'cnn', 'args': {'width': 6}}, ctx.base_dir, path=['teacher'],
                        input_shape=(1, 6, 6), num_classes=3, seed=seed_for(1, {'peer': 1}))
    assert H.same_weights(fresh, teacher)  # it trained

    again = _crash_and_resume(tmp_path, scheme, 'online', at=6)
    assert H.same_weights(again.model, ctx.model) == []
    assert H.same_weights(again.outputs['teacher'], teacher) == []
    assert H.job_records(again.folder, 'online-s1') == H.job_records(ctx.folder, 'online-s1')
    _, state = again.folder.latest_checkpoint('online-s1')
    assert set(state['modules']) == {'peer:teacher', 'peer:student2'}


def test_self_job(tmp_path):
    scheme = {'kind': 'self', 'heads': [{'layer': '2'}, {'layer': '7'}], 'temperature': 3, 'alpha': 0.3, 'beta': 0.03}
    ctx = _context(tmp_path, 'straight', scheme, 'self')
    assert train_job(ctx) == 'completed'
    recs = RunFolder(ctx.folder.dir).read_metrics()
    step = next(r for r in recs if r['type'] == 'step')
    assert list(step['losses']) == ['labels', 'head:2.labels', 'head:2.kd', 'head:2.hint',
                                    'head:7.labels', 'head:7.kd', 'head:7.hint', 'total']
    ls = step['losses']
    want = ls['labels'] + sum(0.7 * ls[f'head:{h}.labels'] + 0.3 * ls[f'head:{h}.kd'] + 0.03 * ls[f'head:{h}.hint'] for h in ('2', '7'))
    assert ls['total'] == pytest.approx(want, rel=1e-6)
    epoch = [r for r in recs if r['type'] == 'epoch'][-1]
    assert set(epoch['extras']) == {'head:2.testAcc', 'head:7.testAcc'}
    assert 'agreement' not in epoch
    _, state = ctx.folder.latest_checkpoint('self-s1')
    assert set(state['modules']) == {'head:2', 'hint:2', 'head:7', 'hint:7'}
    # head 2 reads a 4-channel 6×6 map flattened (144 values, as the TF.js engine's heads); the hint
    # maps to the output layer's input (16)
    assert state['modules']['head:2']['weight'].shape == (3, 144)
    assert state['modules']['hint:7']['weight'].shape == (16, 16)

    again = _crash_and_resume(tmp_path, scheme, 'self', at=7)
    assert H.same_weights(again.model, ctx.model) == []
    assert H.job_records(again.folder, 'self-s1') == H.job_records(ctx.folder, 'self-s1')


def test_self_job_refuses_a_head_on_an_unknown_layer(tmp_path):
    ctx = _context(tmp_path, 'bad', {'kind': 'self', 'heads': [{'layer': '2'}, {'layer': 'layer9'}], 'temperature': 3,
                                     'alpha': 0.3, 'beta': 0.03}, 'self')
    with pytest.raises(ConfigError) as e:
        train_job(ctx)
    assert e.value.path == ['scheme', 'heads', 1, 'layer'] and 'has no layer "layer9"' in e.value.message


def test_feature_rows_are_channels_last():
    t = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(2, 3, 4, 5)  # NCHW
    assert torch.equal(feature_rows(t), t.permute(0, 2, 3, 1).reshape(2, -1))
    assert float(feature_rows(t)[1, 1]) == float(t[1, 1, 0, 0])  # the second value of a row is channel 1 of pixel (0, 0)
    s = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 4)  # NCL
    assert torch.equal(feature_rows(s), s.permute(0, 2, 1).reshape(2, -1))
    v = torch.randn(2, 7)
    assert feature_rows(v) is v


@pytest.mark.parametrize('between', [[], [torch.nn.Dropout(0.0), torch.nn.ReLU()]], ids=['flatten-linear', 'flatten-dropout-relu-linear'])
def test_deep_features_after_a_flatten_are_read_in_nhwc_order(between):
    """F of a model whose output Linear reads an nn.Flatten's values (directly, or through
    order-keeping leaves) is read in NHWC order, as the TF.js engine's F (its flatten layer's output);
    without a Flatten, the output layer's input as it is."""
    data = H.make_data(n_train=8)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(3, 2, 3, stride=2, padding=1),
                              torch.nn.Flatten(), *between, torch.nn.Linear(18, 3))
    learner = SelfLearner(net, ['1'], temperature=3, alpha=0.3, beta=0.1, data=data, num_classes=3, device=torch.device('cpu'), seed=1)
    assert learner.deep_shape == (2, 3, 3) and learner.hints[0].out_features == 18 and learner.heads[0].in_features == 3 * 6 * 6
    x = data.train.x[:2]
    learner.open()
    try:
        net(x)
        deep = learner.deep_features()
        head_in = learner._feats['1']
    finally:
        learner.close()
    with torch.no_grad():
        conv = net[2](net[1](net[0](x)))
    want = conv.permute(0, 2, 3, 1).reshape(2, -1)
    if between:
        want = torch.relu(want)
    assert torch.equal(feature_rows(deep), want)
    assert not torch.equal(feature_rows(deep), torch.relu(conv.flatten(1)) if between else conv.flatten(1))
    assert torch.equal(feature_rows(head_in), torch.relu(net[0](x)).permute(0, 2, 3, 1).reshape(2, -1))
    plain = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(32, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    other = SelfLearner(plain, ['0'], temperature=3, alpha=0.3, beta=0.1, data=data, num_classes=3, device=torch.device('cpu'), seed=1)
    assert other.deep_shape is None and other.hints[0].out_features == 8


def test_a_self_run_started_with_pooled_heads_is_refused_naming_the_run(tmp_path):
    scheme = {'kind': 'self', 'heads': [{'layer': '2'}], 'temperature': 3, 'alpha': 0.3, 'beta': 0.03}

    def stop_at_4():
        return ctx.clock.done_steps >= 4
    ctx = _context(tmp_path, 'old', scheme, 'self', stop_at_4)
    assert train_job(ctx) == 'cancelled'
    path, state = ctx.folder.latest_checkpoint('self-s1')
    # what the earlier torch engine wrote: head 2 on the map pooled to its 4 channels
    state['modules']['head:2'] = {'weight': torch.zeros(3, 4), 'bias': torch.zeros(3)}
    state['modules']['hint:2'] = {'weight': torch.zeros(16, 4), 'bias': torch.zeros(16)}
    torch.save(state, os.path.join(path, 'state.pt'))
    again = _context(tmp_path, 'old', scheme, 'self')
    with pytest.raises(TrainingError) as e:
        train_job(again)
    msg = str(e.value)
    assert msg.startswith(f'run folder {again.folder.dir}: ') and 'reads 4 values per sample, the job\'s reads 144' in msg
    assert 'pooled' in msg and 'start a new run' in msg
