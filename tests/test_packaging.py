"""What the package declares: the marker that makes it typed."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def test_the_package_says_it_is_typed() -> None:
    assert files("agentroute").joinpath("py.typed").is_file()
    assert "Typing :: Typed" in PYPROJECT["project"]["classifiers"]
