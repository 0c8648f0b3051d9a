"""Data-parallel runs (distributed.py) on the CPU with 2 processes and gloo.

- The loss curve of 2 processes equals one process with the same global batch, per step and per
  term, within |a − b| ≤ 1e-4·|a| + 1e-6. Why that tolerance: with the same initial weights and the
  same rows in each global batch the two runs compute the same mathematics; they differ only in
  float32 summation order (each rank's mean over 16 rows, then the gradient sum over ranks / 2,
  against one mean over 32 rows), about 1e-7 relative per operation, which Adam's steps carry
  forward. Measured here: at most ≈ 4e-5 relative (a small kd term, ≈ 2e-7 absolute). A wrong
  split, a missing gradient average or a per-rank (not global) figure is off by 1e-2 or more: the
  control run with the per-rank batch (16) shows how far.
- SIGKILL of rank 1 mid-run: the run ends `failed` within the collective timeout with a message
  naming rank 1 and SIGKILL; `resume` (2 processes again) completes it; the folder validates.
- The same engine started as the ranks of an env:// group (what torchrun and srun do) runs to the
  same curve without launching anything.
"""
import json
import os
import signal
import subprocess
import time

import pytest
import torch

from conftest import PYTHON_DIR, create_run, tiny_experiment
from schema_check import check
from test_protocol import PY, Engine, _validate_folder

from distill_torch import distributed
from distill_torch.errors import ConfigError

RTOL, ATOL = 1e-4, 1e-6


def _start(tmp_path, name, **kw):
    msg = tiny_experiment(str(tmp_path / name), **kw)
    run_dir = create_run(msg, str(tmp_path / name / '.distill' / 'runs'))
    return msg, run_dir


def _run(msg, run_dir, resume=False, timeout=300):
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    e.send({'type': 'run', 'runDir': run_dir, 'resume': resume})
    done = e.expect('done', timeout=timeout)
    assert e.wait() == 0
    return done, e


def _two_processes_until_checkpoint(tmp_path, name, **kw):
    """A 2-process run (4 epochs of 640 samples, no baseline unless `kw` says otherwise) started
    through the protocol and followed until its first checkpoint: (its prepare message, its run
    folder, the Engine, still running)."""
    kw = {'epochs': 4, 'samples': 640, 'baseline': False, **kw}
    msg, run_dir = _start(tmp_path, name, distributed={'processes': 2}, **kw)
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    e.expect('checkpoint', timeout=300)
    return msg, run_dir, e


def _curve(run_dir):
    """{(job, 'step', globalStep): losses and params} of the step records and {(job, 'epoch', epoch): figures} of the
    epochs (losses, accuracies, extras)."""
    out = {}
    for r in (json.loads(l) for l in open(os.path.join(run_dir, 'metrics.jsonl')) if l.strip()):
        if r['type'] == 'step':
            out[(r['job'], 'step', r['globalStep'])] = {**r['losses'], **{f'params.{k}': v for k, v in (r.get('params') or {}).items()}}
        elif r['type'] == 'epoch':
            out[(r['job'], 'epoch', r['epoch'])] = {**r['losses'], 'trainAcc': r['trainAcc'], 'testAcc': r['testAcc'],
                                                    **{f'extras.{k}': v for k, v in (r.get('extras') or {}).items()}}
    return out


def _largest_difference(a, b):
    """The largest |a − b| / |a| over every recorded figure, and whether all are within tolerance."""
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    worst, ok, where = 0.0, True, None
    for k in a:
        assert a[k].keys() == b[k].keys(), k
        for t, v in a[k].items():
            d = abs(v - b[k][t])
            if d / max(abs(v), 1e-12) > worst:
                worst, where = d / max(abs(v), 1e-12), (k, t, v, b[k][t], d)
            ok = ok and d <= RTOL * abs(v) + ATOL
    print(f'largest relative difference {worst:.3g} at {where}')
    return worst, ok


# ---------------------------------------------------------------------------------------------
# unit: configuration and the pieces that need no process group

def test_shares_cover_the_batch_contiguously():
    assert distributed.shares(32, 2) == [16, 16]
    assert distributed.shares(7, 3) == [3, 2, 2] and sum(distributed.shares(101, 4)) == 101


def test_refusals_are_located(monkeypatch):
    monkeypatch.delenv('DISTILL_PROCESSES', raising=False)
    cpu = torch.device('cpu')
    base = {'training': {'epochs': 1, 'batchSize': 32}}
    distributed.check_config(base, 96, 2, cpu)  # fine: 3 batches of 32, 16 rows a rank
    with pytest.raises(ConfigError) as e:
        distributed.check_config(base, 96, 3, cpu)
    assert e.value.path == ['training', 'batchSize'] and 'divide evenly' in e.value.message and 'multiple of 3' in e.value.message
    with pytest.raises(ConfigError) as e:
        distributed.check_config({**base, 'teacher': {'train': {'epochs': 1, 'batchSize': 9}}}, 96, 2, cpu)
    assert e.value.path == ['teacher', 'train', 'batchSize']
    with pytest.raises(ConfigError) as e:  # 97 = 3·32 + 1: a last batch of one row for two processes
        distributed.check_config(base, 97, 2, cpu)
    assert e.value.path == ['training', 'batchSize'] and 'last batch' in e.value.message
    distributed.check_config({'training': {'epochs': 1, 'batchSize': 32, 'stepsPerEpoch': 3}}, 97, 2, cpu)  # never reaches it
    with pytest.raises(ConfigError) as e:
        distributed.processes_of({'distributed': {'processes': 0}})
    assert e.value.path == ['distributed', 'processes']
    assert distributed.processes_of({}) == 1 and distributed.processes_of({'distributed': {'processes': 4}}) == 4
    monkeypatch.setenv('DISTILL_PROCESSES', '3')  # the CLI's --processes wins over the field
    assert distributed.processes_of({'distributed': {'processes': 4}}) == 3
    monkeypatch.setenv('DISTILL_PROCESSES', 'two')
    with pytest.raises(ConfigError) as e:
        distributed.processes_of({})
    assert e.value.path == ['distributed', 'processes'] and 'DISTILL_PROCESSES' in e.value.message


def test_env_world_reads_torchrun_and_srun(monkeypatch):
    for v in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'):
        monkeypatch.delenv(v, raising=False)
    assert distributed.env_world() is None
    monkeypatch.setenv('SLURM_PROCID', '3')
    monkeypatch.setenv('SLURM_NTASKS', '4')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    assert distributed.env_world() == {'rank': 3, 'world': 4, 'local_rank': 1}
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    assert distributed.env_world() == {'rank': 1, 'world': 2, 'local_rank': 2 - 1}  # LOCAL_RANK absent: the rank


def test_other_ranks_folder_writes_nothing(tmp_path):
    msg, run_dir = _start(tmp_path, 'ro')

    def listing():
        out = {}
        for d, _, files in os.walk(run_dir):
            for f in files:
                p = os.path.join(d, f)
                out[p] = (os.path.getsize(p), os.stat(p).st_mtime_ns)
        return out
    before = listing()
    f = distributed.ReadOnlyFolder(run_dir)
    job = next(iter(msg['jobs']))
    r = f.update_run(lambda r: r['jobs'][job].update(status='completed'))
    assert r['jobs'][job]['status'] == 'completed' and f.run()['jobs'][job]['status'] == 'completed'  # in memory
    f.append({'type': 'event', 'event': 'x'})
    f.event('job-done', job=job)
    f.save_checkpoint(job, 'epoch-0001', {'a': torch.zeros(2)})
    f.save_model(job, {'w': torch.zeros(2)})
    f.prune_checkpoints(job)
    assert listing() == before
    assert json.load(open(os.path.join(run_dir, 'run.json')))['jobs'][job]['status'] == 'pending'


# ---------------------------------------------------------------------------------------------
# 2 processes against 1

def test_two_processes_follow_the_single_process_curve(tmp_path):
    kw = dict(epochs=2, samples=192)
    msg1, dir1 = _start(tmp_path, 'one', **kw)
    msg2, dir2 = _start(tmp_path, 'two', distributed={'processes': 2}, **kw)
    _run(msg1, dir1)
    done, e = _run(msg2, dir2)
    assert done['status'] == 'completed'
    assert any('distributed: 2 processes (gloo)' in m.get('message', '') for m in e.seen if m['type'] == 'log')
    one, two = _curve(dir1), _curve(dir2)
    worst, ok = _largest_difference(one, two)
    print(f'largest relative per-figure difference, 2 processes vs 1: {worst:.3g}')
    assert ok, worst
    assert len([k for k in one if k[1] == 'step']) == 2 * 2 * 6  # scratch + distill, 2 epochs of 192/32 steps: each once
    run, records = _validate_folder(dir2)
    assert run['status'] == 'completed' and run['pid'] == e.p.pid
    check(json.load(open(os.path.join(dir2, 'report.json'))), 'report.schema.json')
    # the control: one process with the per-rank batch is far outside the tolerance
    msg3, dir3 = _start(tmp_path, 'half', **kw)
    msg3['snapshot']['config']['training']['batchSize'] = 16
    _run(msg3, dir3)
    half = {k: v for k, v in _curve(dir3).items() if k[1] == 'epoch'}
    worst_half, ok_half = _largest_difference({k: v for k, v in one.items() if k[1] == 'epoch'}, half)
    assert not ok_half and worst_half > 100 * RTOL, worst_half


@pytest.mark.parametrize('scheme', [
    {'kind': 'online', 'peers': 3, 'temperature': 2},                                        # peers: modules beside the student
    {'kind': 'self', 'heads': [{'layer': '1'}], 'temperature': 3, 'alpha': 0.3, 'beta': 0.03},  # heads on a tapped layer
], ids=['online', 'self'])
def test_every_trained_module_is_data_parallel(tmp_path, scheme):
    """Online peers and self-distillation heads train under DDP too: the 2-process curve (every
    peer's or head's loss) follows one process's."""
    kw = dict(epochs=2, samples=192, baseline=False, scheme=scheme, knowledge=[])
    msg1, dir1 = _start(tmp_path, 'one', **kw)
    msg2, dir2 = _start(tmp_path, 'two', distributed={'processes': 2}, **kw)
    _run(msg1, dir1)
    assert _run(msg2, dir2)[0]['status'] == 'completed'
    one, two = _curve(dir1), _curve(dir2)
    assert len(next(v for k, v in one.items() if k[1] == 'step')) >= 3  # several terms: peers' or heads' losses
    worst, ok = _largest_difference(one, two)
    assert ok, worst
    run, _ = _validate_folder(dir2)
    assert run['status'] == 'completed'


def _children(pid):
    path = f'/proc/{pid}/task/{pid}/children'
    try:
        return [int(x) for x in open(path).read().split()]
    except OSError:
        return []


def test_sigkill_of_rank_1_fails_cleanly_and_resume_completes(tmp_path, monkeypatch):
    monkeypatch.setenv('DISTILL_DIST_TIMEOUT', '20')
    msg, run_dir, e = _two_processes_until_checkpoint(tmp_path, 'kill')
    kids = _children(e.p.pid)
    assert len(kids) == 1, kids  # rank 1, started by this process
    killed_at = time.monotonic()
    os.kill(kids[0], signal.SIGKILL)
    failed = e.refusal(timeout=20 + 30)  # the timeout, and slack for a loaded machine
    elapsed = time.monotonic() - killed_at
    assert 'rank 1 of 2' in failed['error'] and 'SIGKILL' in failed['error'] and 'resume' in failed['error'], failed
    assert e.wait(timeout=60) == 1
    assert elapsed < 20 + 30
    print(f'failed {elapsed:.1f} s after the SIGKILL of rank 1')
    deadline = time.monotonic() + 30  # no rank left behind
    while _children(e.p.pid) or any(os.path.exists(f'/proc/{k}') and open(f'/proc/{k}/stat').read().split()[2] != 'Z' for k in kids):
        assert time.monotonic() < deadline, 'rank 1 still there'
        time.sleep(0.1)
    run, records = _validate_folder(run_dir)
    assert run['status'] == 'failed' and 'rank 1' in run['error']
    assert any(r['type'] == 'event' and r['event'] == 'failed' for r in records)
    assert os.listdir(os.path.join(run_dir, 'checkpoints', 'distill-s1'))
    # resume with 2 processes again: completes, each (epoch, step) once as readers see it
    snap = json.load(open(os.path.join(run_dir, 'config.json')))
    done, e2 = _run({'type': 'prepare', 'snapshot': snap, 'jobs': run['jobs']}, run_dir, resume=True)
    assert done['status'] == 'completed'
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    check(run, 'run.schema.json')
    assert run['status'] == 'completed' and 'error' not in run and len(run['resumes']) == 1
    from distill_torch.runfolder import RunFolder
    records = RunFolder(run_dir).read_metrics()
    for r in records:
        check(r, 'metrics.schema.json')
    steps = [(r['epoch'], r['step']) for r in records if r['type'] == 'step' and r['job'] == 'distill-s1']
    assert steps == sorted(set(steps)) and len(steps) == 4 * 20
    assert [r['epoch'] for r in records if r['type'] == 'epoch'] == [1, 2, 3, 4]
    check(json.load(open(os.path.join(run_dir, 'report.json'))), 'report.schema.json')
    # exact resume: the same records as a 2-process run never interrupted (no dropout here: no RNG in the steps)
    msg2, whole = _start(tmp_path, 'whole', epochs=4, samples=640, baseline=False, distributed={'processes': 2})
    _run(msg2, whole)

    def figures(d):
        return [{k: v for k, v in r.items() if k not in ('t', 'seconds')} for r in RunFolder(d).read_metrics()
                if r['type'] in ('step', 'epoch')]
    assert figures(run_dir) == figures(whole)


def test_stop_ends_every_rank_at_the_same_step_and_resume_completes(tmp_path, monkeypatch):
    msg, run_dir, e = _two_processes_until_checkpoint(tmp_path, 'stop')
    kids = _children(e.p.pid)
    e.send({'type': 'stop'})
    assert e.expect('done', timeout=120)['status'] == 'cancelled'
    assert e.wait(timeout=90) == 0  # rank 0 waited for rank 1, which ended by itself (exit 0)
    assert kids and not any(os.path.exists(f'/proc/{k}') and open(f'/proc/{k}/stat').read().split()[2] != 'Z' for k in kids)
    run, _ = _validate_folder(run_dir)
    assert run['status'] == 'cancelled'
    # resumed by ONE process (--processes 1 overrides the file): the checkpoint does not depend on the count
    monkeypatch.setenv('DISTILL_PROCESSES', '1')
    snap = json.load(open(os.path.join(run_dir, 'config.json')))
    done, e2 = _run({'type': 'prepare', 'snapshot': snap, 'jobs': run['jobs']}, run_dir, resume=True)
    assert done['status'] == 'completed'
    assert not any('distributed:' in m.get('message', '') for m in e2.seen if m['type'] == 'log')
    from distill_torch.runfolder import RunFolder
    steps = [(r['epoch'], r['step']) for r in RunFolder(run_dir).read_metrics() if r['type'] == 'step']
    assert steps == sorted(set(steps)) and len(steps) == 4 * 20
    # …and it follows the 2-process run never stopped, within the tolerance
    monkeypatch.delenv('DISTILL_PROCESSES')
    msg2, whole = _start(tmp_path, 'whole', epochs=4, samples=640, baseline=False, distributed={'processes': 2})
    _run(msg2, whole)

    def curve(d):
        return {(r['job'], r['type'], r.get('globalStep', r['epoch'])): dict(r['losses']) for r in RunFolder(d).read_metrics()
                if r['type'] in ('step', 'epoch')}
    worst, ok = _largest_difference(curve(whole), curve(run_dir))
    assert ok, worst


def test_a_rank_that_stops_answering_fails_the_run_at_the_timeout(tmp_path, monkeypatch):
    """SIGSTOP of rank 1: alive but silent, so only the collective timeout can end the wait."""
    monkeypatch.setenv('DISTILL_DIST_TIMEOUT', '5')
    msg, run_dir, e = _two_processes_until_checkpoint(tmp_path, 'hang')
    kids = _children(e.p.pid)
    assert len(kids) == 1, kids
    stopped_at = time.monotonic()
    os.kill(kids[0], signal.SIGSTOP)
    try:
        failed = e.refusal(timeout=5 + 30)
    finally:
        try:
            os.kill(kids[0], signal.SIGKILL)  # the engine kills it already; never leave a stopped process behind
        except ProcessLookupError:
            pass
    elapsed = time.monotonic() - stopped_at
    print(f'failed {elapsed:.1f} s after rank 1 stopped answering (timeout 5 s): {failed["error"]}')
    assert elapsed >= 4.5, elapsed  # not before the timeout: nothing else could tell
    assert 'did not answer within 5 s' in failed['error'] and 'rank 0' in failed['error'], failed
    assert e.wait(timeout=60) == 1
    run, _ = _validate_folder(run_dir)
    assert run['status'] == 'failed'


def test_a_rank_that_fails_to_start_is_named(tmp_path, monkeypatch):
    """Rank 1 cannot build the models (its models.py raises there): the rendezvous ends at the
    timeout and the run fails saying rank 1 exited, with nothing launched left behind."""
    monkeypatch.setenv('DISTILL_DIST_TIMEOUT', '5')
    msg, run_dir = _start(tmp_path, 'nostart', distributed={'processes': 2})
    models = tmp_path / 'nostart' / 'models.py'
    models.write_text('import os\nif os.environ.get("RANK") == "1":\n    raise ImportError("no such module on rank 1")\n' + models.read_text())
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    failed = e.refusal(timeout=5 + 60)
    assert 'did not start together' in failed['error'] and 'rank 1 of 2' in failed['error'] and 'exited with code 1' in failed['error'], failed
    assert e.wait(timeout=60) == 1
    run, _ = _validate_folder(run_dir)
    assert run['status'] == 'failed' and 'rank 1 of 2' in run['error']


def test_ranks_started_by_torchrun_or_srun_launch_nothing(tmp_path):
    """Both ranks run the worker entry with the env:// contract (rank 0 as torchrun sets it, rank 1
    as srun does); rank 0 says the protocol on stdout; the curve is the launcher's."""
    kw = dict(epochs=2, samples=192, baseline=False)
    msg1, dir1 = _start(tmp_path, 'single', **kw)
    _run(msg1, dir1)
    msg, run_dir = _start(tmp_path, 'env', **kw)  # no `distributed` field: the environment decides
    spec = tmp_path / 'spec.json'
    spec.write_text(json.dumps({'prepare': msg, 'runDir': run_dir, 'resume': False}))
    port = distributed.free_port()
    base = dict(os.environ, PYTHONPATH=PYTHON_DIR, DISTILL_THREADS='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    for v in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'):
        base.pop(v, None)
    envs = [dict(base, RANK='0', WORLD_SIZE='2', LOCAL_RANK='0'), dict(base, SLURM_PROCID='1', SLURM_NTASKS='2', SLURM_LOCALID='1')]
    procs = [subprocess.Popen([PY, '-m', 'distill_torch.distributed', 'worker', str(spec)], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for env in envs]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    messages = [json.loads(l) for l in outs[0][0].splitlines() if l.strip()]  # stdout: protocol lines only
    assert messages[0]['type'] == 'prepared' and messages[-1] == {'type': 'done', 'runDir': run_dir, 'status': 'completed'}
    assert outs[1][0] == ''  # rank 1 says nothing on stdout
    assert not _children(procs[0].pid)
    worst, ok = _largest_difference(_curve(dir1), _curve(run_dir))
    assert ok, worst
    run, _ = _validate_folder(run_dir)
    assert run['status'] == 'completed'
