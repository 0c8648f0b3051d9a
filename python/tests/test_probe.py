"""probe.py: the panels' questions about a torch experiment, answered as src/engine/probe.ts does.

Each answer is checked against an independent computation: layer shapes against the modules'
arithmetic, pair messages against knowledge.build_terms (what a run refuses), feature maps against
a hand-written forward of the saved weights, similarity figures against their textbook formulas."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import PYTHON_DIR, create_run, tiny_experiment
from distill_torch import knowledge, probe
from distill_torch.errors import ConfigError
from distill_torch.runfolder import RunFolder


def snap(msg):
    return msg['snapshot']


def test_layers_of_a_small_models_py(tmp_path):
    msg = tiny_experiment(str(tmp_path))
    a = probe.Probe().answer({'kind': 'layers', 'experimentFile': snap(msg)['experimentFile']}, snap(msg))
    t = {r['name']: r for r in a['teacher']}
    s = {r['name']: r for r in a['student']}
    assert list(t) == ['0', '1', '2', '3', '4', '5', '6']
    assert list(s) == ['0', '1', '2', '3', '4']
    # NHWC, batch null: 8×8 input, width 8 (teacher) / 4 (student), pooled to 2×2, flattened
    assert t['0'] == {'name': '0', 'type': 'Conv2d', 'outputShape': [None, 8, 8, 8], 'params': 1 * 8 * 9 + 8, 'flops': t['0']['flops']}
    assert t['4']['outputShape'] == [None, 2, 2, 8] and t['5']['outputShape'] == [None, 32] and t['6']['outputShape'] == [None, 3]
    assert s['1']['outputShape'] == [None, 8, 8, 4] and s['4']['params'] == 16 * 3 + 3
    # conv FLOPs: 2·k·k·Cin·Cout·H·W (multiply-add) + bias, as figures.count_flops counts them
    from distill_torch import figures
    counted = figures.count_flops(torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1)), (1, 8, 8))['0']['flops']
    assert t['0']['flops'] == counted > 0
    assert a['links'] == [{'entry': 1, 'pair': 0, 'method': 'at', 'teacher': '3', 'student': '1', 'adapter': 'none',
                           'adapterShape': [None, 8, 8, 4]}]
    assert [m['method'] for m in a['methods']] == ['fitnet', 'at', 'nst', 'reviewkd', 'rkd-distance', 'rkd-angle', 'sp', 'pkt', 'cc', 'crd']


def test_rows_add_up_to_the_model(tmp_path):
    """A block's row holds only its own parameters: the rows sum to the model's totals (the
    compression panel's shares), as the TF.js engine's flat rows do."""
    from distill_torch import figures

    class Scaled(torch.nn.Module):  # a block with a parameter of its own
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.gain = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            return torch.relu(self.conv(x)) * self.gain
    model = torch.nn.Sequential(Scaled(), torch.nn.Sequential(torch.nn.Conv2d(4, 2, 1), torch.nn.ReLU()), torch.nn.Flatten(),
                                torch.nn.Linear(2 * 36, 2))
    rows = {r['name']: r for r in probe.layer_rows(model, (1, 6, 6))}
    assert rows['0']['params'] == 1 and rows['0.conv']['params'] == 40 and rows['1']['params'] == 0 and rows['1.0']['params'] == 10
    assert sum(r['params'] for r in rows.values()) == sum(p.numel() for p in model.parameters())
    assert sum(r['flops'] for r in rows.values()) == round(sum(v['flops'] for v in figures.count_flops(model, (1, 6, 6)).values()))
    assert rows['1']['flops'] == 0 and rows['1.0']['flops'] > 0
    assert rows['1']['outputShape'] == [None, 6, 6, 2] and rows['1']['order'] > rows['1.1']['order'] > rows['1.0']['order']


@pytest.mark.parametrize('pair,method', [
    ({'teacher': '3', 'student': '3'}, 'at'),          # a map with a vector: rank
    ({'teacher': '5', 'student': '3'}, 'fitnet'),      # vectors 32 vs 16: fitnet needs a dense adapter, 'none' asked
    ({'teacher': '4', 'student': '1'}, 'nst'),         # 2×2 vs 8×8, a whole factor: pooled, no refusal
])
def test_a_pair_is_refused_with_the_message_a_run_gives(tmp_path, pair, method):
    """The link's error equals build_terms' ConfigError for the same pair (what `run` refuses)."""
    adapter = 'none' if method == 'fitnet' else 'auto'
    knowledge_list = [{'kind': 'feature', 'method': method, 'weight': 1, 'schedule': {'kind': 'constant'},
                       'pairs': [{**pair, 'adapter': adapter}]}]
    msg = tiny_experiment(str(tmp_path), knowledge=knowledge_list)
    p = probe.Probe()
    a = p.layers(snap(msg))
    (link,) = a['links']
    teacher, student = p.build(snap(msg), 'teacher'), p.build(snap(msg), 'student')
    d = p.data(snap(msg))
    try:
        knowledge.build_terms(knowledge_list, teacher=teacher, student=student, sample=d.train.x[:2], num_classes=3, num_train=96)
        refusal = None
    except ConfigError as e:
        refusal = e.message
        assert e.path == ['knowledge', 0, 'pairs', 0]
    if refusal is None:
        assert method == 'nst' and 'error' not in link and link['adapter'] == 'avgpool 4×4' and link['adapterShape'] == [None, 2, 2, 4]
    else:
        assert link['error'] == refusal and link['adapter'] == '–'
    # checkPair from the rows' shapes says the same
    t_shape = next(r for r in a['teacher'] if r['name'] == pair['teacher'])['outputShape']
    s_shape = next(r for r in a['student'] if r['name'] == pair['student'])['outputShape']
    c = probe.check_pair(method, pair['teacher'], pair['student'], t_shape, s_shape, adapter)
    assert c == ({'ok': False, 'reason': refusal} if refusal else {'ok': True, 'adapter': link['adapter'], 'outputShape': link['adapterShape']})


def test_check_pair_in_tf_order():
    ok = probe.check_pair('fitnet', 't', 's', [None, 4, 4, 16], [None, 8, 8, 8])
    assert ok == {'ok': True, 'adapter': 'avgpool 2×2 → conv1x1 8→16', 'outputShape': [None, 4, 4, 16]}
    bad = probe.check_pair('at', 't', 's', [None, 16], [None, 8, 8, 8])
    assert not bad['ok'] and bad['reason'].startswith('at: teacher "t" [?,16] ↔ student "s" [?,8,8,8]: at needs tensors of rank 4')


def test_check_lists_every_problem_located(tmp_path):
    knowledge_list = [{'kind': 'feature', 'method': 'at', 'weight': 1, 'schedule': {'kind': 'constant'},
                       'pairs': [{'teacher': '3', 'student': '9', 'adapter': 'auto'}, {'teacher': '33', 'student': '1', 'adapter': 'auto'}]}]
    msg = tiny_experiment(str(tmp_path), knowledge=knowledge_list)
    problems = probe.Probe().answer({'kind': 'check', 'experimentFile': snap(msg)['experimentFile']}, snap(msg), msg['jobs'])
    assert problems == [
        {'path': ['knowledge', 0, 'pairs', 0, 'student'], 'message': 'the student has no layer "9"; closest: "0", "1", "2"'},
        {'path': ['knowledge', 0, 'pairs', 1, 'teacher'], 'message': 'the teacher has no layer "33"; closest: "3", "0", "1"'},
    ]
    good = tiny_experiment(str(tmp_path / 'good'))
    assert probe.Probe().check(snap(good), good['jobs']) == []
    bad_data = tiny_experiment(str(tmp_path / 'bad'), data={'train': {'format': 'csv', 'path': 'missing.csv'}, 'test': {'format': 'csv', 'path': 'missing.csv'}})
    (p,) = probe.Probe().check(snap(bad_data), bad_data['jobs'])
    assert p['path'][:2] == ['data', 'train'] and 'missing.csv' in p['message']


def test_suggestions_with_reasons(tmp_path):
    msg = tiny_experiment(str(tmp_path))
    a = probe.Probe().suggest(snap(msg))
    assert a['suggestions'], a
    first = a['suggestions'][0]
    # the student's last 8×8 stage (ReLU '1') with the teacher's last 8×8 stage (ReLU '3')
    assert (first['teacher'], first['student'], first['method'], first['adapter']) == ('3', '1', 'at', 'none')
    assert first['reason'].startswith('same resolution 8×8, relative depth: teacher ')
    text = probe.Probe().answer({'kind': 'suggestText', 'experimentFile': ''}, snap(msg))['text']
    assert text.startswith('1. teacher "3" [?, 8, 8, 8] ← student "1" [?, 8, 8, 4]') and 'knowledge entries to add:' in text


# ---------------------------------------------------------------------------------------------
# feature maps from a checkpoint written in the run-folder format

def _naive_cka(x: np.ndarray, y: np.ndarray) -> float:
    """The feature-space form ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) of centred X, Y (not the Gram form probe.py uses)."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def _fixture_run(tmp_path):
    knowledge_list = [{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}},
                      {'kind': 'feature', 'method': 'fitnet', 'weight': 1, 'schedule': {'kind': 'constant'},
                       'pairs': [{'teacher': '3', 'student': '1', 'adapter': 'auto'}]}]
    msg = tiny_experiment(str(tmp_path / 'exp'), knowledge=knowledge_list, baseline=False)
    run_dir = create_run(msg, str(tmp_path / 'runs'))
    p = probe.Probe()
    torch.manual_seed(5)
    student = p.build(snap(msg), 'student', 1)
    for prm in student.parameters():
        prm.data.normal_()
    teacher = p.build(snap(msg), 'teacher')
    d = p.data(snap(msg))
    terms = knowledge.build_terms(knowledge_list, teacher=teacher, student=student, sample=d.train.x[:2], num_classes=3, num_train=96,
                                  train_labels=d.train.y)
    adapter = terms.parts['k1_p0'][0]
    adapter.weight.data.normal_()
    adapter.bias.data.normal_()
    folder = RunFolder(run_dir)
    state = {'format': 1, 'job': 'distill-s1', 'loop': {'epoch': 1, 'step': 3, 'epochEnd': True}, 'model': student.state_dict(),
             'modules': {'terms': terms.state_dict()}}
    folder.save_checkpoint('distill-s1', 'epoch-0001', state)
    folder.save_checkpoint('distill-s1', 'epoch-0002-step-000001', {**state, 'loop': {'epoch': 2, 'step': 1, 'epochEnd': False}})
    return msg, run_dir, student, teacher, adapter, d


def test_feature_maps_of_a_checkpoint_against_a_hand_written_forward(tmp_path):
    msg, run_dir, student, teacher, adapter, d = _fixture_run(tmp_path)
    p = probe.Probe()
    init = p.answer({'kind': 'featureMapsInit', 'runDir': run_dir})
    assert init['checkpoints'] == [{'id': 'distill-s1/epoch-0001', 'label': 'distill-s1 · epoch 1'}]
    assert init['pairs'] == [{'id': '1:0', 'label': 'fitnet: 3 ↔ 1'}]
    assert len(init['samples']) == 16 and init['samples'][0]['h'] == 8 and init['samples'][0]['w'] == 8
    px = np.array(init['samples'][3]['pixels'])
    x3 = d.test.x[3, 0].numpy().reshape(-1)
    assert np.allclose(px, (x3 - x3.min()) / (x3.max() - x3.min())) and init['samples'][3]['label'] == int(d.test.y[3])

    fm = p.answer({'kind': 'featureMaps', 'runDir': run_dir, 'checkpoint': 'distill-s1/epoch-0001', 'sample': 2, 'entry': 1, 'pair': 0})
    # by hand: the teacher's '3' = relu(conv(relu(conv(x)))); the student's '1' = relu(conv(x)), then the saved 1×1 conv
    idx = [2] + [i for i in range(60) if i != 2][:59]
    x = d.test.x[idx]
    tw = teacher.state_dict()
    sw = student.state_dict()
    ft = F.relu(F.conv2d(F.relu(F.conv2d(x, tw['0.weight'], tw['0.bias'], padding=1)), tw['2.weight'], tw['2.bias'], padding=1))
    fs = F.relu(F.conv2d(x, sw['0.weight'], sw['0.bias'], padding=1))
    fs = F.conv2d(fs, adapter.weight, adapter.bias)
    ft, fs = ft.permute(0, 2, 3, 1).double().detach(), fs.permute(0, 2, 3, 1).double().detach()
    assert fm['teacherShape'] == [None, 8, 8, 8] and fm['studentShape'] == [None, 8, 8, 8]
    assert fm['adapter'] == 'conv1x1 4→8' and fm['batch'] == 60
    assert len(fm['teacher']['channels']) == 8 and fm['teacher']['h'] == 8
    for c in range(8):
        assert np.allclose(fm['teacher']['channels'][c], ft[0, :, :, c].reshape(-1).numpy(), atol=1e-5)
        assert np.allclose(fm['student']['channels'][c], fs[0, :, :, c].reshape(-1).numpy(), atol=1e-4)
        assert np.allclose(fm['difference']['channels'][c], (fs - ft)[0, :, :, c].reshape(-1).numpy(), atol=1e-4)
    t0, s0 = ft[0].reshape(-1).numpy(), fs[0].reshape(-1).numpy()
    assert fm['cosine'] == pytest.approx(float(t0 @ s0 / np.linalg.norm(t0) / np.linalg.norm(s0)), rel=1e-5)
    assert fm['mse'] == pytest.approx(float(((t0 - s0) ** 2).mean()), rel=1e-5)
    assert fm['cka'] == pytest.approx(_naive_cka(fs.reshape(60, -1).numpy(), ft.reshape(60, -1).numpy()), rel=1e-5)
    att = (ft[0] ** 2).sum(-1).reshape(-1).numpy()
    assert np.allclose(fm['attentionTeacher']['channels'][0], att / np.linalg.norm(att), atol=1e-6)

    with pytest.raises(probe.ProbeError, match='no checkpoint distill-s1/epoch-0009'):
        p.answer({'kind': 'featureMaps', 'runDir': run_dir, 'checkpoint': 'distill-s1/epoch-0009', 'sample': 0, 'entry': 1, 'pair': 0})
    with pytest.raises(probe.ProbeError, match=r'sample 60 is outside the test split \(0..59\)'):
        p.answer({'kind': 'featureMaps', 'runDir': run_dir, 'checkpoint': 'distill-s1/epoch-0001', 'sample': 60, 'entry': 1, 'pair': 0})


def test_similarity_against_naive_formulas():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, 7, generator=g, dtype=torch.float64)
    y = torch.randn(20, 4, generator=g, dtype=torch.float64) + x[:, :4]
    assert probe.linear_cka(x, y) == pytest.approx(_naive_cka(x.numpy(), y.numpy()), rel=1e-10)
    q, _ = torch.linalg.qr(torch.randn(7, 7, generator=g, dtype=torch.float64))
    assert probe.linear_cka(x, 3 * x @ q) == pytest.approx(1.0, abs=1e-12)  # rotation and isotropic scale
    assert probe.linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    a, b = torch.tensor([1.0, 2.0, 2.0]), torch.tensor([2.0, 0.0, 1.0])
    assert probe.cosine(a, b) == pytest.approx(4 / (3 * 5 ** 0.5)) and probe.cosine(a, torch.zeros(3)) == 0
    assert probe.mse(a, b) == pytest.approx((1 + 4 + 1) / 3)
    hwc = torch.tensor([[[1.0, -1.0], [0.0, 2.0]]])  # 1×2 map, 2 channels
    assert probe.attention_map(hwc) == pytest.approx([2 / (2 ** 2 + 4 ** 2) ** 0.5, 4 / (2 ** 2 + 4 ** 2) ** 0.5])
    assert probe.channel_images(hwc) == [[1.0, 0.0], [-1.0, 2.0]]


def test_similarity_matches_the_typescript_fixture():
    """The values src/engine/results/similarity.ts computes on the same inputs (written by
    test/helpers/write-similarity-fixture.ts into fixtures/similarity_ts.json)."""
    path = os.path.join(os.path.dirname(__file__), 'fixtures', 'similarity_ts.json')
    with open(path) as f:
        fx = json.load(f)
    x = torch.tensor(fx['x'], dtype=torch.float64).reshape(fx['n'], -1)
    y = torch.tensor(fx['y'], dtype=torch.float64).reshape(fx['n'], -1)
    assert probe.linear_cka(x, y) == pytest.approx(fx['cka'], rel=1e-12)
    assert probe.cosine(torch.tensor(fx['a']), torch.tensor(fx['b'])) == pytest.approx(fx['cosine'], rel=1e-6)
    assert probe.mse(torch.tensor(fx['a'], dtype=torch.float64), torch.tensor(fx['b'], dtype=torch.float64)) == pytest.approx(fx['mse'], rel=1e-12)
    h, w, c = fx['hwc']
    m = torch.tensor(fx['map'], dtype=torch.float64).reshape(h, w, c)
    assert probe.attention_map(m) == pytest.approx(fx['attention'], rel=1e-12)
    assert probe.channel_images(m, 2) == fx['channels']


def test_estimate_times_a_few_steps(tmp_path):
    msg = tiny_experiment(str(tmp_path), epochs=2)
    e = probe.Probe().answer({'kind': 'estimate', 'experimentFile': ''}, snap(msg), msg['jobs'])
    # scratch-s1 and distill-s1: 2 epochs × ceil(96/32) = 6 steps each, of the student
    assert e['seconds'] > 0
    assert e['description'].startswith('estimated training time ') and '12 steps of the student (models.py#student) at ' in e['description']


def test_probe_messages_over_the_protocol(tmp_path):
    """`python -m distill_torch` answers probes one after another and stays up after an error."""
    msg = tiny_experiment(str(tmp_path))
    env = {**os.environ, 'PYTHONPATH': PYTHON_DIR, 'DISTILL_THREADS': '1', 'OMP_NUM_THREADS': '1'}
    lines = [
        {'type': 'probe', 'id': 1, 'query': {'kind': 'featureMapsInit', 'runDir': str(tmp_path / 'nowhere')}},
        {'type': 'probe', 'id': 2, 'query': {'kind': 'layers', 'experimentFile': snap(msg)['experimentFile']}, 'snapshot': snap(msg)},
        {'type': 'probe', 'id': 3, 'query': {'kind': 'layers', 'experimentFile': 'x'},
         'snapshot': {**snap(msg), 'config': {**snap(msg)['config'], 'student': {'module': 'models.py', 'export': 'studnet'}}}},
    ]
    out = subprocess.run([sys.executable, '-m', 'distill_torch'], input=''.join(json.dumps(m) + '\n' for m in lines), env=env,
                         capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    msgs = [json.loads(l) for l in out.stdout.splitlines()]
    results = {m['id']: m for m in msgs if m['type'] == 'probe-result'}
    assert msgs[0]['type'] == 'ready' and out.returncode == 0, out.stderr
    assert results[1]['error'].endswith('is not a run folder (no config.json)')
    assert [r['name'] for r in results[2]['result']['student']] == ['0', '1', '2', '3', '4']
    assert results[3]['errorKind'] == 'config' and results[3]['path'][0] == 'student' and 'studnet' in results[3]['error']


def test_feature_maps_of_a_real_run(tmp_path):
    """A run trained by engine.py (1 epoch): its checkpoint's student and fitnet adapter are the
    ones the answer uses (recomputed here from state.pt's own tensors)."""
    from distill_torch import engine
    from conftest import create_run
    knowledge_list = [{'kind': 'feature', 'method': 'fitnet', 'weight': 1, 'schedule': {'kind': 'constant'},
                       'pairs': [{'teacher': '3', 'student': '1', 'adapter': 'auto'}]}]
    msg = tiny_experiment(str(tmp_path / 'exp'), epochs=1, baseline=False, knowledge=knowledge_list)
    session = engine.prepare(msg, send=lambda m: None, should_stop=lambda: False, versions={})
    run_dir = create_run(msg, str(tmp_path / 'runs'))
    assert session.run(run_dir, False) == 'completed'
    p = probe.Probe()
    init = p.answer({'kind': 'featureMapsInit', 'runDir': run_dir})
    assert [c['id'] for c in init['checkpoints']] == ['distill-s1/epoch-0001']
    fm = p.answer({'kind': 'featureMaps', 'runDir': run_dir, 'checkpoint': 'distill-s1/epoch-0001', 'sample': 0, 'entry': 0, 'pair': 0})
    saved = torch.load(os.path.join(run_dir, 'checkpoints', 'distill-s1', 'epoch-0001', 'state.pt'))
    sw, aw = saved['model'], saved['modules']['terms']
    x = p.data(snap(msg)).test.x[:1]
    fs = F.conv2d(F.relu(F.conv2d(x, sw['0.weight'], sw['0.bias'], padding=1)), aw['parts.k0_p0.0.weight'], aw['parts.k0_p0.0.bias'])
    assert fm['adapter'] == 'conv1x1 4→8' and fm['studentShape'] == [None, 8, 8, 8]
    assert np.allclose(fm['student']['channels'][5], fs[0, 5].reshape(-1).numpy(), atol=1e-5)
    assert -1 <= fm['cosine'] <= 1 and fm['mse'] >= 0 and 0 <= fm['cka'] <= 1 + 1e-9


def test_check_of_a_crd_experiment(tmp_path):
    """crd's banks need the training labels: the check (engine's prepare) passes them, so a valid crd
    experiment has no problem and a bank too large for maxMemoryMB is located at `embedding`."""
    def crd(**extra):
        return [{'kind': 'relation', 'method': 'crd', 'weight': 1, 'schedule': {'kind': 'constant'}, 'embedding': 16, 'negatives': 8,
                 'temperature': 0.07, 'momentum': 0.5, 'pairs': [{'teacher': '5', 'student': '3'}], **extra}]
    ok = tiny_experiment(str(tmp_path / 'ok'), knowledge=crd())
    assert probe.Probe().check(snap(ok), ok['jobs']) == []
    big = tiny_experiment(str(tmp_path / 'big'), knowledge=crd(embedding=4096, maxMemoryMB=1))
    (p,) = probe.Probe().check(snap(big), big['jobs'])
    assert p['path'] == ['knowledge', 0, 'embedding'] and p['message'].startswith('crd: the memory banks hold 2 × 96 samples × 4096')


def test_feature_maps_with_response_terms_and_a_vector_pair(tmp_path):
    """A run with ctkd (θ in the checkpoint) and multi-kd (a further teacher) beside a vector pair:
    the pair's maps come from the checkpoint all the same; a vector is one strip, no attention map."""
    from distill_torch import engine
    from conftest import create_run
    knowledge_list = [
        {'kind': 'response', 'method': 'ctkd', 'weight': 1, 'schedule': {'kind': 'constant'}, 'minTemperature': 1, 'temperatureRange': 20,
         'maxReversal': 1, 'reversalEpochs': 10},
        {'kind': 'response', 'method': 'multi-kd', 'weight': 1, 'schedule': {'kind': 'constant'}, 'temperature': 4, 'teacherWeight': 1,
         'teachers': [{'module': 'models.py', 'export': 'assistant', 'weight': 1}]},
        {'kind': 'feature', 'method': 'fitnet', 'weight': 1, 'schedule': {'kind': 'constant'},
         'pairs': [{'teacher': '5', 'student': '3', 'adapter': 'auto'}]}]
    msg = tiny_experiment(str(tmp_path / 'exp'), epochs=1, baseline=False, knowledge=knowledge_list)
    session = engine.prepare(msg, send=lambda m: None, should_stop=lambda: False, versions={})
    run_dir = create_run(msg, str(tmp_path / 'runs'))
    assert session.run(run_dir, False) == 'completed'
    fm = probe.Probe().answer({'kind': 'featureMaps', 'runDir': run_dir, 'checkpoint': 'distill-s1/epoch-0001', 'sample': 4, 'entry': 2, 'pair': 0})
    saved = torch.load(os.path.join(run_dir, 'checkpoints', 'distill-s1', 'epoch-0001', 'state.pt'))
    sw, aw = saved['model'], saved['modules']['terms']
    x = probe.Probe().data(snap(msg)).test.x[4:5]
    h = F.adaptive_avg_pool2d(F.relu(F.conv2d(x, sw['0.weight'], sw['0.bias'], padding=1)), 2).flatten(1)
    v = F.linear(h, aw['parts.k2_p0.0.weight'], aw['parts.k2_p0.0.bias'])[0]
    assert fm['adapter'] == 'dense 16→32' and fm['studentShape'] == [None, 32] and fm['teacherShape'] == [None, 32]
    assert fm['student']['h'] == 1 and fm['student']['w'] == 32 and np.allclose(fm['student']['channels'][0], v.numpy(), atol=1e-5)
    assert 'attentionTeacher' not in fm and 'cosine' in fm


def test_a_torchscript_teacher(tmp_path):
    """A TorchScript teacher lists its layers (names, types, params) without shapes; its pairs and
    suggestions say why, in knowledge.Taps' words."""
    import importlib.util
    msg = tiny_experiment(str(tmp_path), knowledge=[{'kind': 'feature', 'method': 'at', 'weight': 1, 'schedule': {'kind': 'constant'},
                                                     'pairs': [{'teacher': '3', 'student': '1', 'adapter': 'auto'}]}])
    spec = importlib.util.spec_from_file_location('tiny_models', str(tmp_path / 'models.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.jit.script(mod.teacher()).save(str(tmp_path / 'teacher.pt'))
    snap(msg)['config']['teacher'] = {'model': 'teacher.pt'}
    p = probe.Probe()
    a = p.layers(snap(msg))
    assert [(r['name'], r['type'], r['params']) for r in a['teacher']][:3] == [('0', 'Conv2d', 80), ('1', 'ReLU', 0), ('2', 'Conv2d', 584)]
    (link,) = a['links']
    assert link['error'].startswith('the teacher is a TorchScript model: its layers cannot be tapped')
    assert p.suggest(snap(msg)) == {'suggestions': [], 'error': link['error']}


@pytest.mark.parametrize('separable, params, swapped', [
    # width 0.5 of the 8-filter teacher: Conv2d(1→4) 1·4·9+4, Conv2d(4→4) 4·4·9+4, Linear(16→3) 16·3+3
    (False, (1 * 4 * 9 + 4) + (4 * 4 * 9 + 4) + (16 * 3 + 3), 0),
    # separable: depthwise 1·9 + pointwise 1·4+4, depthwise 4·9 + pointwise 4·4+4, the same Linear
    (True, (1 * 9 + 1 * 4 + 4) + (4 * 9 + 4 * 4 + 4) + (16 * 3 + 3), 2),
])
def test_figures_of_a_search_candidate(tmp_path, separable, params, swapped):
    """issue 18: the `figures` probe measures the derived student a candidate's text describes."""
    derive = {'width': 0.5, **({'swap': {'Conv2D': 'SeparableConv2D'}} if separable else {})}
    msg = tiny_experiment(str(tmp_path), knowledge=[{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1,
                                                    'schedule': {'kind': 'constant'}}],
                          student={'derive': derive, 'from': {'module': 'models.py', 'export': 'teacher'}})
    f = probe.Probe().answer({'kind': 'figures', 'experimentFile': snap(msg)['experimentFile']}, snap(msg))
    assert f['student']['params'] == params
    assert f['student']['bytes'] == 4 * params  # float32, no buffers in these models
    assert f['swapped'] == swapped
    assert f['student']['latencyMsPerSample'] > 0
    # FLOPs: the multiply-adds of the convolutions and the Linear at 8×8 (padding 1), counted by hand,
    # plus what count_flops adds for ReLU / pooling (elementwise: one per value)
    if not separable:
        convs = (2 * 9 * 1 * 4 * 64 + 4 * 64) + (2 * 9 * 4 * 4 * 64 + 4 * 64)
        linear = 2 * 16 * 3 + 3
        assert f['student']['flops'] >= convs + linear
        assert f['student']['flops'] <= convs + linear + 2 * 4 * 64 + 4 * 64  # two ReLUs and the pooling at most


def test_figures_refuse_a_bad_derive_located(tmp_path):
    msg = tiny_experiment(str(tmp_path), student={'derive': {'width': 0.01}, 'from': {'module': 'models.py', 'export': 'teacher'}},
                          knowledge=[{'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}}])
    with pytest.raises(ConfigError) as e:
        probe.Probe().answer({'kind': 'figures', 'experimentFile': ''}, snap(msg))
    assert e.value.path[:2] == ['student', 'derive']
