"""The page's training settings (workbench.app.state.settings): form values in, Settings out, or a
FormError naming the field."""

from __future__ import annotations

import dataclasses
import re

import pytest

from workbench.app.state.settings import ACTIVATIONS, FormError, Settings, read_choice, read_number, read_settings
from workbench.errors import WorkbenchError
from workbench.training import DATASETS, TrainConfig

BAD_NUMBERS = [None, "", "inf", "-inf", "nan", float("nan"), float("inf"), "1e400", 10**400, True, False, [1], {}, "x"]


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_read_number_refuses_what_is_not_a_finite_number_and_names_the_field(value):
    with pytest.raises(FormError, match=r"^Learning rate: ") as info:
        read_number(value, "Learning rate")
    assert info.value.field == "Learning rate"
    assert isinstance(info.value, WorkbenchError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (-3, {"low": 0}, r"Epochs: must be at least 0, got -3"),
        (11, {"low": 1, "high": 10}, r"Epochs: must be between 1 and 10, got 11"),
        (11, {"high": 10}, r"Epochs: must be at most 10, got 11"),
        ("2.5", {"integer": True}, r"Epochs: must be a whole number, got '2.5'"),
        (None, {}, r"Epochs: is empty; enter a number"),
        ("1e400", {}, r"Epochs: must be a finite number, got '1e400'"),
        ([1], {}, r"Epochs: must be a number, got \[1\]"),
        (True, {}, r"Epochs: must be a number, got True"),
    ],
)
def test_read_number_messages(value, kwargs, message):
    with pytest.raises(FormError, match=message):
        read_number(value, "Epochs", **kwargs)


def test_read_number_accepts_numbers_and_numeric_text():
    assert read_number("0.5", "x") == 0.5
    assert read_number(" 3 ", "x", integer=True) == 3 and isinstance(read_number("3", "x", integer=True), int)
    assert read_number(3.0, "x", integer=True) == 3
    assert read_number(0, "x", low=0, high=0) == 0


@pytest.mark.parametrize(
    ("field", "label"),
    [("init_seed", "Seed"), ("lr", "Learning rate"), ("batch_size", "Batch size"), ("epochs", "Epochs")],
)
@pytest.mark.parametrize("value", [None, "", "inf", "nan", "1e400", True, [1], -3])
def test_read_settings_refuses_bad_numbers_naming_the_field(field, label, value):
    with pytest.raises(FormError, match=rf"^{label}: ") as info:
        read_settings({field: value})
    assert info.value.field == label


@pytest.mark.parametrize(
    ("field", "label", "value"),
    [
        ("dataset", "Data", "imagenet"),
        ("activation", "Activation", "sigmoid"),
        ("optimizer", "Optimizer", "lbfgs"),
        ("device", "Device", "tpu"),
        ("dataset", "Data", None),
        ("activation", "Activation", ["relu"]),
    ],
)
def test_read_settings_refuses_unknown_choices_and_lists_them(field, label, value):
    shown = re.escape(repr(value))
    with pytest.raises(FormError, match=rf"^{label}: must be one of .*; got {shown}"):
        read_settings({field: value})


def test_read_settings_keeps_the_base_for_missing_fields_and_reads_the_rest():
    base = Settings(dataset="circles", epochs=7)
    got = read_settings({"lr": "0.05", "batch_size": 64.0, "activation": "tanh"}, base=base)
    assert got == dataclasses.replace(base, lr=0.05, batch_size=64, activation="tanh")
    assert isinstance(got.batch_size, int)
    assert read_settings({}) == Settings()


def test_the_defaults_are_valid_form_values():
    defaults = Settings()
    assert read_settings(defaults.as_dict()) == defaults
    assert defaults.dataset in DATASETS and defaults.activation in ACTIVATIONS
    assert set(ACTIVATIONS) >= {"relu", "leaky_relu", "tanh"}


def test_train_config_carries_the_settings_and_a_fine_tune_overrides_the_epochs():
    settings = Settings(optimizer="sgd", lr=0.2, batch_size=16, epochs=12, device="cpu", init_seed=5)
    config = settings.train_config()
    assert isinstance(config, TrainConfig)
    assert (config.optimizer, config.lr, config.batch_size, config.epochs, config.device, config.seed) == (
        "sgd",
        0.2,
        16,
        12,
        "cpu",
        5,
    )
    assert settings.train_config(epochs=3).epochs == 3


def test_read_choice():
    assert read_choice("a", "Field", ("a", "b")) == "a"
    with pytest.raises(FormError, match=r"^Field: must be one of a, b; got 'c'"):
        read_choice("c", "Field", ("a", "b"))
