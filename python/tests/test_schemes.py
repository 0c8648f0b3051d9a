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
from distill_torch.schemes import byot_losses, check_heads, dml_losses, output_layer  # noqa: E402
from distill_torch.train import JobContext, ProgressClock, seed_for, steps_per_epoch, train_job  # noqa: E402

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
    f_map = torch.randn(B, 2, 2, 3, generator=g, dtype=torch.float64)    # NCHW: pooled over H, W
    f_vec = torch.randn(B, 5, generator=g, dtype=torch.float64)          # a vector as it is
    torch.manual_seed(0)
    heads = [torch.nn.Linear(2, C).double(), torch.nn.Linear(5, C).double()]
    hints = [torch.nn.Linear(2, 6).double(), torch.nn.Linear(5, 6).double()]
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
            v = [sum(f[r, ch].flatten().tolist()) / f[r, ch].numel() for ch in range(f.shape[1])] if f.dim() == 4 else f[r].tolist()
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
    # head 2 reads a 4-channel map pooled to 4 values; the hint maps to the output layer's input (16)
    assert state['modules']['head:2']['weight'].shape == (3, 4)
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
