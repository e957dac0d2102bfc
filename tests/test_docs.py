"""Every python block of the documentation (docs/*.md) runs as written.

How a page is run: its ```python blocks run in order, in one namespace, so a block may use
what an earlier block of the same page defined. Each block must print something, and what
the page prints must contain the text `PRINTS` (or `LOCAL_PRINTS`) gives for it, so a block
that silently does nothing fails here. Blocks run in a fresh temporary directory (files an
example writes land there).

The convention for blocks that need the embedded models: the line right before the opening
fence is the HTML comment

    <!-- runs: local -->

Such a page is run twice: its other blocks alone, anywhere (no model server, no GPU; they use
`agentroute.testing.FakeModelServer` or no model at all), and all of its blocks in order under
the ``local_model`` marker (skipped, or failed with AGENTROUTE_REQUIRE_LOCAL=1, when the
weights are missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("ray_stops_after_the_module")

DOCS = ROOT / "docs"
LOCAL_MARK = "<!-- runs: local -->"


@dataclass(frozen=True)
class Block:
    line: int
    code: str
    local: bool


def blocks(page: str) -> list[Block]:
    """The page's ``python`` blocks, each with its line and whether it needs the models."""
    text = (DOCS / page).read_text()
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = text.count("\n", 0, m.start()) + 2
        out.append(Block(line, m.group(1), before.strip() == LOCAL_MARK))
    return out


PRINTS = {
    "index.md": "4 2",
    "graph.md": "completed ('start', 'search_mirror', 'summarize')",
    "routers.md": ("shipping", "('billing',) route 'billing / refund'"),
    "budgets.md": "BudgetExceededError",
    "traces.md": ("identical", "'chat openai:m', 'invoke_agent billing'"),
    "health.md": ("search_slow", "drift: True ASI 0.36"),
    "streaming.md": "working days",
    "durable.md": "Your trip to Lisbon is booked.",
    "scale-out.md": "'done'",
    "local-models.md": "http://127.0.0.1:11434/v1",
    "model-pools.md": ("affinity", "True inf", "identical", "med ('sql',) True"),
}
"""Per page, the text (or texts) that what its blocks print (those that run anywhere) must
contain."""
LOCAL_PRINTS = {
    "local-models.md": "local:small",
}
"""Per page with local blocks, a text that what all its blocks print must contain."""

PAGES = sorted(p.name for p in DOCS.glob("*.md") if blocks(p.name))


def run_blocks(page: str, chosen: list[Block], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``chosen`` in order in one namespace; return everything they printed."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    printed = []
    for block in chosen:
        exec(compile(block.code, f"docs/{page}:{block.line}", "exec"), namespace)
        out = capsys.readouterr().out
        assert out.strip(), f"docs/{page}:{block.line} printed nothing"
        printed.append(out)
    return "".join(printed)


@pytest.mark.parametrize("page", PAGES)
def test_a_docs_page_runs_as_written(
    page: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    anywhere = [b for b in blocks(page) if not b.local]
    if not anywhere:
        pytest.skip(f"every block of {page} needs the embedded models")
    assert page in PRINTS, f"say in PRINTS what docs/{page} prints"
    printed = run_blocks(page, anywhere, capsys)
    expected = PRINTS[page]
    for text in (expected,) if isinstance(expected, str) else expected:
        assert text in printed


LOCAL_PAGES = [p for p in PAGES if any(b.local for b in blocks(p))]


@pytest.mark.local_model
@pytest.mark.parametrize("page", LOCAL_PAGES)
def test_a_docs_page_runs_on_the_embedded_models(
    page: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.local.conftest import require

    require("small")
    require("large")
    monkeypatch.chdir(tmp_path)
    assert page in LOCAL_PRINTS, f"say in LOCAL_PRINTS what docs/{page} prints"
    assert LOCAL_PRINTS[page] in run_blocks(page, blocks(page), capsys)


def test_every_code_block_of_the_docs_is_either_python_that_runs_or_not_python() -> None:
    """A block fenced as ``py`` or ``python3`` would escape the tests above."""
    for page in sorted(DOCS.glob("*.md")):
        fences = re.findall(r"^```(\S*)", page.read_text(), re.M)
        odd = {f for f in fences if f.lower() in {"py", "python3", "pycon", "py3"}}
        assert not odd, f"{page.name}: fence the code as ```python so that it runs ({odd})"
    assert set(PRINTS) | set(LOCAL_PRINTS) <= set(PAGES), "PRINTS names a page with no code"
