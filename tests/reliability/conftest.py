"""The reliability suite: a fast profile in CI, a deeper one with ``pytest --deep``. Each test
records its figures (faults survived, requests per task, overshoots, crashes) in ``figures``;
pytest prints them at the end of the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

FIGURES: dict[str, Any] = {}


@pytest.fixture
def deep(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--deep"))


@pytest.fixture
def figures() -> Iterator[dict[str, Any]]:
    yield FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for key, value in FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")
