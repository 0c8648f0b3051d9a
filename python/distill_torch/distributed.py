"""Data-parallel runs: `"distributed": {"processes": N}` (or the CLI's `--processes N`).

Why this module exists apart from train.py and engine.py: a data-parallel run is the same run
with three extra duties — start and watch the other processes, split each global batch and add
the ranks' gradients and figures together, and keep every rank but rank 0 from writing — and
those duties are easier to check (and to leave out) when they live in one place. train.py and
engine.py only call the hooks of a `Group` when they have one.

Processes. The process the TypeScript bridge starts (`python -m distill_torch`) is rank 0: at
`run` it starts ranks 1…N−1 itself (`python -m distill_torch.distributed worker <spec.json>`)
with the env:// contract MASTER_ADDR=127.0.0.1, MASTER_PORT (a free port), RANK, WORLD_SIZE,
LOCAL_RANK — what `torchrun` and Slurm's `srun` give each task. When those variables are already
set (started by torchrun, or srun's SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID), every rank runs
the `worker` entry with the same spec and nothing is launched. Backend: gloo on CPU, nccl on CUDA
(each rank on cuda:LOCAL_RANK).

Arithmetic. The experiment's batchSize is the GLOBAL batch. Each step every rank takes the same
global batch from `data.batch_order(seed, epoch)` (and the same augmentation of it), keeps its
contiguous share of rows, computes its loss and gradients, and DistributedDataParallel sums the
gradients of every trained parameter (the student, adapters and terms, online peers,
self-distillation heads) across ranks and divides by N. Each rank's loss is scaled by
N·m_r/m (m_r its rows, m the batch's) before backward, so an uneven last batch still gives the
mean over the whole batch. The result equals a single process with the same global batch up to
float rounding, for every loss that is a mean over samples (labels CE, kd, at, fitnet …); losses
that relate the samples of a batch to each other (rkd, similarity-preserving, crd's banks) and
BatchNorm's batch statistics see each rank's share only — as with DistributedDataParallel.
An adversarial term's discriminator, which has its own optimizer and so is no parameter of the
wrapped module, synchronises itself the same way (adversarial.AdversarialState.join_group, called
by `Group.wrap`: broadcast from rank 0, then its gradient averaged over the global batch each step).

How DDP sees every trained module: it synchronises gradients only for a forward that goes
through the wrapper, and the learners call their modules their own way (the student, the Terms
with keyword arguments, online peers in a list, heads on tapped features). So DDP wraps one
`LearnerStep` module that holds them all and whose forward is the learner's step; checkpoints
keep the modules' own state_dicts (no `module.` prefixes), so a run resumes with any number of
processes. DDP's construction broadcasts rank 0's parameters and buffers (every rank starts the
job alike); `find_unused_parameters` leaves a parameter no rank used without a gradient, which
the optimizers skip as in one process.

Failure. Collectives time out (`DISTILL_DIST_TIMEOUT` seconds, default 60). The launcher watches
its children: when one exits, the others are killed and the error that rank 0's collective raised
is replaced by one naming the rank and how it ended; the run ends `failed` and `resume` continues
from the last checkpoint (written by rank 0 alone, like everything else in the run folder).
"""
from __future__ import annotations

import datetime
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .errors import ConfigError
from .runfolder import RunFolder

TIMEOUT_ENV = 'DISTILL_DIST_TIMEOUT'
PROCESSES_ENV = 'DISTILL_PROCESSES'  # the CLI's --processes N (set by src/engine/torch/bridge.ts): overrides the field
DEFAULT_TIMEOUT_SECONDS = 60.0


# ---------------------------------------------------------------------------------------------
# configuration

def processes_of(config: dict) -> int:
    """The processes a run of `config` asks for: DISTILL_PROCESSES (the CLI's --processes) when set,
    else `distributed.processes` of the experiment (1 when absent); ConfigError when malformed."""
    raw = os.environ.get(PROCESSES_ENV)
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(['distributed', 'processes'], f'{PROCESSES_ENV}={raw!r} (--processes): expected a whole number ≥ 1')
        return int(raw)
    d = config.get('distributed')
    if d is None:
        return 1
    if not isinstance(d, dict):
        raise ConfigError(['distributed'], f'expected an object {{"processes": N}}, found {d!r}')
    n = d.get('processes', 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(['distributed', 'processes'], f'expected a whole number of processes ≥ 1, found {n!r}')
    return n


def env_world() -> Optional[Dict[str, int]]:
    """{rank, world, local_rank} from the env:// contract (torchrun, this launcher) or from Slurm's
    srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID); None when neither is there."""
    e = os.environ
    try:
        if 'RANK' in e and 'WORLD_SIZE' in e:
            rank, world = int(e['RANK']), int(e['WORLD_SIZE'])
            return {'rank': rank, 'world': world, 'local_rank': int(e.get('LOCAL_RANK', rank))}
        if 'SLURM_PROCID' in e and 'SLURM_NTASKS' in e and int(e['SLURM_NTASKS']) > 1:
            rank = int(e['SLURM_PROCID'])
            return {'rank': rank, 'world': int(e['SLURM_NTASKS']), 'local_rank': int(e.get('SLURM_LOCALID', rank))}
    except ValueError as err:
        raise RuntimeError(f'the distributed environment is malformed ({err}): RANK, WORLD_SIZE, LOCAL_RANK must be integers')
    return None


def world_size(config: dict) -> int:
    """How many processes a run of `config` uses here: the environment's world when this process
    was started as one rank of a group, else `distributed.processes`."""
    w = env_world()
    return w['world'] if w else processes_of(config)


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    if raw:
        try:
            v = float(raw)
            if v > 0:
                return v
        except ValueError:
            pass
        print(f'{TIMEOUT_ENV}={raw!r} is not a positive number of seconds: using {DEFAULT_TIMEOUT_SECONDS:g}', file=sys.stderr)
    return DEFAULT_TIMEOUT_SECONDS


def shares(m: int, world: int) -> List[int]:
    """Rows of an m-row batch for each rank: contiguous, sizes differing by at most one."""
    base, extra = divmod(m, world)
    return [base + (1 if r < extra else 0) for r in range(world)]


def check_config(config: dict, n_train: int, world: int, device: torch.device) -> None:
    """Refusals of a data-parallel run, located: a global batch the processes cannot share evenly
    (training.batchSize, teacher.train.batchSize), an epoch whose last batch has fewer rows than
    processes, a device that has no collective backend here."""
    if world <= 1:
        return
    if device.type == 'mps':
        raise ConfigError(['distributed'], f'{world} processes on device "mps": torch has no collective backend for MPS; '
                                           'use "cpu" (gloo) or CUDA (nccl)')
    if device.type == 'cuda' and torch.cuda.device_count() < world:
        raise ConfigError(['distributed', 'processes'], f'{world} processes on CUDA need a GPU each; this machine has '
                                                        f'{torch.cuda.device_count()}')
    places = [(['training'], config.get('training'))]
    t = (config.get('teacher') or {}).get('train')
    if t:
        places.append((['teacher', 'train'], t))
    for path, tr in places:
        if not isinstance(tr, dict) or 'batchSize' not in tr:
            continue
        b = int(tr['batchSize'])
        where = path + ['batchSize']
        if b % world:
            raise ConfigError(where, f'batchSize {b} is the global batch of {world} processes and must divide evenly among them '
                                     f'(each takes batchSize/{world}); use a multiple of {world}, e.g. {max(world, b - b % world)}')
        full = math.ceil(n_train / b)
        spe = tr.get('stepsPerEpoch')
        steps = min(full, int(spe)) if spe else full
        last = min(b, n_train - (steps - 1) * b)
        if last < world:
            raise ConfigError(where, f'the last batch of an epoch has {last} of the {n_train} training samples, fewer than the {world} '
                                     f'processes (each needs at least one); choose a batchSize that leaves a last batch of '
                                     f'{world} or more, or none')


# ---------------------------------------------------------------------------------------------
# the group

def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except (ValueError, AttributeError):
        return f'signal {-code}'


def describe_exit(code: int) -> str:
    return f'was killed by {_signal_name(code)}' if code < 0 else f'exited with code {code}'


class Group:
    """This process's place in a data-parallel run and the collectives the loop needs."""

    def __init__(self, rank: int, world: int, local_rank: int, backend: str, device: torch.device):
        self.rank = rank
        self.world = world
        self.local_rank = local_rank
        self.backend = backend
        self.device = device
        self.children: Dict[int, subprocess.Popen] = {}  # rank → process (the launcher only)
        self.dead: Optional[Tuple[int, int, int]] = None   # (rank, pid, exit code) of the first child that ended badly
        self._watch_stop = threading.Event()
        self._watcher: Optional[threading.Thread] = None
        self.spec_dir: Optional[str] = None
        self.broken = False

    # -- the loop's hooks ----------------------------------------------------------------------
    def shard(self, idx: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """This rank's rows of a global batch and the factor of its loss (N·m_r/m)."""
        m = int(idx.shape[0])
        sizes = shares(m, self.world)
        start = sum(sizes[:self.rank])
        end = start + sizes[self.rank]
        return idx[start:end], x[start:end], y[start:end], self.world * sizes[self.rank] / max(1, m)

    def reduce_step(self, losses: Dict[str, float], pairs: Dict[str, Dict[str, float]], params: Dict[str, float],
                    m: int, correct: int) -> Tuple[Dict[str, float], Dict[str, Dict[str, float]], Dict[str, float], int, int]:
        """The global batch's figures from every rank's: means weighted by rows, counts summed —
        one all-reduce in float64 so the figures every rank (and rank 0's records) see agree."""
        keys = [('l', k) for k in sorted(losses)] + [('p', t, k) for t in sorted(pairs) for k in sorted(pairs[t])] + \
               [('q', k) for k in sorted(params)]

        def value(key):
            return losses[key[1]] if key[0] == 'l' else pairs[key[1]][key[2]] if key[0] == 'p' else params[key[1]]
        buf = torch.tensor([float(m), float(correct)] + [value(k) * m for k in keys], dtype=torch.float64)
        buf = self._all_reduce(buf)
        total = max(1.0, float(buf[0]))
        vals = [float(v) / total for v in buf[2:]]
        out_l: Dict[str, float] = {}
        out_p: Dict[str, Dict[str, float]] = {}
        out_q: Dict[str, float] = {}
        for k, v in zip(keys, vals):
            if k[0] == 'l':
                out_l[k[1]] = v
            elif k[0] == 'p':
                out_p.setdefault(k[1], {})[k[2]] = v
            else:
                out_q[k[1]] = v
        return out_l, out_p, out_q, int(round(float(buf[0]))), int(round(float(buf[1])))

    def wrap(self, learner: Any) -> torch.nn.Module:
        """DistributedDataParallel over every trained module of `learner` (the student, the Terms'
        adapters and learned values, online peers, self-distillation heads), gathered in one
        module whose forward is the learner's step: DDP all-reduces their gradients during
        backward (sum / N) and leaves a parameter no rank used without a gradient, as one process
        would (find_unused_parameters: fitnet's hint epochs leave the student's top unused)."""
        from torch.nn.parallel import DistributedDataParallel
        step = LearnerStep(learner)
        ids = [self.device.index] if self.device.type == 'cuda' else None
        wrapped = self._guard(lambda: DistributedDataParallel(step, device_ids=ids, find_unused_parameters=True))
        # Trained state outside DDP's module (adversarial.AdversarialState's discriminator, which has
        # its own optimizer) synchronises itself through this group.
        for m in step.modules():
            join = getattr(m, 'join_group', None)
            if callable(join):
                join(self)
        return wrapped

    def synced_stop(self, local: Callable[[], bool]) -> Callable[[], bool]:
        """A stop flag every rank reads alike: a stop seen by any rank (the protocol's `stop` on
        rank 0) stops them all at the same step."""
        def should_stop() -> bool:
            flag = torch.tensor([1.0 if local() else 0.0], device=self._comm_device())
            return float(self._all_reduce(flag, op='max')[0]) > 0
        return should_stop

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """The sum of `t` over the ranks (a new tensor when `t` had to move to the backend's device)."""
        return self._all_reduce(t)

    def broadcast(self, t: torch.Tensor, src: int = 0) -> None:
        """`t` takes rank `src`'s value on every rank (in place)."""
        import torch.distributed as dist
        buf = t.detach()
        if (self.backend == 'gloo' and t.device.type != 'cpu') or (self.backend == 'nccl' and t.device != self.device):
            buf = t.detach().to(self._comm_device())
        self._guard(lambda: dist.broadcast(buf, src))
        if buf is not t and buf.data_ptr() != t.data_ptr():
            with torch.no_grad():
                t.copy_(buf)

    def barrier(self) -> None:
        """Every rank here before any goes on (rank 0 has written a job's model; the others read it)."""
        self._all_reduce(torch.zeros(1, device=self._comm_device()))

    # -- collectives -----------------------------------------------------------------------------
    def _comm_device(self) -> torch.device:
        return self.device if self.backend == 'nccl' else torch.device('cpu')

    def _all_reduce(self, t: torch.Tensor, op: str = 'sum') -> torch.Tensor:
        import torch.distributed as dist
        src = t
        if self.backend == 'gloo' and t.device.type != 'cpu':
            src = t.cpu()
        elif self.backend == 'nccl' and t.device != self.device:
            src = t.to(self.device)
        red = dist.ReduceOp.MAX if op == 'max' else dist.ReduceOp.SUM
        self._guard(lambda: dist.all_reduce(src, op=red))
        return src.to(t.device) if src is not t else src

    def _guard(self, fn: Callable[[], Any]) -> Any:
        """A collective; its failure (a peer gone, the timeout) becomes a RankFailure naming the rank
        when the launcher knows which one ended."""
        try:
            return fn()
        except RuntimeError as e:
            self.broken = True
            raise RankFailure(self.explain(e)) from e

    # -- failures ---------------------------------------------------------------------------------
    def explain(self, e: BaseException, wait: float = 2.0) -> str:
        """What to say about a collective that failed: the rank that died and how (the launcher
        waits a moment for the watcher to see it), else the collective's own error."""
        deadline = time.monotonic() + (wait if self.children else 0)
        while self.dead is None and time.monotonic() < deadline:
            self._poll_children()
            if self.dead is None:
                time.sleep(0.05)
        if self.dead is not None:
            rank, pid, code = self.dead
            return (f'rank {rank} of {self.world} (pid {pid}) {describe_exit(code)}; the other processes were stopped. '
                    f'The last checkpoint is kept: resume continues the run from there')
        return (f'a collective of the {self.world}-process group failed on rank {self.rank} '
                f'(another rank ended or did not answer within {timeout_seconds():g} s): {e}')

    def describe_failure(self, e: BaseException, error: str) -> str:
        """The run's error for `e` in a data-parallel run: a RankFailure says itself; an error raised
        inside a collective (DistributedDataParallel's all-reduce in backward: gloo/NCCL words) is
        explained by the rank that ended; anything else (the user's model, a bad value) is kept."""
        if isinstance(e, RankFailure):
            return str(e)
        text = str(e)
        if isinstance(e, RuntimeError) and any(w in text for w in ('gloo', 'Gloo', 'NCCL', 'nccl', 'Connection closed by peer',
                                                                     'Connection reset', 'Timed out', 'timed out')):
            self.broken = True
            return self.explain(e)
        return error

    def _poll_children(self) -> None:
        for rank, p in self.children.items():
            code = p.poll()
            if code is not None and code != 0 and self.dead is None:
                self.dead = (rank, p.pid, code)
                self.kill_children()

    def _watch(self) -> None:
        while not self._watch_stop.wait(0.2):
            self._poll_children()
            if self.dead is not None:
                return

    def kill_children(self) -> None:
        for p in self.children.values():
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass

    def close(self, status: str) -> None:
        """The end of the run for this process: the launcher waits for its children (a completed
        or cancelled run: they end by themselves within the timeout), kills what is left, removes
        its spec; every rank leaves the process group."""
        self._watch_stop.set()
        if self.children:
            deadline = time.monotonic() + (timeout_seconds() if status in ('completed', 'cancelled') and not self.broken else 0)
            for p in self.children.values():
                left = deadline - time.monotonic()
                try:
                    p.wait(timeout=max(0.0, left))
                except subprocess.TimeoutExpired:
                    pass
            self.kill_children()
            for p in self.children.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        if self.spec_dir:
            import shutil
            shutil.rmtree(self.spec_dir, ignore_errors=True)
        if not self.broken:
            try:
                import torch.distributed as dist
                if dist.is_initialized():
                    dist.destroy_process_group()
            except Exception:  # noqa: BLE001 — leaving a group that is already gone
                pass


class LearnerStep(torch.nn.Module):
    """Every trained module of a learner under one module (what DistributedDataParallel wraps); its
    forward is one step of the learner: (the loss to backpropagate, the StepOutput). The learner is
    kept out of the module tree: its fixed teacher is no parameter of the step."""

    def __init__(self, learner: Any):
        super().__init__()
        self._learner = [learner]
        trained = {'model': learner.model}
        for name, m in learner.modules().items():
            trained[name.replace('.', '_')] = m
        self.trained = torch.nn.ModuleDict(trained)

    def forward(self, x, y, idx, epoch: int, epochs: int):  # noqa: D102
        out = self._learner[0].step(x, y, idx, epoch, epochs)
        return out.total, out


class RankFailure(RuntimeError):
    """A collective failed: a rank died or did not answer in time (the message says which, when known)."""


# ---------------------------------------------------------------------------------------------
# the run folder as the other ranks see it

class ReadOnlyFolder(RunFolder):
    """The run folder for ranks > 0: they read what rank 0 writes (checkpoints to resume from,
    earlier jobs' models) and write nothing. run.json is read once; the updates the run makes are
    applied to that copy in memory, so every rank takes the same decisions from it (which job
    comes next) without racing rank 0's writes."""

    def __init__(self, run_dir: str):  # noqa: D107 — no torn-line repair: that is a write
        self.dir = os.path.abspath(run_dir)
        self.run_file = os.path.join(self.dir, 'run.json')
        self.metrics_file = os.path.join(self.dir, 'metrics.jsonl')
        if not os.path.isfile(self.run_file):
            raise FileNotFoundError(f'{self.dir}: not a run folder (no run.json)')
        self._jobs_with_records = set()
        self._run = RunFolder.run(self)

    def run(self) -> dict:
        return json.loads(json.dumps(self._run))

    def update_run(self, patch: Callable[[dict], None]) -> dict:
        patch(self._run)
        return self.run()

    def append(self, record: dict) -> None:
        pass

    def save_checkpoint(self, job: str, name: str, state: dict) -> str:
        return os.path.join(self.checkpoint_root(job), name)

    def prune_checkpoints(self, job: str) -> None:
        pass

    def remove_temp_files(self) -> List[str]:
        return []

    def model_dir(self, job: str) -> str:
        return os.path.join(self.dir, 'models', job)

    def save_model(self, job: str, state_dict: dict) -> str:
        return os.path.join(self.model_dir(job), 'model.pt')


def open_folder(run_dir: str, group: Optional[Group]) -> RunFolder:
    """The run folder as this rank may use it: rank 0 (or a single process) owns it."""
    return RunFolder(run_dir) if group is None or group.rank == 0 else ReadOnlyFolder(run_dir)


# ---------------------------------------------------------------------------------------------
# starting the group

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def _backend_and_device(device: torch.device, local_rank: int) -> Tuple[str, torch.device]:
    if device.type == 'cuda':
        d = torch.device('cuda', local_rank % max(1, torch.cuda.device_count()))
        torch.cuda.set_device(d)
        return 'nccl', d
    return 'gloo', device


def join(rank: int, world: int, local_rank: int, device: torch.device) -> Group:
    """Joins the env:// rendezvous (MASTER_ADDR, MASTER_PORT in the environment) as `rank`."""
    import torch.distributed as dist
    for var in ('MASTER_ADDR', 'MASTER_PORT'):
        if not os.environ.get(var):
            raise RuntimeError(f'rank {rank} of {world}: {var} is not set (the env:// rendezvous needs MASTER_ADDR and MASTER_PORT)')
    backend, dev = _backend_and_device(device, local_rank)
    dist.init_process_group(backend, init_method='env://', rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_seconds()))
    return Group(rank, world, local_rank, backend, dev)


def _die_with_parent() -> None:
    """In a child before exec: SIGKILL when the launcher dies (Linux), so no rank outlives it."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 — elsewhere the collective timeout ends orphans
        pass


def launch(session: Any, resume: bool, world: int) -> Group:
    """Rank 0's launcher: writes the spec the other ranks prepare from, starts ranks 1…N−1 with the
    env:// contract, joins the group as rank 0 and watches the children."""
    spec_dir = tempfile.mkdtemp(prefix='distill-ddp-')
    spec_path = os.path.join(spec_dir, 'spec.json')
    with open(spec_path, 'w', encoding='utf8') as f:
        json.dump({'prepare': {'type': 'prepare', 'snapshot': session.snapshot, 'jobs': session.plan},
                   'runDir': session.run_dir, 'resume': bool(resume), 'versions': session.versions}, f)
    port = free_port()
    threads = os.environ.get('DISTILL_THREADS') or str(max(1, torch.get_num_threads() // world))
    torch.set_num_threads(int(threads))
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), WORLD_SIZE=str(world), DISTILL_THREADS=threads)
    base['PYTHONPATH'] = package_parent + (os.pathsep + base['PYTHONPATH'] if base.get('PYTHONPATH') else '')
    children: Dict[int, subprocess.Popen] = {}
    try:
        for r in range(1, world):
            env = dict(base, RANK=str(r), LOCAL_RANK=str(r))
            children[r] = subprocess.Popen([sys.executable, '-m', 'distill_torch.distributed', 'worker', spec_path],
                                           env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno(),
                                           preexec_fn=_die_with_parent if sys.platform.startswith('linux') else None)
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK='0', WORLD_SIZE=str(world), LOCAL_RANK='0')
        try:
            group = join(0, world, 0, session.device)
        except RuntimeError as e:
            # The rendezvous waited for a rank that never came: say which one ended, and how, when one did.
            probe = Group(0, world, 0, 'gloo', session.device)
            probe.children = children
            raise RankFailure(f'the {world} processes did not start together: {probe.explain(e)}') from e
    except BaseException:
        for p in children.values():
            if p.poll() is None:
                p.kill()
        import shutil
        shutil.rmtree(spec_dir, ignore_errors=True)
        raise
    finally:
        for var in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
            os.environ.pop(var, None)  # this process's probes and later runs are no rank of anything
    group.children = children
    group.spec_dir = spec_dir
    group._watcher = threading.Thread(target=group._watch, name='distill-ranks', daemon=True)
    group._watcher.start()
    return group


def attach(session: Any, resume: bool) -> Optional[Group]:
    """Called by engine.Session.run once the run folder is open: None for a single-process run;
    otherwise the group, launched here (the bridge's process) or joined (every rank of a torchrun
    or srun start). Rank > 0 sends no protocol messages; all ranks read one stop flag."""
    if session.dist is not None:
        group = session.dist
    else:
        world = processes_of(session.config)
        if world <= 1 or env_world() is not None:
            return None  # one process (an env world was joined by the worker entry, not here)
        group = launch(session, resume, world)
    session.device = group.device
    session.should_stop = group.synced_stop(session.should_stop)
    # The threads note of prepare counted this process alone; the launcher shared the CPUs among the ranks.
    session.notes = [n for n in session.notes if not n.startswith('threads:')]
    session.notes.insert(0, f'threads: {torch.get_num_threads()} per process')
    session.notes.append(f'distributed: {group.world} processes ({group.backend}), global batch split evenly')
    if group.rank == 0:
        session.log(f'distributed: {group.world} processes ({group.backend}), the global batch split among them; '
                    f'collective timeout {timeout_seconds():g} s')
    return group


# ---------------------------------------------------------------------------------------------
# the entry of every rank started by this launcher, torchrun or srun

def worker_main(spec_path: str) -> int:
    """One rank: prepare from the spec, join the group, run the jobs. Rank 0 (torchrun / srun) says
    the protocol's messages on stdout; the others are silent but for their stderr log."""
    from . import engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(spec_path, encoding='utf8') as f:
        spec = json.load(f)
    w = env_world()
    if w is None:
        print(f'{spec_path}: the worker entry needs RANK and WORLD_SIZE (or srun\'s SLURM_PROCID / SLURM_NTASKS)', file=sys.stderr)
        return 2
    rank = w['rank']
    stop = threading.Event()
    if rank == 0:
        from . import protocol
        protocol.install()
        signal.signal(signal.SIGTERM, lambda *_: protocol.request_stop())
        send, should_stop = protocol.send, protocol.should_stop
    else:
        sys.stdout.flush()
        os.dup2(2, 1)  # stdout is rank 0's channel (srun merges the tasks' output): the others' prints go to stderr
        sys.stdout = sys.stderr
        signal.signal(signal.SIGTERM, lambda *_: stop.set())

        def send(msg: dict) -> None:
            if msg.get('type') == 'log' and msg.get('level') == 'error':  # rank 0 says the rest
                print(f'[rank {rank}] {msg.get("message")}', file=sys.stderr, flush=True)
        should_stop = stop.is_set
    session = engine.prepare(spec['prepare'], send=send, should_stop=should_stop, versions=spec.get('versions') or {})
    session.dist = join(rank, w['world'], w['local_rank'], session.device)
    if rank == 0:
        send(session.prepared_message())
    status = session.run(spec['runDir'], bool(spec.get('resume')))
    return 0 if status in ('completed', 'cancelled') else 1


if __name__ == '__main__':
    if len(sys.argv) != 3 or sys.argv[1] != 'worker':
        print('usage: python -m distill_torch.distributed worker <spec.json>', file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(int(os.environ.get('DISTILL_THREADS') or 1))
    code = worker_main(sys.argv[2])
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown waiting on the process group's threads
