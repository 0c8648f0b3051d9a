"""train.py: schedules and optimizers against hand computations; records, messages and checkpoints
of a small distill job; exact resume after a stop, a crash and a real SIGKILL; failures."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_helpers as H  # noqa: E402
from distill_torch.runfolder import RunFolder  # noqa: E402
from distill_torch.train import (TFJS_EPSILON, ProgressClock, TfjsRMSprop, TrainingError, evaluate_logits,  # noqa: E402
                                 learning_rate_at, make_optimizer, mean_kl, seed_for, train_job)

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# learning-rate schedules (schedule.ts), values worked out by hand

def test_constant_and_warmup():
    opt = {'learningRate': 0.1, 'warmupEpochs': 1}
    # 4 steps per epoch: warm-up steps 0..3 rise as 0.1·(s+1)/4, then constant
    assert [learning_rate_at(opt, 3, 4, s) for s in range(6)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    assert learning_rate_at({'learningRate': 0.3}, 2, 5, 9) == 0.3


def test_warmup_rounds_halves_up_as_javascript():
    # 0.5 epoch × 5 steps = 2.5 steps → Math.round gives 3 (Python's round would give 2)
    opt = {'learningRate': 0.9, 'warmupEpochs': 0.5}
    assert learning_rate_at(opt, 2, 5, 1) == pytest.approx(0.9 * 2 / 3)
    assert learning_rate_at(opt, 2, 5, 2) == pytest.approx(0.9)


def test_cosine():
    opt = {'learningRate': 0.1, 'schedule': 'cosine', 'warmupEpochs': 1, 'minLearningRate': 0.01}
    # 3 epochs × 4 steps: total 12, warm 4, span 12 − 1 − 4 = 7
    assert learning_rate_at(opt, 3, 4, 0) == pytest.approx(0.025)
    assert learning_rate_at(opt, 3, 4, 4) == pytest.approx(0.1)          # p = 0
    # p = 4/7: cos(4π/7) = −0.2225209339563144 → 0.01 + 0.09·(1 − 0.2225209…)/2
    assert learning_rate_at(opt, 3, 4, 8) == pytest.approx(0.01 + 0.09 * 0.7774790660436856 / 2, rel=1e-12)
    assert learning_rate_at(opt, 3, 4, 11) == pytest.approx(0.01)         # p = 1: the minimum
    no_warm = {'learningRate': 1.0, 'schedule': 'cosine'}
    assert learning_rate_at(no_warm, 1, 3, 1) == pytest.approx(0.5)       # p = 1/2 of span 2


def test_step():
    opt = {'learningRate': 1.0, 'schedule': 'step', 'gamma': 0.5, 'stepEpochs': 2}
    # 3 steps per epoch: epochs 0–1 → 1, 2–3 → 0.5, 4–5 → 0.25
    assert [learning_rate_at(opt, 6, 3, s) for s in (0, 5, 6, 11, 12, 17)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    # stepEpochs defaults to the number of epochs (no decay within the training), gamma to 0.1
    assert learning_rate_at({'learningRate': 2.0, 'schedule': 'step'}, 4, 3, 11) == 2.0
    assert learning_rate_at({'learningRate': 2.0, 'schedule': 'step', 'stepEpochs': 1}, 4, 3, 3) == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------------
# optimizers: one and two steps against the TF.js update written out in float64

def _two_steps(kind: str, g1: np.ndarray, g2: np.ndarray, lr: float, **cfg):
    w = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    opt = make_optimizer({'kind': kind, 'learningRate': lr, **cfg}, [w])
    out = []
    for g in (g1, g2):
        opt.zero_grad()
        (w * torch.tensor(g)).sum().backward()  # ∂/∂w = g
        opt.step()
        out.append(w.detach().numpy().copy())
    return out


G1 = np.array([1e-7, -0.3, 2.0])   # a gradient as small as ε shows which ε the update uses
G2 = np.array([-2e-7, 0.1, -1.0])
W0 = np.array([0.5, -1.0, 2.0])


def test_adam_matches_tfjs_update_with_epsilon_1e_7():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    want = []
    for t, g in enumerate((G1, G2), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        want.append(w.copy())
    got = _two_steps('adam', G1, G2, lr)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=0)
    # first component: |g| = ε, so the step is lr/2 (with torch's ε = 1e-8 it would be lr/1.1)
    assert W0[0] - got[0][0] == pytest.approx(lr / 2, rel=1e-6)


def test_sgd_and_momentum():
    lr = 0.1
    got = _two_steps('sgd', G1, G2, lr)
    np.testing.assert_allclose(got[1], W0 - lr * G1 - lr * G2, rtol=1e-12)
    # momentum (TF.js): acc ← μ·acc + g from acc = 0; w ← w − lr·acc
    acc1 = G1
    acc2 = 0.8 * acc1 + G2
    got = _two_steps('momentum', G1, G2, lr, momentum=0.8)
    np.testing.assert_allclose(got[0], W0 - lr * acc1, rtol=1e-12)
    np.testing.assert_allclose(got[1], W0 - lr * acc1 - lr * acc2, rtol=1e-12)
    assert make_optimizer({'kind': 'momentum', 'learningRate': 1}, [torch.nn.Parameter(torch.zeros(1))]).param_groups[0]['momentum'] == 0.9


def test_rmsprop_matches_tfjs_update():
    lr, decay, eps = 0.01, 0.9, 1e-7
    w, ms = W0.copy(), np.zeros(3)
    want = []
    for g in (G1, G2):
        ms = decay * ms + (1 - decay) * g * g
        w = w - lr * g / np.sqrt(ms + eps)  # ε inside the root, momentum 0
        want.append(w.copy())
    got = _two_steps('rmsprop', G1, G2, lr)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    assert isinstance(make_optimizer({'kind': 'rmsprop', 'learningRate': 1}, [torch.nn.Parameter(torch.zeros(1))]), TfjsRMSprop)
    # torch's own RMSprop (decay 0.99, ε outside the root) would differ
    w2 = torch.nn.Parameter(torch.tensor(W0))
    o = torch.optim.RMSprop([w2], lr=lr)
    (w2 * torch.tensor(G1)).sum().backward()
    o.step()
    assert not np.allclose(w2.detach().numpy(), want[0], rtol=1e-6)
    assert TFJS_EPSILON == 1e-7


def test_unknown_optimizer_is_refused():
    with pytest.raises(TrainingError, match='adam, sgd, momentum or rmsprop'):
        make_optimizer({'kind': 'lion', 'learningRate': 1}, [torch.nn.Parameter(torch.zeros(1))])


# ---------------------------------------------------------------------------------------------
# evaluation helpers against direct computations

def test_evaluation_figures():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
    labels = torch.tensor([0, 2, 2, 1])
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 2.0, 1.0], [3.0, 1.0, 0.0]])
    ev = evaluate_logits(logits, labels, 3, t)
    assert ev['acc'] == 0.5 and ev['errors'] == 2
    assert ev['perClass']['confusion'] == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]
    assert ev['perClass']['acc'] == [1.0, 0.0, 0.5]
    assert ev['agreement'] == 0.75
    kl = 0.0
    for i in range(4):
        pt = np.exp(t[i].numpy().astype(np.float64))
        pt /= pt.sum()
        ps = np.exp(logits[i].numpy().astype(np.float64))
        ps /= ps.sum()
        kl += float((pt * np.log(pt / ps)).sum())
    assert ev['klTeacher'] == pytest.approx(kl / 4, rel=1e-12)
    assert mean_kl(t, t) == 0.0
    empty = evaluate_logits(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([0]), 3)
    assert empty['perClass']['acc'] == [1.0, None, None]


def test_seeds_are_the_tfjs_engines():
    assert seed_for(3, 'training') == 3 * 7919 + 17
    assert seed_for(3, 'adapters') == 3 * 7919 + 1
    assert seed_for(3, 'selfHeads') == 3 * 7919 + 2
    assert seed_for(3, {'peer': 2}) == 3002


# ---------------------------------------------------------------------------------------------
# one job: records, messages, checkpoints

def test_distill_job_records_and_messages(tmp_path):
    data = H.make_data(n_val=30)
    ctx = H.distill_context(str(tmp_path / 'run'), data=data)
    assert train_job(ctx) == 'completed'
    recs = RunFolder(ctx.folder.dir).read_metrics()
    steps = [r for r in recs if r['type'] == 'step']
    # 150 samples / 16 = 10 steps per epoch; logEvery 2 → steps 2, 4, …, 10 per epoch
    assert [(r['epoch'], r['step']) for r in steps] == [(e, s) for e in (1, 2) for s in (2, 4, 6, 8, 10)]
    assert [r['globalStep'] for r in steps] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    first = steps[0]
    assert list(first['losses']) == ['kd', 'fitnet', 'labels', 'total']
    assert set(first['pairs']) == {'fitnet'} and list(first['pairs']['fitnet']) == ['6→7']
    assert first['lr'] == 0.01
    # the warm-up schedule reaches the terms with the 1-based epoch: kd counts 0.9·½ in epoch 1, 0.9 in epoch 2
    for r in steps:
        f = 0.5 if r['epoch'] == 1 else 1.0
        ls = r['losses']
        assert ls['total'] == pytest.approx(0.9 * f * ls['kd'] + ls['fitnet'] + 0.5 * ls['labels'], rel=1e-5)
    epochs = [r for r in recs if r['type'] == 'epoch']
    assert [r['epoch'] for r in epochs] == [1, 2]
    e = epochs[-1]
    for k in ('trainAcc', 'valAcc', 'testAcc', 'testErrors', 'agreement', 'klTeacher', 'perClass', 'seconds'):
        assert k in e, k
    assert e['testErrors'] == round((1 - e['testAcc']) * 45)
    assert sum(map(sum, e['perClass']['confusion'])) == 45
    assert set(e['losses']) == {'kd', 'fitnet', 'labels', 'total'}
    assert e['testAcc'] > 0.6  # the classes are easy
    # independent figures of the final model
    ctx.model.eval()
    with torch.no_grad():
        z = ctx.model(data.test.x)
        zt = ctx.teacher(data.test.x)
    assert e['testAcc'] == pytest.approx(float((z.argmax(-1) == data.test.y).float().mean()))
    assert e['agreement'] == pytest.approx(float((z.argmax(-1) == zt.argmax(-1)).float().mean()))
    assert e['klTeacher'] == pytest.approx(mean_kl(zt, z), rel=1e-6)

    sink = ctx.send
    ep = sink.of('epoch')
    assert [m['epoch'] for m in ep] == [1, 2]
    assert {'trainAcc', 'valAcc', 'testAcc', 'testErrors', 'agreement', 'klTeacher', 'seconds', 'loss.kd', 'loss.total'} <= set(ep[1]['metrics'])
    prog = sink.of('progress')
    assert prog and prog[-1]['step'] == 10 and prog[-1]['steps'] == 10 and prog[-1]['phase'] == 'distill'
    cks = sink.of('checkpoint')
    # mid-epoch every 4 steps counted from the last checkpoint (an epoch end counts), and the epoch ends
    names = [os.path.basename(m['path']) for m in cks]
    assert names == ['epoch-0001-step-000004', 'epoch-0001-step-000008', 'epoch-0001',
                     'epoch-0002-step-000004', 'epoch-0002-step-000008', 'epoch-0002']
    # older mid-epoch checkpoints are pruned, epoch ends stay
    assert sorted(os.listdir(os.path.join(ctx.folder.dir, 'checkpoints', 'distill-s1'))) == ['epoch-0001', 'epoch-0002']
    assert ctx.folder.run()['jobs']['distill-s1']['completedEpochs'] == 2
    _, state = ctx.folder.latest_checkpoint('distill-s1')
    assert state['loop']['epochEnd'] and state['loop']['globalStep'] == 20
    assert set(state['rng']) >= {'torch', 'numpy', 'random'}
    assert 'terms' in state['modules'] and state['optimizerKind'] == 'adam'


def test_scratch_job_has_labels_only_and_agreement(tmp_path):
    ctx = H.distill_context(str(tmp_path / 'run'), kind='scratch', job='scratch-s1')
    assert ctx.terms is None
    assert train_job(ctx) == 'completed'
    recs = RunFolder(ctx.folder.dir).read_metrics()
    step = next(r for r in recs if r['type'] == 'step')
    assert list(step['losses']) == ['labels', 'total'] and step['losses']['labels'] == step['losses']['total']
    assert 'agreement' in [r for r in recs if r['type'] == 'epoch'][0]
    assert [m for m in ctx.send.messages if m['type'] == 'progress'][0]['phase'] == 'scratch'


# ---------------------------------------------------------------------------------------------
# exact resume

def _straight(tmp_path, config=None):
    ctx = H.distill_context(str(tmp_path / 'straight'), config=config)
    assert train_job(ctx) == 'completed'
    return ctx


# The resume tests run the KD + fitnet job, and (issue 18) KD + two adversarial terms, whose
# discriminators, their Adam states and the epoch sums of their figures must come back exactly.
CONFIGS = pytest.mark.parametrize('config', [None, H.ADV_CONFIG], ids=['kd-fitnet', 'adversarial'])


def _discriminators(terms) -> list:
    from distill_torch.adversarial import AdversarialState
    return [m for m in terms.parts.values() if isinstance(m, AdversarialState)]


def _same_discriminators(a, b, config) -> None:
    da, db = _discriminators(a), _discriminators(b)
    assert len(da) == len(db) == (2 if config is H.ADV_CONFIG else 0)
    for x, y in zip(da, db):
        assert H.same_weights(x.disc, y.disc) == []
        assert x.optimizer.state_dict()['state'] and H._same(x.optimizer.state_dict(), y.optimizer.state_dict())


class _Crash(Exception):
    pass


@CONFIGS
def test_resume_after_a_crash_is_exact(tmp_path, config):
    straight = _straight(tmp_path, config)
    run = str(tmp_path / 'crashed')

    def crash_at_6():
        if ctx.clock.done_steps == 6:  # checkpoint at 4; steps 5, 6 (and the record of step 6) are past it
            raise _Crash()
        return False
    ctx = H.distill_context(run, should_stop=crash_at_6, config=config)
    with pytest.raises(_Crash):
        train_job(ctx)
    raw = open(os.path.join(run, 'metrics.jsonl'), encoding='utf8').read()
    assert '"step":6' in raw  # a record the resume must supersede

    again = H.distill_context(run, config=config)  # a new process: models built anew, then restored
    assert train_job(again) == 'completed'
    assert H.same_weights(again.model, straight.model) == []
    assert H.same_weights(again.terms, straight.terms) == []
    _same_discriminators(again.terms, straight.terms, config)
    assert H.job_records(again.folder, 'distill-s1') == H.job_records(straight.folder, 'distill-s1')
    resume = [r for r in RunFolder(run).read_metrics() if r['type'] == 'resume']
    assert [(r['epoch'], r['step']) for r in resume] == [(1, 4)]
    assert any('resuming at epoch 1, step 4' in m['message'] for m in again.send.of('log'))


@CONFIGS
def test_stop_checkpoints_and_cancels_then_resumes_exactly(tmp_path, config):
    straight = _straight(tmp_path, config)
    run = str(tmp_path / 'stopped')
    ctx = H.distill_context(run, should_stop=lambda: ctx.clock.done_steps >= 13, config=config)
    assert train_job(ctx) == 'cancelled'
    names = os.listdir(os.path.join(run, 'checkpoints', 'distill-s1'))
    assert 'epoch-0002-step-000003' in names  # the stop's own position (global step 13)
    assert ctx.folder.run()['jobs']['distill-s1']['completedEpochs'] == 1
    again = H.distill_context(run, config=config)
    assert train_job(again) == 'completed'
    assert H.same_weights(again.model, straight.model) == []
    assert H.same_weights(again.terms, straight.terms) == []
    _same_discriminators(again.terms, straight.terms, config)
    assert H.job_records(again.folder, 'distill-s1') == H.job_records(straight.folder, 'distill-s1')


def test_sigkill_after_a_checkpoint_then_exact_resume(tmp_path):
    straight = _straight(tmp_path)
    run = str(tmp_path / 'killed')
    marker = str(tmp_path / 'held')
    child = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'train_child.py')
    # hold at global step 16: epoch 2 step 6, two steps (and a step record) past the checkpoint at epoch 2 step 4
    proc = subprocess.Popen([sys.executable, child, run, '16', marker], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    ckpt = os.path.join(run, 'checkpoints', 'distill-s1', 'epoch-0002-step-000004')
    deadline = time.monotonic() + 180
    try:
        while not (os.path.exists(marker) and os.path.isdir(ckpt)):
            assert proc.poll() is None, f'the child ended early: {proc.stderr.read().decode()}'
            assert time.monotonic() < deadline, 'no checkpoint and hold point within 180 s'
            time.sleep(0.05)  # polling interval, not an assertion delay
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    raw = open(os.path.join(run, 'metrics.jsonl'), encoding='utf8').read()
    assert '"epoch":2,"step":6' in raw  # logged past the checkpoint: superseded on resume
    again = H.distill_context(run)
    assert train_job(again) == 'completed'
    assert H.same_weights(again.model, straight.model) == []
    assert H.same_weights(again.terms, straight.terms) == []
    assert H.job_records(again.folder, 'distill-s1') == H.job_records(straight.folder, 'distill-s1')
    resume = [r for r in RunFolder(run).read_metrics() if r['type'] == 'resume']
    assert [(r['epoch'], r['step']) for r in resume] == [(2, 4)]


def test_resume_refuses_a_checkpoint_of_another_optimizer(tmp_path):
    run = str(tmp_path / 'run')
    ctx = H.distill_context(run, should_stop=lambda: True)
    assert train_job(ctx) == 'cancelled'
    again = H.distill_context(run, train_cfg=H.training(kind='sgd', checkpointEvery={'steps': 4}))
    with pytest.raises(TrainingError, match="optimizer is adam, the experiment uses sgd"):
        train_job(again)


@CONFIGS
def test_resume_at_an_epoch_end_starts_the_next_epoch(tmp_path, config):
    straight = _straight(tmp_path, config)
    run = str(tmp_path / 'run')
    # stop seen at the end of epoch 1: the epoch's checkpoint stands, the job is cancelled
    ctx = H.distill_context(run, should_stop=lambda: ctx.clock.done_steps == 10, config=config)
    assert train_job(ctx) == 'cancelled'
    assert sorted(os.listdir(os.path.join(run, 'checkpoints', 'distill-s1'))) == ['epoch-0001']
    again = H.distill_context(run, config=config)
    assert train_job(again) == 'completed'
    assert [(r['epoch'], r['step']) for r in RunFolder(run).read_metrics() if r['type'] == 'resume'] == [(2, 0)]
    assert H.same_weights(again.model, straight.model) == []
    assert H.same_weights(again.terms, straight.terms) == []
    _same_discriminators(again.terms, straight.terms, config)
    assert H.job_records(again.folder, 'distill-s1') == H.job_records(straight.folder, 'distill-s1')


# ---------------------------------------------------------------------------------------------
# failures, precision

def test_non_finite_loss_fails_with_the_tfjs_message(tmp_path):
    data = H.make_data()
    data.train.x[:] = float('nan')
    ctx = H.distill_context(str(tmp_path / 'run'), data=data, kind='scratch', job='scratch-s1')
    with pytest.raises(TrainingError) as e:
        train_job(ctx)
    assert str(e.value) == ('scratch-s1: loss term "labels" is NaN at epoch 1, step 1 (global step 1); '
                            'the run stopped there. Lower the learning rate or check the inputs.')


def test_bf16_autocast_on_cpu_and_fp16_falls_back(tmp_path):
    ctx = H.distill_context(str(tmp_path / 'bf16'), precision='bf16', kind='scratch', job='scratch-s1',
                            train_cfg=H.training(epochs=1, stepsPerEpoch=3))
    seen = []
    ctx.model[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    assert train_job(ctx) == 'completed'
    assert torch.bfloat16 in seen
    ctx16 = H.distill_context(str(tmp_path / 'fp16'), precision='fp16', kind='scratch', job='scratch-s1',
                              train_cfg=H.training(epochs=1, stepsPerEpoch=3))
    assert train_job(ctx16) == 'completed'
    warn = [m['message'] for m in ctx16.send.of('log') if m['level'] == 'warn']
    assert warn and 'fp16 has no autocast on cpu' in warn[0]


def test_progress_clock():
    c = ProgressClock(10, 4)
    assert c.eta_seconds() == 0
    c.tick()
    assert c.done_steps == 5 and c.steps_per_second() == 0


def test_cached_teacher_outputs_replace_the_teachers_pass(tmp_path):
    from distill_torch.teacher_cache import compute_outputs
    live = H.distill_context(str(tmp_path / 'live'))
    assert train_job(live) == 'completed'
    cached = H.distill_context(str(tmp_path / 'cached'))
    cached.teacher_outputs = compute_outputs(cached.teacher, cached.data.train.x, cached.terms.teacher_layers, torch.device('cpu'))
    calls = []
    cached.teacher.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    assert train_job(cached) == 'completed'
    # the teacher ran only for the evaluation (45 test rows, once per job), never on a training batch
    assert calls == [45]
    a = H.job_records(live.folder, 'distill-s1')
    b = H.job_records(cached.folder, 'distill-s1')
    assert len(a) == len(b)
    first_a, first_b = a[0]['losses'], b[0]['losses']
    assert first_b['kd'] == pytest.approx(first_a['kd'], rel=1e-5)
    # fitnet's teacher features come back from float16: close, not equal
    assert first_b['fitnet'] == pytest.approx(first_a['fitnet'], rel=1e-2)


def test_checkpoint_due():
    from distill_torch.train import DEFAULT_CHECKPOINT_EVERY, checkpoint_due
    assert DEFAULT_CHECKPOINT_EVERY == {'minutes': 1}
    assert not checkpoint_due({'minutes': 1}, 10_000, 59.9) and checkpoint_due({'minutes': 1}, 1, 60)
    assert checkpoint_due({'steps': 5}, 5, 0) and not checkpoint_due({'steps': 5}, 4, 1e9)
    assert checkpoint_due({'steps': 5, 'minutes': 0.5}, 1, 30)  # whichever comes first


@pytest.mark.parametrize('kind', ['rmsprop', 'momentum', 'sgd'])
def test_augmented_job_resumes_exactly_with_every_optimizer(tmp_path, kind):
    """Optimizer state (RMSProp's mean squares, momentum's accumulators) and the augmentation of the
    remaining batches come back as they were; stepsPerEpoch cuts the epochs."""
    config = {**H.KD_CONFIG, 'data': {'augment': {'shift': 1, 'flip': True}}}
    cfg = H.training(kind=kind, stepsPerEpoch=7, checkpointEvery={'steps': 3})

    def make(run, stop=lambda: False):
        return H.distill_context(str(tmp_path / run), kind='scratch', job='scratch-s1', config=config, train_cfg=cfg,
                                 should_stop=stop)
    straight = make('straight')
    assert train_job(straight) == 'completed'
    steps = [r for r in RunFolder(straight.folder.dir).read_metrics() if r['type'] == 'step']
    assert [r['step'] for r in steps] == [2, 4, 6, 7, 2, 4, 6, 7] and steps[-1]['globalStep'] == 14

    def crash():
        if ctx.clock.done_steps == 11:
            raise _Crash()
        return False
    ctx = make('crashed', crash)
    with pytest.raises(_Crash):
        train_job(ctx)
    again = make('crashed')
    assert train_job(again) == 'completed'
    assert H.same_weights(again.model, straight.model) == []
    assert H.job_records(again.folder, 'scratch-s1') == H.job_records(straight.folder, 'scratch-s1')
    # and the augmentation did change the batches: an un-augmented run ends elsewhere
    plain = H.distill_context(str(tmp_path / 'plain'), kind='scratch', job='scratch-s1', config=H.KD_CONFIG, train_cfg=cfg)
    assert train_job(plain) == 'completed'
    assert H.same_weights(plain.model, straight.model) != []


def test_the_labels_term_is_off_during_fitnet_hint_epochs(tmp_path):
    config = {**H.KD_CONFIG, 'knowledge': [{**H.KD_CONFIG['knowledge'][1], 'hintEpochs': 1}]}
    ctx = H.distill_context(str(tmp_path / 'r'), config=config)
    assert train_job(ctx) == 'completed'
    for r in [r for r in RunFolder(ctx.folder.dir).read_metrics() if r['type'] == 'step']:
        ls = r['losses']
        want = ls['fitnet'] + (0.5 * ls['labels'] if r['epoch'] > 1 else 0.0)
        assert ls['total'] == pytest.approx(want, rel=1e-5), r['epoch']


def test_bf16_distill_job_is_close_to_fp32(tmp_path):
    cfg = H.training(epochs=1, stepsPerEpoch=2, checkpointEvery={'steps': 4})
    a = H.distill_context(str(tmp_path / 'fp32'), train_cfg=cfg)
    b = H.distill_context(str(tmp_path / 'bf16'), train_cfg=cfg, precision='bf16')
    assert train_job(a) == 'completed' and train_job(b) == 'completed'
    la = H.job_records(a.folder, 'distill-s1')[0]['losses']
    lb = H.job_records(b.folder, 'distill-s1')[0]['losses']
    assert list(la) == list(lb)
    for k in la:  # bf16 keeps 8 bits of mantissa: a few per cent
        assert lb[k] == pytest.approx(la[k], rel=0.05, abs=0.02), k
    assert la != lb  # autocast did run in bf16


@CONFIGS
def test_checkpoint_loads_with_weights_only_and_restores_every_generator(tmp_path, config):
    import random
    from distill_torch.train import rng_states, set_rng_states
    ctx = H.distill_context(str(tmp_path / 'r'), should_stop=lambda: True, config=config)
    assert train_job(ctx) == 'cancelled'
    path = ctx.folder.list_checkpoints('distill-s1')[-1]
    state = torch.load(os.path.join(path, 'state.pt'))
    assert state['loop']['step'] == 1 and state['loop']['globalStep'] == 1

    # Only what newer torch's `weights_only=True` loader (their default) accepts: tensors and plain
    # values (torch 1.13's own weights-only loader refuses even floats, so the walk is the check).
    def plain(v, where='state'):
        if isinstance(v, dict):
            for k, x in v.items():
                assert isinstance(k, (str, int)), where
                plain(x, f'{where}.{k}')
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                plain(x, f'{where}[{i}]')
        else:
            assert v is None or isinstance(v, (torch.Tensor, str, int, float, bool)), f'{where}: {type(v).__name__}'
    plain(state)
    np.random.seed(5)
    random.seed(5)
    torch.manual_seed(5)
    np.random.randn(3)  # a cached gaussian half-way through
    saved = rng_states()
    want = (torch.rand(3), np.random.randn(3), random.random())
    np.random.seed(9)
    random.seed(9)
    torch.manual_seed(9)
    set_rng_states(saved)
    got = (torch.rand(3), np.random.randn(3), random.random())
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]


# ---------------------------------------------------------------------------------------------
# issue 18: a quantisation-aware job (fake-quantised kernels and activation ranges) resumes exactly

def _qat_context(run, **kw):
    from distill_torch import quant
    ctx = H.distill_context(run, job='qat-s1', **kw)
    quant.attach(ctx.model, 4, activations=True)  # the taps find the same layers; the kernels train fake-quantised
    return ctx


def test_qat_job_stops_and_resumes_exactly(tmp_path):
    from distill_torch import quant
    straight = _qat_context(str(tmp_path / 'straight'))
    assert train_job(straight) == 'completed'
    ranges = quant.activation_ranges(straight.model)
    assert sorted(ranges) == ['0', '6', '8']  # conv, dense, logits: set by training
    run = str(tmp_path / 'stopped')
    ctx = _qat_context(run, should_stop=lambda: ctx.clock.done_steps >= 13)
    assert train_job(ctx) == 'cancelled'
    saved = torch.load(os.path.join(ctx.folder.list_checkpoints('qat-s1')[-1], 'state.pt'))
    assert saved['model']['0.' + quant.RANGE_BUFFER][2] == 1  # the ranges are in the checkpoint
    assert '0.parametrizations.weight.original' in saved['model']
    again = _qat_context(run)  # a new process: models built anew, then restored
    assert train_job(again) == 'completed'
    assert H.same_weights(again.model, straight.model) == []  # latent kernels, BN statistics and ranges alike
    assert H.same_weights(again.terms, straight.terms) == []
    assert quant.activation_ranges(again.model) == ranges
    assert H.job_records(again.folder, 'qat-s1') == H.job_records(straight.folder, 'qat-s1')
