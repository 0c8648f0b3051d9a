"""Teacher health, as src/engine/results/teacherHealth.ts: a teacher that predicts at chance (its
BatchNorm statistics never left their initial values, inputs scaled otherwise than in its training,
labels in another order) makes a distilled student imitate noise. After the fixed teacher is loaded
or trained, its accuracy on the validation split (the test split when there is none) is compared
with chance — the larger of 1/numClasses and the majority-class rate — within
max(2 points, 10 % of the distance from chance to 100 %); and at the end, a teacher below the
scratch student's test accuracy is said too. Both go to the log and report.json `warnings`.
"""
from __future__ import annotations

from typing import List, Optional

import torch


def chance_level(labels: torch.Tensor, num_classes: int) -> dict:
    """uniform (1/C), majority (rate of the most frequent class), chance (the larger) and the
    threshold at or below which a model is 'at chance'."""
    c = max(1, num_classes)
    counts = torch.bincount(labels[(labels >= 0) & (labels < c)].long(), minlength=c)
    majority_class = int(counts.argmax()) if counts.numel() else 0  # the first on ties, as the TS loop
    uniform = 1 / c
    majority = float(counts[majority_class]) / len(labels) if len(labels) else 0.0
    chance = max(uniform, majority)
    return {'uniform': uniform, 'majority': majority, 'majorityClass': majority_class, 'chance': chance,
            'threshold': chance + max(0.02, 0.1 * (1 - chance))}


def has_batch_norm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _pct(x: float) -> str:
    return f'{x * 100:.1f}%'


def likely_causes(*, batch_norm: bool, trained_steps: Optional[int], normalize: Optional[str]) -> List[str]:
    """The likely causes of a teacher at chance, most likely first (teacherHealth.ts likelyCauses,
    with PyTorch's BatchNorm momentum)."""
    causes = []
    steps = f' (it was trained for {trained_steps} steps in this run)' if trained_steps is not None else ''
    if batch_norm:
        causes.append(f'too few training steps for its BatchNorm running statistics{steps}: with PyTorch\'s default momentum 0.1 '
                      'the running mean and variance need tens of steps to leave their initial values, and eval mode uses them')
    elif trained_steps is not None:
        causes.append(f'too short a training{steps}: raise teacher.train.epochs')
    causes.append(f'inputs normalised differently from the teacher\'s training (data.normalize is "{normalize or "scale"}" here; '
                  'a pre-trained teacher needs the scaling it was trained with)')
    causes.append('labels that do not match its outputs: the wrong label column (labelColumn) or another class order than '
                  'the teacher was trained on')
    return causes


def chance_warning(logits: torch.Tensor, labels: torch.Tensor, num_classes: int, *, split: str, causes: List[str]) -> Optional[dict]:
    """A `teacher-near-chance` warning when the teacher's accuracy on the split is at or near
    chance; None when it is not."""
    n = int(labels.shape[0])
    if n == 0 or num_classes < 2:
        return None
    pred = logits.argmax(1).cpu()
    acc = int((pred == labels.cpu()).sum()) / n
    c = chance_level(labels.cpu(), num_classes)
    if acc > c['threshold']:
        return None
    predicted = torch.bincount(pred, minlength=num_classes)
    top = int(predicted.argmax())
    share = float(predicted[top]) / n
    one_class = (f', every prediction is class {top}' if share == 1
                 else f', {_pct(share)} of its predictions are class {top}' if share >= 0.9 else '')
    return {
        'kind': 'teacher-near-chance',
        'message': (f'the teacher is at chance: {_pct(acc)} accuracy on the {split} split ({n} samples{one_class}), where guessing '
                    f'gives {_pct(c["uniform"])} (1/{num_classes}) and always answering the most frequent class {_pct(c["majority"])}; '
                    'the distilled students learn from a teacher that knows nothing'),
        'causes': causes,
    }


def below_scratch_warning(teacher_acc: float, scratch: Optional[dict], causes: List[str]) -> Optional[dict]:
    """A `teacher-below-scratch` warning when the teacher's test accuracy is below the scratch
    student's (mean over seeds, last epoch)."""
    if not scratch or not scratch.get('n') or not teacher_acc < scratch['mean']:
        return None
    seeds = f' mean of {scratch["n"]} seeds' if scratch['n'] > 1 else ''
    return {
        'kind': 'teacher-below-scratch',
        'message': (f'the teacher ({_pct(teacher_acc)} test accuracy) is below the student trained from scratch '
                    f'({_pct(scratch["mean"])}{seeds}): distilling from it cannot beat the baseline'),
        'causes': causes,
    }


def describe(w: dict) -> str:
    """A warning as one log line: the message, then its likely causes."""
    return f'{w["message"]}. Likely causes: {"; ".join(w["causes"])}.'
