"""Shared by the cookbook scripts: the --base-url, --small and --large options, and the pair of
models they name (the embedded local models when no server is given)."""

from __future__ import annotations

import argparse

from agentroute import Model


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="an OpenAI-compatible server instead of local models")
    parser.add_argument("--small", default="small")
    parser.add_argument("--large", default="large")


def small_and_large(args: argparse.Namespace) -> tuple[Model, Model]:
    if not args.base_url:
        return Model.local("small"), Model.local("large")
    return (
        Model.openai_compatible(args.base_url, args.small, tier="small"),
        Model.openai_compatible(args.base_url, args.large, tier="large"),
    )
