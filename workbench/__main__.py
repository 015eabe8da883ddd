"""Command line: ``python -m workbench`` (or ``workbench``) starts the app.

Subcommands:
    serve (default)   start the browser workbench on 127.0.0.1:8050
    lottery           find a lottery ticket headless (see workbench/lottery/cli.py)
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="start the browser workbench (default)")
    add_serve_arguments(serve)
    add_serve_arguments(parser)
    from workbench.lottery.cli import add_lottery_parser

    add_lottery_parser(sub)
    return parser


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (reloader off)")
    parser.add_argument("--sample", default=None, help="sample model to open first")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "lottery":
        from workbench.lottery.cli import run_lottery_command

        return run_lottery_command(args)
    from workbench.app import run_server

    run_server(host=args.host, port=args.port, debug=args.debug, sample=args.sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
