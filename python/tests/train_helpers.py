"""Small, deterministic jobs for the tests of train.py and schemes.py (and the child process of the
SIGKILL test, which must build exactly the same job as the test that resumes it)."""
from __future__ import annotations

import json
import os
import sys
from typing import Callable, List, Optional

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from distill_torch.data import Prepared, Split  # noqa: E402
from distill_torch.knowledge import build_terms  # noqa: E402
from distill_torch.runfolder import RunFolder, dumps  # noqa: E402
from distill_torch.train import JobContext, ProgressClock, steps_per_epoch  # noqa: E402

CLASSES = 3
SHAPE = (1, 6, 6)


def make_data(n_train: int = 150, n_test: int = 45, n_val: int = 0, seed: int = 0, shape=SHAPE) -> Prepared:
    """Three classes of noisy images whose mean differs by class: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(CLASSES, *shape, generator=g)

    def split(n: int) -> Split:
        y = torch.arange(n) % CLASSES
        x = protos[y] + 0.8 * torch.randn(n, *shape, generator=g)
        return Split(x=x.float(), y=y.long())
    return Prepared(train=split(n_train), val=split(n_val) if n_val else None, test=split(n_test),
                    num_classes=CLASSES, input_shape=tuple(shape))


def student_cnn(seed: int = 1) -> torch.nn.Module:
    """Conv, BatchNorm (buffers), dropout (draws from the RNG): everything a resume must restore."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.2), torch.nn.Linear(36, 16), torch.nn.ReLU(), torch.nn.Linear(16, CLASSES))


def teacher_cnn(seed: int = 2) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(72, 24), torch.nn.ReLU(), torch.nn.Linear(24, CLASSES))


def make_run(run_dir: str, jobs: dict) -> RunFolder:
    """A run folder as the worker creates it: run.json with the jobs, an empty metrics.jsonl."""
    os.makedirs(run_dir, exist_ok=True)
    if not os.path.exists(os.path.join(run_dir, 'run.json')):
        with open(os.path.join(run_dir, 'run.json'), 'w', encoding='utf8') as f:
            f.write(dumps({'id': 'r', 'status': 'running', 'jobs': jobs}, indent=2))
        open(os.path.join(run_dir, 'metrics.jsonl'), 'wb').close()
    return RunFolder(run_dir)


def training(epochs: int = 2, batch: int = 16, kind: str = 'adam', lr: float = 0.01, **extra) -> dict:
    return {'epochs': epochs, 'batchSize': batch, 'optimizer': {'kind': kind, 'learningRate': lr}, 'logEvery': 2, **extra}


KD_CONFIG = {
    'scheme': {'kind': 'offline'},
    'labels': {'weight': 0.5},
    'knowledge': [
        {'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 0.9, 'schedule': {'kind': 'linear-warmup', 'epochs': 2}},
        {'kind': 'feature', 'method': 'fitnet', 'weight': 1, 'schedule': {'kind': 'constant'},
         'pairs': [{'teacher': '6', 'student': '7', 'adapter': 'auto'}]},
    ],
}

# KD plus two adversarial terms (issue 18): softened logits with labels, and a feature pair through a
# conv1x1 adapter; each discriminator has its own Adam, stepped after the student's.
ADV_CONFIG = {
    'scheme': {'kind': 'offline'},
    'labels': {'weight': 0.5},
    'knowledge': [
        {'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 0.9, 'schedule': {'kind': 'constant'}},
        {'kind': 'adversarial', 'method': 'adversarial', 'weight': 0.5, 'schedule': {'kind': 'constant'}, 'temperature': 1,
         'hidden': [8], 'learningRate': 0.002, 'conditional': True},
        {'kind': 'adversarial', 'method': 'adversarial', 'weight': 0.3, 'schedule': {'kind': 'linear-warmup', 'epochs': 2},
         'temperature': 2, 'hidden': [16, 8], 'learningRate': 0.001, 'conditional': False,
         'pairs': [{'teacher': '3', 'student': '3', 'adapter': 'auto'}]},
    ],
}


class Sink:
    """Collects the protocol messages a job sends."""

    def __init__(self):
        self.messages: List[dict] = []

    def __call__(self, msg: dict) -> None:
        json.dumps(msg)  # every message must be JSON as it is
        self.messages.append(msg)

    def of(self, kind: str) -> List[dict]:
        return [m for m in self.messages if m['type'] == kind]


def distill_context(run_dir: str, *, should_stop: Callable[[], bool] = lambda: False, train_cfg: Optional[dict] = None,
                    data: Optional[Prepared] = None, config: Optional[dict] = None, precision: str = 'fp32',
                    job: str = 'distill-s1', kind: str = 'distill', seed: int = 1) -> JobContext:
    """A distill job (kd with a warm-up + fitnet with a dense adapter) built from fixed seeds."""
    data = data or make_data()
    train_cfg = train_cfg or training(checkpointEvery={'steps': 4})
    config = config if config is not None else KD_CONFIG
    folder = make_run(run_dir, {job: {'kind': kind, 'seed': seed, 'status': 'running', 'epochs': train_cfg['epochs'],
                                      'completedEpochs': 0}})
    student = student_cnn()
    teacher = teacher_cnn().eval() if kind in ('distill', 'scratch') else None
    terms = None
    if kind == 'distill':
        torch.manual_seed(seed * 7919 + 1)  # adapters from the job's seed, as the engine does
        terms = build_terms(config['knowledge'], teacher=teacher, student=student, sample=data.train.x[:4],
                            num_classes=data.num_classes, num_train=data.train.y.shape[0],
                            labels_weight=config['labels']['weight'], train_labels=data.train.y)
    steps = steps_per_epoch(data.train.y.shape[0], train_cfg) * train_cfg['epochs']
    return JobContext(job_id=job, job={'kind': kind, 'seed': seed}, training=train_cfg, config=config, data=data,
                      device=torch.device('cpu'), precision=precision, model=student, teacher=teacher, terms=terms,
                      extra_teachers=[], folder=folder, send=Sink(), should_stop=should_stop, clock=ProgressClock(steps))


def job_records(folder: RunFolder, job: str) -> List[dict]:
    """The job's step and epoch records as readers see them (resume markers applied), without the
    fields that depend on the wall clock."""
    out = []
    for r in RunFolder(folder.dir).read_metrics():
        if r.get('job') == job and r['type'] in ('step', 'epoch'):
            out.append({k: v for k, v in r.items() if k not in ('t', 'seconds')})
    return out


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> List[str]:
    """Names of the state_dict entries that differ (bitwise); a module's extra state (an adversarial
    term's discriminator and its optimizer) is compared leaf by leaf."""
    sa, sb = a.state_dict(), b.state_dict()
    return [k for k in sa if not _same(sa[k], sb.get(k))]


def _same(x, y) -> bool:
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and set(x) == set(y) and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return isinstance(y, (list, tuple)) and len(x) == len(y) and all(_same(u, v) for u, v in zip(x, y))
    return x == y
