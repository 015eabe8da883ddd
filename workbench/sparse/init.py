"""Seeded initialisation: PyTorch's default draws, taken from a local ``torch.Generator``.

``model.reset_parameters(seed=3)`` and ``MaskedDeepFFN(..., seed=3)`` draw
every weight from ``torch.Generator().manual_seed(3)``, never from the global
random state, which stays exactly as it was. Values are drawn on the CPU and
copied to the parameter's device, so the same seed gives bit-identical
weights on every device. The distributions are PyTorch's own: ``nn.Linear``
and convolutions draw ``kaiming_uniform_(a=sqrt(5))`` weights and biases
uniform in ``±1/sqrt(fan_in)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import init

__all__ = ["default_init_", "fresh_generator", "global_rng_untouched", "other_module_init_", "uniform_"]


def fresh_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(int(seed))


@torch.no_grad()
def uniform_(tensor: torch.Tensor, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """Fill ``tensor`` (any device) in place with ``U(low, high)`` drawn on the CPU from ``generator``."""
    tensor.copy_(torch.empty(tensor.shape, dtype=tensor.dtype).uniform_(low, high, generator=generator))
    return tensor


@torch.no_grad()
def default_init_(weight: torch.Tensor, bias: torch.Tensor | None, generator: torch.Generator) -> None:
    """What ``nn.Linear`` and ``nn.ConvNd`` do in ``reset_parameters``, from ``generator`` (in place)."""
    drawn = torch.empty(weight.shape, dtype=weight.dtype)
    init.kaiming_uniform_(drawn, a=math.sqrt(5), generator=generator)
    weight.copy_(drawn)
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, generator)


def other_module_init_(module: nn.Module, generator: torch.Generator) -> None:
    """``module.reset_parameters()`` with the global CPU generator seeded from ``generator`` and then restored.

    For modules without a rule of their own: deterministic on the CPU (a CUDA
    module draws from the CUDA generator, which this does not seed).
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        module.reset_parameters()


@contextlib.contextmanager
def global_rng_untouched(active: bool = True) -> Iterator[None]:
    """Restore the global CPU random state on exit (when ``active``): for building seeded models."""
    if not active:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        yield
