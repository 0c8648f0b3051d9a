"""The teacher-output cache: computed outputs equal the teacher's own forward; a second call with
the same teacher and data reads them from disk (the teacher does not run); anything that changes
the outputs (weights, data, layers) changes the key; teacherCacheMB bounds it."""
import os
from types import SimpleNamespace

import torch

from distill_torch import teacher_cache as tc


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    split = lambda m: SimpleNamespace(x=torch.randn(m, 1, 6, 6, generator=g), y=torch.randint(0, 3, (m,), generator=g))
    return SimpleNamespace(train=split(n), val=None, test=split(10), num_classes=3, input_shape=(1, 6, 6))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.act = torch.nn.ReLU()
        self.fc = torch.nn.Linear(4 * 16, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.fc(self.act(self.conv(x)).flatten(1))


def _setup(tmp_path, seed=0):
    torch.manual_seed(seed)
    net = Net()
    base = tmp_path / 'exp'
    base.mkdir(exist_ok=True)
    torch.save(net.state_dict(), base / 'teacher.pt')
    (base / 'models.py').write_text('# factory module\n')
    spec = {'module': 'models.py', 'export': 'Net', 'weights': 'teacher.pt'}
    run_dir = tmp_path / 'runs' / 'exp' / '20261202-120000'
    run_dir.mkdir(parents=True, exist_ok=True)
    return net, spec, str(base), str(run_dir)


def test_outputs_match_the_teacher_and_are_read_back(tmp_path):
    net, spec, base, run_dir = _setup(tmp_path)
    data = _data()
    logs = []
    args = dict(spec=spec, base_dir=base, data=data, data_config={'train': {'format': 'synthetic'}}, layers=['act'],
                device=torch.device('cpu'), run_dir=run_dir, cache_mb=16, log=logs.append)
    first = tc.teacher_outputs(teacher=net, **args)
    assert first is not None and first.source == 'computed'
    with torch.no_grad():
        ref = net(data.train.x)
        ref_act = torch.relu(net.conv(data.train.x))
    idx = torch.tensor([3, 0, 17])
    logits, feats = first.batch(idx, torch.device('cpu'))
    assert torch.allclose(logits, ref[idx], atol=1e-6)
    assert torch.allclose(feats['act'], ref_act[idx], rtol=1e-3, atol=1e-3)  # float16 features
    files = sorted(os.listdir(tc.outputs_dir(run_dir)))
    assert len(files) == 2 and files[0].endswith('.json') and files[1].endswith('.pt')
    net.calls = 0
    second = tc.teacher_outputs(teacher=net, **args)
    assert second.source == 'disk' and net.calls == 1  # one forward of one sample for the size estimate, none over the split
    assert torch.equal(second.logits, first.logits) and torch.equal(second.features['act'], first.features['act'])
    # a changed teacher file, other data, other layers: another key, recomputed
    torch.save({k: v + 1 for k, v in net.state_dict().items()}, os.path.join(base, 'teacher.pt'))
    assert tc.teacher_outputs(teacher=net, **args).source == 'computed'
    assert tc.teacher_outputs(teacher=net, **{**args, 'data': _data(seed=1)}).source == 'computed'
    assert tc.teacher_outputs(teacher=net, **{**args, 'layers': ['conv']}).source == 'computed'
    assert len(os.listdir(tc.outputs_dir(run_dir))) == 8


def test_damaged_header_is_ignored_and_recomputed(tmp_path):
    net, spec, base, run_dir = _setup(tmp_path)
    data = _data()
    logs = []
    args = dict(teacher=net, spec=spec, base_dir=base, data=data, data_config={}, layers=[], device=torch.device('cpu'),
                run_dir=run_dir, cache_mb=16, log=logs.append)
    tc.teacher_outputs(**args)
    d = tc.outputs_dir(run_dir)
    header = [f for f in os.listdir(d) if f.endswith('.json')][0]
    with open(os.path.join(d, header), 'w') as f:
        f.write('{"format": 1, "key": "x"}')
    out = tc.teacher_outputs(**args)
    assert out.source == 'computed' and any('ignored' in m for m in logs)


def test_cache_size_limit_and_off(tmp_path):
    net, spec, base, run_dir = _setup(tmp_path)
    logs = []
    args = dict(teacher=net, spec=spec, base_dir=base, data=_data(n=2000), data_config={}, layers=['act'],
                device=torch.device('cpu'), run_dir=run_dir, log=logs.append)
    assert tc.teacher_outputs(cache_mb=0, **args) is None
    # 2000 rows × (3 logits × 4 bytes + 64 features × 2 bytes) = 280,000 bytes > 0.2 MB
    assert tc.teacher_outputs(cache_mb=0.2, **args) is None and 'larger than teacherCacheMB' in logs[-1]
    assert tc.teacher_outputs(cache_mb=1, **args) is not None
