"""PyTorch peer of bench/run.ts: the same KD step (teacher forward without gradient, student
forward/backward, Adam) on the same models, batch and loss, and one standard offline KD epoch on
the full MNIST (teacher forward every batch, as a plain PyTorch KD loop does).

    /usr/bin/python3 bench/peer_torch.py --mnist DIR [--steps 20] [--threads 2] [--epoch]
        [--epoch-only] [--pairs MLP,CNN]
Prints one JSON object. --epoch-only skips the step and kernel rows (bench/torch.ts times single
epochs between the engine's runs); --pairs limits the epoch rows to those pairs.
"""
import argparse, json, os, statistics, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--steps', type=int, default=20)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--mnist', default='')
p.add_argument('--epoch', action='store_true')
p.add_argument('--epoch-only', action='store_true')
p.add_argument('--pairs', default='MLP,CNN')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
B, T, WARMUP = 64, 4.0, 3

def cnn(f1, f2):
    return nn.Sequential(nn.Conv2d(1, f1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(f1, f2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(f2 * 49, 10))

def mlp(h1, h2):
    return nn.Sequential(nn.Linear(784, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, 10))

def kd_loss(zs, zt, y):
    ce = F.cross_entropy(zs, y)
    kl = F.kl_div(F.log_softmax(zs / T, -1), F.log_softmax(zt / T, -1), reduction='batchmean', log_target=True)
    return ce + kl * T * T

def step_fn(teacher, student, opt):
    def step(x, y):
        with torch.no_grad():
            zt = teacher(x)
        opt.zero_grad(set_to_none=True)
        loss = kd_loss(student(x), zt, y)
        loss.backward()
        opt.step()
        return loss.item()
    return step

out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'steps': {}}
if a.epoch_only:
    a.epoch = True
cases = {'CNN': (cnn(32, 64), cnn(8, 16), torch.rand(B, 1, 28, 28)), 'MLP': (mlp(1200, 1200), mlp(800, 800), torch.rand(B, 784))}
y = torch.randint(0, 10, (B,))
for name, (teacher, student, x) in ({} if a.epoch_only else cases).items():
    teacher.eval()
    step = step_fn(teacher, student, torch.optim.Adam(student.parameters(), 1e-3))
    times = []
    for i in range(WARMUP + a.steps):
        t0 = time.perf_counter(); step(x, y); dt = (time.perf_counter() - t0) * 1000
        if i >= WARMUP: times.append(dt)
    out['steps'][name] = statistics.median(times)

# Kernel rows: the dominant products of the two pairs on their own (2 threads, then 1 thread).
def kernel_times(threads):
    torch.set_num_threads(threads)
    a, w = torch.rand(B, 784), torch.rand(784, 800)
    xc, wc = torch.rand(B, 32, 14, 14), torch.rand(64, 32, 3, 3)
    res = {}
    for name, fn in (('GEMM', lambda: torch.mm(a, w)), ('CONV', lambda: F.conv2d(xc, wc, padding=1))):
        times = []
        with torch.no_grad():
            for i in range(WARMUP + a_steps):
                t0 = time.perf_counter(); fn(); dt = (time.perf_counter() - t0) * 1000
                if i >= WARMUP: times.append(dt)
        res[name] = statistics.median(times)
    torch.set_num_threads(a_threads)
    return res

a_steps, a_threads = max(a.steps, 20), a.threads
if not a.epoch_only:
    out['kernels'] = kernel_times(a.threads)
    out['kernels1'] = kernel_times(1)

def idx(path):
    with open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack('>' + 'I' * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)

if a.epoch and a.mnist:
    X = torch.from_numpy(idx(os.path.join(a.mnist, 'train-images-idx3-ubyte')).reshape(-1, 784).astype(np.float32) / 255.0)
    Y = torch.from_numpy(idx(os.path.join(a.mnist, 'train-labels-idx1-ubyte')).astype(np.int64))
    out['epochSeconds'] = {}
    for name, (teacher, student, shape) in {'MLP': (mlp(1200, 1200), mlp(800, 800), (-1, 784)),
                                            'CNN': (cnn(32, 64), cnn(8, 16), (-1, 1, 28, 28))}.items():
        if name not in a.pairs.split(','):
            continue
        teacher.eval()
        step = step_fn(teacher, student, torch.optim.Adam(student.parameters(), 1e-3))
        Xs = X.reshape(shape)
        perm = torch.randperm(X.shape[0])
        t0 = time.perf_counter()
        for s in range(0, X.shape[0], B):
            i = perm[s:s + B]
            step(Xs[i], Y[i])
        out['epochSeconds'][name] = time.perf_counter() - t0
    out['epochSteps'] = (X.shape[0] + B - 1) // B
print(json.dumps(out))
