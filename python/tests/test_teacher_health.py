"""Teacher health warnings (teacherHealth.ts rules), against hand-computed figures."""
import math

import torch

from distill_torch import teacher_health as th


def test_chance_level_is_the_larger_of_uniform_and_majority():
    c = th.chance_level(torch.tensor([0, 0, 0, 1, 2, 0, 1, 2, 0, 0]), 4)
    assert c['uniform'] == 0.25 and c['majority'] == 0.6 and c['majorityClass'] == 0 and c['chance'] == 0.6
    assert math.isclose(c['threshold'], 0.6 + 0.04)  # max(0.02, 0.1·(1 − 0.6))
    c = th.chance_level(torch.tensor([0, 1, 2, 3]), 4)
    assert c['chance'] == 0.25 and math.isclose(c['threshold'], 0.25 + 0.075)


def test_a_teacher_answering_one_class_is_at_chance():
    y = torch.tensor([0, 1, 2] * 10)
    logits = torch.zeros(30, 3)
    logits[:, 1] = 1.0  # always class 1: 1/3 accuracy
    w = th.chance_warning(logits, y, 3, split='test', causes=['c'])
    assert w['kind'] == 'teacher-near-chance' and 'every prediction is class 1' in w['message'] and '33.3% accuracy on the test split' in w['message']
    good = torch.nn.functional.one_hot(y, 3).float()
    assert th.chance_warning(good, y, 3, split='test', causes=[]) is None
    # the 10 rows of class 1 right, plus 2 of class 0: 12/30 = 40% = the threshold 1/3 + 0.0667 → at chance
    part = logits.clone()
    part[[0, 3], 0] = 2.0
    w = th.chance_warning(part, y, 3, split='validation', causes=[])
    assert w is not None and '40.0% accuracy on the validation split' in w['message'] and '93.3% of its predictions are class 1' in w['message']
    part[6, 0] = 2.0  # 13/30: above it
    assert th.chance_warning(part, y, 3, split='test', causes=[]) is None


def test_below_scratch_and_causes():
    w = th.below_scratch_warning(0.5, {'mean': 0.6, 'std': 0.0, 'n': 2}, ['x'])
    assert w['kind'] == 'teacher-below-scratch' and '(60.0% mean of 2 seeds)' in w['message']
    assert th.below_scratch_warning(0.7, {'mean': 0.6, 'std': 0.0, 'n': 1}, []) is None
    assert th.below_scratch_warning(0.5, None, []) is None
    bn = th.likely_causes(batch_norm=True, trained_steps=12, normalize=None)
    assert 'BatchNorm' in bn[0] and '12 steps' in bn[0] and '"scale"' in bn[1] and len(bn) == 3
    assert th.likely_causes(batch_norm=False, trained_steps=None, normalize='none')[0].startswith('inputs normalised')
    assert th.has_batch_norm(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2)))
