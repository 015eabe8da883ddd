"""Command line: ``python -m workbench`` (or ``workbench``) starts the app.

Subcommands:
    serve (default)   start the browser workbench on 127.0.0.1:8050
    lottery           find a lottery ticket headless (see workbench/lottery/cli.py)

Serving a class: ``workbench --host 0.0.0.0 --threads 32 --memory-budget 4G --training-slots 8``.
Every field of :class:`workbench.limits.Limits` is a flag ``--limit-<field>`` (``--limit-max-vertices
20000``); ``--memory-budget`` and ``--training-slots`` are the flags of its session memory and training
slot fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

__all__ = ["add_limit_arguments", "build_parser", "limits_from_args", "main", "parse_bytes", "serve_config"]

#: Limits fields with a flag of their own (they also answer to ``--limit-<field>``).
ALIASES = {"session_memory_bytes": "--memory-budget", "training_slots": "--training-slots"}
#: Help of the aliased flags when the Limits class has no such field.
ALIAS_HELP = {
    "session_memory_bytes": ("BYTES", "bytes of sessions kept in memory; idle ones beyond go to disk (default 2G)"),
    "training_slots": ("N", "training jobs that run at once; the others queue (default: one per core)"),
}
UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str) -> int:
    """A byte count from ``"4096"``, ``"512M"``, ``"2G"``, ``"1.5GiB"`` (binary units).

    Raises:
        argparse.ArgumentTypeError: not a positive size.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), flags=re.I)
    size = int(float(match[1]) * UNITS[match[2].lower()]) if match else 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"a size must be a positive number of bytes like 512M or 2G, not {text!r}")
    return size


def _limits_class() -> type | None:
    """:class:`workbench.limits.Limits`, or None in a checkout without it (it arrives with issue 12's limits)."""
    try:
        from workbench.limits import Limits
    except ImportError:
        return None
    return Limits


def _attribute_docs(cls: type) -> dict[str, str]:
    """``{field: first sentence}`` from the ``Attributes:`` section of ``cls``'s docstring."""
    docs: dict[str, str] = {}
    name = None
    for line in (cls.__doc__ or "").split("Attributes:", 1)[-1].splitlines():
        match = re.match(r"\s{8}(\w+): (.*)", line)
        if match:
            name, docs[match[1]] = match[1], match[2]
        elif name and line.startswith(" " * 12):
            docs[name] += " " + line.strip()
        else:
            name = None
    return docs


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def add_limit_arguments(parser: argparse.ArgumentParser, limits_cls: type | None) -> None:
    """A flag ``--limit-<field>`` (dest ``limit_<field>``, default None) per field of the dataclass ``limits_cls``.

    Fields named ``*_bytes`` take sizes like ``512M``. The fields of :data:`ALIASES` answer to their
    short flag too, which exists even when ``limits_cls`` is None or lacks the field.
    """
    group = parser.add_argument_group("limits", "sizes a request may ask for; each defaults to the Limits default")
    names = set()
    docs = _attribute_docs(limits_cls) if limits_cls is not None else {}
    for f in dataclasses.fields(limits_cls) if limits_cls is not None else ():
        default = _default(f)
        flags = [f"--limit-{f.name.replace('_', '-')}"]
        if f.name in ALIASES:
            flags.insert(0, ALIASES[f.name])
        if f.name.endswith("_bytes"):
            kind, metavar = parse_bytes, "BYTES"
        else:
            kind = type(default) if isinstance(default, (int, float, str)) and not isinstance(default, bool) else str
            metavar = "N" if kind in (int, float) else "VALUE"
        doc = docs.get(f.name, f.name.replace("_", " "))
        group.add_argument(
            *flags, dest=f"limit_{f.name}", type=kind, default=None, metavar=metavar, help=f"{doc} (default {default})"
        )
        names.add(f.name)
    for name, flag in ALIASES.items():
        if name not in names:
            metavar, doc = ALIAS_HELP[name]
            kind = parse_bytes if name.endswith("_bytes") else int
            group.add_argument(flag, dest=f"limit_{name}", type=kind, default=None, metavar=metavar, help=doc)


def limits_from_args(args: argparse.Namespace, limits_cls: type | None):
    """A ``limits_cls`` with the fields given as flags changed, or None when there is no Limits class.

    Raises:
        ValueError: a field's value is refused by ``limits_cls`` (its error names the field).
    """
    if limits_cls is None:
        return None
    changes = {
        f.name: getattr(args, f"limit_{f.name}")
        for f in dataclasses.fields(limits_cls)
        if getattr(args, f"limit_{f.name}", None) is not None
    }
    return limits_cls(**changes)


def build_parser(limits_cls: type | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="start the browser workbench (default)")
    add_serve_arguments(serve, limits_cls)
    add_serve_arguments(parser, limits_cls)
    from workbench.lottery.cli import add_lottery_parser

    add_lottery_parser(sub)
    return parser


def add_serve_arguments(parser: argparse.ArgumentParser, limits_cls: type | None = None) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode, on Dash's development server")
    parser.add_argument("--sample", default=None, help="sample model to open first")
    parser.add_argument("--threads", type=int, default=16, help="request threads (default 16)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where idle sessions are kept on disk (default $XDG_DATA_HOME/workbench or ~/.local/share/workbench)",
    )
    parser.add_argument("--access-log", action="store_true", help="log one line per request")
    parser.add_argument(
        "--sweeps",
        type=Path,
        default=Path("results"),
        help="folder of lottery sweeps the ticket screen can open (default ./results)",
    )
    add_limit_arguments(parser, limits_cls)


def serve_config(args: argparse.Namespace, limits_cls: type | None = None):
    """The :class:`~workbench.app.server.ServerConfig` the flags ask for.

    Raises:
        ValueError: a value is out of range (the message names it).
    """
    from workbench.app.server import ServerConfig

    limits = limits_from_args(args, limits_cls)
    fields = {
        "host": args.host,
        "port": args.port,
        "threads": args.threads,
        "access_log": args.access_log,
        "sample": args.sample,
        "debug": args.debug,
        "limits": limits,
        "sweeps_dir": args.sweeps,
    }
    if args.data_dir is not None:
        fields["data_dir"] = args.data_dir
    for name, config_name in (("session_memory_bytes", "memory_budget"), ("training_slots", "training_slots")):
        value = getattr(args, f"limit_{name}", None)
        if value is None:
            value = getattr(limits, name, None)
        if value is not None:
            fields[config_name] = value
    return ServerConfig(**fields)


def main(argv: list[str] | None = None) -> int:
    limits_cls = _limits_class()
    parser = build_parser(limits_cls)
    args = parser.parse_args(argv)
    if args.command == "lottery":
        from workbench.lottery.cli import run_lottery_command

        return run_lottery_command(args)
    try:
        config = serve_config(args, limits_cls)
    except ValueError as err:
        parser.error(str(err))
    from workbench.app import run_server

    run_server(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
