"""Cross-engine conformance: the torch losses (distill_torch.losses, and the adapters / fusion /
heads of distill_torch.knowledge) against the TF.js engine's values and gradients.

test/fixtures/conformance/losses.json is written by test/helpers/conformance.ts from the TF.js
engine's own loss functions on the cpu backend (float32), and test/unit/conformance.test.ts checks it
is up to date. It stores tensors in the TF.js layout (maps NHWC, dense kernels [in,out], conv kernels
[kh,kw,in,out]); this test permutes them to torch's (NCHW, [out,in], [out,in,kh,kw]), computes each
loss in float64 from the same (float32-exact) inputs and parameters, and compares:

- value: |v_torch − v_tf| ≤ rtol·|v_torch|
- gradient w.r.t. every student-side input: max|g_torch − g_tf| ≤ rtol·max|g_torch|

with rtol = 1e-5 except where float32 on the TF.js side cannot reach it (TOLERANCE below, with why).
"""
import json
import math
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from distill_torch import adversarial as A  # noqa: E402
from distill_torch import knowledge as K  # noqa: E402
from distill_torch import losses as L  # noqa: E402
from distill_torch import schemes as S  # noqa: E402

torch.set_num_threads(1)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIXTURE = os.path.join(REPO, 'test', 'fixtures', 'conformance', 'losses.json')

with open(FIXTURE, encoding='utf-8') as f:
    FIX = json.load(f)
CASES = {c['name']: c for c in FIX['cases']}

RTOL = 1e-5
# Per-case (value rtol, gradient rtol) where float32 on the TF.js side would not reach 1e-5. None is
# needed: measured against the wasm fixture, the worst relative errors are 8.4e-7 for a value
# (pkt/maps) and 7.6e-7 for a gradient (cc/maps), a margin above 10× everywhere.
TOLERANCE: dict = {}


def tol(case):
    return TOLERANCE.get(case['name'], TOLERANCE.get(case['method'], (RTOL, RTOL)))


def tensor(ft, nchw=True):
    """A fixture tensor as float64 torch, maps permuted NHWC → NCHW."""
    t = torch.tensor(ft['data'], dtype=torch.float64).reshape(ft['shape'])
    return t.permute(0, 3, 1, 2).contiguous() if nchw and t.dim() == 4 else t


def to_tf_layout(t):
    return t.permute(0, 2, 3, 1) if t.dim() == 4 else t


def leaf(case, name):
    return tensor(case['inputs'][name]).requires_grad_(True)


def load_linear(lin, params, prefix):
    with torch.no_grad():
        lin.weight.copy_(tensor(params[f'{prefix}/kernel']).t())
        lin.bias.copy_(tensor(params[f'{prefix}/bias']))


def load_conv(conv, params, prefix):
    with torch.no_grad():
        conv.weight.copy_(tensor(params[f'{prefix}/kernel'], nchw=False).permute(3, 2, 0, 1))
        conv.bias.copy_(tensor(params[f'{prefix}/bias']))


def nchw_shape(ft):
    """A fixture input's shape as build-time shape (batch None), NCHW for maps."""
    s = ft['shape']
    return (None, s[3], s[1], s[2]) if len(s) == 4 else (None,) + tuple(s[1:])


def compute(case):
    """(loss, {input name: leaf tensor}) of one case, in float64."""
    m, o, x = case['method'], case['options'], case['inputs']
    name = case['name']
    if m == 'labels':
        zs = leaf(case, 'zs')
        return L.cross_entropy(zs, tensor(x['y']).long()), {'zs': zs}
    if m == 'standardize':
        z = leaf(case, 'z')
        return (L.standardize_logits(z) * tensor(x['w'])).sum(), {'z': z}
    if m in ('kd', 'dkd', 'dist', 'multi-kd'):
        zs = leaf(case, 'zs')
        std = bool(o.get('standardize'))
        if m == 'kd':
            return L.kd_loss(zs, tensor(x['zt']), o['temperature'], std), {'zs': zs}
        if m == 'dkd':
            return L.dkd_loss(zs, tensor(x['zt']), tensor(x['y']).long(), o['alpha'], o['beta'], o['temperature'], std), {'zs': zs}
        if m == 'dist':
            return L.dist_loss(zs, tensor(x['zt']), o['beta'], o['gamma'], o['temperature'], std), {'zs': zs}
        zts = [tensor(x[f'zt{i}']) for i in range(len(o['weights']))]
        return L.multi_kd_loss(zs, zts, o['weights'], o['temperature']), {'zs': zs}
    if m == 'ctkd':
        zs, theta = leaf(case, 'zs'), leaf(case, 'theta')
        lam = L.reversal_weight(o['epoch'], o['maxReversal'], o['reversalEpochs'])
        loss, _ = L.ctkd_loss(zs, tensor(x['zt']), theta, lam, o['minTemperature'], o['temperatureRange'])
        return loss, {'zs': zs, 'theta': theta}
    if m == 'fitnet':
        fs, ft = leaf(case, 'fs'), tensor(x['ft'])
        plan = K.plan_adapter('fitnet', {'teacher': 't', 'student': 's', 'adapter': 'auto'}, nchw_shape(x['fs']), nchw_shape(x['ft']))
        assert plan.description == o['adapter']
        adapter = plan.build().double()
        for layer in adapter:
            prefix = next(k.rsplit('/', 1)[0] for k in case['params'])
            if isinstance(layer, torch.nn.Linear):
                load_linear(layer, case['params'], prefix)
            elif isinstance(layer, torch.nn.Conv2d):
                load_conv(layer, case['params'], prefix)
        return L.fitnet_loss(adapter(fs), ft), {'fs': fs}
    if m == 'at':
        fs = leaf(case, 'fs')
        return L.at_loss(fs, tensor(x['ft']), o['p']), {'fs': fs}
    if m == 'nst':
        fs = leaf(case, 'fs')
        return L.nst_loss(fs, tensor(x['ft'])), {'fs': fs}
    if name == 'reviewkd/hcl':
        fs = leaf(case, 'fs')
        return L.hcl_loss(fs, tensor(x['ft'])), {'fs': fs}
    if m == 'reviewkd':
        fs0, fs1 = leaf(case, 'fs0'), leaf(case, 'fs1')
        fusion = K.ReviewFusion([nchw_shape(x['fs0']), nchw_shape(x['fs1'])], [nchw_shape(x['ft0']), nchw_shape(x['ft1'])],
                                o['midChannels']).double()
        n = o['name']
        for i in range(2):
            load_conv(fusion.reduce[i], case['params'], f'{n}_s{i}_reduce')
            load_conv(fusion.out[i], case['params'], f'{n}_s{i}_out')
        load_conv(fusion.att[0], case['params'], f'{n}_s0_att')
        fused = fusion([fs0, fs1])
        return L.review_loss(fused, [tensor(x['ft0']), tensor(x['ft1'])]), {'fs0': fs0, 'fs1': fs1}
    if m in ('rkd-distance', 'rkd-angle', 'sp', 'pkt', 'cc'):
        fn = {'rkd-distance': L.rkd_distance_loss, 'rkd-angle': L.rkd_angle_loss, 'sp': L.sp_loss, 'pkt': L.pkt_loss, 'cc': L.cc_loss}[m]
        fs = leaf(case, 'fs')
        return fn(fs, tensor(x['ft'])), {'fs': fs}
    if m == 'fsp':
        fs1, fs2 = leaf(case, 'fs1'), leaf(case, 'fs2')
        return L.fsp_loss(fs1, fs2, tensor(x['ft1']), tensor(x['ft2'])), {'fs1': fs1, 'fs2': fs2}
    if m == 'crd':
        fs, ft = leaf(case, 'fs'), tensor(x['ft'])
        e = case['extra']
        d, k = o['d'], o['k']
        head_s, head_t = torch.nn.Linear(fs.shape[1], d).double(), torch.nn.Linear(ft.shape[1], d).double()
        load_linear(head_s, case['params'], 'crd_student_dense')
        load_linear(head_t, case['params'], 'crd_teacher_dense')
        rows = L.sample_contrast(e['idx'], e['trainLabels'], k).reshape(-1)
        b = len(e['idx'])
        bank_s = torch.tensor(e['bankS'], dtype=torch.float64).reshape(-1, d)
        bank_t = torch.tensor(e['bankT'], dtype=torch.float64).reshape(-1, d)
        mem_s, mem_t = bank_s[rows].reshape(b, k + 1, d), bank_t[rows].reshape(b, k + 1, d)
        loss = L.crd_loss(head_s(fs), head_t(ft), mem_s, mem_t, o['temperature'], o['n'], o['zs'], o['zt'])
        return loss, {'fs': fs}
    if m == 'online':
        zs = [leaf(case, f'z{k}') for k in range(len(o['peers']))]
        _, total = S.dml_losses(zs, tensor(x['y']).long(), o['peers'], o['labelsWeight'], o['temperature'])
        return total, {f'z{k}': zk for k, zk in enumerate(zs)}
    if m == 'self':
        return byot_case(case)[1:]
    if m == 'adversarial':
        leaves = {}
        d, xt, xs = adversarial_rows(case, leaves)
        if o.get('loss') == 'discriminator' or name.endswith('/discriminator'):
            return A.discriminator_loss(d(xt), d(xs)), leaves
        return A.student_term(d(xs)), leaves
    raise AssertionError(f'no torch computation for conformance case {name} (method {m})')


def byot_case(case):
    """(terms, total, leaves) of the `byot` case through torch's byot_losses: z, the head features
    (the map permuted NHWC → NCHW, as a torch layer would give it; byot_losses flattens it back in
    NHWC order) and every head/adapter weight as leaves in the TF.js layout (kernels [in,out],
    applied as F.linear(f, kernel.t(), bias), which is what torch.nn.Linear computes)."""
    o, x = case['options'], case['inputs']
    z, f0, f1 = leaf(case, 'z'), leaf(case, 'f0'), leaf(case, 'f1')
    assert f0.dim() == 4 and f1.dim() == 2
    ps = {n: tensor(v, nchw=False).requires_grad_(True) for n, v in case['params'].items()}

    def linear(prefix):
        return lambda f: torch.nn.functional.linear(f, ps[f'{prefix}/kernel'].t(), ps[f'{prefix}/bias'])
    layers = o['layers']
    losses, total = S.byot_losses(z, tensor(x['deep']), [f0, f1], tensor(x['y']).long(), layers,
                                  [linear(f'head_{l}_logits') for l in layers], [linear(f'hint_{l}_dense') for l in layers],
                                  o['temperature'], o['alpha'], o['beta'])
    return losses, total, {'z': z, 'f0': f0, 'f1': f1, **ps}


def test_scheme_terms_are_the_tfjs_engine_ones():
    """dml and byot: every unweighted term, by name and in order, as the TF.js learner reports it."""
    dml, byot = CASES['dml'], CASES['byot']
    o = dml['options']
    zs = [tensor(dml['inputs'][f'z{k}']) for k in range(3)]
    dml_terms, _ = S.dml_losses(zs, tensor(dml['inputs']['y']).long(), o['peers'], o['labelsWeight'], o['temperature'])
    byot_terms = byot_case(byot)[0]
    for case, terms in ((dml, dml_terms), (byot, byot_terms)):
        assert list(terms) == case['extra']['termNames']
        for (n, got), want in zip(terms.items(), case['extra']['terms']):
            assert abs(float(got) - want) <= RTOL * abs(want), f'{case["name"]}: {n}: torch {float(got)!r}, TF.js {want!r}'


def test_byot_case_tells_the_nhwc_reading_from_the_nchw_one():
    """A head that flattened the NCHW map in its own (NCHW) order would miss the fixture: the case
    checks the reading rule, not only the arithmetic. (Pooled heads could not even take its weights.)"""
    case = CASES['byot']
    o, x = case['options'], case['inputs']
    ps = {n: tensor(v, nchw=False) for n, v in case['params'].items()}
    layers = o['layers']

    def total(f0):
        lin = [lambda f, p=p: f @ ps[f'{p}/kernel'] + ps[f'{p}/bias'] for p in (f'head_{l}_logits' for l in layers)]
        hin = [lambda f, p=p: f @ ps[f'{p}/kernel'] + ps[f'{p}/bias'] for p in (f'hint_{l}_dense' for l in layers)]
        return float(S.byot_losses(tensor(x['z']), tensor(x['deep']), [f0, tensor(x['f1'])], tensor(x['y']).long(), layers,
                                   lin, hin, o['temperature'], o['alpha'], o['beta'])[1])
    f0 = tensor(x['f0'])  # NCHW
    assert S.feature_rows(f0).tolist() == torch.tensor(x['f0']['data'], dtype=torch.float64).reshape(f0.shape[0], -1).tolist()
    assert abs(total(f0) - case['value']) <= RTOL * abs(case['value'])
    # feature_rows(f0.movedim(-1, 1)) is f0.flatten(1): the NCHW order
    assert torch.equal(S.feature_rows(f0.movedim(-1, 1)), f0.flatten(1))
    assert abs(total(f0.movedim(-1, 1)) - case['value']) > 1e-3 * abs(case['value'])


def test_fixture_is_tf_float32_from_wasm():
    assert FIX['backend'] == 'wasm' and FIX['dtype'] == 'float32'
    assert FIX['layout'].startswith('TF.js layout: feature maps NHWC')


def test_catalogue_is_the_typescript_one():
    """The Python table of shape rules equals src/methods/catalogue.ts's (the fixture carries it).
    `adversarial` (issue 18) is not a pair loss of losses.py: should the TS catalogue list it, its
    row must be the one adversarial.py pairs by (CATALOGUE_ENTRY)."""
    ts = {c['method']: {k: c[k] for k in ('kind', 'ranks', 'sameShape', 'sameSpatial', 'layerPairs')} for c in FIX['catalogue']}
    assert ts.get('adversarial') == A.CATALOGUE_ENTRY == L.CATALOGUE['adversarial']
    assert ts == L.CATALOGUE


def test_every_method_of_the_catalogue_is_covered():
    methods = {c['method'] for c in FIX['cases']}
    catalogue = {c['method'] for c in FIX['catalogue']}
    assert methods - {'labels', 'standardize', 'adversarial', 'online', 'self'} == catalogue - {'adversarial'}
    assert {'online', 'self'} <= methods, 'the schemes with their own loss (dml, byot) have cases'
    assert {'labels', 'standardize'} <= methods
    if 'adversarial' in catalogue:
        assert 'adversarial' in methods, 'the catalogue lists adversarial but the fixture has no case of it'


ADVERSARIAL = [c for c in FIX['cases'] if c['method'] == 'adversarial']


def test_adversarial_cases_are_computed():
    """The TF.js engine's adversarial cases (issue 18), when the fixture has any (each is also one of
    the parametrised value-and-gradient cases: the student's term w.r.t. the student-side input):
    D's logits, loss and accuracy on the case's rows, and D's own Adam steps (β 0.5/0.999, the
    engine's ε) replayed from the same parameters, against the fixture's."""
    for case in ADVERSARIAL:
        e = case.get('extra') or {}
        spec = e.get('discriminator') or {}
        if 'epsilon' in spec:
            assert (spec.get('beta1'), spec.get('beta2'), spec.get('leakySlope')) == (A.BETAS[0], A.BETAS[1], 0.2), case['name']
            assert spec['epsilon'] == A.EPSILON, (f'{case["name"]}: the discriminator\'s Adam ε differs between the engines: '
                                                  f'TF.js {spec["epsilon"]}, torch {A.EPSILON} (adversarial.EPSILON)')
        d, xt, xs = adversarial_rows(case)
        xt, xs = xt.detach(), xs.detach()
        with torch.no_grad():
            dt, ds = d(xt), d(xs)
        if 'dTeacher' in e:
            assert torch.allclose(dt, torch.tensor(e['dTeacher'], dtype=torch.float64), rtol=1e-5, atol=1e-6)
            assert torch.allclose(ds, torch.tensor(e['dStudent'], dtype=torch.float64), rtol=1e-5, atol=1e-6)
        if 'discLoss' in e:
            assert float(A.discriminator_loss(dt, ds)) == pytest.approx(e['discLoss'], rel=1e-5)
        if 'discAcc' in e:
            assert A.discriminator_accuracy(dt, ds) == pytest.approx(e['discAcc'], abs=1e-12)
        if e.get('adamSteps'):
            lr = float(case['options']['learningRate'])
            opt = torch.optim.Adam(d.parameters(), lr=lr, betas=A.BETAS, eps=A.EPSILON)
            for k, want in enumerate(e['adamSteps']):
                opt.zero_grad()
                loss = A.discriminator_loss(d(xt), d(xs))
                with torch.no_grad():
                    acc = A.discriminator_accuracy(d(xt), d(xs))
                loss.backward()
                opt.step()
                assert float(loss) == pytest.approx(want['loss'], rel=1e-5), f'{case["name"]}: D loss of Adam step {k + 1}'
                assert acc == pytest.approx(want['acc'], abs=1e-12)
                for lin, prefix in zip(_linears(d), _d_prefixes(case)):
                    for part, got in (('kernel', lin.weight.detach().t()), ('bias', lin.bias.detach())):
                        ref = torch.tensor(want['params'][f'{prefix}/{part}']['data'], dtype=torch.float64).reshape(got.shape)
                        err = float((got - ref).abs().max())
                        assert err <= 1e-5 * max(1.0, float(ref.abs().max())), f'{case["name"]}: {prefix}/{part} after Adam step {k + 1}: {err:.3g}'
    assert len({c['name'] for c in ADVERSARIAL}) == len(ADVERSARIAL)


def _linears(d):
    return [m for m in d.net if isinstance(m, torch.nn.Linear)]


def _d_prefixes(case) -> list:
    """The fixture's names of D's dense layers, input first: extra.discriminator.layers (the TF.js
    weights' names, '<layer>/kernel', '<layer>/bias'), or else the chain of dense kernels that ends
    in one output unit (any kernel before it belongs to the pair's adapter)."""
    spec = (case.get('extra') or {}).get('discriminator') or {}
    if spec.get('layers'):
        return list(dict.fromkeys(n.rsplit('/', 1)[0] for n in spec['layers']))
    chain = [(k[:-len('/kernel')], v['shape']) for k, v in case['params'].items() if k.endswith('/kernel') and len(v['shape']) == 2]
    last = max((i for i, (_, shape) in enumerate(chain) if shape[1] == 1), default=None)
    assert last is not None, f'{case["name"]}: no dense layer with one output (D) in params {list(case["params"])}'
    out = [chain[last]]
    for prefix, shape in reversed(chain[:last]):  # walk back while the widths connect
        if shape[1] != out[0][1][0]:
            break
        out.insert(0, (prefix, shape))
    return [p for p, _ in out]


def adversarial_rows(case, leaves=None):
    """D (float64, the fixture's weights) and its teacher / student input rows for an adversarial
    case: softmax(z/T) of zs/zt, or the pair's features fs/ft (the student's through the adapter the
    engine plans, its weights from the fixture), flattened NHWC, ⊕ one-hot y when conditional."""
    o, x, params = case['options'], case['inputs'], case['params']
    prefixes = _d_prefixes(case)
    kernels = [params[f'{p}/kernel']['shape'] for p in prefixes]
    assert kernels[-1][1] == 1 and all(a[1] == b[0] for a, b in zip(kernels, kernels[1:])), f'{case["name"]}: D kernels {kernels}'
    d = A.Discriminator(kernels[0][0], [k[1] for k in kernels[:-1]]).double()
    for lin, prefix in zip(_linears(d), prefixes):
        load_linear(lin, params, prefix)
    conditional = bool(o.get('conditional'))
    c = int(o.get('classes') or o.get('numClasses') or (x['zs']['shape'][1] if 'zs' in x else 0))
    y = tensor(x['y']).long() if 'y' in x else None
    leaves = leaves if leaves is not None else {}
    if 'zs' in x:
        zs = leaves.setdefault('zs', leaf(case, 'zs'))
        temp = float(o.get('temperature', 1))
        fs, ft = A.softened(zs, temp), A.softened(tensor(x['zt']), temp)
    else:
        fs = leaves.setdefault('fs', leaf(case, 'fs'))
        ft = tensor(x['ft'])
        plan = A.plan_pair({'teacher': 't', 'student': 's', 'adapter': 'auto'}, nchw_shape(x['fs']), nchw_shape(x['ft']))
        if 'adapter' in o:
            assert plan.description == o['adapter'], (plan.description, o['adapter'])
        adapter = plan.build()
        if adapter is not None:
            adapter = adapter.double()
            rest = [k.rsplit('/', 1)[0] for k in params if k.endswith('/kernel') and k.rsplit('/', 1)[0] not in prefixes]
            layers = [m for m in adapter if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
            assert len(layers) == len(rest), f'{case["name"]}: adapter layers {layers} vs fixture params {rest}'
            for layer, prefix in zip(layers, rest):
                (load_linear if isinstance(layer, torch.nn.Linear) else load_conv)(layer, params, prefix)
            fs = adapter(fs)
    xs = A.d_input(fs, y, c, conditional)
    xt = A.d_input(ft, y, c, conditional)
    return d, xt, xs


@pytest.mark.parametrize('name', sorted(CASES))
def test_value_and_gradients(name):
    case = CASES[name]
    loss, leaves = compute(case)
    assert loss.dtype == torch.float64
    vtol, gtol = tol(case)
    value = float(loss)
    assert math.isfinite(value)
    assert abs(value - case['value']) <= vtol * abs(value), f'{name}: torch {value!r}, TF.js {case["value"]!r}'
    grads = torch.autograd.grad(loss, [leaves[n] for n in case['grads']])
    for n, g in zip(case['grads'], grads):
        ours = to_tf_layout(g).reshape(-1)
        theirs = torch.tensor(case['grads'][n]['data'], dtype=torch.float64)
        assert list(to_tf_layout(g).shape) == case['grads'][n]['shape']
        scale = float(ours.abs().max())
        assert scale > 0, f'{name}: zero gradient w.r.t. {n} (the case checks nothing)'
        err = float((ours - theirs).abs().max())
        assert err <= gtol * scale, f'{name}: gradient w.r.t. {n}: max error {err:.3g}, relative {err / scale:.3g} > {gtol}'


def test_ctkd_curriculum_and_temperature():
    case = CASES['ctkd']
    o, e = case['options'], case['extra']
    assert L.reversal_weight(o['epoch'], o['maxReversal'], o['reversalEpochs']) == pytest.approx(e['lambda'], rel=1e-12)
    theta0 = L.initial_theta(o['minTemperature'], o['temperatureRange'], o['initialTemperature'])
    assert theta0 == pytest.approx(e['theta0'], rel=1e-12)
    assert case['inputs']['theta']['data'][0] == pytest.approx(theta0, rel=1e-7)
    assert L.ctkd_temperature(theta0, o['minTemperature'], o['temperatureRange']) == pytest.approx(e['temperature'], rel=1e-6)
    # the reversal: θ's gradient is −λ times the gradient without it
    zs, theta = leaf(case, 'zs'), leaf(case, 'theta')
    loss0, _ = L.ctkd_loss(zs, tensor(case['inputs']['zt']), theta, -1.0, o['minTemperature'], o['temperatureRange'])
    (g_plain,) = torch.autograd.grad(loss0, [theta])
    assert float(g_plain) != 0
    assert case['grads']['theta']['data'][0] == pytest.approx(-e['lambda'] * float(g_plain), rel=1e-4)


def test_crd_negatives_banks_and_normalisers_match():
    case = CASES['crd']
    o, e = case['options'], case['extra']
    d, k = o['d'], o['k']
    rows = L.sample_contrast(e['idx'], e['trainLabels'], k)
    assert rows.reshape(-1).tolist() == e['rows']
    assert L.initial_memory(o['n'], d, o['seedS']).reshape(-1).tolist() == e['bankS']
    assert L.initial_memory(o['n'], d, o['seedT']).reshape(-1).tolist() == e['bankT']
    fs, ft = tensor(case['inputs']['fs']), tensor(case['inputs']['ft'])
    head_s, head_t = torch.nn.Linear(fs.shape[1], d).double(), torch.nn.Linear(ft.shape[1], d).double()
    load_linear(head_s, case['params'], 'crd_student_dense')
    load_linear(head_t, case['params'], 'crd_teacher_dense')
    b = len(e['idx'])
    flat = rows.reshape(-1)
    bank_s = torch.tensor(e['bankS'], dtype=torch.float64).reshape(-1, d)
    bank_t = torch.tensor(e['bankT'], dtype=torch.float64).reshape(-1, d)
    with torch.no_grad():
        es, et = head_s(fs), head_t(ft)
        zs, zt = L.crd_normalisers(es, et, bank_s[flat].reshape(b, k + 1, d), bank_t[flat].reshape(b, k + 1, d), o['temperature'], o['n'])
    assert zs == pytest.approx(o['zs'], rel=1e-5) and zt == pytest.approx(o['zt'], rel=1e-5)
    idx = torch.tensor(e['idx'])
    L.update_memory(bank_s, idx, L.l2_rows(es), o['momentum'])
    L.update_memory(bank_t, idx, L.l2_rows(et), o['momentum'])
    assert torch.allclose(bank_s.reshape(-1), torch.tensor(e['bankSAfter'], dtype=torch.float64), rtol=0, atol=1e-6)
    assert torch.allclose(bank_t.reshape(-1), torch.tensor(e['bankTAfter'], dtype=torch.float64), rtol=0, atol=1e-6)
    assert not torch.equal(bank_s.reshape(-1), torch.tensor(e['bankS'], dtype=torch.float64))


def nchw(tf_shape):
    """A TF-ordered shape (maps NHWC) in torch's order (maps NCHW)."""
    s = list(tf_shape)
    return (s[0], s[3], s[1], s[2]) if len(s) == 4 else tuple(s)


def test_pair_shape_messages_are_the_catalogue_ones():
    """catalogue.pairShapeError's rules and wording, for every method: from TF-ordered shapes, and
    from torch tensors (NCHW maps named as NHWC) when the shapes are concrete."""
    checked = 0
    for row in FIX['shapeMessages']:
        who = row.get('teacherName', 'teacher')
        assert L.pair_shape_error(row['method'], row['student'], row['teacher'], who) == row['message'], row
        if None not in row['student'] + row['teacher']:
            fs, ft = torch.empty(nchw(row['student'])), torch.empty(nchw(row['teacher']))
            if row['message'] is None:
                L.assert_pair_shapes(row['method'], fs, ft, who)
            else:
                with pytest.raises(ValueError) as e:
                    L.assert_pair_shapes(row['method'], fs, ft, who)
                assert str(e.value) == row['message']
            checked += 1
    assert checked > 100


def test_adapter_plans_are_the_tfjs_engine_ones():
    """pairs.ts planAdapter, rule for rule: the same description and output shape (NCHW here, named
    as NHWC), or the same refusal."""
    for row in FIX['adapterPlans']:
        pair = {'teacher': 'block3', 'student': 'conv2', 'adapter': row['adapter']}
        if 'error' in row:
            with pytest.raises(K.PairError) as e:
                K.plan_adapter(row['method'], pair, nchw(row['student']), nchw(row['teacher']))
            assert str(e.value) == row['error']
        else:
            plan = K.plan_adapter(row['method'], pair, nchw(row['student']), nchw(row['teacher']))
            assert plan.description == row['description'], row
            assert L.tf_shape(plan.output_shape) == row['outputShape'], row
            module = plan.build()
            assert (module is None) == (row['description'] == 'none')
            if module is not None:
                x = torch.randn((2,) + tuple(nchw(row['student']))[1:])
                assert list(module(x).shape) == [2] + list(plan.output_shape[1:])


def test_closest_names_are_the_tfjs_engine_ones():
    for row in FIX['closestNames']:
        assert K.closest_names(row['name'], row['names']) == row['closest'], row


def z(*tf_shape):
    """Zeros of a TF-ordered shape, as the torch tensor it stands for (maps NCHW)."""
    return torch.zeros(nchw(tf_shape))


def ids(*v):
    return torch.tensor(v)


DKD = dict(alpha=1, beta=8)
CALLS = {
    'dkd/label': lambda: L.dkd_loss(z(4, 3), z(4, 3), ids(0, 1, 5, 2), temperature=4, **DKD),
    'dkd/labels-shape': lambda: L.dkd_loss(z(4, 3), z(4, 3), ids(0, 1, 2), temperature=4, **DKD),
    'dkd/one-class': lambda: L.dkd_loss(z(4, 1), z(4, 1), ids(0, 0, 0, 0), temperature=4, **DKD),
    'dkd/temperature': lambda: L.dkd_loss(z(4, 3), z(4, 3), ids(0, 1, 2, 0), temperature=0, **DKD),
    'dkd/shapes': lambda: L.dkd_loss(z(4, 3), z(4, 5), ids(0, 1, 2, 0), temperature=4, **DKD),
    'multi-kd/none': lambda: L.multi_kd_loss(z(4, 3), [], [], 4),
    'multi-kd/weights-count': lambda: L.multi_kd_loss(z(4, 3), [z(4, 3), z(4, 3)], [1], 4),
    'multi-kd/negative-weight': lambda: L.multi_kd_loss(z(4, 3), [z(4, 3), z(4, 3)], [1, -0.5], 4),
    'multi-kd/zero-weights': lambda: L.multi_kd_loss(z(4, 3), [z(4, 3), z(4, 3)], [0, 0], 4),
    'multi-kd/teacher-2-shape': lambda: L.multi_kd_loss(z(4, 3), [z(4, 3), z(4, 5)], [1, 1], 4),
    'multi-kd/temperature': lambda: L.multi_kd_loss(z(4, 3), [z(4, 3)], [1], -1),
    'dist/temperature': lambda: L.dist_loss(z(4, 3), z(4, 3), 1, 1, -0.00001),
    'dist/rank': lambda: L.dist_loss(z(4, 3, 2), z(4, 3, 2), 1, 1, 1),
    'ctkd/min-temperature': lambda: L.ctkd_loss(z(4, 3), z(4, 3), torch.ones(1), 0, 0, 20),
    'ctkd/range': lambda: L.ctkd_loss(z(4, 3), z(4, 3), torch.ones(1), 0, 1, -2.5),
    'ctkd/initial-temperature': lambda: L.initial_theta(1, 20, 21.5),
    'fitnet/shapes': lambda: L.fitnet_loss(z(2, 4, 4, 3), z(2, 4, 4, 5)),
    'at/spatial': lambda: L.at_loss(z(2, 6, 6, 3), z(2, 3, 3, 3)),
    'at/rank': lambda: L.at_loss(z(2, 10), z(2, 10)),
    'at/p': lambda: L.at_loss(z(2, 4, 4, 3), z(2, 4, 4, 3), 0),
    'nst/batch': lambda: L.nst_loss(z(2, 4, 4, 3), z(3, 4, 4, 3)),
    'reviewkd/differ': lambda: L.hcl_loss(z(2, 4, 4, 3), z(2, 4, 4, 5)),
    'reviewkd/rank': lambda: L.hcl_loss(z(2, 12), z(2, 12)),
    'reviewkd/stages': lambda: L.review_loss([z(2, 4, 4, 3)], [z(2, 4, 4, 3), z(2, 2, 2, 3)]),
    'rkd-distance/rank': lambda: L.rkd_distance_loss(z(8), z(8)),
    'rkd-angle/batch': lambda: L.rkd_angle_loss(z(8, 3), z(6, 3)),
    'sp/batch': lambda: L.sp_loss(z(8, 3), z(6, 3)),
    'pkt/rank': lambda: L.pkt_loss(z(8), z(8, 2)),
    'cc/gamma': lambda: L.cc_loss(z(4, 3), z(4, 3), -0.4),
    'fsp/student-spatial': lambda: L.fsp_loss(z(2, 4, 4, 3), z(2, 2, 2, 5), z(2, 4, 4, 3), z(2, 4, 4, 5)),
    'fsp/teacher-batch': lambda: L.fsp_loss(z(2, 4, 4, 3), z(2, 4, 4, 5), z(2, 4, 4, 3), z(3, 4, 4, 5)),
    'fsp/channels': lambda: L.fsp_loss(z(2, 4, 4, 3), z(2, 4, 4, 5), z(2, 6, 6, 3), z(2, 6, 6, 4)),
    'fsp/batch': lambda: L.fsp_loss(z(2, 4, 4, 3), z(2, 4, 4, 5), z(3, 6, 6, 3), z(3, 6, 6, 5)),
    'fsp/rank': lambda: L.fsp_loss(z(2, 16), z(2, 4, 4, 5), z(2, 6, 6, 3), z(2, 6, 6, 5)),
    'crd/embeddings': lambda: L.crd_loss(z(4, 5), z(4, 6), z(4, 3, 5), z(4, 3, 5), 0.07, 10, 1, 1),
    'crd/memory': lambda: L.crd_loss(z(4, 5), z(4, 5), z(4, 1, 5), z(4, 3, 5), 0.07, 10, 1, 1),
    'crd/temperature': lambda: L.crd_loss(z(4, 5), z(4, 5), z(4, 3, 5), z(4, 3, 5), 0, 10, 1, 1),
}


def test_the_losses_refuse_bad_input_in_the_tfjs_engine_words():
    assert set(CALLS) == {m['name'] for m in FIX['errorMessages']}, 'a refusal of the fixture has no torch call here (or the reverse)'
    for row in FIX['errorMessages']:
        with pytest.raises(ValueError) as e:
            CALLS[row['name']]()
        assert str(e.value) == row['message'], row['name']


def test_reviewkd_stage_problems_are_the_tfjs_engine_ones():
    for row in FIX['reviewStages']:
        pairs = [{'teacher': f't{i}', 'student': f's{i}'} for i in range(len(row['student']))]
        found = K.review_stage_problems(pairs, [nchw(s) for s in row['student']], [nchw(t) for t in row['teacher']], 0)
        assert [{'path': p, 'message': m} for p, m in found] == row['problems']
    assert any(row['problems'] for row in FIX['reviewStages']) and any(not row['problems'] for row in FIX['reviewStages'])


def test_crd_negatives_of_a_larger_draw_match():
    large = CASES['crd']['extra']['large']
    rows = L.sample_contrast(large['idx'], large['trainLabels'], large['k'])
    assert rows.reshape(-1).tolist() == large['rows']


def _np_cases():
    """Adversarial cases in the TF.js fixture's format (kernels [in, out], maps NHWC; extra with D's
    logits, loss, accuracy and two Adam steps), every number computed here in numpy — D's gradient
    by hand-written backpropagation, Adam written out — so the fixture-reading code above is
    checked before the TF.js engine's own cases arrive."""
    import numpy as np
    rng = np.random.default_rng(7)

    def t(a):
        a = np.asarray(a)
        return {'shape': list(a.shape), 'data': a.reshape(-1).tolist()}

    def soft(z, temp):
        e = np.exp(z / temp - (z / temp).max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def softplus(v):
        return np.logaddexp(0, v)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    def forward(ps, x):
        a = x @ ps[0] + ps[1]
        h = np.where(a > 0, a, 0.2 * a)
        return a, h, (h @ ps[2] + ps[3])[:, 0]

    def d_grads(ps, xt, xs):
        grads = [np.zeros_like(p) for p in ps]
        b = xt.shape[0]
        for x, sign in ((xt, -1), (xs, 1)):
            a, h, out = forward(ps, x)
            g_out = (sigmoid(out) if sign > 0 else -sigmoid(-out)) / b
            grads[2] += h.T @ g_out[:, None]
            grads[3] += g_out.sum(keepdims=True)
            g_a = (g_out[:, None] @ ps[2].T) * np.where(a > 0, 1.0, 0.2)
            grads[0] += x.T @ g_a
            grads[1] += g_a.sum(0)
        return grads

    def case(name, options, inputs, xt, xs, adapter_params, lr):
        f = xs.shape[1]
        ps = [rng.normal(size=(f, 5)) * 0.5, rng.normal(size=5) * 0.1, rng.normal(size=(5, 1)) * 0.5, rng.normal(size=1) * 0.1]
        names = ['adv_d_dense0/kernel', 'adv_d_dense0/bias', 'adv_d_dense1/kernel', 'adv_d_dense1/bias']
        _, _, dt = forward(ps, xt)
        _, _, ds = forward(ps, xs)
        value = float(np.mean(softplus(-ds)))
        extra = {'discriminator': {'layers': names, 'leakySlope': 0.2, 'beta1': 0.5, 'beta2': 0.999, 'epsilon': 1e-8},
                 'dStudent': ds.tolist(), 'dTeacher': dt.tolist(),
                 'discLoss': float(np.mean(softplus(-dt)) + np.mean(softplus(ds))),
                 'discAcc': (int((dt > 0).sum()) + int((ds < 0).sum())) / (2 * len(ds)), 'adamSteps': []}
        m = [np.zeros_like(p) for p in ps]
        v = [np.zeros_like(p) for p in ps]
        cur = [p.copy() for p in ps]
        for step in (1, 2):
            _, _, dt_k = forward(cur, xt)
            _, _, ds_k = forward(cur, xs)
            loss = float(np.mean(softplus(-dt_k)) + np.mean(softplus(ds_k)))
            acc = (int((dt_k > 0).sum()) + int((ds_k < 0).sum())) / (2 * len(ds_k))
            g = d_grads(cur, xt, xs)
            for i in range(4):
                m[i] = 0.5 * m[i] + 0.5 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] ** 2
                cur[i] = cur[i] - lr * (m[i] / (1 - 0.5 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
            extra['adamSteps'].append({'loss': loss, 'acc': acc, 'params': {n: t(p) for n, p in zip(names, cur)}})
        params = {**adapter_params, **{n: t(p) for n, p in zip(names, ps)}}
        return {'name': name, 'method': 'adversarial', 'options': options, 'inputs': {k: t(a) for k, a in inputs.items()},
                'params': params, 'value': value, 'grads': {}, 'extra': extra}

    zs, zt = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    y = np.array([0, 2, 1, 1])
    onehot = np.eye(3)[y]
    logits = case('adversarial/np-conditional', {'temperature': 2.0, 'hidden': [5], 'conditional': True, 'learningRate': 0.05, 'classes': 3},
                  {'zs': zs, 'zt': zt, 'y': y}, np.concatenate([soft(zt, 2.0), onehot], 1),
                  np.concatenate([soft(zs, 2.0), onehot], 1), {}, 0.05)
    fs, ft = rng.normal(size=(3, 4, 4, 3)), rng.normal(size=(3, 4, 4, 5))  # NHWC
    k, kb = rng.normal(size=(1, 1, 3, 5)) * 0.5, rng.normal(size=5) * 0.1
    adapted = fs @ k[0, 0] + kb
    maps = case('adversarial/np-pair-maps', {'hidden': [5], 'conditional': False, 'learningRate': 0.01, 'classes': 4,
                                              'adapter': 'conv1x1 3→5'},
                {'fs': fs, 'ft': ft}, ft.reshape(3, -1), adapted.reshape(3, -1),
                {'adv_pair_conv/kernel': t(k), 'adv_pair_conv/bias': t(kb)}, 0.01)
    return [logits, maps]


def test_adversarial_fixture_reading_against_numpy(monkeypatch):
    cases = _np_cases()
    for case in cases:
        loss, leaves = compute(case)
        assert set(leaves) == ({'zs'} if 'zs' in case['inputs'] else {'fs'}) and loss.dtype == torch.float64
        assert float(loss) == pytest.approx(case['value'], rel=1e-12)
    monkeypatch.setattr(sys.modules[__name__], 'ADVERSARIAL', cases)
    test_adversarial_cases_are_computed()  # D's figures and both Adam steps, as the TF.js cases will be checked
    bad = json.loads(json.dumps(cases[0]))
    bad['extra']['adamSteps'][1]['params']['adv_d_dense0/bias']['data'][0] += 1e-3
    monkeypatch.setattr(sys.modules[__name__], 'ADVERSARIAL', [bad])
    with pytest.raises(AssertionError, match='after Adam step 2'):
        test_adversarial_cases_are_computed()
