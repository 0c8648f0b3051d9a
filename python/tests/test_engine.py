"""engine.py's own logic, checked against hand-computed values: device and precision resolution,
the report's job figures and the exported job (report.ts rules), per-class pooling and gaps,
mean ± sample std, int8 byte counting."""
import math

import pytest
import torch

from distill_torch import engine
from distill_torch.errors import ConfigError


def test_devices():
    assert engine.resolve_device('cpu') == torch.device('cpu')
    auto = engine.resolve_device('auto')
    assert auto.type == ('cuda' if torch.cuda.is_available() else 'mps' if engine._mps_available() else 'cpu')
    for bad, fragment in (('gpu', 'expected auto, cpu, cuda, cuda:N or mps'), ('cuda:x', 'expected'), (3, 'expected')):
        with pytest.raises(ConfigError) as e:
            engine.resolve_device(bad)
        assert e.value.path == ['device'] and fragment in e.value.message
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError) as e:
            engine.resolve_device('cuda')
        assert e.value.path == ['device'] and 'no CUDA device' in e.value.message
    assert engine.device_name(torch.device('cuda', 1)) == 'cuda:1' and engine.device_name(torch.device('cpu')) == 'cpu'


def test_precision():
    cpu = torch.device('cpu')
    assert engine.resolve_precision(None, cpu) == 'fp32' and engine.resolve_precision('bf16', cpu) == 'bf16'
    with pytest.raises(ConfigError) as e:
        engine.resolve_precision('fp16', cpu)
    assert e.value.path == ['precision'] and 'CUDA' in e.value.message
    with pytest.raises(ConfigError):
        engine.resolve_precision('fp8', cpu)
    assert engine.resolve_precision('fp16', torch.device('cuda', 0)) == 'fp16'


def test_threads_from_env(monkeypatch):
    monkeypatch.setenv('DISTILL_THREADS', '3')
    assert engine.resolve_threads() == (3, 'DISTILL_THREADS')
    monkeypatch.setenv('DISTILL_THREADS', 'many')
    n, source = engine.resolve_threads()
    assert source == 'os.cpu_count()' and n >= 1


def _epoch(job, e, test, val=None, agreement=None):
    r = {'type': 'epoch', 'job': job, 'epoch': e, 'losses': {}, 'trainAcc': 0.5, 'testAcc': test, 'testErrors': int(round((1 - test) * 100)),
         'seconds': 1, 't': 'x'}
    if val is not None:
        r['valAcc'] = val
    if agreement is not None:
        r['agreement'] = agreement
        r['klTeacher'] = 0.1
    return r


def test_job_reports_and_exported_job():
    jobs = {
        'teacher': {'kind': 'teacher', 'seed': 1},
        'scratch-s1': {'kind': 'scratch', 'seed': 1},
        'ta1-s1': {'kind': 'distill', 'seed': 1, 'teacher': 'teacher', 'final': False},  # not final: not reported
        'distill-s1': {'kind': 'distill', 'seed': 1, 'final': True},
        'distill-s2': {'kind': 'distill', 'seed': 2, 'final': True},
    }
    records = [_epoch('teacher', 1, 0.9), _epoch('scratch-s1', 1, 0.6), _epoch('scratch-s1', 2, 0.55),
               _epoch('ta1-s1', 1, 0.99),
               _epoch('distill-s1', 1, 0.7, val=0.8), _epoch('distill-s1', 2, 0.72, val=0.8),   # tie on val: the earlier is best
               _epoch('distill-s2', 2, 0.75, val=0.85, agreement=0.9), _epoch('distill-s2', 1, 0.5, val=0.4, agreement=0.6)]
    rep = engine.job_reports(jobs, records)
    assert list(rep) == ['scratch-s1', 'distill-s1', 'distill-s2']
    assert rep['scratch-s1']['last']['epoch'] == 2 and rep['scratch-s1']['best']['epoch'] == 1
    assert rep['distill-s1']['best']['epoch'] == 1 and rep['distill-s1']['last'] == {'epoch': 2, 'testAcc': 0.72, 'testErrors': 28, 'valAcc': 0.8}
    assert rep['distill-s2']['last']['epoch'] == 2 and rep['distill-s2']['last']['agreement'] == 0.9
    assert engine.exported_job(rep) == 'distill-s2'  # best last valAcc
    rep['distill-s2']['last']['valAcc'] = 0.8
    assert engine.exported_job(rep) == 'distill-s1'  # tie: the first in run order
    assert engine.exported_job({'scratch-s1': rep['scratch-s1']}) is None
    # without `final` a distill job counts as final (run folders written before schemes, report.ts)
    del jobs['ta1-s1']['final']
    assert 'ta1-s1' in engine.job_reports(jobs, records)


def test_stat_is_mean_and_sample_std():
    s = engine.stat([0.5, 0.7, 0.9])
    assert s['n'] == 3 and math.isclose(s['mean'], 0.7) and math.isclose(s['std'], 0.2)
    assert engine.stat([0.4]) == {'mean': 0.4, 'std': 0.0, 'n': 1}


def test_per_class_and_report():
    y = torch.tensor([0, 0, 1, 1, 2])
    t = engine.per_class(torch.tensor([0, 0, 1, 1, 2]), y, 3)
    d1 = engine.per_class(torch.tensor([0, 1, 1, 1, 0]), y, 3)
    d2 = engine.per_class(torch.tensor([0, 0, 1, 0, 2]), y, 3)
    assert d1['confusion'] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]] and d1['acc'] == [0.5, 1.0, 0.0]
    rep = engine.per_class_report(3, ['a', 'b', 'c'], t, [], [d1, d2])
    assert rep['distill']['confusion'] == [[3, 1, 0], [1, 3, 0], [1, 0, 1]]
    assert rep['reference'] == 'teacher' and rep['support'] == [2, 2, 1]
    # drops: c 1−0.5 = 0.5, a 1−0.75 = 0.25, b 1−0.75 = 0.25 (ties by class index)
    assert [(g['name'], g['drop']) for g in rep['gaps']] == [('c', 0.5), ('a', 0.25), ('b', 0.25)]
    assert engine.per_class_report(3, None, None, [], []) is None
    none = engine.per_class_report(3, None, None, [], [d1])
    assert none['reference'] == 'none' and none['classNames'] == ['0', '1', '2'] and none['gaps'][0]['drop'] == 1.0


def test_int8_bytes_count_one_byte_a_weight():
    m = torch.nn.Sequential(torch.nn.Linear(20, 10))
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    float_bytes = sum(engine._tensor_bytes(v) for v in m.state_dict().values())
    q_bytes = sum(engine._tensor_bytes(v) for v in q.state_dict().values())
    assert float_bytes == (200 + 10) * 4
    # 200 int8 weights + their scale/zero point (per tensor: 5 bytes) + 10 float32 biases
    # + the module's output scale (float32) and zero point (int64) that its state_dict also holds
    assert q_bytes == 200 + 5 + 40 + 4 + 8
