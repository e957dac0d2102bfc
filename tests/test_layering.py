"""Keep DESIGN.md's dependency direction true by reading every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "agentroute"
KERNEL = {"agentroute.types", "agentroute.errors", "agentroute.events"}
PEERS = ("routers", "health", "aco", "budget", "graph")
STDLIB = set(sys.stdlib_module_names)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = {_module_name(p): _imports(p) for p in ROOT.rglob("*.py")}


def _top(name: str) -> str:
    return name.split(".")[0]


def test_modules_were_found() -> None:
    assert "agentroute.types" in MODULES and "agentroute.runtime.pipeline" in MODULES


@pytest.mark.parametrize("module", sorted(KERNEL))
def test_kernel_imports_only_stdlib_pydantic_and_kernel(module: str) -> None:
    for imp in MODULES[module]:
        assert _top(imp) in STDLIB | {"pydantic"} or imp in KERNEL, f"{module} imports {imp}"


@pytest.mark.parametrize("peer", PEERS)
def test_peer_packages_import_only_the_kernel(peer: str) -> None:
    prefix = f"agentroute.{peer}"
    for module, imports in MODULES.items():
        if not (module == prefix or module.startswith(prefix + ".")):
            continue
        for imp in imports:
            if _top(imp) != "agentroute":
                continue
            assert imp in KERNEL or imp == prefix or imp.startswith(prefix + "."), (
                f"{module} imports {imp}: {peer}/ may import only the kernel and itself"
            )


def test_only_models_imports_provider_sdks() -> None:
    for module, imports in MODULES.items():
        for imp in imports:
            if _top(imp) in {"openai", "anthropic"}:
                assert module.startswith("agentroute.models."), f"{module} imports {imp}"


def test_only_the_retry_module_imports_tenacity() -> None:
    users = {m for m, imps in MODULES.items() if any(_top(i) == "tenacity" for i in imps)}
    assert users == {"agentroute.models.retry"}


def test_no_stray_retry_loops_in_provider_clients() -> None:
    for path in (ROOT / "models").glob("*.py"):
        text = path.read_text()
        if "AsyncOpenAI(" in text or "AsyncAnthropic(" in text:
            assert "max_retries=0" in text, f"{path.name} builds a client that retries on its own"


def test_only_the_fleet_module_imports_ray_and_importing_agentroute_does_not() -> None:
    users = sorted(m for m, imports in MODULES.items() if any(_top(i) == "ray" for i in imports))
    assert users == ["agentroute.runtime.ray_fleet"]
    import subprocess

    code = ("import sys, agentroute, agentroute.runtime, agentroute.cli; "
            "print('ray' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{node.module}.{a.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agentroute")
        for a in node.names
        if a.name.startswith("_") and not a.name.startswith("__")
    ]


def test_no_module_imports_another_modules_private_names() -> None:
    found = {str(p): _private_imports(p) for p in ROOT.rglob("*.py")}
    assert {p: names for p, names in found.items() if names} == {}


def _emits(path: Path, event: str) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = getattr(f, "id", getattr(f, "attr", ""))
            if name == event or (
                name == "emit" and any(getattr(a, "id", "") == event for a in node.args)
            ):
                return True
    return False


def test_one_place_opens_and_one_closes_a_run() -> None:
    opens = sorted(
        p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py") if _emits(p, "RunStart")
    )
    closes = sorted(
        p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py") if _emits(p, "RunEnd")
    )
    assert opens == closes == ["engine/loop.py"]


def test_there_is_one_run_loop_and_one_replay() -> None:
    """Nothing outside the engine calls the model caller's tool or handler runner, or
    compares a replay: the front doors and drivers go through the engine."""
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("engine/"):
            continue
        text = path.read_text()
        assert ".tool(" not in text and ".handler(" not in text, rel
        assert "compare(" not in text or rel == "trace/diff.py", rel
