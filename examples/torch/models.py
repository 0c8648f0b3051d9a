"""Model factories for the PyTorch examples (experiments with ``"engine": "torch"``).

An experiment names a factory as ``{"module": "models.py", "export": "student", "args": {...}}``;
the engine calls ``factory(**args)`` and expects an ``nn.Module`` that maps a batch of images
``[N, 1, 28, 28]`` (float32, NCHW) to logits ``[N, classes]``.

The models mirror ``examples/models.ts`` (the TF.js engine's examples) in spirit: a small CNN with
two conv/pool blocks and a dense layer, and an MLP. They are ``nn.Sequential`` models built from
named parts so that their ``named_modules()`` paths — the layer names an experiment's ``pairs``,
the pairing diagram and the feature-map panel use — read as what they are::

    features.conv1  features.relu1  features.pool1          28×28 → 14×14
    features.conv2  features.relu2  features.pool2          14×14 →  7×7
    classifier.flatten  classifier.fc1  classifier.relu  classifier.logits

``cnn_bn`` is the same CNN with a BatchNorm after each convolution and after the dense layer
(``features.bn1``, ``features.bn2``, ``classifier.bn``): the teacher a data-free run
(DeepInversion) needs, since it synthesises inputs that match those layers' running statistics.

Activations are separate ``nn.ReLU`` modules (not fused into the convolutions) so that a pair can
take a layer's output before or after its non-linearity, and so that every layer is a stock torch
module: FLOPs by forward hooks, TorchScript, ONNX and int8 quantisation see nothing unusual.
Pair the post-activation names (``features.relu2``, ``classifier.relu``) where the TF.js examples
pair ``conv_2`` and ``dense_1`` (whose activation is part of the layer).
"""
from collections import OrderedDict
from typing import Sequence

import torch.nn as nn


def cnn(filters: Sequence[int] = (32, 64), dense: int = 64, classes: int = 10,
        in_channels: int = 1, image_size: int = 28) -> nn.Sequential:
    """Two 3×3 conv (same padding) + ReLU + 2×2 max-pool blocks, a dense layer, logits.

    ``dense=0`` drops the dense layer (the flattened 7×7 maps go straight to the logits), as the
    bench's CNN pair does. ``image_size`` must be divisible by 4 (two 2×2 pools).
    """
    if len(filters) != 2 or any(int(f) < 1 for f in filters):
        raise ValueError(f'cnn: filters must be two positive channel counts, got {list(filters)!r}')
    if image_size % 4:
        raise ValueError(f'cnn: image_size must be divisible by 4 (two 2×2 pools), got {image_size}')
    f1, f2 = int(filters[0]), int(filters[1])
    side = image_size // 4
    features = nn.Sequential(OrderedDict([
        ('conv1', nn.Conv2d(in_channels, f1, kernel_size=3, padding=1)),
        ('relu1', nn.ReLU()),
        ('pool1', nn.MaxPool2d(2)),
        ('conv2', nn.Conv2d(f1, f2, kernel_size=3, padding=1)),
        ('relu2', nn.ReLU()),
        ('pool2', nn.MaxPool2d(2)),
    ]))
    head: 'OrderedDict[str, nn.Module]' = OrderedDict([('flatten', nn.Flatten())])
    if dense > 0:
        head['fc1'] = nn.Linear(f2 * side * side, int(dense))
        head['relu'] = nn.ReLU()
        head['logits'] = nn.Linear(int(dense), classes)
    else:
        head['logits'] = nn.Linear(f2 * side * side, classes)
    return nn.Sequential(OrderedDict([('features', features), ('classifier', nn.Sequential(head))]))


def cnn_bn(filters: Sequence[int] = (32, 64), dense: int = 64, classes: int = 10,
           in_channels: int = 1, image_size: int = 28) -> nn.Sequential:
    """``cnn`` with batch normalisation: conv → BatchNorm2d → ReLU → pool (twice), then
    dense → BatchNorm1d → ReLU → logits (``dense`` must be > 0). The layer names are ``cnn``'s
    plus ``features.bn1``, ``features.bn2`` and ``classifier.bn``."""
    if dense <= 0:
        raise ValueError(f'cnn_bn: dense must be a positive width, got {dense}')
    base = cnn(filters, dense, classes, in_channels, image_size)
    f1, f2 = int(filters[0]), int(filters[1])
    f = base.features
    features = nn.Sequential(OrderedDict([
        ('conv1', f.conv1), ('bn1', nn.BatchNorm2d(f1)), ('relu1', f.relu1), ('pool1', f.pool1),
        ('conv2', f.conv2), ('bn2', nn.BatchNorm2d(f2)), ('relu2', f.relu2), ('pool2', f.pool2),
    ]))
    c = base.classifier
    head = nn.Sequential(OrderedDict([
        ('flatten', c.flatten), ('fc1', c.fc1), ('bn', nn.BatchNorm1d(int(dense))), ('relu', c.relu), ('logits', c.logits),
    ]))
    return nn.Sequential(OrderedDict([('features', features), ('classifier', head)]))


def mlp(hidden: Sequence[int] = (300,), inputs: int = 784, classes: int = 10,
        dropout: float = 0.0) -> nn.Sequential:
    """A multi-layer perceptron on flattened images: ``flatten, fc1, relu1, …, logits``.

    ``dropout`` > 0 adds ``drop<i>`` after each hidden layer (Hinton et al. 2015 used 0.5).
    """
    layers: 'OrderedDict[str, nn.Module]' = OrderedDict([('flatten', nn.Flatten())])
    width = inputs
    for i, units in enumerate(hidden, start=1):
        layers[f'fc{i}'] = nn.Linear(width, int(units))
        layers[f'relu{i}'] = nn.ReLU()
        if dropout > 0:
            layers[f'drop{i}'] = nn.Dropout(dropout)
        width = int(units)
    layers['logits'] = nn.Linear(width, classes)
    return nn.Sequential(layers)


def teacher(**args) -> nn.Sequential:
    """The examples' teacher: ``cnn(filters=(32, 64), dense=64)``, 220 k parameters (0.88 MB as a
    float32 state_dict: ``teacher.pt``), 8.1 M FLOPs per sample (2 × multiply-adds)."""
    return cnn(**{'filters': (32, 64), 'dense': 64, **args})


def teacher_bn(**args) -> nn.Sequential:
    """The data-free example's teacher: ``cnn_bn(filters=(16, 32), dense=64)`` (``teacher-bn.pt``),
    107 k parameters, four times the student. Narrower than ``teacher``: DeepInversion runs the
    teacher forward and backward for every synthesis iteration, and the example is sized for a
    shared 2-core machine."""
    return cnn_bn(**{'filters': (16, 32), 'dense': 64, **args})


def student(**args) -> nn.Sequential:
    """The examples' student: ``cnn(filters=(8, 16), dense=32)``, 27 k parameters — an eighth of
    the teacher, with the same layer names, so pairs by name resolve."""
    return cnn(**{'filters': (8, 16), 'dense': 32, **args})


def assistant(**args) -> nn.Sequential:
    """A teacher assistant halfway between the two: ``cnn(filters=(16, 32), dense=48)``."""
    return cnn(**{'filters': (16, 32), 'dense': 48, **args})
