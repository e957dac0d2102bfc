"""The command line, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentroute import Agent, Pipeline, __version__
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentroute.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_help_lists_commands() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in ("version", "trace", "models", "serve", "demo"):
        assert command in out.stdout


def test_version() -> None:
    out = cli("version")
    assert out.returncode == 0 and __version__ in out.stdout


def test_trace_show_prints_the_timeline(tmp_path: Path, server: FakeModelServer) -> None:
    server.script(Reply("shown answer"))
    Pipeline([Agent("solo", "x", models=[fake_model(server)])], trace_dir=tmp_path).run("q")
    [trace] = tmp_path.glob("*.jsonl")
    out = cli("trace", "show", str(trace))
    assert out.returncode == 0, out.stderr
    for kind in ("run_start", "model_call", "budget_settle", "run_end"):
        assert kind in out.stdout
    only = cli("trace", "show", str(trace), "--kind", "run_end")
    assert "run_end" in only.stdout and "budget_settle" not in only.stdout


def test_trace_show_rejects_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "model_call"}\n')
    out = cli("trace", "show", str(bad))
    assert out.returncode == 1
    assert "TraceError" in out.stderr and "bad.jsonl:1" in out.stderr


def test_models_pull_unknown_tier() -> None:
    out = cli("models", "pull", "gigantic")
    assert out.returncode == 1 and "unknown local model" in out.stderr
