"""Live OpenTelemetry: spans reach a real trace backend (Arize Phoenix, started here and
receiving OTLP over HTTP) while the run is still going.

Phoenix lives in a virtualenv of its own (`make phoenix`, .venv-phoenix): its dependencies
would otherwise move this project's own. Without it the test is skipped, unless
AGENTROUTE_REQUIRE_PHOENIX=1 (as in CI), where its absence fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentroute import Agent, Pipeline, tool
from agentroute.events import ToolCallEvent
from agentroute.testing import FakeModelServer, Reply
from agentroute.trace.otel import otlp
from tests.conftest import ROOT, fake_model, run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = Path(os.environ.get("AGENTROUTE_PHOENIX", ROOT / ".venv-phoenix" / "bin" / "phoenix"))
    if not exe.exists():
        if os.environ.get("AGENTROUTE_REQUIRE_PHOENIX") == "1":
            pytest.fail(f"Phoenix is required here (AGENTROUTE_REQUIRE_PHOENIX=1): no {exe}")
        pytest.skip("no Phoenix: `make phoenix` installs it")
    port = _free_port()
    env = {
        **os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()), "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_WORKING_DIR": str(tmp_path_factory.mktemp("phoenix")),
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }  # fmt: skip
    log = tmp_path_factory.mktemp("phoenix-log") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("Phoenix did not start in 120 s:\n" + log.read_text()[-3000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _spans(url: str) -> list[dict[str, Any]]:
    return list(_get(f"{url}/v1/projects/default/spans?limit=100")["data"])


def test_spans_arrive_in_phoenix_while_the_run_is_still_going(
    phoenix: str, server: FakeModelServer
) -> None:
    seen_mid_run: list[list[str]] = []

    @tool
    def check_backend(order_id: str) -> str:
        """Look the order up (and, for the test, see what the backend holds so far)."""
        deadline = time.monotonic() + 20
        names: list[str] = []
        while time.monotonic() < deadline and "chat openai:m" not in names:
            time.sleep(0.2)
            names = [s["name"] for s in _spans(phoenix)]
        seen_mid_run.append(names)
        return f"order {order_id}: shipped"

    server.script(
        Reply("", tool_calls=(("check_backend", {"order_id": "7"}),), usage=(40, 6)),
        Reply("Order 7 has shipped. Bearer sk-live-abcdefghijklmnop1234", usage=(60, 9)),
    )
    agent = Agent("orders", "order status", tools=[check_backend], models=[fake_model(server)])
    with otlp(f"{phoenix}/v1/traces", content=True, flush_every_s=0.2) as writer:
        result = Pipeline([agent], budget_usd=1.0, sinks=[writer]).run("where is order 7?")
    assert result.output.startswith("Order 7 has shipped.")
    (call,) = result.trace.events(ToolCallEvent)
    assert call.ok

    # mid-run: the first model call's span was there, the run's own span was not (still open)
    (names,) = seen_mid_run
    assert "chat openai:m" in names
    assert not any(n.startswith("invoke_agent") for n in names)

    # after the run: the whole run, with its routing attributes, redacted content and parents
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        spans = {s["name"]: s for s in _spans(phoenix)}
        if "invoke_agent orders" in spans and "execute_tool check_backend" in spans:
            break
        time.sleep(0.2)
    root = spans["invoke_agent orders"]
    attributes = root["attributes"]
    assert attributes["agentroute.run_id"] == result.trace[0].run_id
    assert attributes["agentroute.run.status"] == "ok"
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert attributes["agentroute.budget.limit_usd"] == 1.0
    assert "sk-live-abcdefghijklmnop1234" not in json.dumps(root)
    assert "Order 7 has shipped." in attributes["gen_ai.output.messages"]
    tool_span = spans["execute_tool check_backend"]
    assert tool_span["parent_id"] == root["context"]["span_id"]
    assert tool_span["attributes"]["gen_ai.tool.call.result"] == '"order 7: shipped"'
    chat = spans["chat openai:m"]
    assert chat["attributes"]["agentroute.purpose"] == "answer"
    assert chat["context"]["trace_id"] == root["context"]["trace_id"]


def test_cli_sends_a_saved_trace_to_phoenix(
    phoenix: str, server: FakeModelServer, tmp_path: Path
) -> None:
    server.script(Reply("Saved and sent.", usage=(12, 3)))
    agent = Agent("archivist", "keeps records", models=[fake_model(server)])
    result = Pipeline([agent], trace_dir=tmp_path).run("file this")
    out = run_cli("trace", "export", str(result.trace_path), "--otlp", f"{phoenix}/v1/traces")
    assert out.returncode == 0, out.stderr
    assert "sent 2 spans" in out.stdout
    wanted = {"invoke_agent archivist", "chat openai:m"}
    deadline = time.monotonic() + 20  # Phoenix stores what it received in the background
    while not wanted <= (names := {s["name"] for s in _spans(phoenix)}):
        assert time.monotonic() < deadline, names
        time.sleep(0.2)
