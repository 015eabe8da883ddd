"""Convolutional models to look at with :class:`~workbench.transform.GraphTransform`.

The app's Inspect panel shows :func:`small_cnn` at channel or module level;
:class:`ResNet18` is for benchmarks and tests (it is no sample: too large).
The models are built (seeded) on demand, not loaded from files: their
structure is the point, not their accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import ExtractionError
from workbench.sparse import MaskedConv2d, MaskedLinearLayer

__all__ = ["CONV_SAMPLES", "ResNet18", "ResidualCNN", "conv_sample", "sample_input", "small_cnn"]


def small_cnn(*, seed: int | None = 0, num_classes: int = 10) -> nn.Sequential:
    """A CNN for 1 x 8 x 8 images (sklearn's digits): 2 conv blocks and a linear classifier.

    ``1x8x8 -> conv 8 (3x3, pad 1) -> ReLU -> max pool 2 -> conv 16 (3x3, pad 1, 2 groups) -> ReLU
    -> max pool 2 -> flatten (16 x 2 x 2) -> linear num_classes``.
    At channel level its graph has 1 + 8 + 8 + 16 + 16 + num_classes vertices.
    The convolutions and the classifier are maskable (``MaskedConv2d``,
    ``MaskedLinearLayer``; every connection on at first), so the model prunes
    and makes lottery tickets like the masked networks.

    Args:
        seed: seeds the initial weights (``None``: torch's global generator).

    Example:
        >>> from workbench.transform import GraphTransform
        >>> g = GraphTransform(sample_input(), granularity="channel").transform(small_cnn())
        >>> g.number_of_nodes()
        59
    """
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(
        MaskedConv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        MaskedConv2d(8, 16, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        MaskedLinearLayer(16 * 2 * 2, num_classes),
    )


class ResidualCNN(nn.Module):
    """A small residual network for 1 x 8 x 8 images: stem, two residual blocks, global pooling, classifier."""

    def __init__(self, channels: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.block1 = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
        )  # fmt: skip
        self.down = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1)
        self.block2 = nn.Sequential(
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels),
        )  # fmt: skip
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, 8, 8] -> [B, classes]
        x = F.relu(self.stem(x))
        x = F.relu(x + self.block1(x))
        x = F.relu(self.down(x))
        x = F.relu(x + self.block2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(h + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016): basic blocks, batch norm, projection shortcuts; our own definition.

    The layout of torchvision's ``resnet18`` (which is not needed): a 7 x 7
    stride-2 stem, max pooling, four stages of two basic blocks (``width``,
    2, 4 and 8 times ``width`` channels), global average pooling and a linear
    classifier. ``width=64`` is the real network (11.7 million parameters);
    smaller widths keep the structure for tests.
    """

    def __init__(self, width: int = 64, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(3, 2, 1)
        w = [width, width, 2 * width, 4 * width, 8 * width]
        plan = [(w[0], w[1], 1), (w[1], w[1], 1), (w[1], w[2], 2), (w[2], w[2], 1)]
        plan += [(w[2], w[3], 2), (w[3], w[3], 1), (w[3], w[4], 2), (w[4], w[4], 1)]
        self.layers = nn.Sequential(*(_BasicBlock(a, b, s) for a, b, s in plan))
        self.avg, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(w[4], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, classes]
        x = self.layers(self.pool(F.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avg(x), 1))


def sample_input(batch: int = 1) -> torch.Tensor:
    """An example input ``[batch, 1, 8, 8]`` for the sample models."""
    return torch.zeros(batch, 1, 8, 8)


#: Convolutional samples for the Inspect panel: name -> (builder, one-line description).
CONV_SAMPLES: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "small_cnn": (small_cnn, "2 conv blocks (one grouped) with max pooling and a linear classifier, 8x8 input"),
    "residual_cnn": (ResidualCNN, "stem, 2 residual blocks with batch norm, a strided conv, global pooling"),
}


def conv_sample(name: str) -> tuple[nn.Module, torch.Tensor]:
    """``(model, example input)`` of the convolutional sample ``name`` (see :data:`CONV_SAMPLES`).

    Raises:
        ExtractionError: ``name`` is not a sample.
    """
    if name not in CONV_SAMPLES:
        raise ExtractionError(f"unknown convolutional sample {name!r}; the samples are {sorted(CONV_SAMPLES)}")
    torch.manual_seed(0)
    return CONV_SAMPLES[name][0](), sample_input()
