"""The README's code runs as written (a block that stops running fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("ray_stops_after_the_module")

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
    ("Small or large, within budget", "['hard', 'easy', 'easy', 'hard', 'easy']"),
    ("Ant-colony specialists", "pheromone for task type 'code'"),
    ("On LangGraph, durable", "Your trip to Lisbon is booked. True 2"),
    ("Scale-out on Ray", "['done', 'done'] spent $0.00004 of $0.01"),
]
"""Sections whose code runs anywhere (no model server, no GPU), and what it prints."""
LOCAL = [
    ("Ten lines", "traces/run-"),
    ("Conversations, typed answers, handoffs and a person in the loop", "order_id="),
    ("Routing over a graph of tools", "'start'"),
]
"""Sections whose code runs on the embedded models, and what it prints."""


@pytest.fixture
def in_a_fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files an example writes (traces, policy.json, runs.db) land in ``tmp_path``; the
    repository's ``cookbook`` is linked there for the examples that name its files."""
    (tmp_path / "cookbook").symlink_to(ROOT / "cookbook")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(("heading", "prints"), RUNS)
def test_a_readme_section_runs_as_written(
    heading: str, prints: str, capsys: pytest.CaptureFixture[str], in_a_fresh_folder: None
) -> None:
    run_section(heading, prints, capsys)


def run_section(heading: str, prints: str, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(heading)
    assert blocks, f"no python block under {heading!r}"
    for code in blocks:
        exec(compile(code, f"README.md: {heading}", "exec"), {"__name__": "__main__"})
    assert prints in capsys.readouterr().out


@pytest.mark.local_model
@pytest.mark.parametrize(("heading", "prints"), LOCAL)
def test_a_readme_section_runs_on_the_embedded_models(
    heading: str, prints: str, capsys: pytest.CaptureFixture[str], in_a_fresh_folder: None
) -> None:
    from tests.local.conftest import require

    require("small")
    require("large")
    run_section(heading, prints, capsys)


def test_every_python_block_in_the_readme_runs_in_a_test() -> None:
    """No block is a sketch that only has to compile: each section with python code is run
    above, anywhere (RUNS) or on the embedded models (LOCAL)."""
    headings = re.findall(r"^## (.+)$", README, re.M)
    with_code = [h for h in headings if python_blocks(h)]
    assert len(with_code) >= 8
    assert sorted(with_code) == sorted(h for h, _ in RUNS + LOCAL)
