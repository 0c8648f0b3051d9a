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
