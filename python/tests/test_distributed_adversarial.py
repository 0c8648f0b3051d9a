"""Adversarial distillation in data-parallel runs (adversarial.py's discriminator D under
distributed.py), on the CPU with 2 processes and gloo.

- The 2-process curve — every step's losses and D's loss and accuracy (`params`), every epoch's
  figures and D's epoch means (`extras`) — follows one process with the same global batch, and
  D's final weights match, within test_distributed.py's tolerance (|a − b| ≤ 1e-4·|a| + 1e-6: the
  runs differ only in float32 summation order). A D trained on one rank's rows alone, or figures
  of one rank's share, are far outside it.
- D, its Adam state and its epoch sums are bit-identical on the two ranks after training (each
  rank's D is saved by a wrapper of the worker entry: the ranks > 0 write nothing to the run).
- SIGKILL of rank 1 mid-run, then `resume` with 2 processes: the records and D's final state are
  exactly those of a 2-process run never interrupted.
- Without a run: D's synchronised step over uneven shares (5 and 2 rows) equals one step on all 7
  rows; and on two real gloo processes, D seeded differently per rank is rank 0's after
  `join_group` and stays bit-identical through steps on different rows.
"""
import json
import os
import signal
import subprocess

import torch

from conftest import PYTHON_DIR
from test_distributed import (PY, RTOL, ATOL, _curve, _largest_difference, _run, _start, _two_processes_until_checkpoint,
                              _children, _validate_folder)

from distill_torch import distributed
from distill_torch.runfolder import RunFolder

KNOWLEDGE = [
    {'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}},
    {'kind': 'adversarial', 'method': 'adversarial', 'weight': 0.5, 'schedule': {'kind': 'constant'}, 'temperature': 2,
     'hidden': [16], 'learningRate': 0.001, 'conditional': True},
    {'kind': 'adversarial', 'method': 'adversarial', 'weight': 0.3, 'schedule': {'kind': 'constant'}, 'temperature': 1,
     'hidden': [16, 8], 'learningRate': 0.001, 'conditional': False,
     'pairs': [{'teacher': '4', 'student': '2', 'adapter': 'auto'}]},  # pooled maps: see _weights_within
]
TERMS = ('k1', 'k2')  # the Terms' parts of the two adversarial entries (knowledge indices 1 and 2)

# One rank of the group through the worker entry (as torchrun / srun start it), which saves every
# adversarial state's D weights, Adam state and epoch sums when a job ends: <out>.<job>.rank<r>.pt.
RANK_WITH_DUMP = '''
import os, sys, torch
from distill_torch import adversarial, distributed, train
spec, out = sys.argv[1], sys.argv[2]
job = train.train_job
def train_job(ctx):
    status = job(ctx)
    if ctx.terms is not None:
        states = {k: m.get_extra_state() for k, m in ctx.terms.parts.items() if isinstance(m, adversarial.AdversarialState)}
        torch.save(states, f"{out}.{ctx.job_id}.rank{ctx.dist.rank}.pt")
    return status
train.train_job = train_job
torch.set_num_threads(1)
code = distributed.worker_main(spec)
sys.stderr.flush()
os._exit(code)
'''


def _final_d(run_dir, job='distill-s1'):
    """{term part: D's extra state} of the job's last checkpoint (written by rank 0)."""
    folder = os.path.join(run_dir, 'checkpoints', job)
    last = sorted(os.listdir(folder))[-1]
    saved = torch.load(os.path.join(folder, last, 'state.pt'))
    return {k[len('parts.'):-len('._extra_state')]: v for k, v in saved['modules']['terms'].items() if k.endswith('._extra_state')}


def _weights_within(a, b):
    """How far D's weights b are from a, as the largest |a − b| / (RTOL·|a| + ATOL) over every element
    (≤ 1: within tolerance), and whether every element is within it. Measured: ≈ 0.4 of the tolerance
    (D on the pooled maps; its first kernel has the largest difference: Adam's steps, lr·m/√v, are
    as large for a weight whose gradient is tiny, and carry the student's float drift into D). D on a
    ReLU map (teacher '3', student '1') measured ≈ 0.9: features at exactly 0 in one run and not in
    the other get a full Adam step or none."""
    worst = 0.0
    for term in TERMS:
        for name, wa in a[term]['disc'].items():
            d = (wa - b[term]['disc'][name]).abs()
            worst = max(worst, float((d / (RTOL * wa.abs() + ATOL)).max()))
    return worst, worst <= 1.0


def _identical(a, b):
    """Bit-identical D weights, Adam states (every tensor) and epoch sums."""
    assert a.keys() == b.keys()
    for term in a:
        for name in a[term]['disc']:
            assert torch.equal(a[term]['disc'][name], b[term]['disc'][name]), (term, name)
        sa, sb = a[term]['optimizer'], b[term]['optimizer']
        assert sa['param_groups'] == sb['param_groups'] and sa['state'].keys() == sb['state'].keys() and sa['state']
        for i in sa['state']:
            for k in ('exp_avg', 'exp_avg_sq', 'step'):
                assert torch.equal(sa['state'][i][k], sb['state'][i][k]), (term, i, k)
        assert a[term]['sums'] == b[term]['sums'], term


def test_two_processes_train_d_as_one_process(tmp_path):
    kw = dict(epochs=2, samples=192, baseline=False, knowledge=KNOWLEDGE)
    msg1, dir1 = _start(tmp_path, 'one', **kw)
    _run(msg1, dir1)
    # the two ranks, as torchrun or srun would start them, each saving its D at the job's end
    msg2, dir2 = _start(tmp_path, 'two', **kw)
    spec = tmp_path / 'spec.json'
    spec.write_text(json.dumps({'prepare': msg2, 'runDir': dir2, 'resume': False}))
    out = str(tmp_path / 'd')
    port = distributed.free_port()
    base = dict(os.environ, PYTHONPATH=PYTHON_DIR, DISTILL_THREADS='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), WORLD_SIZE='2')
    for v in ('RANK', 'LOCAL_RANK', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID', 'DISTILL_PROCESSES'):
        base.pop(v, None)
    procs = [subprocess.Popen([PY, '-c', RANK_WITH_DUMP, str(spec), out], env=dict(base, RANK=str(r), LOCAL_RANK=str(r)),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    run, _ = _validate_folder(dir2)
    assert run['status'] == 'completed'

    one, two = _curve(dir1), _curve(dir2)
    d_keys = {f'{t}.{k}' for t in ('adversarial', 'adversarial#2') for k in ('discLoss', 'discAcc')}
    assert all({f'params.{k}' for k in d_keys} <= set(v) for k, v in two.items() if k[1] == 'step')
    assert all({f'extras.{k}' for k in d_keys} <= set(v) for k, v in two.items() if k[1] == 'epoch')
    assert len([k for k in two if k[1] == 'step']) == 2 * 6
    # D's accuracy is a count of signs: an output within float rounding of 0 may land on the other
    # side in the other run. One such output moves a step's figure by 1/(2·32) and the epoch's by
    # 1/(2·192); anything more is a wrong figure (one rank's share alone is off in most steps).
    acc_flips = 0.0
    for k in one:
        rows = 32 if k[1] == 'step' else 192
        acc_flips = max([acc_flips] + [abs(one[k][f] - two[k][f]) * 2 * rows for f in one[k] if f.endswith('.discAcc')])
        for f in [f for f in one[k] if f.endswith('.discAcc')]:
            assert abs(one[k][f] - two[k][f]) <= 1 / (2 * rows) + 1e-12, (k, f, one[k][f], two[k][f])
            one[k].pop(f), two[k].pop(f)
    print(f'D\'s accuracy, 2 processes vs 1: at most {acc_flips:g} output(s) on the other side of 0')
    worst, ok = _largest_difference(one, two)
    print(f'largest relative per-figure difference with D, 2 processes vs 1: {worst:.3g}')
    assert ok, worst

    rank0, rank1 = (torch.load(f'{out}.distill-s1.rank{r}.pt') for r in (0, 1))
    _identical(rank0, rank1)                 # D stayed the same on both ranks
    _identical(rank0, _final_d(dir2))        # what rank 0 checkpointed is what both ranks hold
    worst_w, ok_w = _weights_within(_final_d(dir1), rank0)
    print(f'D\'s final weights, 2 processes vs 1: largest difference {worst_w:.3g} of the tolerance')
    assert ok_w, worst_w

    # the control: D trained on one rank's 16 rows a step (no gradient all-reduce) is far outside the
    # tolerance — a one-process run with the per-rank batch, whose D sees what an unsynchronised rank would
    msg3, dir3 = _start(tmp_path, 'half', **kw)
    msg3['snapshot']['config']['training']['batchSize'] = 16
    _run(msg3, dir3)
    worst_half, ok_half = _weights_within(_final_d(dir1), _final_d(dir3))
    print(f'D\'s final weights, the per-rank batch vs 1 process: largest difference {worst_half:.3g} of the tolerance')
    assert not ok_half and worst_half > 100, worst_half


def test_sigkill_of_rank_1_then_resume_trains_d_exactly_as_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setenv('DISTILL_DIST_TIMEOUT', '20')
    kw = dict(epochs=2, samples=320, knowledge=KNOWLEDGE)
    msg, run_dir, e = _two_processes_until_checkpoint(tmp_path, 'kill', **kw)
    kids = _children(e.p.pid)
    assert len(kids) == 1, kids
    os.kill(kids[0], signal.SIGKILL)
    failed = e.refusal(timeout=20 + 30)
    assert 'rank 1 of 2' in failed['error'] and 'SIGKILL' in failed['error'], failed
    assert e.wait(timeout=60) == 1
    run, _ = _validate_folder(run_dir)
    assert run['status'] == 'failed'
    snap = json.load(open(os.path.join(run_dir, 'config.json')))
    done, _ = _run({'type': 'prepare', 'snapshot': snap, 'jobs': run['jobs']}, run_dir, resume=True)
    assert done['status'] == 'completed'
    resumes = [r for r in RunFolder(run_dir).read_metrics() if r['type'] == 'resume']
    assert resumes and (resumes[0]['epoch'], resumes[0]['step']) != (1, 0), resumes  # from a checkpoint mid-run

    msg2, whole = _start(tmp_path, 'whole', distributed={'processes': 2}, epochs=2, samples=320, baseline=False, knowledge=KNOWLEDGE)
    _run(msg2, whole)

    def figures(d):
        return [{k: v for k, v in r.items() if k not in ('t', 'seconds')} for r in RunFolder(d).read_metrics()
                if r['type'] in ('step', 'epoch')]
    got, want = figures(run_dir), figures(whole)
    assert len(got) == len(want) and all('params' in r for r in got if r['type'] == 'step')
    assert got == want
    _identical(_final_d(run_dir), _final_d(whole))


class _PairedGroup:
    """A stand-in for distributed.Group on one of two ranks: the all-reduce adds the other rank's
    buffer (recorded from that rank's own call), so both halves of D's step run in one process."""

    def __init__(self, other=None):
        self.other, self.seen = other, None

    def all_reduce_sum(self, t):
        self.seen = t.clone()
        return t + self.other.seen if self.other is not None else t

    def broadcast(self, t, src=0):
        pass


def test_d_step_over_uneven_shares_is_the_global_batch_step():
    """Rows 0–4 on rank 0 and 5–6 on rank 1 (an uneven last batch): after the synchronised step,
    rank 0's D equals a D stepped once on all 7 rows in one process (its mean loss: the reference),
    and the figures added to the epoch sums are the 7 rows'. The control: the plain average of the
    two ranks' mean-loss gradients (what an unweighted all-reduce would give) is another step."""
    from distill_torch.adversarial import AdversarialState, discriminator_loss
    torch.manual_seed(3)
    ref = AdversarialState(6, [5], 0.01)
    start = {k: v.clone() for k, v in ref.disc.state_dict().items()}
    ranks = [AdversarialState(6, [5], 0.01) for _ in range(2)]
    for s in ranks:
        s.disc.load_state_dict(start)
    xt, xs = torch.randn(7, 6) + 0.5, torch.randn(7, 6)
    ref.train()
    ref.figures(ref.disc(xt), ref.disc(xs))
    ref.step()
    g1 = _PairedGroup()
    g0 = _PairedGroup(other=g1)
    shares = ((ranks[1], g1, slice(5, 7)), (ranks[0], g0, slice(0, 5)))  # rank 1's buffer first: rank 0 adds it
    for s, g, rows in shares:
        s.train()
        s.join_group(g)
        s.figures(s.disc(xt[rows]), s.disc(xs[rows]))
        s.step()
    for a, b in zip(ref.disc.parameters(), ranks[0].disc.parameters()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), (a - b).abs().max()
    assert ranks[0].sums[2] == 7 and abs(ranks[0].sums[0] - ref.sums[0]) <= 1e-6 * abs(ref.sums[0])
    assert abs(ranks[0].sums[1] - ref.sums[1]) < 1e-9
    # the control, on D's first kernel at the start
    d = AdversarialState(6, [5], 0.01).disc
    d.load_state_dict(start)

    def grad(rows):
        d.zero_grad()
        discriminator_loss(d(xt[rows]), d(xs[rows])).backward()
        return d.net[0].weight.grad.clone()
    whole, plain = grad(slice(0, 7)), (grad(slice(0, 5)) + grad(slice(5, 7))) / 2
    assert torch.allclose(whole, (5 * grad(slice(0, 5)) + 2 * grad(slice(5, 7))) / 7, rtol=1e-5, atol=1e-7)
    assert (whole - plain).abs().max() > 100 * 1e-6 * whole.abs().max()


def _rank_of_join_test(rank, folder):
    """One of two real gloo ranks: a D initialised differently on each (seed = rank), joined to the
    group, then two D steps on different rows; saves D's state after the join and after the steps."""
    import torch.distributed as dist
    from distill_torch.adversarial import AdversarialState
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{folder}/store', rank=rank, world_size=2)
    try:
        torch.manual_seed(rank)
        state = AdversarialState(4, [3], 0.01)
        state.train()
        state.join_group(distributed.Group(rank, 2, rank, 'gloo', torch.device('cpu')))
        joined = {k: v.clone() for k, v in state.disc.state_dict().items()}
        for step in range(2):
            g = torch.Generator().manual_seed(100 * step + rank)  # this rank's rows: different on each
            xt, xs = torch.randn(3 + rank, 4, generator=g) + 1, torch.randn(3 + rank, 4, generator=g)
            state.figures(state.disc(xt), state.disc(xs))
            state.step()
        torch.save({'joined': joined, 'state': state.get_extra_state()}, f'{folder}/rank{rank}.pt')
    finally:
        dist.destroy_process_group()


def test_join_group_starts_every_rank_from_rank_0s_d_and_keeps_them_identical(tmp_path):
    """Real gloo, two processes, D seeded differently on each: join_group gives rank 1 rank 0's
    weights (as DDP does for the modules it wraps), and after steps on different rows (3 and 4 a
    step) D, its Adam state and the epoch sums are bit-identical on both."""
    import torch.multiprocessing as mp
    mp.spawn(_rank_of_join_test, args=(str(tmp_path),), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pt') for r in (0, 1))
    torch.manual_seed(0)
    from distill_torch.adversarial import Discriminator
    fresh0, fresh1 = Discriminator(4, [3]).state_dict(), None
    torch.manual_seed(1)
    fresh1 = Discriminator(4, [3]).state_dict()
    assert not torch.equal(fresh0['net.0.weight'], fresh1['net.0.weight'])  # the ranks did start apart
    for k in fresh0:
        assert torch.equal(r0['joined'][k], fresh0[k]) and torch.equal(r1['joined'][k], fresh0[k]), k
    _identical({'k': r0['state']}, {'k': r1['state']})
    assert r0['state']['sums'][2] == 2 * (3 + 4)  # both ranks' rows, both steps
    assert not torch.equal(r0['state']['disc']['net.0.weight'], fresh0['net.0.weight'])  # D did move
