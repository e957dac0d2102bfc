"""The llama.cpp server lifecycle on the real tiny model (SmolLM2-135M)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agentroute import Agent, FixedTierPolicy, LocalModelError, Model, Pipeline
from agentroute.models.local.server import POOL, LocalServer
from agentroute.models.openai_compat import OpenAICompatibleEndpoint
from agentroute.types import Message, ModelRequest
from tests.conftest import run

pytestmark = pytest.mark.local_model


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    return False


def test_completion_format_and_logprob_ordering(tiny: str) -> None:
    async def go():  # type: ignore[no-untyped-def]
        ep = OpenAICompatibleEndpoint(POOL.url_for(tiny), tiny, provider="local")
        try:
            return await ep.complete(
                ModelRequest(
                    messages=(Message.user("Name a colour."),),
                    max_tokens=6,
                    logprobs=True,
                    top_logprobs=5,
                ),
                timeout_s=120,
            )
        finally:
            await ep.aclose()

    c = run(go())
    assert c.usage.input_tokens > 0 and 0 < c.usage.output_tokens <= 6
    assert c.logprobs is not None and len(c.logprobs) == c.usage.output_tokens
    for tok in c.logprobs:
        assert tok.logprob <= 0.0
        tops = [a.logprob for a in tok.top]
        assert tops == sorted(tops, reverse=True)
        assert tok.logprob <= tops[0] + 1e-6


def test_port_in_use_is_a_clear_error(tiny: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = LocalServer(tiny, port=port)
        with pytest.raises(LocalModelError, match=f"port {port}.*in use"):
            server.start()
        assert server.proc is None


def test_missing_weights_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny: str
) -> None:
    monkeypatch.setenv("AGENTROUTE_HOME", str(tmp_path))
    with pytest.raises(LocalModelError, match="agentroute models pull tiny"):
        LocalServer(tiny).start()


def test_bad_model_file_fails_fast_with_the_log(tmp_path: Path, tiny: str) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file" * 100)
    server = LocalServer(tiny, model_file=junk, startup_timeout_s=60)
    with pytest.raises(LocalModelError, match="exited with code"):
        server.start()
    assert server.proc is None


def test_server_dying_mid_run_is_reported(tiny: str) -> None:
    model = Model.local("tiny")
    agent = Agent(
        "talker",
        "talks at length",
        models=[model],
        max_tokens=400,
        instructions="Write a long story.",
    )
    pipeline = Pipeline([agent], policy=FixedTierPolicy("tiny"))
    POOL.url_for(tiny)
    server = POOL.server(tiny)
    assert server is not None and server.proc is not None

    async def go() -> None:
        task = asyncio.create_task(pipeline.arun("Tell me a long story about a lighthouse."))
        await asyncio.sleep(1.5)
        os.killpg(server.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        await task

    with pytest.raises(LocalModelError, match="stopped during the run"):
        run(go())
    POOL.stop_all()


CHILD = textwrap.dedent("""
    import sys, time
    from agentroute.models.local.server import POOL, LocalServer
    POOL.url_for("tiny")
    print(POOL.server("tiny").proc.pid, flush=True)
    if sys.argv[1] == "hang":
        time.sleep(600)
""")


@pytest.mark.parametrize("how", ["killed", "exits"])
def test_no_stray_server_when_the_parent_goes(tiny: str, how: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, "hang" if how == "killed" else "x"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    if how == "killed":
        parent.kill()
    parent.wait(60)
    assert _gone(server_pid, within_s=10), f"server {server_pid} outlived its parent"


def test_serve_command_is_found_and_reused(tiny: str) -> None:
    from agentroute.models.local.server import find_served

    serve = subprocess.Popen(
        [sys.executable, "-m", "agentroute.cli", "serve", "tiny"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        assert "tiny: http://127.0.0.1:" in first
        url = first.split()[1]
        assert find_served("tiny") == url
        assert POOL.url_for("tiny") == url
        assert POOL.server("tiny") is None  # reused, not started by this process
        server_pid = int(first.split("pid ")[1].rstrip(")\n"))
    finally:
        serve.terminate()
        serve.wait(30)
    assert _gone(server_pid, within_s=10)
    assert find_served("tiny") is None
