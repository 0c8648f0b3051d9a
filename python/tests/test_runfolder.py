"""RunFolder writes the run folder of src/runs/store.ts: atomic run.json, append-only metrics with
torn-line repair, checkpoints by temp folder + rename that are never rewritten, owner fields."""
import errno
import json
import os
import socket

import pytest
import torch

from distill_torch import runfolder
from distill_torch.runfolder import RunFolder, checkpoint_name, DiskFaultError
from schema_check import check, errors, load_schema


def test_update_run_is_atomic_and_validates(run_dir):
    rf = RunFolder(run_dir)
    before = rf.run()['updatedAt']
    run = rf.update_run(lambda r: r.update(status='running', startedAt=runfolder.now_iso(), **runfolder.owner_fields(),
                                            backend={'name': 'cpu', 'versions': {'torch': torch.__version__}, 'notes': ['threads: 1'], 'customKernels': []},
                                            versions={'python': '3', 'torch': torch.__version__}))
    assert run['updatedAt'] != before
    on_disk = json.load(open(os.path.join(run_dir, 'run.json')))
    assert on_disk == run
    check(on_disk, 'run.schema.json')
    # no temporary file left beside it
    assert sorted(os.listdir(run_dir)) == ['config.json', 'metrics.jsonl', 'run.json']
    # the owner is this process, its start time the one lock.ts reads (field 22 of /proc/<pid>/stat)
    assert on_disk['pid'] == os.getpid() and on_disk['host'] == socket.gethostname()
    stat = open(f'/proc/{os.getpid()}/stat').read()
    assert on_disk['pidStart'] == int(stat[stat.rfind(')') + 2:].split()[19])


def test_schema_check_rejects_what_the_schema_refuses(run_dir):
    run = RunFolder(run_dir).run()
    bad = dict(run, status='paused', extra=1)
    bad['jobs'] = {'j': dict(run['jobs']['distill-s1'], model='teacher2')}
    errs = errors(bad, load_schema('run.schema.json'))
    assert any('status' in e for e in errs) and any('extra' in e for e in errs) and any('model' in e for e in errs)
    assert errors({'type': 'step', 'job': 'a'}, load_schema('metrics.schema.json'))


def test_nan_is_written_as_null_not_as_an_invalid_token(run_dir):
    rf = RunFolder(run_dir)
    rf.append({'type': 'event', 'event': 'start', 'message': 'x', 't': runfolder.now_iso()})
    rf.append({'type': 'step', 'job': 'distill-s1', 'epoch': 1, 'step': 1, 'globalStep': 1, 'losses': {'total': float('nan')}, 'lr': 0.1})
    text = open(os.path.join(run_dir, 'metrics.jsonl')).read()
    assert 'NaN' not in text and '"total":null' in text
    first = json.loads(text.splitlines()[0])
    check(first, 'metrics.schema.json')


def test_torn_last_line_is_ended_and_skipped(run_dir):
    path = os.path.join(run_dir, 'metrics.jsonl')
    good = {'type': 'step', 'job': 'distill-s1', 'epoch': 1, 'step': 1, 'globalStep': 1, 'losses': {'total': 1.0}, 'lr': 0.1, 't': runfolder.now_iso()}
    with open(path, 'w') as f:
        f.write(json.dumps(good) + '\n' + '{"type":"step","job":"distill-s1","ep')
    rf = RunFolder(path[:-len('/metrics.jsonl')])
    assert rf.has_records_of('distill-s1') and not rf.has_records_of('scratch-s1')
    rf.append({'type': 'event', 'event': 'stop', 'message': 'cancelled'})
    lines = open(path).read().split('\n')
    assert lines[1].startswith('{"type":"step","job":"distill-s1","ep') and json.loads(lines[2])['event'] == 'stop'
    assert [r['type'] for r in rf.read_metrics()] == ['step', 'event']


def test_resume_markers_supersede_later_records(run_dir):
    rf = RunFolder(run_dir)
    step = lambda e, s: {'type': 'step', 'job': 'd', 'epoch': e, 'step': s, 'globalStep': s, 'losses': {}, 'lr': 0.1}
    rf.append(step(1, 1))
    offset = rf.metrics_size
    rf.append(step(1, 2))
    rf.append(step(1, 3))
    rf.append({'type': 'resume', 'job': 'd', 'epoch': 1, 'step': 1, 'supersedes': offset})
    rf.append(step(1, 2))
    assert [(r['type'], r.get('step')) for r in rf.read_metrics()] == [('step', 1), ('resume', 1), ('step', 2)]


def test_checkpoint_names_and_never_rewrite(run_dir):
    assert checkpoint_name(3) == 'epoch-0003' and checkpoint_name(3, 120) == 'epoch-0003-step-000120'
    rf = RunFolder(run_dir)
    p1 = rf.save_checkpoint('distill-s1', checkpoint_name(1, 5), {'w': torch.ones(2)})
    p2 = rf.save_checkpoint('distill-s1', checkpoint_name(1), {'w': torch.full((2,), 2.0)})
    assert p1.endswith('checkpoints/distill-s1/epoch-0001-step-000005') and os.path.isfile(os.path.join(p2, 'state.pt'))
    again = rf.save_checkpoint('distill-s1', checkpoint_name(1), {'w': torch.full((2,), 9.0)})
    assert again == p2 and torch.load(os.path.join(p2, 'state.pt'))['w'][0] == 2.0  # kept as it was
    # a temporary folder of a killed write is no checkpoint, even when its name sorts last
    os.makedirs(os.path.join(run_dir, 'checkpoints', 'distill-s1', '.tmp-epoch-0009-99999-1700000000000'))
    os.makedirs(os.path.join(run_dir, 'checkpoints', 'distill-s1', 'epoch-0002'))  # no state.pt: incomplete
    path, state = rf.latest_checkpoint('distill-s1')
    assert path == p2 and state['w'][0] == 2.0
    # the epoch end sorts after every step of its epoch, before the next epoch's steps
    rf.save_checkpoint('distill-s1', checkpoint_name(2, 1), {'w': torch.zeros(1)})
    assert [os.path.basename(p) for p in rf.list_checkpoints('distill-s1')] == ['epoch-0001-step-000005', 'epoch-0001', 'epoch-0002-step-000001']
    # the folder without state.pt is set aside when that position is saved
    rf.save_checkpoint('distill-s1', checkpoint_name(2), {'w': torch.full((1,), 5.0)})
    assert torch.load(os.path.join(run_dir, 'checkpoints', 'distill-s1', 'epoch-0002', 'state.pt'))['w'][0] == 5.0
    assert rf.latest_checkpoint('distill-s1')[0].endswith('epoch-0002')
    rf.prune_checkpoints('distill-s1')
    assert [os.path.basename(p) for p in rf.list_checkpoints('distill-s1')] == ['epoch-0001', 'epoch-0002']
    assert rf.latest_checkpoint('nope') is None


def test_a_full_disk_names_the_file_and_leaves_nothing_half_written(run_dir, monkeypatch):
    rf = RunFolder(run_dir)
    real = runfolder._write_file

    def full(path, content):
        with open(path, 'wb') as f:
            f.write(b'partial')  # some bytes made it before the disk filled
        raise OSError(errno.ENOSPC, 'No space left on device', path)
    monkeypatch.setattr(runfolder, '_write_file', full)
    with pytest.raises(DiskFaultError) as e:
        rf.save_checkpoint('distill-s1', checkpoint_name(2), {'w': torch.zeros(1000)})
    assert str(e.value).startswith('disk full while writing checkpoints/distill-s1/epoch-0002 (needed ≈ ')
    assert 'MB, free ' in str(e.value)
    assert os.listdir(os.path.join(run_dir, 'checkpoints', 'distill-s1')) == []
    with pytest.raises(DiskFaultError) as e:
        rf.update_run(lambda r: r.update(status='running'))
    assert str(e.value).startswith('disk full while writing run.json (needed ≈ ')
    assert sorted(os.listdir(run_dir)) == ['checkpoints', 'config.json', 'metrics.jsonl', 'run.json']
    assert json.load(open(os.path.join(run_dir, 'run.json')))['status'] == 'queued'
    monkeypatch.setattr(runfolder, '_write_file', real)


def test_a_failed_append_is_cut_back(run_dir, monkeypatch):
    rf = RunFolder(run_dir)
    rf.append({'type': 'event', 'event': 'start'})
    size = rf.metrics_size
    real_write = os.write

    def short(fd, data):
        real_write(fd, data[:5])
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(runfolder.os, 'write', short)
    with pytest.raises(DiskFaultError) as e:
        rf.append({'type': 'event', 'event': 'stop'})
    monkeypatch.setattr(runfolder.os, 'write', real_write)
    assert 'disk full while writing metrics.jsonl' in str(e.value)
    assert rf.metrics_size == size


def test_remove_temp_files(run_dir):
    rf = RunFolder(run_dir)
    open(os.path.join(run_dir, 'run.json.tmp-1234'), 'w').close()
    os.makedirs(os.path.join(run_dir, 'models', '.tmp-distill-s1-1-1700000000000'))
    assert sorted(rf.remove_temp_files()) == ['models/.tmp-distill-s1-1-1700000000000', 'run.json.tmp-1234']
    assert os.path.isfile(os.path.join(run_dir, 'run.json'))


def test_save_model_writes_models_job(run_dir):
    rf = RunFolder(run_dir)
    m = torch.nn.Linear(3, 2)
    p = rf.save_model('distill-s1', m.state_dict())
    assert p == os.path.join(run_dir, 'models', 'distill-s1', 'model.pt')
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(torch.load(p))
    assert torch.equal(m2.weight, m.weight)
    p = rf.save_model('distill-s1', torch.nn.Linear(3, 2).state_dict())  # an earlier attempt's model is replaced
    assert os.listdir(os.path.join(run_dir, 'models')) == ['distill-s1']
