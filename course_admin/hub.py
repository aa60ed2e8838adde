"""`course hub`: placeholder until the JupyterHub set-up lands (see issue 14)."""

from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("hub", help="a JupyterHub for a small class on this machine")


def cmd_hub(args: argparse.Namespace) -> int:
    raise SystemExit("course hub is not available yet")
