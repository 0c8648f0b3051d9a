"""Quantisation-aware distillation in a run (issue 18, `student.quantize`), the hooks engine.py calls:

    check_config     refusals (located): bits other than 8/4, `activations` without `aware`, `aware`
                     with a scheme that has no fixed teacher (online, self)
    plan             `qat-s<seed>` after each seed's final distilled student job (src/runs/store.ts:
                     kind distill, model student, that job's teacher, final false, quantize {bits,
                     activations}); `add_jobs` does the same to a run.json whose planner did not
    prepare_model    the job's student with fake quantisation attached (quant.py)
    save_model       models/<job>/model.pt under the plain student's keys (the latent float
                     kernels) + activation-ranges.json
    report_rows      report.json `quantizedVariants` ([post-training at `bits`, the first seed's QAT
                     copy]) and `qat` (the QAT jobs' last-epoch test figures over seeds), with the
                     folders student/int4/ (student/int8-ptq/ at 8 bits) and student/int<bits>-qat/ (model.pt = the
                     exported dict of quant.export_state, quantization.json)

The post-training row uses the same quantiser as the QAT one (the `quantized` row is torch's own
int8, figures.quantize_int8, and stays), so the two rows differ only by training with it.
"""
from __future__ import annotations

import io
import json
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from . import quant
from .errors import ConfigError
from .runfolder import dumps, write_dir_atomic, write_file_atomic

PATH = ['student', 'quantize']
RANGES_FILE = 'activation-ranges.json'


def quantize_config(config: dict) -> Optional[dict]:
    """`student.quantize` with its defaults ({bits: 8, aware: false, activations: false}), or None."""
    q = (config.get('student') or {}).get('quantize')
    if q is None:
        return None
    if not isinstance(q, dict):
        raise ConfigError(PATH, f'expected an object {{bits, aware, activations}}, found {json.dumps(q)}')
    out = {'bits': q.get('bits', 8), 'aware': q.get('aware', False), 'activations': q.get('activations', False)}
    if out['bits'] not in (8, 4) or isinstance(out['bits'], bool):
        raise ConfigError(PATH + ['bits'], f'expected 8 or 4, found {json.dumps(out["bits"])}')
    for k in ('aware', 'activations'):
        if not isinstance(out[k], bool):
            raise ConfigError(PATH + [k], f'expected true or false, found {json.dumps(out[k])}')
    return out


def check_config(config: dict) -> Optional[dict]:
    """The quantize settings, refused (located) where the torch engine cannot run them."""
    q = quantize_config(config)
    if q is None:
        return None
    if q['activations'] and not q['aware']:
        raise ConfigError(PATH + ['activations'], 'activations are fake-quantised only while training with the quantiser: '
                                                   'set "aware": true or remove "activations"')
    kind = (config.get('scheme') or {}).get('kind', 'offline')
    if q['aware'] and kind in ('online', 'self'):
        raise ConfigError(PATH + ['aware'], f'quantisation-aware distillation needs a fixed teacher to distil from; scheme "{kind}" '
                                             'has none (use offline, born-again or ta-chain, or remove "aware")')
    return q


def _final_student_jobs(jobs: Dict[str, dict]) -> Dict[int, str]:
    """Per seed, the last final distilled job of the student (distill-s<seed>, born-g<G>-s<seed>)."""
    out: Dict[int, str] = {}
    for job, s in jobs.items():
        if job.startswith('qat-'):
            continue
        if s.get('kind') == 'distill' and s.get('final') and (s.get('model') or 'student') == 'student':
            out[int(s['seed'])] = job
    return out


def plan(config: dict, jobs: Dict[str, dict]) -> Dict[str, dict]:
    """`jobs` with `qat-s<seed>` right after each seed's final distilled student job, when
    `student.quantize.aware` (jobs already there are kept as they are)."""
    q = quantize_config(config)
    if not q or not q['aware']:
        return jobs
    finals = _final_student_jobs(jobs)
    after = {job: seed for seed, job in finals.items()}
    out: Dict[str, dict] = {}
    for job, s in jobs.items():
        out[job] = s
        if job in after:
            seed = after[job]
            qid = f'qat-s{seed}'
            if qid not in jobs:
                out[qid] = {'kind': 'distill', 'seed': seed, 'model': 'student', 'teacher': s.get('teacher') or 'teacher',
                            'final': False, 'quantize': {'bits': q['bits'], 'activations': q['activations']},
                            'status': 'pending', 'epochs': s['epochs'], 'completedEpochs': 0}
    # a qat job already planned keeps its place
    return out


def add_jobs(config: dict) -> Callable[[dict], None]:
    """A run.json patch adding the QAT jobs its planner left out (nothing when they are there)."""
    def patch(r: dict) -> None:
        r['jobs'] = plan(config, r['jobs'])
    return patch


def missing_jobs(config: dict, jobs: Dict[str, dict]) -> List[str]:
    return [j for j in plan(config, jobs) if j not in jobs]


def prepare_model(model: torch.nn.Module, state: dict) -> torch.nn.Module:
    """A qat job's student: fake quantisation attached (before its terms tap it)."""
    q = state.get('quantize')
    if q:
        quant.attach(model, int(q.get('bits', 8)), bool(q.get('activations', False)))
    return model


def save_model(folder, job: str, model: torch.nn.Module, state: dict) -> None:
    """models/<job>/model.pt (+ activation-ranges.json of a qat job)."""
    if not state.get('quantize'):
        folder.save_model(job, {k: v.detach().cpu() for k, v in model.state_dict().items()})
        return
    path = folder.save_model(job, quant.plain_state_dict(model))
    write_file_atomic(os.path.join(os.path.dirname(path), RANGES_FILE), dumps(quant.activation_ranges(model), indent=2), folder.dir)


# ---------------------------------------------------------------------------------------------
# report

def _write_export(run_dir: str, name: str, exported: dict, info: dict) -> str:
    qdir = os.path.join(run_dir, 'student', name)
    if not os.path.exists(qdir):
        buf = io.BytesIO()
        torch.save(exported, buf)
        write_dir_atomic(qdir, {'model.pt': buf.getvalue(), 'quantization.json': dumps(info, indent=2)}, run_dir)
    return f'student/{name}'


def measure(q_model: torch.nn.Module, f_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
            t_logits: Optional[torch.Tensor]) -> dict:
    """Test figures of a quantised model beside its float one (as engine._quantized measures `quantized`)."""
    from .engine import predict
    cpu = torch.device('cpu')
    n = max(1, len(y))
    q_pred = predict(q_model, x, cpu).argmax(1)
    f_pred = predict(f_model, x, cpu).argmax(1)
    q_correct = int((q_pred == y).sum())
    out: Dict[str, Any] = {'testAcc': q_correct / n, 'testErrors': len(y) - q_correct}
    if t_logits is not None:
        out['agreement'] = int((q_pred == t_logits.argmax(1)).sum()) / n
    out['floatTestAcc'] = int((f_pred == y).sum()) / n
    if t_logits is not None:
        out['floatAgreement'] = int((f_pred == t_logits.argmax(1)).sum()) / n
    out['accDrop'] = out['floatTestAcc'] - out['testAcc']
    return out


def quantized_copy(build: Callable[[], torch.nn.Module], state: Dict[str, torch.Tensor], bits: int,
                   ranges: Optional[Dict[str, List[float]]]) -> Tuple[torch.nn.Module, dict]:
    """(the dequantised model as it is measured, the exported dict) of a plain state_dict."""
    keys = quant.kernel_keys(build())
    exported = quant.export_state(state, keys, bits)
    model = build()
    model.load_state_dict(quant.dequantize_state(exported))
    if ranges:
        quant.apply_activation_ranges(model, ranges)
    return model.eval(), exported


def row(run_dir: str, name: str, build: Callable[[], torch.nn.Module], state: Dict[str, torch.Tensor], bits: int, *,
        method: str, job: Optional[str], ranges: Optional[Dict[str, List[float]]], x, y, t_logits,
        activations: bool = False) -> dict:
    """One `quantizedVariants` row: the copy exported to student/<name>/ and measured."""
    from .engine import _tensor_bytes
    f_model = build()
    f_model.load_state_dict(state)
    f_model.eval()
    q_model, exported = quantized_copy(build, state, bits, ranges)
    info = quant.quantization_info(exported, bits, method=method, job=job, activations=ranges)
    folder = _write_export(run_dir, name, exported, info)
    q_bytes = quant.exported_bytes(exported)
    float_bytes = sum(_tensor_bytes(v) for v in f_model.state_dict().values())
    out: Dict[str, Any] = {'dir': folder, 'format': info['format'], 'bytes': int(q_bytes), 'floatBytes': int(float_bytes),
                           'compression': float_bytes / max(1, q_bytes)}
    out.update(measure(q_model, f_model, x, y, t_logits))
    out['bits'] = int(bits)
    out['method'] = method
    if method == 'qat':
        out['activations'] = bool(activations)
        out['job'] = job
    return out


def report_rows(session, exported_student: torch.nn.Module, t_logits: Optional[torch.Tensor],
                records: List[dict], run: dict) -> Dict[str, Any]:
    """report.json's `quantizedVariants` and `qat` (empty without `student.quantize`)."""
    q = quantize_config(session.config)
    if q is None:
        return {}
    bits = q['bits']
    d = session.data
    x, y = d.test.x.cpu(), d.test.y.cpu()
    seed0 = session._seed0()
    jobs = run['jobs']
    build_student = (lambda: session.build('student', seed0).cpu())
    ptq_state = {k: v.detach().cpu() for k, v in exported_student.state_dict().items()}
    # The folder the contract names (src/config/types.ts): student/int4 as in the TF.js engine; at 8 bits
    # student/int8 is torch's own qnnpack copy (`quantized`), so the shared rule's goes to student/int8-ptq.
    rows = [row(session.run_dir, 'int4' if bits == 4 else 'int8-ptq', build_student, ptq_state, bits, method='ptq', job=None, ranges=None,
                x=x, y=y, t_logits=t_logits)]
    session.log(f'int{bits} post-training (per-channel): {rows[0]["bytes"]} bytes, test accuracy {rows[0]["testAcc"] * 100:.2f}% '
                f'(float {rows[0]["floatTestAcc"] * 100:.2f}%)')
    out: Dict[str, Any] = {'quantizedVariants': rows}
    qat_jobs = [j for j, s in jobs.items() if s.get('quantize') and s.get('status') == 'completed']
    if not qat_jobs:
        return out
    first = qat_jobs[0]
    s = jobs[first]
    mdir = os.path.join(session.run_dir, 'models', first)
    state = torch.load(os.path.join(mdir, 'model.pt'), map_location='cpu')
    ranges = None
    if s['quantize'].get('activations'):
        with open(os.path.join(mdir, RANGES_FILE), encoding='utf8') as f:
            ranges = json.load(f)
    build_qat = (lambda: session.build('student', int(s['seed'])).cpu())
    r = row(session.run_dir, f'int{int(s["quantize"]["bits"])}-qat', build_qat, state, int(s['quantize']['bits']), method='qat',
            job=first, ranges=ranges, x=x, y=y, t_logits=t_logits, activations=bool(s['quantize'].get('activations')))
    rows.append(r)
    session.log(f'int{r["bits"]} quantisation-aware ({first}): {r["bytes"]} bytes, test accuracy {r["testAcc"] * 100:.2f}% '
                f'(its float weights {r["floatTestAcc"] * 100:.2f}%)')
    from .engine import stat
    epochs = [rec for rec in records if rec.get('type') == 'epoch']
    accs, errs = [], []
    for j in qat_jobs:
        mine = sorted((rec for rec in epochs if rec.get('job') == j), key=lambda rec: rec['epoch'])
        if mine:
            accs.append(mine[-1]['testAcc'])
            errs.append(mine[-1]['testErrors'])
    if accs:
        out['qat'] = {'testAcc': stat(accs), 'testErrors': stat(errs), 'bits': int(s['quantize']['bits']),
                      'activations': bool(s['quantize'].get('activations'))}
    return out


def check_student(config: dict, student: torch.nn.Module) -> None:
    """A TorchScript student cannot take the fake quantiser (its parameters are compiled in)."""
    q = quantize_config(config)
    if q and q['aware'] and isinstance(student, torch.jit.ScriptModule):
        raise ConfigError(PATH + ['aware'], 'quantisation-aware training needs a student built in Python ({"module", "export"}, '
                                             '{"torchvision"} or {"derive"}); a TorchScript student cannot be fake-quantised')
