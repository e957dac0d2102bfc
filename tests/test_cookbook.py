"""Cookbook files run as real programs (against the fake server here; on the local models in
tests/local)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentroute.testing import FakeModelServer, Reply

COOKBOOK = Path(__file__).resolve().parents[1] / "cookbook"


def test_every_cookbook_file_says_what_it_shows() -> None:
    files = sorted(COOKBOOK.glob("*.py"))
    assert files
    for f in files:
        doc = f.read_text().split('"""')[1]
        assert len(doc.split()) >= 10, f"{f.name} needs a docstring saying what it shows"


def test_support_triage_on_an_openai_compatible_server(
    server: FakeModelServer, tmp_path: Path
) -> None:
    server.script(Reply("Reason: late parcel\nAgents: shipping"), model="big")
    server.script(Reply("T", logprobs=(("T", -0.01, (("T", -0.01),)),)), model="tiny-one")
    server.script(Reply("Your parcel ships tomorrow."), model="tiny-one")
    out = subprocess.run(
        [
            sys.executable,
            str(COOKBOOK / "support_triage.py"),
            "--base-url",
            server.url,
            "--small",
            "tiny-one",
            "--large",
            "big",
            "Where is my parcel?",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "Your parcel ships tomorrow." in out.stdout
    assert "route=shipping" in out.stdout
    assert list((tmp_path / "traces").glob("run-*.jsonl"))
