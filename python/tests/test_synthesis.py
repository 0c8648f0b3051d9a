"""Data-free distillation (synthesis.py): the DeepInversion losses against naive references
(explicit loops), synthesis lowering the BN-statistics loss on a small BN teacher, the
synthesized/ folder format (channels last, src/runs/synthesized.ts), an exact resume after a stop
between batches and inside one, the refusals at prepare, and a tiny data-free run end to end."""
import copy
import json
import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from conftest import create_run
from distill_torch import engine, synthesis
from distill_torch.errors import ConfigError
from schema_check import check


def bn_net(seed=0, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, classes))


def _random_stats(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


# ---------------------------------------------------------------------------------------------
# the losses against naive references

def _naive_bn_term(x, rm, rv):
    """Per channel, mean and biased variance by explicit loops (float64), then the two norms."""
    x = x.double().tolist()
    n, c = len(x), len(x[0])
    dm = dv = 0.0
    for ch in range(c):
        vals = []
        for i in range(n):
            v = x[i][ch]
            if isinstance(v, list):
                for row in v:
                    vals.extend(row if isinstance(row, list) else [row])
            else:
                vals.append(v)
        mean = sum(vals) / len(vals)
        var = sum((v - mean) ** 2 for v in vals) / len(vals)
        dm += (mean - float(rm[ch])) ** 2
        dv += (var - float(rv[ch])) ** 2
    return math.sqrt(dm) + math.sqrt(dv)


def test_bn_statistics_loss_matches_a_naive_reference():
    net = _random_stats(bn_net()).eval()
    x = torch.randn(5, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    with synthesis.BNStatistics(net) as bn:
        net(x)
        got = bn.loss()
        terms = dict(bn.terms)
    # the naive reference: each BN layer's input captured by running the layers before it by hand
    h = net[0](x)
    expected = [_naive_bn_term(h, net[1].running_mean, net[1].running_var)]
    h = net[3](net[2](net[1](h)))
    expected.append(_naive_bn_term(h, net[4].running_mean, net[4].running_var))
    h = net[8](net[7](net[6](net[5](net[4](h)))))
    expected.append(_naive_bn_term(h, net[9].running_mean, net[9].running_var))
    assert list(terms) == ['1', '4', '9']
    for name, e in zip(['1', '4', '9'], expected):
        assert float(terms[name]) == pytest.approx(e, rel=1e-5)
    assert float(got) == pytest.approx(sum(expected), rel=1e-5)
    # gradients reach the inputs
    xg = x.clone().requires_grad_(True)
    with synthesis.BNStatistics(net) as bn:
        net(xg)
        bn.loss().backward()
    assert xg.grad is not None and float(xg.grad.abs().sum()) > 0


def test_tv_l2_and_js_against_hand_computations():
    a = [[0., 1., 3.], [2., 2., 0.]]
    b = [[1., 1., 1.], [0., 0., 5.]]
    x = torch.tensor([[a], [b]])  # [2, 1, 2, 3]
    sq = lambda v: sum(d * d for d in v)  # noqa: E731
    tv_a = sq([0 - 1, 1 - 3, 2 - 2, 2 - 0]) + sq([0 - 2, 1 - 2, 3 - 0])    # right, down: 1+4+0+4 + 4+1+9 = 23
    tv_b = sq([0, 0, 0, -5]) + sq([1, 1, -4])                              # 25 + 18 = 43
    assert (tv_a, tv_b) == (23, 43)
    assert float(synthesis.tv_loss(x)) == pytest.approx((23 + 43) / 2, rel=1e-6)
    assert float(synthesis.tv_loss(torch.ones(4, 7))) == 0.0  # vectors: no image prior
    assert float(synthesis.l2_prior(x)) == pytest.approx((math.sqrt(0 + 1 + 9 + 4 + 4) + math.sqrt(1 + 1 + 1 + 25)) / 2, rel=1e-6)
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    q = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    js = synthesis.js_divergence(p, q)
    assert float(js[0]) == pytest.approx(0.0, abs=1e-7)
    assert float(js[1]) == pytest.approx(math.log(2), rel=1e-5)  # disjoint supports: ln 2
    p2, q2 = [0.2, 0.8], [0.6, 0.4]
    m = [(a + b) / 2 for a, b in zip(p2, q2)]
    kl = lambda a, b: sum(x * math.log(x / y) for x, y in zip(a, b))  # noqa: E731
    assert float(synthesis.js_divergence(torch.tensor([p2]), torch.tensor([q2]))[0]) == pytest.approx(0.5 * kl(p2, m) + 0.5 * kl(q2, m), rel=1e-5)


def _trained_bn_teacher(seed=0, steps=40):
    """A small BN teacher trained a little on the synthetic images (its running statistics are
    then those of real-looking data, not the initial 0/1)."""
    from distill_torch import data as data_mod
    raw = data_mod.generate_synthetic({'format': 'synthetic', 'kind': 'images', 'samples': 96, 'classes': 3, 'shape': [8, 8, 1],
                                       'seed': 5, 'noise': 0.3})
    x = torch.from_numpy(raw.x / max(raw.max_value, 1e-9)).float()
    y = torch.from_numpy(raw.y)
    net = bn_net(seed)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for i in range(steps):
        idx = torch.arange(i * 32, (i + 1) * 32) % x.shape[0]
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def _cfg(**kw):
    return synthesis.settings({'format': 'teacher-synthesized', 'samples': 24, 'batchSize': 12, 'iterations': 40, **kw})


def test_synthesis_lowers_the_bn_loss_on_a_small_bn_teacher():
    teacher = _trained_bn_teacher()
    cfg = _cfg(learningRate=0.1)
    seen = []
    res = synthesis.synthesize_batch(teacher, cfg, 1, input_shape=(1, 8, 8), classes=3, device=torch.device('cpu'),
                                     clamp=(0.0, 1.0), on_step=lambda it, l: seen.append((it, l['bn'])))
    start, end = res.info['bnLoss']['start'], res.info['bnLoss']['end']
    assert start == seen[0][1] and len(seen) == 40
    assert end < 0.5 * start, (start, end)
    assert seen[-1][1] < 0.5 * seen[0][1]
    # the start is the BN loss of the seeded noise itself, the end that of the final inputs
    x0 = synthesis.starting_noise(0, 1, 12, (1, 8, 8))
    assert float(x0.mean()) == pytest.approx(0, abs=0.15) and float(x0.std()) == pytest.approx(1, abs=0.15)
    with synthesis.BNStatistics(teacher) as bn:
        teacher(x0)
        assert float(bn.loss()) == pytest.approx(start, rel=1e-6)
        pred = teacher(res.x).argmax(-1)
        assert float(bn.loss()) == pytest.approx(end, rel=1e-6)
    assert res.info['teacherAcc'] == float((pred == res.labels).float().mean())
    assert res.labels.tolist() == [i % 3 for i in range(12)]
    assert float(res.x.min()) >= 0.0 and float(res.x.max()) <= 1.0  # clamped to the scaled range
    assert res.info['curve'] == [[10, seen[9][1]], [20, seen[19][1]], [30, seen[29][1]], [40, seen[39][1]]]
    # batch 2 starts from other noise and holds the next labels; the same batch again is bit-equal
    res2 = synthesis.synthesize_batch(teacher, cfg, 2, input_shape=(1, 8, 8), classes=3, device=torch.device('cpu'), clamp=(0.0, 1.0))
    assert res2.labels.tolist() == [i % 3 for i in range(12, 24)] and not torch.equal(res2.x, res.x)
    again = synthesis.synthesize_batch(teacher, cfg, 1, input_shape=(1, 8, 8), classes=3, device=torch.device('cpu'), clamp=(0.0, 1.0))
    assert torch.equal(again.x, res.x)


def test_settings_defaults_and_located_errors():
    s = synthesis.settings({'format': 'teacher-synthesized', 'samples': 10})
    assert (s['batchSize'], s['iterations'], s['learningRate'], s['bnWeight'], s['tvWeight'], s['l2Weight'], s['seed']) == \
        (128, 200, 0.1, 1.0, 1e-4, 1e-5, 0)
    with pytest.raises(ConfigError) as e:
        synthesis.settings({'format': 'teacher-synthesized', 'samples': 10, 'iterations': 0})
    assert e.value.path == ['data', 'train', 'iterations']
    with pytest.raises(ConfigError) as e:
        synthesis.settings({'format': 'teacher-synthesized', 'samples': 10, 'competition': {'weight': 1, 'temperature': 0, 'studentSteps': 1}})
    assert e.value.path == ['data', 'train', 'competition', 'temperature']


# ---------------------------------------------------------------------------------------------
# runs through the engine

MODELS_PY = '''
from torch import nn


def bn_teacher():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def plain_teacher():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))


def student(width=3):
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(width * 4, 3))
'''


def plan(config):
    """The data-free job plan of store.ts's comment (jobs.ts planJobs): synthesize, then per seed
    scratch (on the reference when given), distill (final, synthesised), real (with a reference)."""
    src = config['data']['train']
    batches = -(-src['samples'] // src.get('batchSize', 128))
    job = lambda kind, seed, epochs, **x: {'kind': kind, 'seed': seed, 'status': 'pending', 'epochs': epochs, 'completedEpochs': 0, **x}  # noqa: E731
    jobs = {'synthesize': job('synthesize', config['seeds'][0], batches, model='teacher')}
    ref = src.get('reference') is not None
    for seed in config['seeds']:
        e = config['training']['epochs']
        if config['baseline']:
            jobs[f'scratch-s{seed}'] = job('scratch', seed, e, model='student', **({'data': 'reference'} if ref else {}))
        jobs[f'distill-s{seed}'] = job('distill', seed, e, model='student', teacher='teacher', final=True)
        if ref:
            jobs[f'real-s{seed}'] = job('distill', seed, e, model='student', teacher='teacher', final=False, data='reference')
    return jobs


def data_free_experiment(folder, *, reference=True, competition=None, teacher_export='bn_teacher', samples=36, batch=12,
                         iterations=15, **overrides):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'models.py'), 'w') as f:
        f.write(MODELS_PY)
    teacher = {'module': 'models.py', 'export': teacher_export}
    if teacher_export == 'bn_teacher':
        torch.save(_trained_bn_teacher().state_dict(), os.path.join(folder, 'teacher.pt'))
        teacher['weights'] = 'teacher.pt'
    src = {'format': 'teacher-synthesized', 'samples': samples, 'batchSize': batch, 'iterations': iterations, 'learningRate': 0.1,
           'seed': 3}
    if competition:
        src['competition'] = competition
    if reference:
        src['reference'] = {'format': 'synthetic', 'kind': 'images', 'samples': 64, 'classes': 3, 'shape': [8, 8, 1], 'seed': 5, 'noise': 0.3}
    config = {
        'name': 'df', 'engine': 'torch', 'device': 'cpu', 'precision': 'fp32', 'seeds': [1],
        'data': {'train': src, 'test': {'format': 'synthetic', 'kind': 'images', 'samples': 30, 'classes': 3, 'shape': [8, 8, 1],
                                        'seed': 9, 'noise': 0.3},
                 'normalize': 'scale', 'shuffleSeed': 0},
        'teacher': teacher, 'student': {'module': 'models.py', 'export': 'student'}, 'scheme': {'kind': 'offline'},
        'knowledge': [{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}}],
        'labels': {'weight': 0.5},
        'training': {'epochs': 1, 'batchSize': 12, 'optimizer': {'kind': 'adam', 'learningRate': 0.01}, 'logEvery': 5,
                     'checkpointEvery': {'steps': 100}},
        'baseline': True, 'teacherCacheMB': 64, 'backend': 'auto',
    }
    config.update(overrides)
    exp = os.path.join(folder, 'df.distill.json')
    text = json.dumps(config)
    with open(exp, 'w') as f:
        f.write(text)
    return {'type': 'prepare', 'snapshot': {'experimentFile': exp, 'experimentText': text, 'config': config}, 'jobs': plan(config)}


def _prepare(msg, monkeypatch, should_stop=lambda: False):
    monkeypatch.setenv('DISTILL_THREADS', '1')
    sent = []
    s = engine.prepare(msg, send=sent.append, should_stop=should_stop, versions={'python': '3', 'torch': torch.__version__})
    return s, sent


def _folder_bytes(run_dir):
    d = os.path.join(run_dir, 'synthesized')
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), 'rb') as f:
            out[name] = f.read()
    return out


def _without_seconds(files):
    """The batch .json files carry the wall time of their batch: compared without it."""
    out = {}
    for k, v in files.items():
        if k.endswith('.json') and k != 'meta.json':
            j = json.loads(v)
            j.pop('seconds')
            out[k] = j
        else:
            out[k] = v
    return out


def test_a_data_free_run_end_to_end_with_the_reference(tmp_path, monkeypatch):
    msg = data_free_experiment(str(tmp_path / 'exp'))
    s, sent = _prepare(msg, monkeypatch)
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    status = s.run(run_dir, False)
    assert status == 'completed', [m for m in sent if m['type'] in ('failed', 'log')][-5:]
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    check(run, 'run.schema.json')
    assert list(run['jobs']) == ['synthesize', 'scratch-s1', 'distill-s1', 'real-s1']
    assert all(j['status'] == 'completed' for j in run['jobs'].values())
    assert run['jobs']['synthesize']['completedEpochs'] == 3
    records = [json.loads(line) for line in open(os.path.join(run_dir, 'metrics.jsonl'))]
    for r in records:
        check(r, 'metrics.schema.json')
    synth_epochs = [r for r in records if r['type'] == 'epoch' and r['job'] == 'synthesize']
    assert [r['epoch'] for r in synth_epochs] == [1, 2, 3]
    assert all(r['trainAcc'] == r['testAcc'] and 'synth.bnLoss' in r['extras'] and 'synth.bnLossStart' in r['extras'] for r in synth_epochs)
    steps = [r for r in records if r['type'] == 'step' and r['job'] == 'synthesize']
    assert [(r['epoch'], r['step']) for r in steps[:3]] == [(1, 5), (1, 10), (1, 15)]
    assert set(steps[0]['losses']) == {'total', 'bn', 'class', 'tv', 'l2'}
    assert any(m['type'] == 'progress' and m['job'] == 'synthesize' and m['phase'] == 'teacher' for m in sent)
    # the folder (src/runs/synthesized.ts)
    meta = json.load(open(os.path.join(run_dir, 'synthesized', 'meta.json')))
    assert meta == {'version': 1, 'shape': [8, 8, 1], 'classes': 3, 'samples': 36, 'batchSize': 12, 'batches': 3}
    # the distill job trained on the synthesised inputs (36 rows: 3 steps of 12), the real one on the reference (64: 6 steps)
    step_counts = {j: max(r['step'] for r in records if r['type'] == 'step' and r['job'] == j) for j in ('distill-s1', 'real-s1', 'scratch-s1')}
    assert step_counts == {'distill-s1': 3, 'real-s1': 6, 'scratch-s1': 6}
    report = json.load(open(os.path.join(run_dir, 'report.json')))
    check(report, 'report.schema.json')
    df = report['dataFree']
    infos = [json.load(open(os.path.join(run_dir, 'synthesized', f'batch-000{i}.json'))) for i in (1, 2, 3)]
    assert df['samples'] == 36 and df['batches'] == 3
    assert df['bnLoss']['start'] == pytest.approx(sum(i['bnLoss']['start'] for i in infos) / 3)
    assert df['bnLoss']['end'] == pytest.approx(sum(i['bnLoss']['end'] for i in infos) / 3)
    assert df['bnLoss']['end'] < df['bnLoss']['start']
    assert df['teacherAcc'] == pytest.approx(sum(i['teacherAcc'] * i['count'] for i in infos) / 36)
    real_last = [r for r in records if r['type'] == 'epoch' and r['job'] == 'real-s1'][-1]
    assert df['reference'] == {'format': 'synthetic', 'distill': {'testAcc': {'mean': real_last['testAcc'], 'std': 0.0, 'n': 1},
                                                                  'testErrors': {'mean': real_last['testErrors'], 'std': 0.0, 'n': 1}}}
    assert report['exportedJob'] == 'distill-s1' and set(report['jobs']) == {'scratch-s1', 'distill-s1'}


def test_folder_format_is_channels_last_float32(tmp_path):
    run_dir = str(tmp_path)
    x = torch.randn(4, 3, 5, 6)  # NCHW, as the engine holds images
    info = {'count': 4, 'labels': [0, 1, 2, 0], 'bnLoss': {'start': 2.0, 'end': 1.0}, 'classLoss': 0.5, 'teacherAcc': 0.75,
            'seconds': 0.1, 'curve': [[10, 1.5]]}
    synthesis.write_meta(run_dir, {'version': 1, 'shape': synthesis.stored_shape((3, 5, 6)), 'classes': 3, 'samples': 4,
                                   'batchSize': 4, 'batches': 1})
    synthesis.write_batch(run_dir, 1, x, info)
    raw = open(os.path.join(run_dir, 'synthesized', 'batch-0001.bin'), 'rb').read()
    assert len(raw) == 4 * 5 * 6 * 3 * 4
    values = np.frombuffer(raw, dtype='<f4').reshape(4, 5, 6, 3)  # [count, H, W, C]
    for n, h, w, c in ((0, 0, 0, 0), (1, 2, 3, 1), (3, 4, 5, 2), (2, 1, 4, 0)):
        assert values[n, h, w, c] == float(x[n, c, h, w])
    assert json.load(open(os.path.join(run_dir, 'synthesized', 'meta.json')))['shape'] == [5, 6, 3]
    assert json.load(open(os.path.join(run_dir, 'synthesized', 'batch-0001.json'))) == info
    back, labels, infos = synthesis.read_inputs(run_dir)
    assert torch.equal(back, x) and labels.tolist() == [0, 1, 2, 0] and infos == [info]
    assert not [f for f in os.listdir(os.path.join(run_dir, 'synthesized')) if '.tmp' in f]


def _synthesize_only(tmp_path, monkeypatch, name, stop_when, competition=None):
    """Prepares the data-free experiment and runs it until `stop_when(state)` says stop."""
    msg = data_free_experiment(str(tmp_path / name), reference=False, competition=competition, samples=36, batch=12, iterations=12)
    counter = {'calls': 0}

    def should_stop():
        counter['calls'] += 1
        return stop_when(counter['calls'])
    s, sent = _prepare(msg, monkeypatch, should_stop)
    run_dir = create_run(msg, str(tmp_path / name / '.distill' / 'runs'))
    return s, msg, run_dir, sent


def test_resume_after_a_stop_between_and_inside_batches_equals_an_uninterrupted_synthesis(tmp_path, monkeypatch):
    comp = {'weight': 0.5, 'temperature': 3, 'studentSteps': 4}
    # uninterrupted (the synthesize job alone)
    s, msg, ref_dir, _ = _synthesize_only(tmp_path, monkeypatch, 'a', lambda n: False, comp)
    s.running, s.run_dir = True, os.path.abspath(ref_dir)
    from distill_torch import runfolder, train
    s.folder = runfolder.RunFolder(s.run_dir)
    s.clock = train.ProgressClock(100)
    assert synthesis.run_job(s, 'synthesize', s.folder.run()['jobs']['synthesize']) == 'completed'
    uninterrupted = _folder_bytes(ref_dir)
    assert sorted(uninterrupted) == ['batch-0001.bin', 'batch-0001.json', 'batch-0002.bin', 'batch-0002.json',
                                     'batch-0003.bin', 'batch-0003.json', 'meta.json']

    # stopped between batches 1 and 2 (the check before batch 2), through engine.run
    s2, msg2, run_dir, sent = _synthesize_only(tmp_path, monkeypatch, 'b', lambda n: False, comp)
    synth = os.path.join(run_dir, 'synthesized')
    s2.should_stop = lambda: os.path.exists(os.path.join(synth, 'batch-0001.json'))
    assert s2.run(run_dir, False) == 'cancelled'
    first = _folder_bytes(run_dir)
    assert sorted(first) == ['batch-0001.bin', 'batch-0001.json', 'meta.json']
    stat1 = {n: os.stat(os.path.join(synth, n)) for n in first}
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    assert run['jobs']['synthesize']['completedEpochs'] == 1 and run['status'] == 'cancelled'

    # resumed, stopped inside batch 3 (after its 5th iteration): batch 3 is not written
    since = {'n': 0}

    def stop_in_batch3():
        if not os.path.exists(os.path.join(synth, 'batch-0002.json')):
            return False
        since['n'] += 1  # 1: the check before batch 3, then one after each iteration
        return since['n'] >= 6
    s3, _ = _prepare(msg2, monkeypatch, stop_in_batch3)
    assert s3.run(run_dir, True) == 'cancelled'
    mid = _folder_bytes(run_dir)
    assert sorted(mid) == ['batch-0001.bin', 'batch-0001.json', 'batch-0002.bin', 'batch-0002.json', 'meta.json']
    partial = [json.loads(line) for line in open(os.path.join(run_dir, 'metrics.jsonl'))]
    assert [r['step'] for r in partial if r['type'] == 'step' and r['job'] == 'synthesize' and r['epoch'] == 3] == [5]

    # resumed to the end of the synthesis
    s4, _ = _prepare(msg2, monkeypatch, lambda: False)
    s4.run_dir = os.path.abspath(run_dir)
    s4.folder = runfolder.RunFolder(s4.run_dir)
    s4.clock = train.ProgressClock(100)
    assert synthesis.run_job(s4, 'synthesize', s4.folder.run()['jobs']['synthesize']) == 'completed'
    final = _folder_bytes(run_dir)
    for n, st in stat1.items():  # nothing written before the stop was rewritten
        now = os.stat(os.path.join(run_dir, 'synthesized', n))
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), n
    assert _without_seconds(final) == _without_seconds(uninterrupted)  # bit-equal inputs, same figures
    # the metrics as readers see them: one record per iteration logged and per batch, the redone batch's first attempt superseded
    records = s4.folder.read_metrics()
    epochs = [r['epoch'] for r in records if r.get('type') == 'epoch' and r.get('job') == 'synthesize']
    assert epochs == [1, 2, 3]
    steps3 = [r['step'] for r in records if r.get('type') == 'step' and r.get('job') == 'synthesize' and r['epoch'] == 3]
    assert steps3 == [5, 10, 12]
    # the competition term: from batch 2 on (batch 1 has no batches before it to distil a student on)
    terms = {r['epoch']: set(r['losses']) for r in records if r.get('type') == 'step' and r.get('job') == 'synthesize'}
    assert 'competition' not in terms[1] and 'competition' in terms[2] and 'competition' in terms[3]
    for r in (json.loads(line) for line in open(os.path.join(run_dir, 'metrics.jsonl'))):
        check(r, 'metrics.schema.json')


def test_prepare_refuses_a_teacher_without_batch_norm_and_other_schemes(tmp_path, monkeypatch):
    msg = data_free_experiment(str(tmp_path / 'a'), teacher_export='plain_teacher')
    with pytest.raises(ConfigError) as e:
        _prepare(msg, monkeypatch)
    assert e.value.path == ['teacher']
    assert e.value.message == ("DeepInversion matches the statistics of the teacher's BatchNormalization layers; "
                               "teacher models.py#plain_teacher has none")
    msg = data_free_experiment(str(tmp_path / 'b'), scheme={'kind': 'online'})
    with pytest.raises(ConfigError) as e:
        _prepare(msg, monkeypatch)
    assert e.value.path == ['scheme', 'kind'] and 'offline' in e.value.message
    msg = data_free_experiment(str(tmp_path / 'c'))
    msg['snapshot']['config']['teacher']['train'] = {'epochs': 1, 'batchSize': 8, 'optimizer': {'kind': 'adam', 'learningRate': 0.01}}
    with pytest.raises(ConfigError) as e:
        _prepare(msg, monkeypatch)
    assert e.value.path == ['teacher', 'train']
    for key, value in (('normalize', 'standardize'), ('validation', {'fraction': 0.1})):
        msg = data_free_experiment(str(tmp_path / f'd-{key}'))
        msg['snapshot']['config']['data'][key] = value
        with pytest.raises(ConfigError) as e:
            _prepare(msg, monkeypatch)
        assert e.value.path == ['data', key] and 'teacher-synthesized' in e.value.message
    msg = data_free_experiment(str(tmp_path / 'e'))
    msg['snapshot']['config']['data']['train']['reference']['samples'] = 0
    with pytest.raises(ConfigError) as e:
        _prepare(msg, monkeypatch)
    assert e.value.path[:3] == ['data', 'train', 'reference']
    monkeypatch.setenv('DISTILL_PROCESSES', '2')
    msg = data_free_experiment(str(tmp_path / 'f'))
    with pytest.raises(ConfigError) as e:
        _prepare(msg, monkeypatch)
    assert e.value.path == ['distributed', 'processes']


def test_the_competition_term_is_one_minus_js_of_teacher_and_student_on_the_inputs():
    teacher = _trained_bn_teacher()
    torch.manual_seed(4)
    student = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
    written = [torch.rand(12, 1, 8, 8), torch.rand(12, 1, 8, 8)]
    before = [p.clone() for p in student.parameters()]
    # the same steps by hand: step j on batch j mod 2, KD at T = 2, Adam 1e-3 (ε 1e-7)
    by_hand = copy.deepcopy(student)
    opt = torch.optim.Adam(by_hand.parameters(), lr=1e-3, eps=1e-7)
    for j in range(3):
        xb = written[j % 2]
        with torch.no_grad():
            p = torch.softmax(teacher(xb) / 2.0, -1)
        loss = nn.functional.kl_div(torch.log_softmax(by_hand(xb) / 2.0, -1), p, reduction='batchmean') * 4.0
        opt.zero_grad()
        loss.backward()
        opt.step()
    student = synthesis.train_competitor(student, teacher, written, steps=3, temperature=2.0, device=torch.device('cpu'))
    for a, b in zip(student.parameters(), by_hand.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters()))  # it was distilled
    assert not student.training and not any(p.requires_grad for p in student.parameters())
    cfg = _cfg(iterations=2, competition={'weight': 2.0, 'temperature': 2.0, 'studentSteps': 3})
    seen = []
    synthesis.synthesize_batch(teacher, cfg, 2, input_shape=(1, 8, 8), classes=3, device=torch.device('cpu'), student=student,
                               on_step=lambda it, l: seen.append(l))
    x0 = synthesis.starting_noise(0, 2, 12, (1, 8, 8))
    with torch.no_grad():
        pt = torch.softmax(teacher(x0) / 2.0, -1).double().tolist()
        ps = torch.softmax(student(x0) / 2.0, -1).double().tolist()
    js = []
    for a, b in zip(pt, ps):
        m = [(u + v) / 2 for u, v in zip(a, b)]
        js.append(0.5 * sum(u * math.log(u / w) for u, w in zip(a, m)) + 0.5 * sum(v * math.log(v / w) for v, w in zip(b, m)))
    expected = 1 - sum(js) / len(js)
    assert seen[0]['competition'] == pytest.approx(expected, rel=1e-5)
    with synthesis.BNStatistics(teacher) as bn:
        z = teacher(x0)
        assert seen[0]['bn'] == pytest.approx(float(bn.loss()), rel=1e-5)
    assert seen[0]['class'] == pytest.approx(float(nn.functional.cross_entropy(z, synthesis.batch_labels(cfg, 2, 3))), rel=1e-5)
    assert seen[0]['tv'] == pytest.approx(float(synthesis.tv_loss(x0)), rel=1e-5)
    assert seen[0]['l2'] == pytest.approx(float(synthesis.l2_prior(x0)), rel=1e-5)
    others = seen[0]['class'] + cfg['bnWeight'] * seen[0]['bn'] + cfg['tvWeight'] * seen[0]['tv'] + cfg['l2Weight'] * seen[0]['l2']
    assert seen[0]['total'] == pytest.approx(others + 2.0 * expected, rel=1e-5)


def test_the_starting_noise_is_the_tf_engines_value_for_value():
    """startingNoise of src/engine/synthesis/deepInversion.ts (the TF.js engine):
    makeGaussian(makeRng(hashSeed(7, 3, 0xd1ef))), its first 6 values as Float32Array, printed by
    `node --import tsx` from src/engine/data/rng.ts — drawn in the folder's channels-last order."""
    tf_values = [-0.9973703026771545, 1.8622193336486816, -0.21324647963047028, -0.20180927217006683,
                 -0.12283051759004593, 2.3897969722747803]
    x = synthesis.starting_noise(7, 3, 1, (2, 1, 3))  # one input, NCHW [1, 2, 1, 3]
    assert synthesis.to_channels_last(x).reshape(-1).tolist() == tf_values


def test_a_sigkill_between_batches_resumes_to_the_uninterrupted_folder(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys
    import time
    from distill_torch import runfolder, train
    # uninterrupted
    s, msg, ref_dir, _ = _synthesize_only(tmp_path, monkeypatch, 'a', lambda n: False)
    s.running, s.run_dir = True, os.path.abspath(ref_dir)
    s.folder = runfolder.RunFolder(s.run_dir)
    s.clock = train.ProgressClock(100)
    assert synthesis.run_job(s, 'synthesize', s.folder.run()['jobs']['synthesize']) == 'completed'
    uninterrupted = _folder_bytes(ref_dir)
    # killed in a child process at the hold point between batches 1 and 2
    _, msg2, run_dir, _ = _synthesize_only(tmp_path, monkeypatch, 'b', lambda n: False)
    msg_file, marker = str(tmp_path / 'msg.json'), str(tmp_path / 'held')
    with open(msg_file, 'w') as f:
        json.dump(msg2, f)
    child = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'synthesis_child.py')
    proc = subprocess.Popen([sys.executable, child, msg_file, run_dir, marker], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, 'DISTILL_THREADS': '1'})
    try:
        deadline = time.monotonic() + 180
        while not os.path.exists(marker):
            assert proc.poll() is None, f'the child ended early: {proc.stderr.read().decode()}'
            assert time.monotonic() < deadline, 'no hold point within 180 s'
            time.sleep(0.05)  # polling interval, not an assertion delay
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed = _folder_bytes(run_dir)
    assert sorted(killed) == ['batch-0001.bin', 'batch-0001.json', 'meta.json']
    before = {n: os.stat(os.path.join(run_dir, 'synthesized', n)) for n in killed}
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    assert run['status'] == 'running' and run['jobs']['synthesize']['completedEpochs'] == 1  # as a kill leaves it
    # resumed in this process: batches 2 and 3 made, nothing before the kill rewritten, the folder as uninterrupted
    s2, sent = _prepare(msg2, monkeypatch)
    s2.run_dir = os.path.abspath(run_dir)
    s2.folder = runfolder.RunFolder(s2.run_dir)
    s2.clock = train.ProgressClock(100)
    assert synthesis.run_job(s2, 'synthesize', s2.folder.run()['jobs']['synthesize']) == 'completed'
    for n, st in before.items():
        now = os.stat(os.path.join(run_dir, 'synthesized', n))
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), n
    assert _without_seconds(_folder_bytes(run_dir)) == _without_seconds(uninterrupted)
    assert any('resuming at batch 2 of 3' in m.get('message', '') for m in sent)


def test_a_data_free_run_without_a_reference_trains_everything_on_the_synthesised_inputs(tmp_path, monkeypatch):
    msg = data_free_experiment(str(tmp_path / 'exp'), reference=False, samples=24, iterations=5)
    s, sent = _prepare(msg, monkeypatch)
    assert s.data.train.x.shape[0] == 0  # nothing real to train on
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    assert s.run(run_dir, False) == 'completed', [m for m in sent if m['type'] == 'failed']
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    check(run, 'run.schema.json')
    assert list(run['jobs']) == ['synthesize', 'scratch-s1', 'distill-s1']
    records = [json.loads(line) for line in open(os.path.join(run_dir, 'metrics.jsonl'))]
    for r in records:
        check(r, 'metrics.schema.json')
    # 24 synthesised inputs in batches of 12: 2 steps an epoch for both students
    assert {j: max(r['step'] for r in records if r['type'] == 'step' and r['job'] == j) for j in ('scratch-s1', 'distill-s1')} == \
        {'scratch-s1': 2, 'distill-s1': 2}
    report = json.load(open(os.path.join(run_dir, 'report.json')))
    check(report, 'report.schema.json')
    assert report['dataFree']['samples'] == 24 and report['dataFree']['batches'] == 2 and 'reference' not in report['dataFree']
    assert report['exportedJob'] == 'distill-s1' and report['quantized']['testAcc'] >= 0


def test_the_time_estimate_counts_the_synthesis_and_the_synthesised_set(tmp_path):
    """probe.estimate (the editor's time estimate) of a data-free run: `batches × iterations` teacher
    steps for the synthesize job, and each student job's steps from the set it trains on — the
    synthesised inputs, or the reference (budget.ts does the same for the TF.js engine)."""
    from distill_torch import probe
    msg = data_free_experiment(str(tmp_path / 'ref'), samples=36, batch=12, iterations=15)
    e = probe.Probe().answer({'kind': 'estimate', 'experimentFile': ''}, msg['snapshot'], msg['jobs'])
    # synthesize: 3 batches × 15 iterations; scratch and real on the 64-sample reference (ceil(64/12) = 6 each), distill on 36 (3)
    assert '45 steps of the teacher' in e['description'] and '15 steps of the student' in e['description'], e['description']
    msg = data_free_experiment(str(tmp_path / 'noref'), reference=False, samples=36, batch=12, iterations=15)
    e = probe.Probe().answer({'kind': 'estimate', 'experimentFile': ''}, msg['snapshot'], msg['jobs'])
    # no training split at all: scratch and distill both on the 36 synthesised inputs (3 steps each)
    assert e['seconds'] > 0 and '45 steps of the teacher' in e['description'] and '6 steps of the student' in e['description'], e['description']


# ---------------------------------------------------------------------------------------------
# DeepInversion's jitter and flips (jitter.ts), data.augment on a data-free run

# jitterDraws(7, 3, 8, 3) of src/engine/synthesis/jitter.ts: the same literal is asserted by
# test/engine/synthesisJitter.test.ts (SHARED_DRAWS), so both engines draw the same (dy, dx, flip).
SHARED_DRAWS = [(0, 3, False), (-2, -2, False), (2, 0, False), (-3, -2, True), (-2, 1, False), (1, -3, True), (2, 0, True),
                (1, -2, False)]


def test_the_jitter_draws_are_the_tf_engines_value_for_value():
    assert synthesis.jitter_draws(7, 3, 8, 3) == SHARED_DRAWS
    many = synthesis.jitter_draws(1, 1, 3000, 2)
    assert sorted({d[0] for d in many}) == [-2, -1, 0, 1, 2] and sorted({d[1] for d in many}) == [-2, -1, 0, 1, 2]
    assert 1350 < sum(d[2] for d in many) < 1650
    assert synthesis.jitter_draws(1, 1, 5, 2) == many[:5]
    assert [d[2] for d in synthesis.jitter_draws(7, 3, 8, 0)] == [d[2] for d in SHARED_DRAWS]  # flips drawn at jitter 0 too


def test_the_jitter_view_and_its_gradient_against_naive_loops():
    g = torch.Generator().manual_seed(3)
    n, c, h, w = 2, 3, 4, 5
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    up = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    for draw, flip in (((1, -2, False), False), ((-3, 4, True), True), ((0, 0, True), True), ((2, 1, True), False), ((5, -6, False), True)):
        dy, dx, f = draw
        fwd = torch.zeros_like(x)
        adj = torch.zeros_like(x)
        for i in range(n):
            for r in range(h):
                for q in range(w):
                    q1 = w - 1 - q if (flip and f) else q
                    sr, sq = (r - dy) % h, (q1 - dx) % w  # out[r] = in[(r - dy) mod H], the flip undone first
                    for k in range(c):
                        fwd[i, k, r, q] = x[i, k, sr, sq]
                        adj[i, k, sr, sq] += up[i, k, r, q]
        xg = x.clone().requires_grad_(True)
        view = synthesis.jitter_view(xg, draw, flip)
        assert torch.equal(view.detach(), fwd), (draw, flip)
        (view * up).sum().backward()
        assert torch.equal(xg.grad, adj), (draw, flip)
    v = torch.ones(2, 7)
    assert synthesis.jitter_view(v, (1, 1, True), True) is v  # vectors pass through


def test_synthesis_with_jitter_lowers_the_bn_loss_and_the_teacher_sees_the_view():
    teacher = _trained_bn_teacher()
    cfg = _cfg(learningRate=0.1, jitter=2, flip=True)
    seen = []
    res = synthesis.synthesize_batch(teacher, cfg, 1, input_shape=(1, 8, 8), classes=3, device=torch.device('cpu'),
                                     clamp=(0.0, 1.0), on_step=lambda it, l: seen.append(l))
    assert res.info['bnLoss']['end'] < 0.5 * res.info['bnLoss']['start'], res.info['bnLoss']
    # iteration 1's class term is the teacher's cross-entropy on the first draw's view of the starting noise
    d1 = synthesis.jitter_draws(0, 1, 1, 2)[0]
    assert d1 != (0, 0, False), 'the first draw moves the batch (else the check proves nothing)'
    x0 = synthesis.starting_noise(0, 1, 12, (1, 8, 8))
    y = synthesis.batch_labels(cfg, 1, 3)
    with torch.no_grad():
        viewed = float(nn.functional.cross_entropy(teacher(synthesis.jitter_view(x0, d1, True)), y))
        plain = float(nn.functional.cross_entropy(teacher(x0), y))
    assert seen[0]['class'] == pytest.approx(viewed, rel=1e-5)
    assert abs(seen[0]['class'] - plain) > 1e-4
    again = synthesis.synthesize_batch(teacher, cfg, 1, input_shape=(1, 8, 8), classes=3, device=torch.device('cpu'), clamp=(0.0, 1.0))
    assert torch.equal(again.x, res.x)
    unjittered = synthesis.synthesize_batch(teacher, _cfg(learningRate=0.1), 1, input_shape=(1, 8, 8), classes=3,
                                            device=torch.device('cpu'), clamp=(0.0, 1.0))
    assert not torch.equal(unjittered.x, res.x)


def test_jitter_and_flip_are_refused_where_they_cannot_apply(tmp_path, monkeypatch):
    for value in (-1, 1.5, True):
        with pytest.raises(ConfigError) as e:
            synthesis.settings({'format': 'teacher-synthesized', 'samples': 10, 'jitter': value})
        assert e.value.path == ['data', 'train', 'jitter']
    with pytest.raises(ConfigError) as e:
        synthesis.settings({'format': 'teacher-synthesized', 'samples': 10, 'flip': 1})
    assert e.value.path == ['data', 'train', 'flip']
    assert synthesis.settings({'format': 'teacher-synthesized', 'samples': 10})['jitter'] == 0  # default: none (runs made before are unchanged)
    msg = data_free_experiment(str(tmp_path / 'a'))
    msg['snapshot']['config']['data']['train']['jitter'] = 8
    with pytest.raises(ConfigError) as e:
        _prepare(msg, monkeypatch)
    assert e.value.path == ['data', 'train', 'jitter']
    assert e.value.message == "expected a jitter below the image's height and width (8×8), found 8"
    vectors = {'format': 'synthetic', 'kind': 'vectors', 'samples': 30, 'classes': 3, 'shape': [6], 'seed': 9, 'noise': 0.3}
    msg = data_free_experiment(str(tmp_path / 'b'), reference=False)
    msg['snapshot']['config']['data']['test'] = vectors
    msg['snapshot']['config']['data']['train']['flip'] = True
    with pytest.raises(ConfigError) as e:
        _prepare(msg, monkeypatch)
    assert e.value.path == ['data', 'train', 'flip'] and 'vectors of shape [6]' in e.value.message


def test_a_data_free_run_with_jitter_and_augment_end_to_end(tmp_path, monkeypatch):
    msg = data_free_experiment(str(tmp_path / 'exp'), reference=False, samples=24, iterations=10)
    config = msg['snapshot']['config']
    config['data']['train'].update({'jitter': 1, 'flip': True})
    config['data']['augment'] = {'shift': 1, 'flip': True}
    msg['snapshot']['experimentText'] = json.dumps(config)
    s, sent = _prepare(msg, monkeypatch)
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    status = s.run(run_dir, False)
    assert status == 'completed', [m for m in sent if m['type'] in ('failed', 'log')][-5:]
    logs = [m.get('message', '') for m in sent if m['type'] == 'log']
    # the teacher runs on every augmented batch of the distill job (no cache of its outputs)
    assert any('distill-s1' in m and 'augmented' in m for m in logs), logs
    report = json.load(open(os.path.join(run_dir, 'report.json')))
    assert report['dataFree']['batches'] == 2 and report['dataFree']['bnLoss']['end'] < report['dataFree']['bnLoss']['start']
    records = [json.loads(line) for line in open(os.path.join(run_dir, 'metrics.jsonl'))]
    assert [r['epoch'] for r in records if r['type'] == 'epoch' and r['job'] == 'distill-s1'] == [1]
