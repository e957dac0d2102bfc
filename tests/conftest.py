from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agentroute.models import Model, RetryPolicy
from agentroute.testing import FakeModelServer

T = TypeVar("T")
FAST_RETRY = RetryPolicy(
    max_attempts=3,
    initial_backoff_s=0.01,
    max_backoff_s=0.05,
    attempt_timeout_s=5.0,
    deadline_s=10.0,
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as s:
        yield s


def fake_model(
    server: FakeModelServer,
    name: str = "m",
    *,
    tier: str = "small",
    price_in: float = 1.0,
    price_out: float = 2.0,
    api_key: str | None = None,
    retry: RetryPolicy = FAST_RETRY,
) -> Model:
    return Model.openai_compatible(
        server.url,
        name,
        tier=tier,  # type: ignore[arg-type]
        price_in=price_in,
        price_out=price_out,
        api_key=api_key,
        retry=retry,
    )


ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str,
    timeout: float = 120,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``agentroute ARGS`` as a real subprocess from the repository root, optionally under a
    ``prefix`` command (``unshare -n``) and with extra environment variables."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "agentroute.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300", **(env or {})},
    )


@pytest.fixture(scope="module")
def ray_stops_after_the_module() -> Iterator[None]:
    """For a module whose examples start a local Ray cluster (as a script would): it is left
    up for the module's later examples and stopped at the module's end."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--deep",
        action="store_true",
        help="the reliability suite's deep profile (more runs, more kills)",
    )


def traced_signals(trace: Any) -> list[tuple[int, str, str, str, bool]]:
    """Every traced health signal as (step, monitor, target, signal, down), whether it was
    traced on its own (``health_signal``) or among a lane's first signals (``health_state``)."""
    out: list[tuple[int, str, str, str, bool]] = []
    for e in trace:
        if e.kind == "health_signal":
            out.append((e.step, e.monitor, e.target, e.signal, e.down))
        elif e.kind == "health_state":
            out += [(e.step, x.monitor, x.target, x.signal, x.down) for x in e.signals]
    return out
