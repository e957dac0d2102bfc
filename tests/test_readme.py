"""The README's code runs as written (a block that stops running fails here)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def python_blocks(heading: str) -> list[str]:
    """The ``python`` code blocks of the README section that starts with ``heading``."""
    start = README.index(f"\n## {heading}")
    end = README.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", README[start : end if end > 0 else None], re.S)


RUNS = [
    ("Streaming, and failover in the middle of an answer", "working days of the return"),
    ("Testing your own code", "4 2"),
    ("Providers, prices and MCP tools", "order 7: delivered yesterday"),
]
"""Sections whose code runs anywhere (no model server, no GPU), and what it prints."""
LOCAL = [
    ("Ten lines", "traces/run-"),
    ("Conversations, typed answers, handoffs and a person in the loop", "order_id="),
    ("Routing over a graph of tools", "'start'"),
]
"""Sections whose code runs on the embedded models, and what it prints."""


@pytest.mark.parametrize(("heading", "prints"), RUNS)
def test_a_readme_section_runs_as_written(
    heading: str, prints: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(heading)
    assert blocks, f"no python block under {heading!r}"
    for code in blocks:
        exec(compile(code, f"README.md: {heading}", "exec"), {"__name__": "__main__"})
    assert prints in capsys.readouterr().out


@pytest.mark.local_model
@pytest.mark.parametrize(("heading", "prints"), LOCAL)
def test_a_readme_section_runs_on_the_embedded_models(
    heading: str, prints: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from tests.local.conftest import require

    require("small")
    require("large")
    monkeypatch.chdir(tmp_path)  # a trace_dir in an example lands here
    test_a_readme_section_runs_as_written(heading, prints, capsys)


def test_every_python_block_in_the_readme_at_least_compiles() -> None:
    """The blocks that are sketches (they need a cluster, a GPU or data) must still parse."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 8
    for i, code in enumerate(blocks):
        compile(code, f"README.md block {i}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
