"""Op counts and self CPU per step (torch.profiler, or cProfile) of N steps of the torch engine's loop
(train.train_job, stepsPerEpoch N; the epoch-end evaluation replaced) against N steps of the plain
loop (bench/peer_torch.py's step) in the same process, same models, batch 64, same thread count.

    /usr/bin/python3 bench/torch_profile_steps.py --mode plain|engine|engine-cached --prof torch|cprofile|time
        [--steps 100] [--threads 1] [--pair MLP|CNN]
"""
import argparse, cProfile, io, os, pstats, sys, tempfile, time, json
import torch, torch.nn as nn, torch.nn.functional as F
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'python')); sys.path.insert(0, os.path.join(ROOT, 'examples', 'torch'))
sys.path.insert(0, os.path.join(ROOT, 'python', 'tests'))
import models as exm
from distill_torch import data as D, knowledge, train as TR, teacher_cache as TC, engine as E
from train_helpers import make_run, Sink

p = argparse.ArgumentParser()
p.add_argument('--steps', type=int, default=200)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--mode', default='engine')   # engine | engine-cached | plain
p.add_argument('--prof', default='cprofile')  # cprofile | torch | time
p.add_argument('--pair', default='MLP')
a = p.parse_args()
torch.set_num_threads(a.threads)
cfg = {'data': {'train': {'format': 'mnist', 'split': 'train'}, 'test': {'format': 'mnist', 'split': 'test', 'limit': 1000}},
       'knowledge': [{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1}], 'labels': {'weight': 1}}
prep = D.load_data(cfg, ROOT)
torch.manual_seed(0)
if a.pair == 'MLP':
    teacher = E.freeze(exm.mlp(hidden=[1200, 1200])); student = exm.mlp(hidden=[800, 800])
else:
    teacher = E.freeze(exm.cnn(filters=[32, 64], dense=0)); student = exm.cnn(filters=[8, 16], dense=0)
B, N = 64, a.steps

def run_plain():
    T = 4.0
    def kd_loss(zs, zt, y):
        ce = F.cross_entropy(zs, y)
        kl = F.kl_div(F.log_softmax(zs / T, -1), F.log_softmax(zt / T, -1), reduction='batchmean', log_target=True)
        return ce + kl * T * T
    opt = torch.optim.Adam(student.parameters(), 1e-3)
    X, Y = prep.train.x, prep.train.y
    perm = torch.randperm(X.shape[0])
    for s in range(N):
        i = perm[s * B:(s + 1) * B]
        x, y = X[i], Y[i]
        with torch.no_grad():
            zt = teacher(x)
        opt.zero_grad(set_to_none=True)
        loss = kd_loss(student(x), zt, y)
        loss.backward(); opt.step(); loss.item()

def run_engine(cached):
    terms = knowledge.build_terms(cfg['knowledge'], teacher=teacher, student=student, sample=prep.train.x[:2],
                                  num_classes=10, num_train=60000, train_labels=prep.train.y, prefix='adapter_student')
    d = tempfile.mkdtemp()
    folder = make_run(d, {'student': {'kind': 'distill', 'seed': 0, 'epochs': 1, 'status': 'running'}})
    training = {'epochs': 1, 'batchSize': B, 'optimizer': {'kind': 'adam', 'learningRate': 1e-3}, 'logEvery': 100, 'stepsPerEpoch': N}
    sink = Sink()
    ctx = TR.JobContext(job_id='student', job={'kind': 'distill', 'seed': 0, 'epochs': 1}, training=training, config=cfg,
                        data=prep, device=torch.device('cpu'), precision='fp32', model=student, teacher=teacher, terms=terms,
                        extra_teachers=[], folder=folder, send=sink, should_stop=lambda: False, clock=TR.ProgressClock(N))
    if cached:
        ctx.teacher_outputs = TC.compute_outputs(teacher, prep.train.x, [], torch.device('cpu'))
    # time only the steps: the epoch-end evaluation is replaced
    orig = TR._evaluate_epoch
    TR._evaluate_epoch = lambda ctx, learner, precision, state, means, seconds: {'type': 'epoch', 'job': 'student', 'epoch': 1, 'losses': means}
    return lambda: TR.train_job(ctx)

fn = run_plain if a.mode == 'plain' else run_engine(a.mode == 'engine-cached')
# warm-up of the plain loop's kernels: a few steps are not counted
if a.prof == 'cprofile':
    pr = cProfile.Profile(); t0 = time.perf_counter(); pr.enable(); fn(); pr.disable(); dt = time.perf_counter() - t0
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats('tottime').print_stats(25); print(s.getvalue())
    print(f'{a.mode}: {N} steps in {dt:.2f} s wall, {dt / N * 1000:.2f} ms/step')
elif a.prof == 'torch':
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    ev = prof.key_averages()
    print(ev.table(sort_by='self_cpu_time_total', row_limit=40))
    tot = sum(e.self_cpu_time_total for e in ev)
    cnt = sum(e.count for e in ev)
    print(f'{a.mode}: total self CPU {tot/1000:.1f} ms = {tot/N/1000:.2f} ms/step, {cnt} op calls = {cnt/N:.1f} per step')
else:
    t0 = time.process_time(); w0 = time.perf_counter(); fn(); print(f'{a.mode}: wall {(time.perf_counter()-w0)/N*1000:.2f} ms/step, process CPU {(time.process_time()-t0)/N*1000:.2f} ms/step')
