"""Durable execution: a worker process is killed (SIGKILL) mid-run, a new process resumes the
thread from its SQLite checkpoint and finishes with no finished model call or tool effect
done twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agentroute.testing import FakeModelServer, Reply
from agentroute.trace import Trace

WORKER = Path(__file__).with_name("durable_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _worker(server: FakeModelServer, tmp: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), server.url, str(tmp / "runs.db"), str(tmp / "effects.txt"),
         "trip-1", mode],
        cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.02)


def test_killed_run_resumes_without_repeating_finished_calls_or_tool_effects(
    server: FakeModelServer, tmp_path: Path
) -> None:
    server.script(Reply("Reason: a trip\nAgents: travel"), model="router")
    server.script(
        Reply("", tool_calls=(("book_flight", {"city": "Lisbon"}),)),
        Reply("", tool_calls=(("book_hotel", {"city": "Lisbon"}),)),
        Reply("never delivered", delay_s=120),  # the worker is killed while waiting for this
        Reply("Flight and hotel in Lisbon are booked."),
        model="m",
    )
    effects = tmp_path / "effects.txt"
    first = _worker(server, tmp_path, "start")
    try:
        _wait_for(lambda: len(server.calls()) == 4)
        # the third answer call is in flight; both tool effects happened and were checkpointed
        assert effects.read_text().count("\n") == 2
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL

    second = _worker(server, tmp_path, "resume")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    result = json.loads(out)
    assert result["output"] == "Flight and hotel in Lisbon are booked."

    bodies = [json.dumps(c.body, sort_keys=True) for c in server.calls()]
    assert len(bodies) == 5
    # route, answer 1, answer 2 were each sent once; only the call in flight at the kill
    # (which never came back) was sent again
    assert len(set(bodies[:4])) == 4 and bodies[4] == bodies[3]
    lines = effects.read_text().splitlines()
    assert [x.split(" key=")[0] for x in lines] == ["flight Lisbon", "hotel Lisbon"]
    keys = [x.split(" key=")[1] for x in lines]
    assert len(set(keys)) == 2 and all(k.startswith("trip-1:travel:") for k in keys)

    # four calls were paid for in all (10 in, 5 out at $1/$2 per million each)
    assert result["model_calls"] == 4
    assert abs(result["cost_usd"] - 4 * (10 * 1.0 + 5 * 2.0) / 1e6) < 1e-12
    trace = Trace.load(tmp_path / result["trace"])
    resume = trace.of_kind("resume")
    assert len(resume) == 1
    assert resume[0].model_calls == 3 and resume[0].next_nodes == ("unit",)  # type: ignore[union-attr]
    assert [e.kind for e in trace][-1] == "run_end"
    assert len(list((tmp_path / "traces").glob("run-*.jsonl"))) == 2  # one file per process
