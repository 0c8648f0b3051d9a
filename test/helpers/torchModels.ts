/**
 * models.py files of the torch engine's tests (written into each test's temporary folder).
 */
/** models.py of the tests: a two-conv teacher and a one-conv student for 8×8 greyscale inputs, 3 classes. */
export const TINY_MODELS_PY = `
from torch import nn

def teacher(width=8):
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(width * 4, 3))

def student(width=4):
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(width * 4, 3))
`;

/** models.py of the tests on vectors: MLP teacher and student for 8 inputs, 4 classes. */
export const VECTOR_MODELS_PY = [
  'import torch.nn as nn',
  '',
  'def teacher(width=32, classes=4):',
  '    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, classes))',
  '',
  'def student(width=8, classes=4):',
  '    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, classes))',
  '',
].join('\n');
