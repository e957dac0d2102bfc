"""Import time of agentroute next to LangGraph and LiteLLM, each in fresh interpreters.

Every statement runs in a new process, round-robin across statements so that a noisy spell
hits them all alike. Two figures per run: the import itself (timed inside the child, without
interpreter start-up and shut-down) and the whole process's wall time (what ``python -c`` costs
a user). Medians and ranges over ``--runs``.

Bytecode is cached as for an installed package: children write and read it under a temporary
``PYTHONPYCACHEPREFIX`` (one warm-up run first), so no ``__pycache__`` lands in the source tree
even where ``PYTHONDONTWRITEBYTECODE`` is set. ``--no-bytecode-cache`` times a source checkout
under ``PYTHONDONTWRITEBYTECODE=1``: modules without a ``.pyc`` of their own (agentroute's) are
compiled on every run, installed packages still read theirs.

LiteLLM is not a dependency of agentroute: pass ``--python`` an interpreter that has it (a
throwaway venv); when no interpreter has it, the report says so. LiteLLM is timed with
``LITELLM_LOCAL_MODEL_COST_MAP=True``, its documented switch to read the bundled price list
instead of fetching it over the network while importing.

    .venv/bin/python benchmarks/import_time.py [--runs 15] [--python /tmp/venv/bin/python]
        [--breakdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "from agentroute import Pipeline, Agent, Model"
HEADER = "| what | statement | venv | import, median (range) ms | process, median (range) ms |"

CHILD = """\
import time
t0 = time.perf_counter()
{statement}
print(time.perf_counter() - t0)
"""


@dataclass
class Target:
    """One statement to time under one interpreter, and the runs it got."""

    label: str
    statement: str
    python: str
    imports: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)


def child_env(pycache: str | None) -> dict[str, str]:
    """The children's environment: the repository's agentroute first on the path, bytecode
    cached under ``pycache`` (or never, with None), LiteLLM kept off the network."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.pop("PYTHONPYCACHEPREFIX", None)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def child(
    python: str, code: str, env: dict[str, str], *flags: str
) -> subprocess.CompletedProcess[str]:
    """``python [flags] -c code`` run from the repository root (``-c`` puts the working
    directory first on the path, so another directory could shadow agentroute)."""
    cmd = [python, *flags, "-c", code]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)


def run_once(target: Target, env: dict[str, str]) -> tuple[float, float]:
    """(import seconds, process wall seconds) of one fresh interpreter."""
    code = CHILD.format(statement=target.statement)
    t0 = time.perf_counter()
    out = child(target.python, code, env)
    wall = time.perf_counter() - t0
    out.check_returncode()
    return float(out.stdout.strip().splitlines()[-1]), wall


def importable(python: str, module: str, env: dict[str, str]) -> bool:
    """Whether ``python`` can import ``module`` (its top-level package, quietly)."""
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return child(python, probe, env).returncode == 0


def version_of(python: str, dist: str, env: dict[str, str]) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    return child(python, code, env).stdout.strip() or "?"


def find_litellm(candidates: list[str], env: dict[str, str]) -> str | None:
    """The first interpreter among ``candidates`` that can import litellm."""
    return next((p for p in candidates if importable(p, "litellm", env)), None)


def targets(args: argparse.Namespace, env: dict[str, str]) -> tuple[list[Target], list[str]]:
    """What to time, and a note for each peer that could not be timed."""
    here = sys.executable
    found = [
        Target("bare interpreter (start-up only)", "pass", here),
        Target("agentroute", "import agentroute", here),
        Target("agentroute, a pipeline's names", PIPELINE, here),
    ]
    notes = []
    if importable(here, "langgraph", env):
        found.append(Target("LangGraph", "import langgraph.graph", here))
    else:
        notes.append(f"LangGraph: not importable by {here} (pip install langgraph)")
    litellm = find_litellm([*args.python, here], env)
    if litellm is not None:
        found.append(Target("LiteLLM", "import litellm", litellm))
    else:
        tried = ", ".join([*args.python, here])
        notes.append(
            f"LiteLLM: not available (tried {tried}); it is not an agentroute dependency: "
            "install it in a throwaway venv and pass --python /that/venv/bin/python"
        )
    return found, notes


def measure(found: list[Target], runs: int, env: dict[str, str]) -> None:
    """One warm-up run each (fills the bytecode cache), then ``runs`` rounds, round-robin."""
    for t in found:
        run_once(t, env)
    for _ in range(runs):
        for t in found:
            imp, wall = run_once(t, env)
            t.imports.append(imp)
            t.walls.append(wall)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def row(t: Target) -> str:
    who = Path(t.python).parent.parent.name
    imp, wall = t.imports, t.walls
    return (
        f"| {t.label} | `{t.statement}` | {who} | **{ms(statistics.median(imp))}** "
        f"({ms(min(imp))}-{ms(max(imp))}) | {ms(statistics.median(wall))} "
        f"({ms(min(wall))}-{ms(max(wall))}) |"
    )


def versions(found: list[Target], env: dict[str, str]) -> str:
    """The versions that matter: pydantic (agentroute's heaviest import) and the peers."""
    dists = {"LangGraph": "langgraph", "LiteLLM": "litellm"}
    parts = [f"pydantic {version_of(sys.executable, 'pydantic', env)}"]
    parts += [f"{d} {version_of(t.python, d, env)}" for t in found if (d := dists.get(t.label))]
    return ", ".join(parts)


def check_source(env: dict[str, str]) -> None:
    """Refuse to time an agentroute other than this repository's."""
    code = "import agentroute; print(agentroute.__file__)"
    where = Path(child(sys.executable, code, env).stdout.strip()).resolve()
    if ROOT not in where.parents:
        sys.exit(f"agentroute imports from {where}, not from {ROOT}")


def breakdown(statement: str, env: dict[str, str], top: int = 12) -> list[str]:
    """The top-level packages with the most import time (self, summed) under -X importtime."""
    out = child(sys.executable, statement, env, "-X", "importtime")
    out.check_returncode()
    totals: dict[str, int] = {}
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            package = m[2].split(".")[0]
            totals[package] = totals.get(package, 0) + int(m[1])
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [f"  {us / 1000:7.1f} ms  {name}" for name, us in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--python", action="append", default=[],
        help="another interpreter to look for LiteLLM in (repeatable)",
    )  # fmt: skip
    parser.add_argument("--no-bytecode-cache", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="-X importtime per package")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import-time-pyc-") as pycache:
        env = child_env(None if args.no_bytecode_cache else pycache)
        check_source(env)
        found, notes = targets(args, env)
        measure(found, args.runs, env)
        cache = "off (compiled every run)" if args.no_bytecode_cache else "cached"
        print(
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{versions(found, env)}; {args.runs} runs each, bytecode {cache}\n"
        )
        print(HEADER)
        print("|---|---|---|---|---|")
        for t in found:
            print(row(t))
        for note in notes:
            print(f"\n{note}")
        if args.breakdown:
            for t in (t for t in found if t.label.startswith("agentroute")):
                print(f"\n-X importtime, self time by package: {t.statement}")
                print("\n".join(breakdown(t.statement, env)))


if __name__ == "__main__":
    main()
