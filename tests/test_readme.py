"""The README's code runs as written (a block that stops running fails here)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def python_blocks(heading: str) -> list[str]:
    """The ``python`` code blocks of the README section that starts with ``heading``."""
    start = README.index(f"\n## {heading}")
    end = README.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", README[start : end if end > 0 else None], re.S)


RUNS = [("Streaming, and failover in the middle of an answer", "working days of the return")]
"""Sections whose code runs anywhere (no model server, no GPU), and what it prints."""
LOCAL = [("Conversations, typed answers, handoffs and a person in the loop", "order_id=")]
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
    heading: str, prints: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.local.conftest import require

    require("large")
    test_a_readme_section_runs_as_written(heading, prints, capsys)
