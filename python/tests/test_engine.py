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
    expected = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    assert n == expected and source in ('the CPUs this process may use', 'os.cpu_count()')


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
    # without `final` a distill job of the student counts as final (run folders written before
    # schemes, report.ts); an assistant's job (ta-chain, planJobs writes no `final`) does not
    del jobs['ta1-s1']['final']
    assert 'ta1-s1' in engine.job_reports(jobs, records)
    jobs['ta1-s1']['model'] = 'assistant:0'
    assert 'ta1-s1' not in engine.job_reports(jobs, records)


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


# ---------------------------------------------------------------------------------------------
# in-process runs of the tiny experiment

import errno  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from conftest import create_run, tiny_experiment  # noqa: E402
from distill_torch import runfolder  # noqa: E402
from schema_check import check  # noqa: E402


def _session(tmp_path, monkeypatch, run_id='20261202-120000', **kw):
    monkeypatch.setenv('DISTILL_THREADS', '1')
    msg = tiny_experiment(str(tmp_path / 'exp'), **kw)
    sent = []
    s = engine.prepare(msg, send=sent.append, should_stop=lambda: False, versions={'python': '3', 'torch': torch.__version__})
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'), run_id)
    return s, run_dir, sent


def test_a_full_disk_while_saving_a_model_fails_the_run_cleanly(tmp_path, monkeypatch):
    s, run_dir, sent = _session(tmp_path, monkeypatch, epochs=1, samples=64)
    real = runfolder._write_file

    def full_for_models(path, content):
        if f'{os.sep}models{os.sep}' in path:
            raise OSError(errno.ENOSPC, 'No space left on device', path)
        return real(path, content)
    monkeypatch.setattr(runfolder, '_write_file', full_for_models)
    assert s.run(run_dir, False) == 'failed'
    failed = [m for m in sent if m['type'] == 'failed']
    assert len(failed) == 1 and failed[0]['runDir'] == os.path.abspath(run_dir)
    err = failed[0]['error']
    assert err.startswith('disk full while writing models/scratch-s1 (needed ≈ ') and 'free some space, then resume the run' in err
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    check(run, 'run.schema.json')
    assert run['status'] == 'failed' and run['error'] == err
    records = [json.loads(l) for l in open(os.path.join(run_dir, 'metrics.jsonl'))]
    assert records[-1]['type'] == 'event' and records[-1]['event'] == 'failed' and records[-1]['message'] == err
    assert os.listdir(os.path.join(run_dir, 'models')) == []  # no temporary folder left
    assert not any(m['type'] == 'done' for m in sent)


def test_a_training_exception_fails_the_run_with_its_reason(tmp_path, monkeypatch):
    s, run_dir, sent = _session(tmp_path, monkeypatch, epochs=1, samples=64)
    from distill_torch import train

    def boom(ctx):
        raise RuntimeError('the loss went to pieces')
    monkeypatch.setattr(train, 'train_job', boom)
    assert s.run(run_dir, False) == 'failed'
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    assert run['status'] == 'failed' and run['error'] == 'RuntimeError: the loss went to pieces'
    assert [m['error'] for m in sent if m['type'] == 'failed'] == ['RuntimeError: the loss went to pieces']


def test_cached_teacher_outputs_are_the_teachers_own(tmp_path, monkeypatch):
    """What engine hands train.py for a fixed teacher (when train.JobContext has `teacher_outputs`):
    the teacher's logits and tapped features of the training split, read from disk the second time."""
    s, run_dir, sent = _session(tmp_path, monkeypatch, epochs=1, samples=64)
    s.running = True
    s.run_dir = run_dir
    s.folder = runfolder.RunFolder(run_dir)
    teacher = s.fixed_teacher('teacher')
    terms = type('T', (), {'teacher_layers': ['3']})()
    state = s.folder.run()['jobs']['distill-s1']
    out = s._teacher_outputs('distill-s1', state, teacher, terms)
    x = s.data.train.x
    with torch.no_grad():
        ref = teacher(x)
        ref3 = teacher[:4](x)
    idx = torch.arange(x.shape[0])
    logits, feats = out.batch(idx, torch.device('cpu'))
    assert torch.allclose(logits, ref, atol=1e-6) and torch.allclose(feats['3'], ref3, rtol=1e-2, atol=1e-3)
    again = s._teacher_outputs('distill-s1', state, teacher, terms)
    assert again.source == 'disk'
    s.config['data']['augment'] = {'flip': True}
    assert s._teacher_outputs('distill-s1', state, teacher, terms) is None


# ---------------------------------------------------------------------------------------------
# every scheme through engine.run: jobs in order, each job's teacher, models/, the report

TRAIN1 = {'epochs': 1, 'batchSize': 32, 'optimizer': {'kind': 'adam', 'learningRate': 0.01}, 'logEvery': 1}


def _run_scheme(tmp_path, monkeypatch, **kw):
    s, run_dir, sent = _session(tmp_path, monkeypatch, epochs=1, samples=64, **kw)
    status = s.run(run_dir, False)
    failed = [m for m in sent if m['type'] == 'failed']
    assert status == 'completed', failed
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    check(run, 'run.schema.json')
    records = [json.loads(l) for l in open(os.path.join(run_dir, 'metrics.jsonl'))]
    for r in records:
        check(r, 'metrics.schema.json')
    report = json.load(open(os.path.join(run_dir, 'report.json')))
    check(report, 'report.schema.json')
    assert all(j['status'] == 'completed' for j in run['jobs'].values())
    for job in run['jobs']:
        assert os.path.isfile(os.path.join(run_dir, 'models', job, 'model.pt'))
    done = [r.get('job') for r in records if r['type'] == 'event' and r['event'] == 'job-done']
    assert done == list(run['jobs']) + [None]
    logs = [m['message'] for m in sent if m['type'] == 'log']
    return run, report, run_dir, logs


def test_teacher_trained_first_then_teaches(tmp_path, monkeypatch):
    run, report, run_dir, logs = _run_scheme(tmp_path, monkeypatch, teacher={'module': 'models.py', 'export': 'teacher', 'train': TRAIN1})
    assert list(run['jobs']) == ['teacher', 'scratch-s1', 'distill-s1']
    # the report's teacher is the one this run trained (models/teacher), measured on the test split
    from distill_torch import models
    t = models.build_model({'module': 'models.py', 'export': 'teacher'}, os.path.dirname(run['experimentFile']), path=['teacher'],
                           input_shape=(1, 8, 8), num_classes=3)
    t.load_state_dict(torch.load(os.path.join(run_dir, 'models', 'teacher', 'model.pt')))
    assert report['teacher']['params'] == sum(p.numel() for p in t.parameters())
    assert report['exportedJob'] == 'distill-s1' and set(report['jobs']) == {'scratch-s1', 'distill-s1'}


def test_born_again_generations_teach_each_other(tmp_path, monkeypatch):
    kd = [{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}}]
    run, report, run_dir, logs = _run_scheme(tmp_path, monkeypatch, scheme={'kind': 'born-again', 'generations': 2}, baseline=False,
                                             knowledge=kd)
    assert list(run['jobs']) == ['born-g1-s1', 'born-g2-s1']
    assert report['exportedJob'] == 'born-g2-s1' and list(report['jobs']) == ['born-g2-s1'] and report['scheme'] == 'born-again'


def test_ta_chain_runs_assistant_then_student(tmp_path, monkeypatch):
    run, report, run_dir, logs = _run_scheme(tmp_path, monkeypatch, baseline=False,
                                             scheme={'kind': 'ta-chain', 'assistants': [{'module': 'models.py', 'export': 'assistant'}]})
    assert list(run['jobs']) == ['ta1-s1', 'distill-s1']
    ta = torch.load(os.path.join(run_dir, 'models', 'ta1-s1', 'model.pt'))
    assert ta['0.weight'].shape[0] == 6  # the assistant's architecture
    assert report['exportedJob'] == 'distill-s1' and set(report['jobs']) == {'distill-s1'}


def test_online_saves_the_teacher_peer_and_reports_it(tmp_path, monkeypatch):
    run, report, run_dir, logs = _run_scheme(tmp_path, monkeypatch, knowledge=[], scheme={'kind': 'online', 'peers': 2, 'temperature': 1})
    assert list(run['jobs']) == ['scratch-s1', 'online-s1']
    assert os.path.isfile(os.path.join(run_dir, 'models', 'online-s1-teacher', 'model.pt'))
    assert report['exportedJob'] == 'online-s1' and 'teacher' in report and report['scheme'] == 'online'


def test_self_distillation_has_no_teacher_in_the_report(tmp_path, monkeypatch):
    run, report, run_dir, logs = _run_scheme(tmp_path, monkeypatch, knowledge=[], teacher=None,
                                             scheme={'kind': 'self', 'heads': [{'layer': '1'}], 'temperature': 3, 'alpha': 0.3, 'beta': 0.03})
    assert list(run['jobs']) == ['scratch-s1', 'self-s1']
    assert 'teacher' not in report and 'compression' not in report and report['exportedJob'] == 'self-s1'


def test_self_head_on_a_missing_layer_is_refused_at_prepare(tmp_path, monkeypatch):
    monkeypatch.setenv('DISTILL_THREADS', '1')
    msg = tiny_experiment(str(tmp_path / 'exp'), knowledge=[], teacher=None,
                          scheme={'kind': 'self', 'heads': [{'layer': '1'}, {'layer': 'stem'}], 'temperature': 3, 'alpha': 0.3, 'beta': 0.03})
    with pytest.raises(ConfigError) as e:
        engine.prepare(msg, send=lambda m: None, should_stop=lambda: False, versions={})
    assert e.value.path == ['scheme', 'heads', 1, 'layer'] and 'stem' in e.value.message


def test_teacher_cache_in_a_run_matches_the_live_teacher(tmp_path, monkeypatch):
    """A distill job that reads the teacher's outputs from the cache trains as one that runs the
    teacher every batch (features are float16 in the cache: close, not bitwise); a second run of
    the same experiment reads them from disk."""
    batches = []  # the teacher's forwards on 32 rows (training batches, and the report's latency at batch 32)
    real_freeze = engine.freeze

    def counting_freeze(m):
        m.register_forward_pre_hook(lambda _m, inp: batches.append(1) if inp[0].shape[0] == 32 else None)
        return real_freeze(m)
    monkeypatch.setattr(engine, 'freeze', counting_freeze)

    def losses(cache_mb, where):
        batches.clear()
        s, run_dir, sent = _session(tmp_path / where, monkeypatch, epochs=1, samples=64, baseline=False, teacherCacheMB=cache_mb)
        assert s.run(run_dir, False) == 'completed'
        recs = [json.loads(l) for l in open(os.path.join(run_dir, 'metrics.jsonl'))]
        logs = [m['message'] for m in sent if m['type'] == 'log']
        return [r['losses'] for r in recs if r['type'] == 'step'], logs, len(batches)
    cached, logs, cached_calls = losses(64, 'a')
    assert any(m.startswith('teacher outputs saved to') for m in logs)
    live, logs_live, live_calls = losses(0, 'b')
    assert any('teacher output cache disabled' in m for m in logs_live)
    # 64 samples in batches of 32: two teacher forwards less (the report's latency runs batches of 32 too)
    assert live_calls - cached_calls == 2
    assert len(cached) == len(live) > 0
    for c, l in zip(cached, live):
        assert c.keys() == l.keys()
        for k in c:
            assert math.isclose(c[k], l[k], rel_tol=2e-2, abs_tol=1e-4), (k, c[k], l[k])
    # the same experiment again, into the same runs folder: read from disk
    s, run_dir, sent = _session(tmp_path / 'a', monkeypatch, '20261202-130000', epochs=1, samples=64, baseline=False, teacherCacheMB=64)
    assert s.run(run_dir, False) == 'completed'
    assert any(m['type'] == 'log' and m['message'].startswith('teacher outputs read from') for m in sent)


def test_a_torchscript_teacher_teaches_and_is_reported(tmp_path, monkeypatch):
    import importlib.util
    folder = tmp_path / 'exp'
    tiny_experiment(str(folder))  # writes models.py
    spec = importlib.util.spec_from_file_location('tiny_models', str(folder / 'models.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(mod.teacher()), str(folder / 'teacher.ts.pt'))
    kd = [{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}}]
    run, report, run_dir, logs = _run_scheme(tmp_path, monkeypatch, knowledge=kd, teacher={'model': 'teacher.ts.pt'})
    assert report['teacher']['params'] == 763 and report['exportedJob'] == 'distill-s1'
    assert any(m.startswith('teacher outputs saved to') for m in logs)


def test_multi_teacher_kd_runs_with_its_further_teachers(tmp_path, monkeypatch):
    mkd = [{'kind': 'response', 'method': 'multi-kd', 'temperature': 4, 'teacherWeight': 1, 'weight': 1, 'schedule': {'kind': 'constant'},
            'teachers': [{'module': 'models.py', 'export': 'assistant', 'weight': 0.5}]}]
    run, report, run_dir, logs = _run_scheme(tmp_path, monkeypatch, knowledge=mkd, baseline=False)
    records = [json.loads(l) for l in open(os.path.join(run_dir, 'metrics.jsonl'))]
    step = next(r for r in records if r['type'] == 'step')
    assert set(step['losses']) == {'multi-kd', 'labels', 'total'} and step['losses']['multi-kd'] > 0


def test_resuming_a_completed_run_changes_nothing(tmp_path, monkeypatch):
    s, run_dir, sent = _session(tmp_path, monkeypatch, epochs=1, samples=64, baseline=False)
    assert s.run(run_dir, False) == 'completed'
    before = {f: open(os.path.join(run_dir, f), 'rb').read() for f in ('run.json', 'metrics.jsonl', 'report.json')}
    s2, _, sent2 = _session(tmp_path, monkeypatch, '20261202-130000', epochs=1, samples=64, baseline=False)
    assert s2.run(run_dir, True) == 'completed'
    assert sent2[-1] == {'type': 'done', 'runDir': os.path.abspath(run_dir), 'status': 'completed'}
    assert {f: open(os.path.join(run_dir, f), 'rb').read() for f in before} == before
