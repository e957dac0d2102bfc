"""`agentroute run FILE.py`: run any script that uses agentroute, show each run's progress as
its events arrive, and end with one summary row per run (route, models, calls, cost, latency,
trace path). The script needs no change: every tracer in the process is watched."""

from __future__ import annotations

import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.table import Table

from agentroute.trace import JsonlSink, Tracer, watch


@dataclass
class RunRow:
    """What the summary says about one run, filled in from its events."""

    task: str
    route: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    calls: int = 0
    failed_calls: int = 0
    cost_usd: float = 0.0
    wall_s: float | None = None
    status: str = "running"
    trace: Path | None = None


class RunWatcher:
    """Collects one `RunRow` per run id and keeps a one-line status current."""

    def __init__(self, status: Status | None = None) -> None:
        self.rows: dict[str, RunRow] = {}
        self.replays = 0
        self.status = status

    def __call__(self, tracer: Tracer, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if tracer.replay:  # a replay of a run already in the table
            self.replays += kind == "run_start"
            return
        row = self.rows.get(record["run_id"])
        if row is None:
            if kind != "run_start":
                return  # a tracer with no run around it (a bare router decision, say)
            path = next((s.path for s in tracer.sinks if isinstance(s, JsonlSink)), None)
            row = self.rows[record["run_id"]] = RunRow(task=record["task"], trace=path)
        if kind == "route":
            row.route = list(record["chosen"])
        elif kind == "node_run" and record["ok"]:
            row.route.append(record["node"])  # a graph run: the nodes it went through
        elif kind == "ant_step":
            row.route.append(record["chosen"])
        elif kind == "model_call":
            row.calls += 1
            row.failed_calls += not record["ok"]
            row.cost_usd += record["cost_usd"]
            if record["ok"] and record["model"] not in row.models:
                row.models.append(record["model"])
        elif kind == "run_end":
            row.status = record["status"]
            row.wall_s = record.get("wall_s")
            if record.get("cost_usd") is not None:
                row.cost_usd = record["cost_usd"]
        if self.status is not None:
            self.status.update(
                f"run {len(self.rows)}: {kind} | {row.calls} calls, ${row.cost_usd:.6f}"
            )

    def table(self) -> Table:
        note = f" (and {self.replays} replays from their traces)" if self.replays else ""
        table = Table(title=f"agentroute runs{note}", title_justify="left")
        for col in ("#", "status", "route", "models", "calls", "cost $", "latency s", "trace"):
            table.add_column(col, overflow="fold")
        for i, row in enumerate(self.rows.values(), start=1):
            calls = f"{row.calls}" + (f" ({row.failed_calls} failed)" if row.failed_calls else "")
            table.add_row(
                str(i),
                row.status,
                " > ".join(row.route) or "-",
                ", ".join(row.models) or "-",
                calls,
                f"{row.cost_usd:.6f}",
                "-" if row.wall_s is None else f"{row.wall_s:.2f}",
                str(row.trace) if row.trace else "-",
            )
        return table


def run_file(path: Path, args: list[str], console: Console) -> tuple[int, RunWatcher]:
    """Run ``path`` as ``__main__`` with ``args``; return its exit code and what it ran."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(path), *args]
    sys.path.insert(0, str(path.resolve().parent))
    code = 0
    with console.status(f"running {path.name}") as status:
        watcher = RunWatcher(status)
        try:
            with watch(watcher):
                runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                console.print(str(exc.code), highlight=False)  # as Python itself would
        except Exception as exc:  # the script's own failure: say it, still show what ran
            console.print(f"[red]{path.name} failed: {type(exc).__name__}: {exc}[/]",
                          highlight=False)  # fmt: skip
            code = 1
        finally:
            sys.argv, sys.path[:] = saved_argv, saved_path
    return code, watcher
