"""pytest setup for the PyTorch engine's tests: the package on sys.path, one thread (the machine's
two cores are shared), and a small helper to make run folders as the TypeScript worker does."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # the format tests need no torch
    pass

import pytest  # noqa: E402


def make_run_folder(parent: str, jobs: dict = None, run_id: str = '20261202-120000', config: dict = None) -> str:
    """A run folder as src/runs/store.ts createRun leaves it: config.json, a queued run.json, an
    empty metrics.jsonl."""
    run_dir = os.path.join(parent, 'exp', run_id)
    os.makedirs(run_dir)
    snapshot = {'experimentFile': os.path.join(parent, 'exp.distill.json'), 'experimentText': '{}', 'config': config or {'name': 'exp'}}
    with open(os.path.join(run_dir, 'config.json'), 'w') as f:
        json.dump(snapshot, f, indent=2)
    now = '2026-12-02T12:00:00.000Z'
    run = {'id': run_id, 'experiment': 'exp', 'experimentFile': snapshot['experimentFile'], 'status': 'queued',
           'versions': {}, 'createdAt': now, 'updatedAt': now, 'resumes': [],
           'jobs': jobs if jobs is not None else {'distill-s1': {'kind': 'distill', 'seed': 1, 'model': 'student', 'teacher': 'teacher',
                                                                 'final': True, 'status': 'pending', 'epochs': 2, 'completedEpochs': 0}}}
    with open(os.path.join(run_dir, 'run.json'), 'w') as f:
        json.dump(run, f, indent=2)
    open(os.path.join(run_dir, 'metrics.jsonl'), 'w').close()
    return run_dir


@pytest.fixture
def run_dir(tmp_path):
    return make_run_folder(str(tmp_path))


# ---------------------------------------------------------------------------------------------
# A tiny experiment, as the worker sends it after validation (the config below is what
# src/config's validator makes of it, defaults filled in; planJobs gives the jobs).

MODELS_PY = '''
import sys
import torch
from torch import nn


def teacher(width=8):
    print("building the teacher (a stray print: must not reach the protocol)")
    sys.stdout.write("more stray text\\n")
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(width * 4, 3))


def assistant(width=6):
    return teacher(width)


def student(width=4):
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(width * 4, 3))
'''


def plan_jobs(config: dict) -> dict:
    """The jobs of an experiment in the order they run, as src/engine/training/jobs.ts planJobs."""
    jobs = {}
    scheme = config['scheme']

    def job(kind, seed, epochs=None, **extra):
        return {'kind': kind, 'seed': seed, 'status': 'pending', 'epochs': epochs or config['training']['epochs'],
                'completedEpochs': 0, **extra}
    t = (config.get('teacher') or {}).get('train')
    if t and scheme['kind'] != 'online':
        jobs['teacher'] = job('teacher', config['seeds'][0], t['epochs'], model='teacher')
    for seed in config['seeds']:
        if config['baseline']:
            jobs[f'scratch-s{seed}'] = job('scratch', seed, model='student')
        kind = scheme['kind']
        if kind == 'offline':
            jobs[f'distill-s{seed}'] = job('distill', seed, model='student', teacher='teacher', final=True)
        elif kind == 'born-again':
            teacher = 'teacher'
            for g in range(1, scheme['generations'] + 1):
                jobs[f'born-g{g}-s{seed}'] = job('distill', seed, model='student', teacher=teacher, final=g == scheme['generations'])
                teacher = f'born-g{g}-s{seed}'
        elif kind == 'ta-chain':
            teacher = 'teacher'
            for i, _ in enumerate(scheme['assistants']):
                jobs[f'ta{i + 1}-s{seed}'] = job('distill', seed, model=f'assistant:{i}', teacher=teacher)
                teacher = f'ta{i + 1}-s{seed}'
            jobs[f'distill-s{seed}'] = job('distill', seed, model='student', teacher=teacher, final=True)
        elif kind in ('online', 'self'):
            jobs[f'{kind}-s{seed}'] = job(kind, seed, model='student', final=True)
    return jobs


def tiny_experiment(folder: str, *, epochs: int = 2, samples: int = 96, knowledge=None, steps_per_epoch=None,
                    baseline: bool = True, device: str = 'cpu', **overrides) -> dict:
    """Writes models.py and the experiment file into `folder`; returns the `prepare` message."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'models.py'), 'w') as f:
        f.write(MODELS_PY)
    training = {'epochs': epochs, 'batchSize': 32, 'optimizer': {'kind': 'adam', 'learningRate': 0.01}, 'logEvery': 1,
                'checkpointEvery': {'steps': 2}}
    if steps_per_epoch:
        training['stepsPerEpoch'] = steps_per_epoch
    config = {
        'name': 'tiny', 'engine': 'torch', 'device': device, 'precision': 'fp32', 'seeds': [1],
        'data': {'train': {'format': 'synthetic', 'kind': 'images', 'samples': samples, 'classes': 3, 'shape': [8, 8, 1], 'seed': 1, 'noise': 0.3},
                 'test': {'format': 'synthetic', 'kind': 'images', 'samples': 60, 'classes': 3, 'shape': [8, 8, 1], 'seed': 2, 'noise': 0.3},
                 'normalize': 'scale', 'shuffleSeed': 0},
        'teacher': {'module': 'models.py', 'export': 'teacher'},
        'student': {'module': 'models.py', 'export': 'student'},
        'scheme': {'kind': 'offline'},
        'knowledge': knowledge if knowledge is not None else [
            {'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}},
            {'kind': 'feature', 'method': 'at', 'weight': 1, 'schedule': {'kind': 'constant'},
             'pairs': [{'teacher': '3', 'student': '1', 'adapter': 'auto'}]}],
        'labels': {'weight': 1}, 'training': training, 'baseline': baseline, 'teacherCacheMB': 1024, 'backend': 'auto',
    }
    for k, v in overrides.items():
        if v is None:
            config.pop(k, None)
        else:
            config[k] = v
    exp_file = os.path.join(folder, 'tiny.distill.json')
    text = json.dumps(config, indent=2)
    with open(exp_file, 'w') as f:
        f.write(text)
    jobs = plan_jobs(config)
    return {'type': 'prepare', 'snapshot': {'experimentFile': exp_file, 'experimentText': text, 'config': config}, 'jobs': jobs}


def create_run(prepare_msg: dict, runs_dir: str, run_id: str = '20261202-120000') -> str:
    """The run folder the worker creates before `run` (store.ts createRun + the `start` event)."""
    snap = prepare_msg['snapshot']
    run_dir = os.path.join(runs_dir, snap['config']['name'], run_id)
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, 'config.json'), 'w') as f:
        json.dump(snap, f, indent=2)
    now = '2026-12-02T12:00:00.000Z'
    run = {'id': run_id, 'experiment': snap['config']['name'], 'experimentFile': snap['experimentFile'], 'status': 'queued',
           'versions': {}, 'createdAt': now, 'updatedAt': now, 'resumes': [], 'jobs': prepare_msg['jobs']}
    with open(os.path.join(run_dir, 'run.json'), 'w') as f:
        json.dump(run, f, indent=2)
    with open(os.path.join(run_dir, 'metrics.jsonl'), 'w') as f:
        f.write(json.dumps({'type': 'event', 'event': 'start', 't': now}) + '\n')
    return run_dir


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts with one thread: the engine's prepare sets the thread count to the machine's
    cores (as a run should), and a later test comparing weights bit for bit against a child process
    with one thread would otherwise compare different reduction orders."""
    try:
        import torch as _torch
    except ImportError:
        yield
        return
    _torch.set_num_threads(1)
    yield
    _torch.set_num_threads(1)
