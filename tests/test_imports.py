"""What importing agentroute loads: the public names resolve lazily, and heavy dependencies wait
until they are used. Each check runs in a fresh interpreter, where nothing is imported yet.
(How long the imports take is measured by benchmarks/import_time.py, not here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import agentroute

# Loaded only by what needs them: graphs (networkx), trace files (structlog, which loads rich),
# the CLI (typer, rich) and provider clients (openai, anthropic, their HTTP layer).
HEAVY = ("networkx", "structlog", "rich", "typer", "openai", "anthropic", "httpx2")


def _run(code: str) -> str:
    """The last line ``code`` prints in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[-1]


def _loaded_after(code: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    listing = "sorted({m.split('.')[0] for m in sys.modules})"
    return set(json.loads(_run(f"{code}\nimport json, sys\nprint(json.dumps({listing}))")))


def test_import_agentroute_loads_no_third_party_package() -> None:
    loaded = _loaded_after("import agentroute")
    assert "pydantic" not in loaded
    assert not loaded & set(HEAVY)


def test_a_pipelines_first_imports_leave_heavy_dependencies_unloaded() -> None:
    loaded = _loaded_after("from agentroute import Pipeline, Agent, Model")
    assert sorted(loaded & set(HEAVY)) == []


def test_building_a_graph_or_a_trace_file_loads_what_it_uses(tmp_path: Path) -> None:
    code = (
        "from agentroute.graph import TaskGraph\n"
        "from agentroute.trace import JsonlSink\n"
        "TaskGraph([('a', 'b')], start='a', goal='b')\n"
        f"JsonlSink({str(tmp_path)!r} + '/t.jsonl').close()"
    )
    assert {"networkx", "structlog"} <= _loaded_after(code)


@pytest.mark.parametrize("name", agentroute.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(agentroute, name) is not None
    assert name in dir(agentroute)


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from agentroute import *", namespace)
    assert set(agentroute.__all__) <= set(namespace)


def test_subpackages_are_reachable_as_attributes() -> None:
    code = "import agentroute\nprint(agentroute.graph.TaskGraph.__module__)"
    assert _run(code) == "agentroute.graph.model"


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Pipline'"):
        _ = agentroute.Pipline
    with pytest.raises(AttributeError):
        _ = agentroute._private
