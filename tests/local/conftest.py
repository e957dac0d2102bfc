"""Integration tests on the real embedded models.

They skip when llama.cpp or the weights are missing, unless ``AGENTROUTE_REQUIRE_LOCAL=1``
(set by ``.ci/run``), which turns every such skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from agentroute.models.local.pull import is_pulled, spec_for


def require(tier: str) -> None:
    missing = None
    if importlib.util.find_spec("llama_cpp") is None:
        missing = "llama-cpp-python is not installed (pip install 'agentroute[local]')"
    elif not is_pulled(spec_for(tier)):
        missing = f"the {tier} model is not pulled (agentroute models pull {tier})"
    if missing:
        if os.environ.get("AGENTROUTE_REQUIRE_LOCAL") == "1":
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture
def tiny() -> str:
    require("tiny")
    return "tiny"


@pytest.fixture
def small_and_large() -> None:
    require("small")
    require("large")
