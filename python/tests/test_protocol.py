"""`python -m distill_torch` as the worker runs it: JSON lines in and out, a tiny synthetic
experiment from `prepare` to `done`, every file of the run folder valid against the schemas, a
located refusal of a wrong layer name, and a stop mid-run that leaves a resumable run."""
import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from conftest import PYTHON_DIR, create_run, tiny_experiment
from schema_check import check

PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable


class Engine:
    """The engine process, its stdout lines parsed (a non-JSON line fails the test: stdout must
    carry protocol lines only), its stderr kept for the failure message."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=PYTHON_DIR, DISTILL_THREADS='1')
        self.p = subprocess.Popen([PY, '-m', 'distill_torch'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.lines: 'queue.Queue' = queue.Queue()
        self.seen = []
        self.stderr = []
        self.bad = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: [self.stderr.append(l) for l in self.p.stderr], daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.bad.append(line)
        self.lines.put(None)

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg) + '\n')
        self.p.stdin.flush()

    def expect(self, kind, timeout=120.0):
        """Messages until one of type `kind` (polled with a deadline); fails on `failed` unless expected."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f'no {kind} within {timeout}s; seen {[m["type"] for m in self.seen][-20:]}; stderr: {"".join(self.stderr)[-3000:]}')
            try:
                m = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if m is None:
                raise AssertionError(f'engine exited ({self.p.wait()}) before {kind}; seen {[x["type"] for x in self.seen]}; '
                                     f'stderr: {"".join(self.stderr)[-3000:]}')
            self.seen.append(m)
            if m['type'] == kind:
                return m
            if m['type'] == 'failed':
                raise AssertionError(f'failed: {m}\nstderr: {"".join(self.stderr)[-3000:]}')

    def refusal(self, timeout=120.0):
        """The `failed` message that must come (a `prepared` instead fails the test)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f'no failed within {timeout}s; stderr: {"".join(self.stderr)[-3000:]}'
            try:
                m = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            assert m is not None, f'engine exited without failed; stderr: {"".join(self.stderr)[-3000:]}'
            self.seen.append(m)
            assert m['type'] != 'prepared', m
            if m['type'] == 'failed':
                return m

    def wait(self, timeout=60.0):
        code = self.p.wait(timeout=timeout)
        assert not self.bad, f'non-protocol lines on stdout: {self.bad[:5]}'
        return code


def _validate_folder(run_dir):
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    check(run, 'run.schema.json')
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        records = [json.loads(l) for l in f if l.strip()]
    for r in records:
        check(r, 'metrics.schema.json')
    return run, records


def test_ready_then_eof_leaves_quietly():
    e = Engine()
    ready = e.expect('ready', timeout=60)
    assert ready['pid'] == e.p.pid and set(ready['versions']) >= {'python', 'torch', 'numpy'}
    e.p.stdin.close()
    assert e.wait() == 0


def test_unavailable_device_is_refused_at_device(tmp_path):
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(tiny_experiment(str(tmp_path / 'exp'), device='cuda:3'))
    m = e.refusal()
    assert m['kind'] == 'config' and m['path'] == ['device'] and 'cuda:3' in m['error']
    assert e.wait() == 1


def test_wrong_layer_name_is_refused_with_its_path(tmp_path):
    knowledge = [{'kind': 'feature', 'method': 'at', 'weight': 1, 'schedule': {'kind': 'constant'},
                  'pairs': [{'teacher': '3', 'student': '1', 'adapter': 'auto'}, {'teacher': '3', 'student': 'nope.conv', 'adapter': 'auto'}]}]
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(tiny_experiment(str(tmp_path / 'exp'), knowledge=knowledge))
    m = e.refusal()
    assert m['kind'] == 'config' and m['path'][:4] == ['knowledge', 0, 'pairs', 1], m
    assert 'nope.conv' in m['error']
    assert e.wait() == 1
    assert not os.path.exists(tmp_path / 'exp' / '.distill')  # nothing was created


def test_a_tiny_experiment_runs_to_done_and_its_folder_validates(tmp_path):
    msg = tiny_experiment(str(tmp_path / 'exp'))
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    prepared = e.expect('prepared', timeout=120)
    assert prepared['backend']['name'] == 'cpu' and any(n.startswith('threads: 1') for n in prepared['backend']['notes'])
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    done = e.expect('done', timeout=300)
    assert done == {'type': 'done', 'runDir': run_dir, 'status': 'completed'}
    assert e.wait() == 0
    kinds = {m['type'] for m in e.seen}
    assert {'progress', 'epoch', 'log'} <= kinds
    run, records = _validate_folder(run_dir)
    assert run['status'] == 'completed' and 'finishedAt' in run and run['pid'] == e.p.pid and run['backend']['name'] == 'cpu'
    assert all(j['status'] == 'completed' and j['completedEpochs'] == 2 for j in run['jobs'].values())
    epochs = [(r['job'], r['epoch']) for r in records if r['type'] == 'epoch']
    assert epochs == [('scratch-s1', 1), ('scratch-s1', 2), ('distill-s1', 1), ('distill-s1', 2)]
    done_events = [r.get('job') for r in records if r['type'] == 'event' and r['event'] == 'job-done']
    assert done_events == ['scratch-s1', 'distill-s1', None]
    report = json.load(open(os.path.join(run_dir, 'report.json')))
    check(report, 'report.schema.json')
    assert report['exportedJob'] == 'distill-s1' and report['testSize'] == 60 and set(report['jobs']) == {'scratch-s1', 'distill-s1'}
    assert report['teacher']['params'] > report['student']['params'] > 0
    # teacher health: no validation split, so the test split decides (3 balanced classes: chance 1/3, threshold 0.4)
    kinds = [w['kind'] for w in report['warnings']]
    assert ('teacher-near-chance' in kinds) == (report['teacher']['testAcc'] <= 1 / 3 + 0.2 / 3 + 1e-12)
    assert ('teacher-below-scratch' in kinds) == (report['teacher']['testAcc'] < report['summary']['scratch']['testAcc']['mean'])
    for job in ('scratch-s1', 'distill-s1'):
        assert os.path.isfile(os.path.join(run_dir, 'models', job, 'model.pt'))
    assert json.load(open(os.path.join(run_dir, 'student', 'source.json')))['job'] == 'distill-s1'
    assert os.path.isfile(os.path.join(run_dir, 'student', 'int8', 'model.pt'))


def test_stop_mid_run_is_cancelled_and_resumable(tmp_path):
    msg = tiny_experiment(str(tmp_path / 'exp'), epochs=3, samples=320, baseline=False)
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    e.expect('checkpoint', timeout=300)
    e.send({'type': 'stop'})
    done = e.expect('done', timeout=120)
    assert done['status'] == 'cancelled' and e.wait() == 0
    run, records = _validate_folder(run_dir)
    assert run['status'] == 'cancelled' and run['jobs']['distill-s1']['status'] != 'completed'
    assert os.listdir(os.path.join(run_dir, 'checkpoints', 'distill-s1'))
    assert not os.path.exists(os.path.join(run_dir, 'report.json'))
    # resume: a new process, the run folder's own snapshot and jobs
    snap = json.load(open(os.path.join(run_dir, 'config.json')))
    e2 = Engine()
    e2.expect('ready', timeout=60)
    e2.send({'type': 'prepare', 'snapshot': snap, 'jobs': run['jobs']})
    e2.expect('prepared', timeout=120)
    e2.send({'type': 'run', 'runDir': run_dir, 'resume': True})
    assert e2.expect('done', timeout=300)['status'] == 'completed' and e2.wait() == 0
    run, records = _validate_folder(run_dir)
    assert run['status'] == 'completed' and len(run['resumes']) == 1 and 'error' not in run
    assert any(r['type'] == 'resume' and r['job'] == 'distill-s1' for r in records)
    check(json.load(open(os.path.join(run_dir, 'report.json'))), 'report.schema.json')


def _run_until_checkpoint(tmp_path):
    msg = tiny_experiment(str(tmp_path / 'exp'), epochs=3, samples=320, baseline=False)
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    e.expect('checkpoint', timeout=300)
    return e, run_dir


def test_sigint_is_left_to_the_parent_and_sigterm_stops(tmp_path):
    import signal
    e, run_dir = _run_until_checkpoint(tmp_path)
    e.p.send_signal(signal.SIGINT)   # a Ctrl-C reaching the process group: ignored, the worker decides
    e.p.send_signal(signal.SIGTERM)  # = stop: checkpoint, cancelled
    done = e.expect('done', timeout=120)
    assert done['status'] == 'cancelled' and e.wait() == 0
    run, _ = _validate_folder(run_dir)
    assert run['status'] == 'cancelled'


def test_stdin_closing_counts_as_stop(tmp_path):
    e, run_dir = _run_until_checkpoint(tmp_path)
    e.p.stdin.close()  # the worker died
    assert e.expect('done', timeout=120)['status'] == 'cancelled' and e.wait() == 0
    run, _ = _validate_folder(run_dir)
    assert run['status'] == 'cancelled' and os.listdir(os.path.join(run_dir, 'checkpoints', 'distill-s1'))


def test_stop_between_prepared_and_run_still_ends_the_run_cancelled(tmp_path):
    """The bridge creates the folder when it reads `prepared`; a stop asked meanwhile is sent right
    after `run`, or even before it: the run must end `cancelled`, not be left without an ending."""
    msg = tiny_experiment(str(tmp_path / 'exp'))
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    e.send({'type': 'stop'})
    run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'))
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    assert e.expect('done', timeout=120)['status'] == 'cancelled' and e.wait() == 0
    run, records = _validate_folder(run_dir)
    assert run['status'] == 'cancelled' and not [r for r in records if r['type'] in ('step', 'epoch')]


def test_malformed_and_unknown_lines_are_logged_and_ignored():
    e = Engine()
    e.expect('ready', timeout=60)
    e.p.stdin.write('this is not json\n{"type": "dance"}\n')
    e.p.stdin.flush()
    first = e.expect('log', timeout=30)
    second = e.expect('log', timeout=30)
    assert first['level'] == 'warn' and 'malformed' in first['message'] and 'this is not json' in first['message']
    assert second['level'] == 'warn' and 'dance' in second['message']
    e.send({'type': 'run', 'runDir': '/nonexistent', 'resume': False})  # run before prepare: refused, said
    failed = e.refusal()
    assert 'prepare first' in failed['error'] and e.wait() == 1


def test_bytes_that_are_not_utf8_do_not_kill_the_reader():
    e = Engine()
    e.expect('ready', timeout=60)
    e.p.stdin.buffer.write(b'\xff\xfe{bad\n')
    e.p.stdin.flush()
    assert 'malformed' in e.expect('log', timeout=30)['message']
    e.send({'type': 'stop'})
    assert e.wait() == 0


def test_sigkill_mid_run_then_resume_completes(tmp_path):
    import signal
    e, run_dir = _run_until_checkpoint(tmp_path)
    e.p.send_signal(signal.SIGKILL)
    e.p.wait(timeout=30)
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    assert run['status'] == 'running'  # as a killed run is left: the lock rule (pid, pidStart) tells it is dead
    snap = json.load(open(os.path.join(run_dir, 'config.json')))
    e2 = Engine()
    e2.expect('ready', timeout=60)
    e2.send({'type': 'prepare', 'snapshot': snap, 'jobs': run['jobs']})
    e2.expect('prepared', timeout=120)
    e2.send({'type': 'run', 'runDir': run_dir, 'resume': True})
    assert e2.expect('done', timeout=300)['status'] == 'completed' and e2.wait() == 0
    run = json.load(open(os.path.join(run_dir, 'run.json')))
    check(run, 'run.schema.json')
    assert run['status'] == 'completed' and run['pid'] == e2.p.pid
    from distill_torch.runfolder import RunFolder
    records = RunFolder(run_dir).read_metrics()  # as readers see it: a torn line skipped, superseded records dropped
    for r in records:
        check(r, 'metrics.schema.json')
    steps = [(r['epoch'], r['step']) for r in records if r['type'] == 'step' and r['job'] == 'distill-s1']
    assert steps == sorted(set(steps)) and len(steps) == 3 * 10  # each (epoch, step) once: 320 samples / 32
    assert [r['epoch'] for r in records if r['type'] == 'epoch'] == [1, 2, 3]


def test_the_typescript_readers_accept_the_folder(tmp_path):
    """The same folder through the TypeScript side: ajv with the schemas (test/helpers/runSchemas.ts),
    readRun, readMetrics and listRuns of src/runs/store.ts, and isOwnerAlive (lock.ts) on a
    finished run's owner fields."""
    import shutil
    from conftest import PYTHON_DIR
    repo = os.path.dirname(PYTHON_DIR)
    if shutil.which('node') is None or not os.path.isdir(os.path.join(repo, 'node_modules', 'tsx')):
        pytest.skip('node or the repository\'s node_modules (tsx, ajv) not available')
    msg = tiny_experiment(str(tmp_path / 'exp'))
    e = Engine()
    e.expect('ready', timeout=60)
    e.send(msg)
    e.expect('prepared', timeout=120)
    runs = str(tmp_path / 'exp' / '.distill' / 'runs')
    run_dir = create_run(msg, runs)
    e.send({'type': 'run', 'runDir': run_dir, 'resume': False})
    e.expect('done', timeout=300)
    assert e.wait() == 0
    script = (
        "const { runFolderViolations } = require('./test/helpers/runSchemas');"
        "const store = require('./src/runs/store');"
        f"const runDir = {json.dumps(run_dir)}; const runs = {json.dumps(runs)};"
        "const records = store.readMetrics(runDir);"
        "console.log(JSON.stringify({ violations: runFolderViolations(runDir), status: store.readRun(runDir).status,"
        " kinds: [...new Set(records.map((r) => r.type))].sort(), listed: store.listRuns(runs).map((r) => r.run.id),"
        " ownerAlive: store.isOwnerAlive(store.readRun(runDir)),"
        f" myStart: require('./src/runs/lock').processStartTime({os.getpid()}), host: require('os').hostname() }}));")
    out = subprocess.run(['node', '--import', 'tsx', '-e', script], cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    from distill_torch import runfolder
    # the owner fields as lock.ts reads them: this process's start time and the host name agree
    assert seen.pop('myStart') == runfolder.process_start_time(os.getpid()) and seen.pop('host') == runfolder.host_name()
    assert seen == {'violations': [], 'status': 'completed', 'kinds': ['epoch', 'event', 'step'], 'listed': ['20261202-120000'],
                    'ownerAlive': False}
