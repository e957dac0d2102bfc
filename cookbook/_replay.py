"""Shared by the cookbook scripts: ``--check-replay`` replays every run the script made on
its recorded responses (no model call) and says whether each one made the same decisions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agentroute.trace.diff import ReplayReport

Check = Callable[[], ReplayReport]


def add_replay_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check-replay",
        action="store_true",
        help="replay every run from its trace (no model call) and compare the decisions",
    )


def report_replays(checks: Sequence[Check]) -> None:
    """Run the replays; print one line, and exit 1 with the first difference if any."""
    reports = [check() for check in checks]
    differing = [r for r in reports if not r.identical]
    print(f"replay: {len(reports) - len(differing)} of {len(reports)} runs identical")
    if differing:
        print(differing[0].describe())
        sys.exit(1)
