"""Shared by the cookbook scripts: the options every one of them takes (``--task``, the model
options and ``--check-replay``), so that ``agentroute run FILE --task ...`` works on all."""

from __future__ import annotations

import argparse

from _models import add_model_options
from _replay import add_replay_option


def cookbook_parser(
    doc: str | None, *, task: str | None, task_help: str | None = None
) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc``, with ``--task`` defaulting to
    ``task``, the model options and ``--check-replay``; add the script's own after."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--task", default=task, help=task_help)
    add_model_options(parser)
    add_replay_option(parser)
    return parser
