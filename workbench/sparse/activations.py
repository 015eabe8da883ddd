"""Activation functions by name: ``activation="relu"`` as well as ``activation=nn.ReLU``."""

from __future__ import annotations

from torch import nn

from workbench.errors import ModelError

__all__ = ["ACTIVATIONS", "Activation", "resolve_activation"]

#: Activation names the models accept, and the module class each one builds (with no arguments).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}

Activation = str | type[nn.Module]


def resolve_activation(activation: Activation) -> type[nn.Module]:
    """The module class of ``activation``: a name in :data:`ACTIVATIONS` or an ``nn.Module`` class.

    Raises:
        ModelError: an unknown name or something else than a name or a module
            class; the message names it and lists the names.

    Example:
        >>> resolve_activation("tanh"), resolve_activation(nn.ReLU)
        (<class 'torch.nn.modules.activation.Tanh'>, <class 'torch.nn.modules.activation.ReLU'>)
    """
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ModelError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        return ACTIVATIONS[activation]
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    raise ModelError(f"activation must be a name ({', '.join(ACTIVATIONS)}) or an nn.Module class, got {activation!r}")
