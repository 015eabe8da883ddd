"""Small convolutional models to look at with :class:`~workbench.transform.GraphTransform`.

The app's Inspect panel shows :func:`small_cnn` at channel or module level.
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

__all__ = ["CONV_SAMPLES", "ResidualCNN", "conv_sample", "sample_input", "small_cnn"]


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
