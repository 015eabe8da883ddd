"""The serve command line: sizes, the server's flags, and one flag per field of a Limits dataclass."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from workbench.__main__ import build_parser, limits_from_args, parse_bytes, serve_config


@dataclass(frozen=True)
class StandInLimits:
    """A stand-in for workbench.limits.Limits with the same kinds of fields.

    Attributes:
        max_vertices: vertices of a design, generated or
            uploaded.
        max_upload_bytes: size of an upload.
        session_memory_bytes: bytes of sessions in memory.
        training_slots: training jobs at once.
    """

    max_vertices: int = 10_000
    max_upload_bytes: int = 16 * 2**20
    session_memory_bytes: int = 2 * 2**30
    training_slots: int = field(default_factory=lambda: 4)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"limit {f.name} must be a positive int, got {getattr(self, f.name)!r}")


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096", 4096), ("512M", 512 * 2**20), ("2G", 2 * 2**30), ("1.5GiB", 3 * 2**29), ("64kb", 65536), ("1t", 2**40)],
)
def test_parse_bytes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1G", "2X", "G", "1e9", "nan", "inf"])
def test_parse_bytes_refuses_what_is_not_a_size(text):
    with pytest.raises(argparse.ArgumentTypeError, match="a size must be a positive number of bytes like 512M"):
        parse_bytes(text)


def test_every_limits_field_is_a_flag_and_the_two_server_ones_have_short_names(tmp_path):
    parser = build_parser(StandInLimits)
    help_text = parser.format_help()
    for flag in ("--limit-max-vertices", "--limit-max-upload-bytes", "--memory-budget", "--training-slots"):
        assert flag in help_text
    assert "vertices of a design, generated or uploaded. (default 10000)" in " ".join(help_text.split())
    argv = ["--limit-max-vertices", "500", "--memory-budget", "512M", "--limit-training-slots", "3"]
    args = parser.parse_args([*argv, "--data-dir", str(tmp_path), "--threads", "8", "--access-log"])
    limits = limits_from_args(args, StandInLimits)
    assert limits == StandInLimits(max_vertices=500, session_memory_bytes=512 * 2**20, training_slots=3)
    config = serve_config(args, StandInLimits)
    assert (config.memory_budget, config.training_slots, config.threads) == (512 * 2**20, 3, 8)
    assert config.data_dir == tmp_path and config.access_log and config.limits == limits


def test_serve_subcommand_takes_the_same_flags():
    args = build_parser(StandInLimits).parse_args(["serve", "--limit-max-upload-bytes", "1M", "--port", "9000"])
    assert args.command == "serve" and args.port == 9000
    assert limits_from_args(args, StandInLimits).max_upload_bytes == 2**20


def test_the_limits_defaults_reach_the_server():
    args = build_parser(StandInLimits).parse_args([])
    config = serve_config(args, StandInLimits)
    assert (config.memory_budget, config.training_slots) == (2 * 2**30, 4) and config.limits == StandInLimits()
    assert config.data_dir.name == "workbench" and config.host == "127.0.0.1"


def test_without_a_limits_class_the_server_flags_still_work():
    parser = build_parser(None)
    assert "--limit-" not in parser.format_help()
    args = parser.parse_args(["--memory-budget", "1G", "--training-slots", "2"])
    config = serve_config(args, None)
    assert (config.memory_budget, config.training_slots, config.limits) == (2**30, 2, None)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--limit-max-vertices", "0"], "limit max_vertices must be a positive int, got 0"),
        (["--threads", "0"], "server's threads must be a positive int, not 0"),
    ],
)
def test_a_bad_value_is_a_usage_error(monkeypatch, capsys, argv, match):
    import workbench.__main__ as cli

    monkeypatch.setattr(cli, "_limits_class", lambda: StandInLimits)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and match in capsys.readouterr().err


def test_a_bad_size_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        build_parser(StandInLimits).parse_args(["--memory-budget", "lots"])
    assert "a size must be a positive number of bytes like 512M or 2G, not 'lots'" in capsys.readouterr().err


def test_data_dir_is_a_path():
    assert build_parser(None).parse_args(["--data-dir", "~/d"]).data_dir == Path("~/d")
