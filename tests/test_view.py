"""The HTML trace viewer, checked as markup and in a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentroute.graph import TaskGraph
from agentroute.runtime import GraphRunner, NodeContext
from agentroute.trace.view import render


def _graph_trace(tmp_path: Path) -> Path:
    g = TaskGraph(
        [
            ("start", "search_a", 1),
            ("start", "search_b", 3),
            ("search_a", "done", 1),
            ("search_b", "done", 1),
        ],
        start="start",
        goal="done",
    )

    def fail(ctx: NodeContext) -> None:
        raise ConnectionError("<script>alert('x')</script>")

    result = GraphRunner(g, {"search_a": fail, "search_b": lambda c: 1, "done": lambda c: 2}).run(
        "find <b>things</b>"
    )
    return result.trace.save(tmp_path / "graph.jsonl")


def test_render_escapes_and_shows_the_story(tmp_path: Path) -> None:
    from agentroute import Trace

    html = render(Trace.load(_graph_trace(tmp_path)))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "find &lt;b&gt;things&lt;/b&gt;" in html
    for part in ("<svg", "reroute", "search_b", "Timeline", "Events", "search_a failed"):
        assert part in html
    assert "http" not in html.replace("http-equiv", "")  # self-contained: nothing to fetch


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("AGENTROUTE_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is required here (AGENTROUTE_REQUIRE_BROWSER=1)")
    return found


def test_view_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    trace = _graph_trace(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentroute.cli",
            "trace",
            "view",
            str(trace),
            "-o",
            str(tmp_path / "view.html"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = (tmp_path / "view.html").as_uri()
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    assert "<svg" in dom.stdout and "search_b" in dom.stdout
    shot = tmp_path / "view.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,900", url],
        capture_output=True,
        timeout=120,
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
