"""One local Ray cluster for the fleet tests (starting one takes seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="package")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100_000_000,
             log_to_driver=False)  # fmt: skip
    yield
    ray.shutdown()
