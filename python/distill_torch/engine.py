"""One experiment on the PyTorch engine: `prepare` (everything that can be refused is refused here,
before the worker creates a run folder) and `run` (the jobs in run.json order, then the student
export and report.json), with the semantics of src/engine/run.ts:

    teacher   trains the teacher first when `teacher.train` is set (labels only)
    scratch   the student on the labels alone (the baseline with the same budget)
    distill   a model taught by a fixed teacher: the experiment's (`job.teacher == 'teacher'`) or
              the final model of a previous job (born-again generations, teacher-assistant chains)
    online    teacher and students learn together (schemes.py)
    self      the student with auxiliary heads (schemes.py)

Each job's final model goes to models/<job>/model.pt (its state_dict); the job is then marked
completed in run.json with a `job-done` event, so a resume skips it.
"""
from __future__ import annotations

import errno
import io
import math
import os
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .errors import ConfigError
from .runfolder import DiskFaultError, RunFolder, disk_fault, is_disk_fault, now_iso, owner_fields, write_dir_atomic, write_file_atomic, dumps

Send = Callable[[dict], None]

DEVICES = 'auto, cpu, cuda, cuda:N or mps'
PRECISIONS = ('fp32', 'bf16', 'fp16')
EVAL_BATCH = 256


# ---------------------------------------------------------------------------------------------
# device, precision, threads

def _mps_available() -> bool:
    mps = getattr(torch.backends, 'mps', None)
    return bool(mps is not None and getattr(mps, 'is_available', lambda: False)())


def resolve_device(value: Any) -> torch.device:
    """`auto | cpu | cuda | cuda:N | mps` → the device a run uses; ConfigError at ['device'] when
    that device is not there (with what this torch does see)."""
    where = f'torch {torch.__version__} in {sys.executable}'
    if value is None or value == 'auto':
        if torch.cuda.is_available():
            return torch.device('cuda', torch.cuda.current_device())
        if _mps_available():
            return torch.device('mps')
        return torch.device('cpu')
    if not isinstance(value, str):
        raise ConfigError(['device'], f'expected {DEVICES}, found {value!r}')
    if value == 'cpu':
        return torch.device('cpu')
    if value == 'mps':
        if not _mps_available():
            raise ConfigError(['device'], f'device "mps": {where} has no MPS (Apple GPU) support here; use "auto" or "cpu"')
        return torch.device('mps')
    if value == 'cuda' or value.startswith('cuda:'):
        index = 0
        if value != 'cuda':
            tail = value[5:]
            if not tail.isdigit():
                raise ConfigError(['device'], f'expected {DEVICES}, found "{value}"')
            index = int(tail)
        if not torch.cuda.is_available():
            raise ConfigError(['device'], f'device "{value}": {where} sees no CUDA device (torch.cuda.is_available() is false); '
                                          'use "auto" or "cpu", or an interpreter whose torch has CUDA')
        n = torch.cuda.device_count()
        if index >= n:
            raise ConfigError(['device'], f'device "{value}": {where} sees {n} CUDA device(s), cuda:0…cuda:{n - 1}')
        return torch.device('cuda', index)
    raise ConfigError(['device'], f'expected {DEVICES}, found "{value}"')


def resolve_precision(value: Any, device: torch.device) -> str:
    """fp32 | bf16 | fp16; fp16 (autocast + GradScaler) needs CUDA."""
    if value is None:
        return 'fp32'
    if value not in PRECISIONS:
        raise ConfigError(['precision'], f'expected fp32, bf16 or fp16, found {value!r}')
    if value == 'fp16' and device.type != 'cuda':
        raise ConfigError(['precision'], f'precision "fp16" needs a CUDA device, the run uses {device}; use "bf16" or "fp32"')
    return value


def resolve_threads() -> Tuple[int, str]:
    """The intra-op thread count (torch's own default is 1 on this kind of machine, see
    /work/shared/reference/torch-facts.md) and where it came from."""
    env = os.environ.get('DISTILL_THREADS')
    if env:
        try:
            n = int(env)
            if n >= 1:
                return n, 'DISTILL_THREADS'
        except ValueError:
            pass
        print(f'DISTILL_THREADS={env!r} is not a positive integer: ignored', file=sys.stderr)
    affinity = getattr(os, 'sched_getaffinity', None)
    if affinity is not None:
        try:
            # The CPUs this process may run on (a Slurm job or a container gets fewer than the machine has).
            return max(1, len(affinity(0))), 'the CPUs this process may use'
        except OSError:
            pass
    return max(1, os.cpu_count() or 1), 'os.cpu_count()'


def device_name(device: torch.device) -> str:
    return f'{device.type}:{device.index}' if device.type == 'cuda' else device.type


# ---------------------------------------------------------------------------------------------
# the models of an experiment

def model_spec(config: dict, model: Optional[str]) -> Tuple[dict, list]:
    """The spec a job's `model` names (teacher, student, assistant:<i>) and its path in the file."""
    if model == 'teacher':
        return config['teacher'], ['teacher']
    if model and model.startswith('assistant:'):
        i = int(model.split(':', 1)[1])
        return config['scheme']['assistants'][i], ['scheme', 'assistants', i]
    return config['student'], ['student']


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """A fixed teacher: eval mode, no gradients."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def predict(model: torch.nn.Module, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Logits of `model` on `x` (CPU float32), batch by batch, in eval mode; the mode is restored."""
    was = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], EVAL_BATCH):
            y = model(x[i:i + EVAL_BATCH].to(device))
            if isinstance(y, (tuple, list)):
                y = y[0]
            out.append(y.float().cpu())
    model.train(was)
    return torch.cat(out) if out else torch.zeros(0)


def per_class(pred: torch.Tensor, labels: torch.Tensor, c: int) -> dict:
    """Confusion matrix (rows: true class) and the accuracy of each class (null when it has no
    sample), as src/engine/results/perClass.ts."""
    m = [[0] * c for _ in range(c)]
    for t, p in zip(labels.tolist(), pred.tolist()):
        if 0 <= t < c and 0 <= p < c:
            m[t][p] += 1
    return {'acc': _class_acc(m), 'confusion': m}


def _class_acc(m: List[List[int]]) -> list:
    out = []
    for i, row in enumerate(m):
        n = sum(row)
        out.append(row[i] / n if n else None)
    return out


def pool_per_class(items: List[dict]) -> Optional[dict]:
    if not items:
        return None
    c = len(items[0]['confusion'])
    if any(len(p['confusion']) != c for p in items):
        return None
    s = [[sum(p['confusion'][i][j] for p in items) for j in range(c)] for i in range(c)]
    return {'acc': _class_acc(s), 'confusion': s}


def per_class_report(classes: int, class_names: Optional[list], teacher: Optional[dict],
                     scratch: List[dict], distill: List[dict]) -> Optional[dict]:
    """report.json `perClass` (perClass.ts perClassReport): pooled over seeds, the largest drop first."""
    d = pool_per_class(distill)
    if d is None:
        return None
    s = pool_per_class(scratch)
    names = class_names if class_names and len(class_names) == classes else [str(i) for i in range(classes)]
    seeds = max(1, len(distill))
    support_src = teacher['confusion'] if teacher else d['confusion']
    support = [int(round(sum(r) / (1 if teacher else seeds))) for r in support_src]
    reference = 'teacher' if teacher else 'scratch' if s else 'none'
    gaps = []
    for k in range(classes):
        dk = d['acc'][k]
        if dk is None:
            continue
        t = teacher['acc'][k] if teacher else None
        sk = s['acc'][k] if s else None
        ref = t if reference == 'teacher' else sk if reference == 'scratch' else None
        g = {'class': k, 'name': names[k], 'support': support[k]}
        if t is not None:
            g['teacher'] = t
        if sk is not None:
            g['scratch'] = sk
        g['distill'] = dk
        g['drop'] = (ref - dk) if ref is not None else 1 - dk
        gaps.append(g)
    gaps.sort(key=lambda g: (-g['drop'], g['class']))
    out = {'classNames': names, 'support': support}
    if teacher:
        out['teacher'] = teacher
    if s:
        out['scratch'] = s
    out.update({'distill': d, 'reference': reference, 'gaps': gaps})
    return out


def stat(values: List[float]) -> dict:
    """Mean, sample standard deviation and count (src/runs/report.ts stat)."""
    n = len(values)
    mean = sum(values) / max(1, n)
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return {'mean': mean, 'std': math.sqrt(var), 'n': n}


def _epoch_figures(r: dict) -> dict:
    out = {'epoch': r['epoch'], 'testAcc': r['testAcc'], 'testErrors': r['testErrors']}
    if r.get('valAcc') is not None:
        out['valAcc'] = r['valAcc']
    if r.get('agreement') is not None:
        out['agreement'] = r['agreement']
        if r.get('klTeacher') is not None:
            out['klTeacher'] = r['klTeacher']
    return out


def job_reports(jobs: Dict[str, dict], records: List[dict]) -> Dict[str, dict]:
    """report.json `jobs`: the scratch and final distilled jobs, last and best epoch (by valAcc,
    else testAcc; the earliest on ties), as src/engine/results/report.ts buildReport."""
    epochs = [r for r in records if r.get('type') == 'epoch']
    out: Dict[str, dict] = {}
    for job, state in jobs.items():
        # `final` marks the distilled students; folders written before schemes lack it (report.ts
        # then takes every distill job). planJobs writes no `final` on a ta-chain's assistant jobs
        # either, and an assistant is no distilled student: only jobs training the student count.
        final = state.get('final', state['kind'] == 'distill' and state.get('model', 'student') == 'student')
        if state['kind'] == 'teacher' or not (state['kind'] == 'scratch' or final):
            continue
        mine = sorted((r for r in epochs if r.get('job') == job), key=lambda r: r['epoch'])
        if not mine:
            continue
        key = (lambda r: r['valAcc'] if r.get('valAcc') is not None else r['testAcc'])
        best = mine[0]
        for r in mine[1:]:
            if key(r) > key(best):
                best = r
        out[job] = {'kind': 'scratch' if state['kind'] == 'scratch' else 'distill', 'seed': state['seed'],
                    'last': _epoch_figures(mine[-1]), 'best': _epoch_figures(best)}
    return out


def exported_job(reports: Dict[str, dict]) -> Optional[str]:
    """The distilled job whose student is exported: the best last-epoch valAcc (else testAcc),
    the first in run order on ties (report.ts)."""
    best = None
    for job, j in reports.items():
        if j['kind'] != 'distill':
            continue
        v = j['last'].get('valAcc', j['last']['testAcc'])
        if best is None or v > best[1]:
            best = (job, v)
    return best[0] if best else None


def _tensor_bytes(v: Any) -> int:
    """Stored bytes of a state_dict value: quantized tensors count 1 byte a weight plus their
    scales (float32) and zero points; packed params (dynamic quantization) are unpacked."""
    if isinstance(v, torch.Tensor):
        if v.is_quantized:
            n = v.numel() * v.element_size()
            if v.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric, getattr(torch, 'per_channel_affine_float_qparams', None)):
                n += v.q_per_channel_scales().numel() * 4 + v.q_per_channel_zero_points().numel()
            else:
                n += 4 + 1
            return n
        return v.numel() * v.element_size()
    if isinstance(v, (tuple, list)):
        return sum(_tensor_bytes(x) for x in v)
    if isinstance(v, dict):
        return sum(_tensor_bytes(x) for x in v.values())
    return 0


# ---------------------------------------------------------------------------------------------

class Session:
    """A prepared experiment: its config, device, data and the models built to check it."""

    def __init__(self, msg: dict, send: Send, should_stop: Callable[[], bool], versions: Dict[str, str]):
        snapshot = msg.get('snapshot')
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get('config'), dict):
            raise ConfigError([], 'prepare: expected a snapshot with the validated config')
        self.snapshot = snapshot
        self.config: dict = snapshot['config']
        self.experiment_file: str = snapshot.get('experimentFile') or ''
        self.base_dir = os.path.dirname(os.path.abspath(self.experiment_file)) if self.experiment_file else os.getcwd()
        self.plan: Dict[str, dict] = msg.get('jobs') or {}
        self.send = send
        self.should_stop = should_stop
        self.versions = dict(versions)
        self.running = False
        self.notes: List[str] = []
        self.models: Dict[str, torch.nn.Module] = {}
        self._teachers: Dict[str, torch.nn.Module] = {}
        self.warnings: Dict[str, dict] = {}  # report.json `warnings`, by kind (teacher_health.py)
        self.dist = None  # distributed.Group of a data-parallel run (set by distributed.attach / its worker entry)

    def log(self, message: str, level: str = 'info') -> None:
        self.send({'type': 'log', 'level': level, 'message': message})

    def warn(self, w: Optional[dict]) -> None:
        """Logs a warning once per kind and keeps it for report.json."""
        from . import teacher_health
        if not w or w['kind'] in self.warnings:
            return
        self.warnings[w['kind']] = w
        self.log(teacher_health.describe(w), 'warn')

    def _teacher_causes(self, model: torch.nn.Module) -> List[str]:
        from . import teacher_health
        c = self.config
        t = (c.get('teacher') or {}).get('train')
        steps = t['epochs'] * self._steps_per_epoch(t) if t and (c.get('scheme') or {}).get('kind') != 'online' else None
        return teacher_health.likely_causes(batch_norm=teacher_health.has_batch_norm(model), trained_steps=steps,
                                            normalize=(c.get('data') or {}).get('normalize'))

    # -- prepare -------------------------------------------------------------------------------
    def prepare(self) -> None:
        c = self.config
        from . import qat
        qat.check_config(c)  # issue 18: student.quantize refusals
        self.device = resolve_device(c.get('device', 'auto'))
        self.precision = resolve_precision(c.get('precision', 'fp32'), self.device)
        threads, source = resolve_threads()
        torch.set_num_threads(threads)
        self.notes = [f'threads: {torch.get_num_threads()} ({source})', f'precision: {self.precision}']
        if self.device.type == 'cuda':
            self.notes.append(f'gpu: {torch.cuda.get_device_name(self.device)}')
        from . import data as data_mod
        self.data = data_mod.load_data(c, self.base_dir)
        from . import distributed, synthesis
        synthesis.check_config(c)  # issue 18: what a data-free run refuses
        distributed.check_config(c, int(self.data.train.x.shape[0]), distributed.world_size(c), self.device)
        self._build_models()
        qat.check_student(c, self.models['student'])
        self.plan = qat.plan(c, self.plan)  # issue 18: qat-s<seed> after distill-s<seed> when student.quantize.aware
        synthesis.check_teacher(c, self.models.get('teacher'))
        self._check_pairings()

    def _seed0(self) -> int:
        seeds = self.config.get('seeds') or [1]
        return int(seeds[0])

    def build(self, model: Optional[str], seed: int) -> torch.nn.Module:
        """A fresh model of a job's architecture (`teacher`, `student`, `assistant:<i>`) from `seed`."""
        from . import models as models_mod
        spec, path = model_spec(self.config, model)
        return models_mod.build_model(spec, self.base_dir, path=path, input_shape=tuple(self.data.input_shape),
                                      num_classes=self.data.num_classes, teacher_spec=self.config.get('teacher'), seed=seed)

    def _build_models(self) -> None:
        """Every architecture of the experiment builds (and loads its weights): refused here, located."""
        from . import models as models_mod
        c = self.config
        seed = self._seed0()
        if c.get('teacher') is not None:
            self.models['teacher'] = self.build('teacher', seed)
        self.models['student'] = self.build('student', seed)
        if (c.get('scheme') or {}).get('kind') == 'ta-chain':
            for i, _ in enumerate(c['scheme'].get('assistants') or []):
                self.models[f'assistant:{i}'] = self.build(f'assistant:{i}', seed)
        self.extra_teachers: List[torch.nn.Module] = []
        for k, entry in enumerate(c.get('knowledge') or []):
            if entry.get('method') == 'multi-kd':
                for j, spec in enumerate(entry.get('teachers') or []):
                    m = models_mod.build_model(spec, self.base_dir, path=['knowledge', k, 'teachers', j],
                                               input_shape=tuple(self.data.input_shape), num_classes=self.data.num_classes, seed=seed)
                    self.extra_teachers.append(freeze(m))

    def _job_model(self, job: str) -> str:
        """The architecture a job id (or `teacher`) stands for."""
        if job == 'teacher' and job not in self.plan:
            return 'teacher'
        return self.plan[job].get('model') or ('teacher' if self.plan[job]['kind'] == 'teacher' else 'student')

    def pairings(self) -> List[Tuple[str, str]]:
        """(teacher architecture, student architecture) of every distill job, once each."""
        out: List[Tuple[str, str]] = []
        for state in self.plan.values():
            if state['kind'] != 'distill':
                continue
            pair = (self._job_model(state.get('teacher') or 'teacher'), state.get('model') or 'student')
            if pair not in out:
                out.append(pair)
        return out

    def _check_pairings(self) -> None:
        """knowledge.build_terms for every distill pairing: a wrong layer name is refused here,
        at its path in the file, before the run folder exists."""
        from . import knowledge
        entries = self.config.get('knowledge') or []
        sample = self.data.train.x[:2] if self.data.train.x.shape[0] else self.data.test.x[:2]  # data-free: no train split yet
        for t, s in self.pairings():
            if t not in self.models or s not in self.models:
                continue
            knowledge.build_terms(entries, teacher=self.models[t], student=self.models[s], sample=sample,
                                  num_classes=self.data.num_classes, num_train=int(self.data.train.x.shape[0]),
                                  extra_teachers=list(self.extra_teachers), train_labels=self.data.train.y)
        scheme = self.config.get('scheme') or {}
        if scheme.get('kind') == 'self':
            from . import schemes
            for i, message in schemes.check_heads(self.models['student'], scheme.get('heads') or []):
                raise ConfigError(['scheme', 'heads', i, 'layer'], message)

    def backend(self) -> dict:
        return {'name': device_name(self.device), 'versions': dict(self.versions), 'notes': list(self.notes), 'customKernels': []}

    def prepared_message(self) -> dict:
        msg = {'type': 'prepared', 'backend': self.backend()}
        names = getattr(self.data, 'class_names', None)
        if names:
            msg['classNames'] = list(names)
        return msg

    # -- run -------------------------------------------------------------------------------------
    def run(self, run_dir: str, resume: bool) -> str:
        """Trains (or continues) the run in `run_dir`; says `done` or `failed`. Returns the status."""
        self.running = True
        self.run_dir = os.path.abspath(run_dir)
        try:
            from . import distributed
            self.folder = distributed.open_folder(self.run_dir, self.dist)  # ranks > 0 write nothing
        except (OSError, ValueError) as e:
            self.send({'type': 'failed', 'runDir': self.run_dir, 'error': f'{self.run_dir}: {e}'})
            return 'failed'
        status = 'failed'
        try:
            status = self._run(resume)
            return status
        finally:
            if self.dist is not None:
                self.dist.close(status)

    def _run(self, resume: bool) -> str:
        from . import distributed
        try:
            stale = self.folder.remove_temp_files()
            if stale:
                self.log(f'removed temporary files left by an interrupted write: {", ".join(stale)}')
            if resume and self.folder.run().get('status') == 'completed':
                self.log(f'{self.run_dir}: already completed; nothing to resume')
                self.send({'type': 'done', 'runDir': self.run_dir, 'status': 'completed'})
                return 'completed'
            self.dist = distributed.attach(self, resume)  # a data-parallel run: the other ranks start or join here
            self._start(resume)
            status = self._execute()
            def finish(r: dict) -> None:
                r['status'] = status
                if status == 'completed':
                    r['finishedAt'] = now_iso()
            self.folder.update_run(finish)
            self.folder.event('job-done' if status == 'completed' else 'stop', message=status)
            self.send({'type': 'done', 'runDir': self.run_dir, 'status': status})
            return status
        except Exception as e:  # noqa: BLE001 — a training failure ends `failed`, recorded
            return self._record_failure(e)

    def _start(self, resume: bool) -> None:
        from . import qat
        names = getattr(self.data, 'class_names', None)
        backend = self.backend()

        def patch(r: dict) -> None:
            r['status'] = 'running'
            r.update(owner_fields())
            r['startedAt'] = r.get('startedAt') or now_iso()
            r['backend'] = backend
            r['versions'] = dict(self.versions)
            if names:
                r['classNames'] = list(names)
            if resume:
                r.setdefault('resumes', []).append(now_iso())
                r.pop('error', None)
            qat.add_jobs(self.config)(r)  # issue 18: the qat jobs a planner left out
        self.folder.update_run(patch)
        self.log(f'backend: {backend["name"]}')
        for n in backend['notes']:
            self.log(f'backend: {n}')

    def _training_of(self, state: dict) -> dict:
        c = self.config
        if state['kind'] == 'teacher' and (c.get('teacher') or {}).get('train'):
            return c['teacher']['train']
        return c['training']

    def _steps_per_epoch(self, training: dict) -> int:
        n = int(self.data.train.x.shape[0])
        full = math.ceil(n / int(training['batchSize']))
        limit = training.get('stepsPerEpoch')
        return min(full, int(limit)) if limit else full

    def _execute(self) -> str:
        from . import train
        d = self.data
        self.log(f'data: train {d.train.x.shape[0]}, validation {d.val.x.shape[0] if d.val is not None else 0}, '
                 f'test {d.test.x.shape[0]}, {d.num_classes} classes, samples {list(d.input_shape)}')
        for note in getattr(d, 'notes', None) or []:
            self.log(note)  # an image folder: decoded, or found in the decode cache (image_cache.py)
        for w in getattr(d, 'warnings', None) or []:
            self.log(w, 'warn')
        jobs = self.folder.run()['jobs']
        total = done = 0
        from . import synthesis
        for state in jobs.values():
            steps = synthesis.steps_per_epoch(self, state) or self._steps_per_epoch(self._training_of(state))
            total += state['epochs'] * steps
            done += state.get('completedEpochs', 0) * steps
        self.clock = train.ProgressClock(total, done)
        for job in list(jobs):
            state = self.folder.run()['jobs'][job]
            if state['status'] == 'completed':
                continue
            if self.should_stop():
                return 'cancelled'
            if self._run_job(job, state) == 'cancelled':
                return 'cancelled'
        if self.dist is None or self.dist.rank == 0:
            from . import synthesis
            with synthesis.job_data(self, {'kind': 'distill'}):  # data-free: int8 calibration on the synthesised inputs
                self._report()
        return 'completed'

    # -- fixed teachers ----------------------------------------------------------------------------
    def fixed_teacher(self, source: str) -> torch.nn.Module:
        """The teacher of a distill job: the experiment's teacher (as trained by this run's teacher
        job when there is one), or the final model of a previous job (models/<job>/model.pt)."""
        hit = self._teachers.get(source)
        if hit is not None:
            return hit
        jobs = self.folder.run()['jobs']
        if source == 'teacher' and 'teacher' not in jobs:
            model = self.models['teacher']
        else:
            if source not in jobs:
                raise RuntimeError(f'run.json: job {source!r}, the teacher of a later job, is not in the run')
            state = jobs[source]
            model = self.build(state.get('model') or ('teacher' if state['kind'] == 'teacher' else 'student'), int(state['seed']))
            path = os.path.join(self.run_dir, 'models', source, 'model.pt')
            if not os.path.isfile(path):
                raise RuntimeError(f'{path}: the final model of job {source} is missing (it teaches a later job); '
                                   f'resume cannot continue without it')
            model.load_state_dict(torch.load(path, map_location='cpu'))
        model = freeze(model).to(self.device)
        # Keep only the teachers still needed: a chain's earlier links are released.
        self._teachers = {source: model}
        if source == 'teacher':
            # Teacher health: at chance on the validation split (else test) is said before it teaches.
            from . import teacher_health
            d = self.data
            split, name = (d.val, 'validation') if d.val is not None else (d.test, 'test')
            logits = predict(model, split.x, self.device)
            self.warn(teacher_health.chance_warning(logits, split.y, int(d.num_classes), split=name,
                                                    causes=self._teacher_causes(model)))
        return model

    # -- one job ---------------------------------------------------------------------------------
    def _run_job(self, job: str, state: dict) -> str:
        from . import synthesis
        if state['kind'] == 'synthesize':
            return synthesis.run_job(self, job, state)
        with synthesis.job_data(self, state):  # a data-free run: the job's training split
            return self._train_one(job, state)

    def _train_one(self, job: str, state: dict) -> str:
        from . import qat, train
        c = self.config
        kind = state['kind']

        def running(r: dict) -> None:
            r['jobs'][job]['status'] = 'running'
        self.folder.update_run(running)
        seed = int(state['seed'])
        arch = state.get('model') or ('teacher' if kind == 'teacher' else 'student')
        model = self.build(arch, seed).to(self.device)
        qat.prepare_model(model, state)  # issue 18: a qat job's student trains fake-quantised
        teacher = None
        terms = None
        extra: list = []
        if kind == 'distill':
            teacher = self.fixed_teacher(state.get('teacher') or 'teacher')
            from . import knowledge
            extra = [m.to(self.device) for m in self.extra_teachers]
            torch.manual_seed(train.seed_for(seed, 'adapters'))  # adapters reproducible from the job's seed
            terms = knowledge.build_terms(c.get('knowledge') or [], teacher=teacher, student=model,
                                          sample=self.data.train.x[:2].to(self.device), num_classes=self.data.num_classes,
                                          num_train=int(self.data.train.x.shape[0]), extra_teachers=extra,
                                          train_labels=self.data.train.y, prefix=f'adapter_{job}',
                                          labels_weight=train.labels_weight(c, kind))
            terms = terms.to(self.device)
        elif kind == 'scratch' and c.get('teacher') is not None and (c.get('scheme') or {}).get('kind') not in ('online', 'self'):
            # Evaluated against the teacher (agreement, klTeacher), trained on the labels only.
            teacher = self.fixed_teacher('teacher')
        ctx = train.JobContext(
            job_id=job, job=state, training=self._training_of(state), config=c, data=self.data, device=self.device,
            precision=self.precision, model=model, teacher=teacher, terms=terms, extra_teachers=extra,
            folder=self.folder, send=self.send, should_stop=self.should_stop, clock=self.clock, base_dir=self.base_dir,
            dist=self.dist)
        # The teacher runs on every rank of a data-parallel run (no shared cache written by one of them).
        if kind == 'distill' and self.dist is None and _has_field(train.JobContext, 'teacher_outputs'):
            ctx.teacher_outputs = self._teacher_outputs(job, state, teacher, terms)
        what = {'teacher': 'labels', 'scratch': 'labels', 'distill': 'labels + knowledge', 'online': 'deep mutual learning',
                'self': 'auxiliary heads'}.get(kind, kind)
        self.log(f'{job}: {what}, {state["epochs"]} epochs')
        status = train.train_job(ctx)
        if status != 'completed':
            return status
        qat.save_model(self.folder, job, model, state)  # a qat job's: the plain student's keys + activation ranges
        for name, extra_model in (ctx.outputs or {}).items():  # online: the teacher peer, models/<job>-teacher
            self.folder.save_model(f'{job}-{name}', {k: v.detach().cpu() for k, v in extra_model.state_dict().items()})

        def completed(r: dict) -> None:
            r['jobs'][job]['status'] = 'completed'
            r['jobs'][job]['completedEpochs'] = r['jobs'][job]['epochs']
        self.folder.update_run(completed)
        self.folder.event('job-done', job=job)
        if self.dist is not None:
            self.dist.barrier()  # rank 0 has written the job's model: a later job's teacher on every rank
        return 'completed'

    def _teacher_outputs(self, job: str, state: dict, teacher: torch.nn.Module, terms) -> Optional[Any]:
        """The fixed teacher's training-split outputs from the disk cache (teacher_cache.py), or
        None when the job's training images are augmented (the teacher must then see each batch as
        augmented) or the cache is off or too small."""
        from . import teacher_cache
        c = self.config
        if not getattr(terms, 'needs_teacher', True):
            return None  # labels alone: the teacher serves the evaluation only, nothing to cache
        aug = (c.get('data') or {}).get('augment')
        if aug and (aug.get('jobs') or 'all') == 'all':
            self.log(f'{job}: the training images are augmented (data.augment), so the teacher runs on every batch '
                     'instead of using its cached outputs')
            return None
        source = state.get('teacher') or 'teacher'
        jobs = self.folder.run()['jobs']
        if source == 'teacher' and 'teacher' not in jobs:
            spec = dict(c['teacher'])
            spec.pop('train', None)
        else:
            src_state = jobs[source]
            arch, _ = model_spec(c, src_state.get('model') or ('teacher' if src_state['kind'] == 'teacher' else 'student'))
            # A teacher trained by this run: its architecture and its final weights' file by content.
            spec = {**{k: v for k, v in arch.items() if k != 'train'}, 'weights': os.path.join(self.run_dir, 'models', source, 'model.pt'),
                    'seed': src_state['seed']}
        layers = list(getattr(terms, 'teacher_layers', []) or [])
        return teacher_cache.teacher_outputs(
            teacher=teacher, spec=spec, base_dir=self.base_dir, data=self.data, data_config=c.get('data') or {},
            layers=layers, device=self.device, run_dir=self.run_dir, cache_mb=float(c.get('teacherCacheMB', 1024)),
            log=self.log, should_stop=self.should_stop)

    # -- report ----------------------------------------------------------------------------------
    def _report_teacher(self) -> Optional[torch.nn.Module]:
        c = self.config
        kind = (c.get('scheme') or {}).get('kind')
        if kind == 'self' or c.get('teacher') is None:
            return None
        if kind == 'online':
            jobs = [j for j in self.folder.run()['jobs'] if j.startswith('online-')]
            path = os.path.join(self.run_dir, 'models', f'{jobs[0]}-teacher', 'model.pt') if jobs else ''
            if not os.path.isfile(path):
                return None
            m = self.build('teacher', self._seed0())
            m.load_state_dict(torch.load(path, map_location='cpu'))
            return freeze(m).to(self.device)
        return self.fixed_teacher('teacher')

    def _report(self) -> None:
        from . import figures
        run = self.folder.run()
        records = self.folder.read_metrics()
        jobs = job_reports(run['jobs'], records)
        exported = exported_job(jobs)
        if exported is None:
            raise RuntimeError(f'{self.run_dir}: no distilled student finished, nothing to report')
        d = self.data
        shape = tuple(d.input_shape)
        estate = run['jobs'][exported]
        student = self.build(estate.get('model') or 'student', int(estate['seed']))
        student.load_state_dict(torch.load(os.path.join(self.run_dir, 'models', exported, 'model.pt'), map_location='cpu'))
        student = student.to(self.device).eval()
        self.log('report: measuring the student')
        s_fig = _figures(figures.model_figures(student, shape, self.device))
        teacher = self._report_teacher()
        y = d.test.y.cpu()
        report: Dict[str, Any] = {
            'experiment': self.config['name'], 'runId': run['id'], 'backend': (run.get('backend') or {}).get('name', 'unknown'),
            'scheme': (self.config.get('scheme') or {}).get('kind', 'offline'),
        }
        t_logits = None
        t_per_class = None
        if teacher is not None:
            self.log('report: measuring the teacher')
            t_fig = _figures(figures.model_figures(teacher, shape, self.device))
            t_logits = predict(teacher, d.test.x, self.device)
            t_pred = t_logits.argmax(1)
            correct = int((t_pred == y).sum())
            t_per_class = per_class(t_pred, y, d.num_classes)
            report['teacher'] = {**t_fig, 'testAcc': correct / max(1, len(y)), 'testErrors': len(y) - correct}
            comp = {
                'params': t_fig['params'] / max(1, s_fig['params']),
                'bytes': t_fig['bytes'] / max(1, s_fig['bytes']),
                'flops': t_fig['flops'] / max(1, s_fig['flops']),
                'speedup': t_fig['latencyMsPerSample'] / max(1e-9, s_fig['latencyMsPerSample']),
            }
            if 'latencyBatch' in t_fig and 'latencyBatch' in s_fig:
                comp['speedupBatch'] = t_fig['latencyBatch']['msPerSample'] / max(1e-9, s_fig['latencyBatch']['msPerSample'])
            report['compression'] = comp
        report['student'] = s_fig
        report['jobs'] = jobs

        def summarize(kind: str) -> Optional[dict]:
            rows = [j for j in jobs.values() if j['kind'] == kind]
            if not rows:
                return None
            out = {'testAcc': stat([r['last']['testAcc'] for r in rows]), 'testErrors': stat([r['last']['testErrors'] for r in rows])}
            if all('agreement' in r['last'] for r in rows):
                out['agreement'] = stat([r['last']['agreement'] for r in rows])
            return out
        report['summary'] = {k: v for k, v in (('scratch', summarize('scratch')), ('distill', summarize('distill'))) if v is not None}
        report['exportedJob'] = exported
        report['testSize'] = int(len(y))
        epochs = [r for r in records if r.get('type') == 'epoch']

        def last_per_class(kind: str) -> List[dict]:
            out = []
            for job, j in jobs.items():
                if j['kind'] != kind:
                    continue
                hit = next((r for r in epochs if r.get('job') == job and r['epoch'] == j['last']['epoch']), None)
                if hit and hit.get('perClass'):
                    out.append(hit['perClass'])
            return out
        if teacher is not None and report['summary'].get('scratch'):
            from . import teacher_health
            self.warn(teacher_health.below_scratch_warning(report['teacher']['testAcc'], report['summary']['scratch']['testAcc'],
                                                           self._teacher_causes(teacher)))
        pc = per_class_report(d.num_classes, getattr(d, 'class_names', None), t_per_class, last_per_class('scratch'), last_per_class('distill'))
        if pc:
            report['perClass'] = pc
        self._export_student(student, exported)
        report['quantized'] = self._quantized(student, t_logits)
        from . import qat
        report.update(qat.report_rows(self, student, t_logits, records, run))  # issue 18: quantizedVariants, qat
        from . import adversarial
        self.warn(adversarial.discriminator_warning(records))  # issue 18: an adversarial term's D that wins
        report['warnings'] = list(self.warnings.values())
        from . import synthesis
        data_free = synthesis.report(self, records)
        if data_free is not None:
            report['dataFree'] = data_free
        text = dumps(report, indent=2)
        write_file_atomic(os.path.join(self.run_dir, 'report.json'), text, self.run_dir)

    def _export_student(self, student: torch.nn.Module, job: str) -> None:
        """student/: the exported files of the chosen distilled job (state_dict, TorchScript, ONNX
        as figures.export_student writes them) and source.json, written once, atomically."""
        from . import figures
        dest = os.path.join(self.run_dir, 'student')
        if os.path.exists(dest):
            return
        tmp = os.path.join(self.run_dir, f'.tmp-student-{os.getpid()}')
        try:
            os.makedirs(tmp, exist_ok=True)
            sample = self.data.test.x[:1].to(self.device)
            files = figures.export_student(student, tmp, sample)
            for w in getattr(files, 'warnings', None) or []:
                self.log(f'student export: {w}', 'warn')
            with open(os.path.join(tmp, 'source.json'), 'w', encoding='utf8') as f:
                f.write(dumps({'job': job, 'files': [os.path.basename(p) for p in files]}, indent=2))
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, dest)
        except OSError as e:
            from .runfolder import remove_quietly
            remove_quietly(tmp)
            if is_disk_fault(e):
                raise disk_fault(e, dest, None, self.run_dir) from e
            raise
        except BaseException:
            from .runfolder import remove_quietly
            remove_quietly(tmp)
            raise
        self.log(f'student exported to student/ ({job})')

    def _quantized(self, student: torch.nn.Module, t_logits: Optional[torch.Tensor]) -> dict:
        """The int8 student (figures.quantize_int8, on the CPU where torch's quantized kernels run)
        written to student/int8/model.pt and measured on the test split against the float one."""
        from . import figures
        d = self.data
        cpu = torch.device('cpu')
        float_model = student.to(cpu).eval()
        # Calibration inputs from the training split: static int8 where the model allows it (figures.py).
        q = figures.quantize_int8(float_model, d.train.x[:256].cpu(), tuple(d.input_shape))
        q.eval()
        info = getattr(q, 'int8_info', None) or {}
        if info.get('floatLayers'):
            self.log(f'int8 student: layers kept in float32: {", ".join(info["floatLayers"])}')
        qdir = os.path.join(self.run_dir, 'student', 'int8')
        if not os.path.exists(qdir):
            buf = io.BytesIO()
            torch.save(q.state_dict(), buf)
            write_dir_atomic(qdir, {'model.pt': buf.getvalue()}, self.run_dir)
        y = d.test.y.cpu()
        f_logits = predict(float_model, d.test.x, cpu)
        q_logits = predict(q, d.test.x, cpu)
        n = max(1, len(y))
        f_pred, q_pred = f_logits.argmax(1), q_logits.argmax(1)
        f_acc = int((f_pred == y).sum()) / n
        q_correct = int((q_pred == y).sum())
        float_bytes = sum(_tensor_bytes(v) for v in float_model.state_dict().values())
        q_bytes = sum(_tensor_bytes(v) for v in q.state_dict().values())
        out: Dict[str, Any] = {
            'dir': 'student/int8', 'format': str(info.get('format') or 'torch.ao.quantization int8'), 'bytes': int(q_bytes), 'floatBytes': int(float_bytes),
            'compression': float_bytes / max(1, q_bytes), 'testAcc': q_correct / n, 'testErrors': len(y) - q_correct,
        }
        if t_logits is not None:
            t_pred = t_logits.argmax(1)
            out['agreement'] = int((q_pred == t_pred).sum()) / n
        out['floatTestAcc'] = f_acc
        if t_logits is not None:
            out['floatAgreement'] = int((f_pred == t_logits.argmax(1)).sum()) / n
        out['accDrop'] = f_acc - out['testAcc']
        self.log(f'int8 student: {q_bytes} bytes ({out["compression"]:.2f}× smaller), test accuracy '
                 f'{out["testAcc"] * 100:.2f}% (float {f_acc * 100:.2f}%)')
        student.to(self.device)
        return out

    # -- failure ---------------------------------------------------------------------------------
    def _record_failure(self, e: BaseException) -> str:
        """run.json failed with the reason, a `failed` event, the `failed` message
        (src/engine/runs/runFailure.ts). A disk fault is said as such, temporary files removed."""
        if is_disk_fault(e):
            removed = self.folder.remove_temp_files()
            fault = e if isinstance(e, DiskFaultError) else disk_fault(e, getattr(e, 'filename', None) or self.run_dir, None, self.run_dir)
            remedy = ('free some space' if fault.errno in (errno.ENOSPC, errno.EDQUOT)
                      else 'make the file system writable' if fault.errno == errno.EROFS else 'fix the permissions')
            error = f'{fault}; the last complete checkpoint is kept: {remedy}, then resume the run'
            if removed:
                self.log(f'removed the temporary files of the interrupted write: {", ".join(removed)}')
        else:
            error = f'{type(e).__name__}: {e}' if not isinstance(e, ConfigError) else e.message
            if self.dist is not None and not isinstance(e, ConfigError):
                error = self.dist.describe_failure(e, error)  # a rank that died is named
            self.log(traceback.format_exc(), 'error')
        try:
            def failed(r: dict) -> None:
                r['status'] = 'failed'
                r['error'] = error
            self.folder.update_run(failed)
        except OSError as w:
            self.folder.remove_temp_files()
            error += f'; run.json could not be marked failed ({w}): it still says "running" (listed as interrupted, resumable)'
        try:
            self.folder.event('failed', message=error)
        except OSError:
            pass  # a torn last line at most: readers skip it
        self.send({'type': 'failed', 'runDir': self.run_dir, 'error': error})
        return 'failed'


def _figures(f: dict) -> dict:
    """report.json's model figures from figures.model_figures (which may name latency `latencyMs`
    and add a layer list): params, bytes, flops, latencyMsPerSample, latencyBatch when measured."""
    out = {'params': int(f['params']), 'bytes': int(f['bytes']), 'flops': float(f['flops']),
           'latencyMsPerSample': float(f.get('latencyMsPerSample', f.get('latencyMs', 0.0)))}
    lb = f.get('latencyBatch')
    if isinstance(lb, dict) and 'batch' in lb and 'msPerSample' in lb:
        out['latencyBatch'] = {'batch': int(lb['batch']), 'msPerSample': float(lb['msPerSample'])}
    return out


def _has_field(cls: Any, name: str) -> bool:
    import dataclasses
    return dataclasses.is_dataclass(cls) and any(f.name == name for f in dataclasses.fields(cls))


def prepare(msg: dict, *, send: Send, should_stop: Callable[[], bool], versions: Dict[str, str]) -> Session:
    """Loads the data and models of the experiment in `msg` and checks every pair; ConfigError
    (located) when something is refused. Nothing is created."""
    s = Session(msg, send, should_stop, versions)
    s.prepare()
    return s
