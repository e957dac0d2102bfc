"""The command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from agentroute import Agent, Pipeline, __version__
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model, run_cli


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


def test_trace_show_prints_the_run_as_a_tree(tmp_path: Path, server: FakeModelServer) -> None:
    server.script(Reply("shown answer"))
    Pipeline([Agent("solo", "x", models=[fake_model(server)])], trace_dir=tmp_path,
             budget_usd=0.25).run("q")  # fmt: skip
    [trace] = tmp_path.glob("*.jsonl")
    out = cli("trace", "show", str(trace))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("run ") and 'q" · router first · budget $0.25' in lines[1]
    assert any(x.startswith("└── route by first: solo") for x in lines)
    assert any("── call openai:m: ok · 10 in / 5 out tokens · $0.00002" in x for x in lines)

    def column(needle: str) -> int:
        return next(x.index(needle) for x in lines if needle in x)

    assert column("route by") == column("path:") < column("node solo@openai:m")
    assert column("node solo@openai:m") < column("budget: settle") == column("call openai:m")
    assert lines[-1].startswith('end ok: "shown answer" · ') and "of $0.25 · 1 calls" in lines[-1]
    only = cli("trace", "show", str(trace), "--kind", "run_end", "--kind", "model_call")
    assert only.returncode == 0, only.stderr
    assert "end ok" in only.stdout and "call openai:m" in only.stdout
    assert "budget:" not in only.stdout and "route by" not in only.stdout
    wrong = cli("trace", "show", str(trace), "--kind", "model_cal")
    assert wrong.returncode == 2 and "unknown event kind(s) model_cal" in wrong.stderr


def test_trace_show_json_prints_the_stored_events(tmp_path: Path, server: FakeModelServer) -> None:
    path = _hostile_trace(tmp_path, server)
    stored = [json.loads(x) for x in path.read_text().splitlines()]
    events = [r for r in stored if r["kind"] != "seal"]
    out = run_cli("trace", "show", str(path), "--json")
    assert out.returncode == 0, out.stderr
    assert [json.loads(x) for x in out.stdout.splitlines()] == events
    assert not CONTROLS.search(out.stdout)  # escaped as \\u202e: the same JSON
    only = run_cli("trace", "show", str(path), "--json", "--kind", "model_call")
    assert [json.loads(x) for x in only.stdout.splitlines()] == [
        r for r in events if r["kind"] == "model_call"
    ]


def test_trace_show_rejects_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "model_call"}\n')
    out = cli("trace", "show", str(bad))
    assert out.returncode == 1
    assert "TraceError" in out.stderr and "bad.jsonl:1" in out.stderr


def test_models_pull_unknown_tier() -> None:
    out = cli("models", "pull", "gigantic")
    assert out.returncode == 1 and "unknown local model" in out.stderr


def test_run_shows_every_run_and_the_scripts_failure(
    server: FakeModelServer, tmp_path: Path
) -> None:
    """`agentroute run` passes --task and other options on, tables each run the script made,
    and exits 1 with the script's error when it fails after them."""
    server.responder = lambda body: Reply("fine answer")
    script = tmp_path / "job.py"
    script.write_text(
        "import argparse\n"
        "from agentroute import Agent, Model, Pipeline\n"
        "p = argparse.ArgumentParser(); p.add_argument('--task'); p.add_argument('--url')\n"
        "a = p.parse_args()\n"
        "m = Model.openai_compatible(a.url, 'm')\n"
        "pipe = Pipeline([Agent('solo', 'answers', models=[m])], trace_dir='traces')\n"
        "print('ANSWER', pipe.run(a.task).output)\n"
        "pipe.run(a.task + ' again')\n"
        "raise SystemExit('the job gave up')\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "agentroute.cli", "run", str(script), "--task", "hello",
         "--url", server.url],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert out.returncode == 1 and "the job gave up" in out.stderr
    assert "ANSWER fine answer" in out.stdout
    table = out.stdout[out.stdout.index("agentroute runs") :]
    assert table.count(" ok ") == 2 and table.count("traces/run-") == 2
    assert [c.body["messages"][-1]["content"] for c in server.calls()] == ["hello", "hello again"]


def test_run_refuses_a_missing_file(tmp_path: Path) -> None:
    out = run_cli("run", str(tmp_path / "nope.py"))
    assert out.returncode != 0 and "no such file" in (out.stdout + out.stderr)


HOSTILE = "see [link=https://evil.example]here[/link] [bold red]x[/] \x1b[2J\x1b]0;owned\x07"


CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]")


def _hostile_trace(tmp_path: Path, server: FakeModelServer) -> Path:
    server.script(Reply(HOSTILE))
    pipeline = Pipeline([Agent("a", "x", models=[fake_model(server)])], trace_dir=tmp_path)
    result = pipeline.run("a task with [/] and [bold]markup :thumbs_up: \u202eevil")
    assert result.trace_path is not None
    return result.trace_path


def test_trace_show_prints_hostile_strings_as_text(tmp_path: Path, server: FakeModelServer) -> None:
    out = run_cli("trace", "show", str(_hostile_trace(tmp_path, server)))
    assert out.returncode == 0, out.stderr
    # shown, not interpreted: markup, emoji codes, and the control characters made visible
    assert '"a task with [/] and [bold]markup :thumbs_up: \\u202eevil"' in out.stdout
    assert (
        'end ok: "see [link=https://evil.example]here[/link] [bold red]x[/] \\x1b[2J' in out.stdout
    )
    assert "\\x1b]0;owned\\x07" in out.stdout
    assert not CONTROLS.search(out.stdout)


def test_cli_answers_special_files_with_one_clear_line(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    for target in ("/dev/zero", str(fifo)):
        for command in (("trace", "show"), ("trace", "verify"), ("replay",)):
            out = run_cli(*command, target, timeout=20)
            assert out.returncode != 0 and "not a regular file" in out.stderr, (command, target)
            assert "Traceback" not in out.stderr


def test_a_closed_pipe_ends_the_cli_quietly(tmp_path: Path, server: FakeModelServer) -> None:
    path = _hostile_trace(tmp_path, server)
    shell = f"{sys.executable} -m agentroute.cli trace show {path} | head -c 10"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "COLUMNS": "80"})  # fmt: skip
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_an_error_quoting_markup_is_printed_as_text(tmp_path: Path) -> None:
    odd = tmp_path / "[/]x[bold]\x1b.jsonl"
    out = run_cli("trace", "show", str(odd))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "error: TraceError: cannot read trace" in out.stderr
    assert "[/]x[bold]\\x1b.jsonl" in out.stderr
