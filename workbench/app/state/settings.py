"""The training settings of the page, read from its form with a message naming any bad field.

:class:`Settings` holds what the top bar of the page sets: data set,
activation, initialisation seed, optimizer, learning rate, batch size,
epochs and device. Its defaults are the app's defaults, and
:func:`read_settings` is the only way form values become settings, so a test
of the defaults (``tests/test_app_defaults.py``) tests what the page does.

Every reader raises :class:`FormError` (a :class:`~workbench.errors.WorkbenchError`)
that names the field and the value for anything that is not a finite number
in range: ``None``, ``""``, ``"inf"``, ``nan``, ``1e400``, a bool, a list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from workbench.errors import WorkbenchError
from workbench.training import DATASETS, TrainConfig

__all__ = ["ACTIVATION_TITLES", "FormError", "Settings", "read_choice", "read_number", "read_settings"]

ACTIVATION_TITLES = {"relu": "ReLU", "leaky_relu": "Leaky ReLU", "tanh": "tanh"}
ACTIVATIONS = tuple(ACTIVATION_TITLES)


class FormError(WorkbenchError, ValueError):
    """A form field holds a value the app cannot use; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def read_number(
    value, field: str, *, low: float | None = None, high: float | None = None, integer: bool = False
) -> float | int:
    """``value`` as a finite number in ``[low, high]`` (an int when ``integer``).

    Raises:
        FormError: empty, not a number, not finite, out of range, or not whole; the message names ``field``.
    """
    if value is None or value == "":
        raise FormError(field, "is empty; enter a number")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FormError(field, f"must be a number, got {value!r}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise FormError(field, f"must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise FormError(field, f"must be a finite number, got {value!r}")
    if (low is not None and number < low) or (high is not None and number > high):
        bound = (
            f"between {low:g} and {high:g}"
            if low is not None and high is not None
            else f"at least {low:g}"
            if low is not None
            else f"at most {high:g}"
        )
        raise FormError(field, f"must be {bound}, got {value!r}")
    if integer:
        if number != int(number):
            raise FormError(field, f"must be a whole number, got {value!r}")
        return int(number)
    return number


def read_choice(value, field: str, choices) -> str:
    """``value`` if it is one of ``choices``.

    Raises:
        FormError: anything else (the message lists the choices).
    """
    if not isinstance(value, str) or value not in choices:
        raise FormError(field, f"must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """How the next model is built and trained (the page's top bar).

    Attributes:
        dataset: one of :data:`workbench.training.DATASETS`.
        activation: one of :data:`ACTIVATIONS`.
        init_seed: seeds the weights of the next model built (Build, Reset).
        optimizer, lr, batch_size, epochs, device: as in :class:`~workbench.training.TrainConfig`.
    """

    dataset: str = "moons"
    activation: str = "leaky_relu"
    init_seed: int = 0
    optimizer: str = "adam"
    lr: float = 0.01
    batch_size: int = 32
    epochs: int = 20
    device: str = "auto"

    def train_config(self, *, epochs: int | None = None) -> TrainConfig:
        """The :class:`TrainConfig` of these settings (``epochs`` overrides, for a fine-tune)."""
        return TrainConfig(
            optimizer=self.optimizer,
            lr=self.lr,
            batch_size=self.batch_size,
            epochs=self.epochs if epochs is None else epochs,
            device=self.device,
            seed=self.init_seed,
        )

    def as_dict(self) -> dict:
        return asdict(self)


#: Bounds of the numeric fields: (label, low, high, whole number).
NUMBERS = {
    "init_seed": ("Seed", 0, 2**31 - 1, True),
    "lr": ("Learning rate", 1e-6, 10.0, False),
    "batch_size": ("Batch size", 1, 65536, True),
    "epochs": ("Epochs", 1, 10000, True),
}
CHOICES = {
    "dataset": ("Data", DATASETS),
    "activation": ("Activation", ACTIVATIONS),
    "optimizer": ("Optimizer", ("adam", "sgd")),
    "device": ("Device", ("auto", "cpu", "cuda")),
}


def read_settings(values: Mapping[str, object], *, base: Settings | None = None) -> Settings:
    """Settings from form ``values`` (missing keys keep ``base``'s, default :class:`Settings`).

    Raises:
        FormError: a value is not allowed; the message names its field.
    """
    base = base or Settings()
    out = {}
    for f in fields(Settings):
        if f.name not in values:
            out[f.name] = getattr(base, f.name)
        elif f.name in NUMBERS:
            label, low, high, whole = NUMBERS[f.name]
            out[f.name] = read_number(values[f.name], label, low=low, high=high, integer=whole)
        else:
            label, choices = CHOICES[f.name]
            out[f.name] = read_choice(values[f.name], label, choices)
    return Settings(**out)
