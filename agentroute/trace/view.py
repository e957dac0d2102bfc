"""`agentroute trace view`: one self-contained HTML page for a trace (no scripts, no fetches).

It shows the outcome, the routing reasons, the graph with the path taken (reroutes and
failures highlighted) when the run went through a task graph, a timeline of model and tool
calls with latency and cost, and every event. Everything from the trace is HTML-escaped.
"""

from __future__ import annotations

import itertools
import json
from html import escape
from typing import Any

from agentroute.events import (
    Escalation,
    ModelCallEvent,
    ModelSwitch,
    NodeRunEvent,
    PathEvent,
    RerouteEvent,
    RouteEvent,
    RunEnd,
    RunStart,
    ToolCallEvent,
)
from agentroute.trace.diff import NOT_DECISIONS
from agentroute.trace.tracer import Trace

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#566}.ok{color:#17803d}.bad{color:#b42318}
table{border-collapse:collapse;width:100%;background:#fff}
td,th{border:1px solid #dde;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}code{font-size:12px;white-space:pre-wrap;word-break:break-all}
.lane{position:relative;height:22px;background:#fff;border:1px solid #dde;margin:2px 0}
.bar{position:absolute;top:3px;height:16px;border-radius:3px;font-size:11px;color:#fff;
padding:0 4px;overflow:hidden;white-space:nowrap}
.call{background:#2f6fde}.tool{background:#2b9a66}.node{background:#7451c8}.fail{background:#d92d20}
svg{background:#fff;border:1px solid #dde}
"""


def _fmt(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _graph_svg(trace: Trace) -> str:
    paths = [e.path for e in trace.events(PathEvent)] + [
        e.new_path for e in trace.events(RerouteEvent)]  # fmt: skip
    runs = trace.events(NodeRunEvent)
    if not paths and not runs:
        return ""
    order: list[str] = []
    for p in paths:
        for n in p:
            if n not in order:
                order.append(n)
    for r in runs:
        if r.node not in order:
            order.append(r.node)
    ok = {r.node for r in runs if r.ok}
    failed = {r.node for r in runs if not r.ok}
    pos = {n: (60 + i * 130, 60 + (i % 2) * 70) for i, n in enumerate(order)}
    edges: dict[tuple[str, str], str] = {}
    for p in paths:
        for u, v in itertools.pairwise(p):
            edges.setdefault((u, v), "#b8c0cc")
    for e in trace.events(RerouteEvent):
        for u, v in zip(e.new_path, e.new_path[1:], strict=False):
            edges[(u, v)] = "#e07b00"
    taken = [order[0]] + [r.node for r in runs if r.ok] if order else []
    for u, v in itertools.pairwise(taken):
        if (u, v) in edges:
            edges[(u, v)] = "#17803d"
    parts = []
    for (u, v), colour in edges.items():
        (x1, y1), (x2, y2) = pos[u], pos[v]
        dash = ' stroke-dasharray="6 4"' if colour == "#e07b00" else ""
        parts.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" '
            f'stroke-width="3"{dash}/>'
        )
    for n, (x, y) in pos.items():
        fill = "#fde2e1" if n in failed else "#dcf3e5" if n in ok else "#f1f3f6"
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="22" fill="{fill}" stroke="#556"/>'
            f'<text x="{x}" y="{y + 40}" text-anchor="middle" font-size="12">'
            f"{escape(n)}</text>"
        )
    width = 120 + 130 * max(1, len(order) - 1)
    return (
        f'<h2>Graph</h2><svg width="{width}" height="180" role="img" '
        f'aria-label="task graph">{"".join(parts)}</svg>'
        '<p class="meta">green: path taken · red: failed node · dashed orange: reroute</p>'
    )


def _timeline(trace: Trace) -> str:
    spans: list[tuple[float, float, str, str]] = []
    for e in trace:
        if isinstance(e, ModelCallEvent):
            label, cls = f"{e.model} {e.purpose}", "call"
        elif isinstance(e, ToolCallEvent):
            label, cls = e.tool, "tool"
        elif isinstance(e, NodeRunEvent):
            label, cls = e.node, "node"
        else:
            continue
        label += f" {e.latency_s * 1000:.0f} ms"
        if isinstance(e, ModelCallEvent):
            label += f" ${e.cost_usd:.6f}"
        spans.append((e.ts - e.latency_s, e.ts, label, cls if e.ok else "fail"))
    if not spans:
        return ""
    t0 = min(s for s, *_ in [*spans, (trace[0].ts, 0, "", "")])
    t1 = max(max(e for _, e, *_ in spans), trace[-1].ts)
    total = max(t1 - t0, 1e-9)
    lanes = "".join(
        f'<div class="lane"><div class="bar {cls}" title="{escape(label)}" style="left:'
        f'{(s - t0) / total * 100:.2f}%;width:max(4px,{(e - s) / total * 100:.2f}%)">'
        f"{escape(label)}</div></div>"
        for s, e, label, cls in spans
    )
    return f"<h2>Timeline</h2>{lanes}"


def render(trace: Trace) -> str:
    start = next(iter(trace.events(RunStart)), None)
    end = next(iter(trace.events(RunEnd)), None)
    title = escape(start.task if start else "trace")
    status = (f'<span class="{"ok" if end.status == "ok" else "bad"}">{escape(end.status)}'
              f'{" · " + escape(end.error_type) if end.error_type else ""}</span>'
              f" · cost ${end.cost_usd:.6f} · {end.model_calls} model calls · "
              f"{end.wall_s:.2f} s" if end else "unfinished")  # fmt: skip
    reasons = "".join(
        f"<tr><td>{e.step}</td><td>route</td><td>{escape(' + '.join(e.chosen))}</td>"
        f"<td>{escape(e.reason)}{' (fallback)' if e.fallback else ''}</td></tr>"
        for e in trace.events(RouteEvent)
    ) + "".join(
        f"<tr><td>{e.step}</td><td>model</td><td>{escape(e.to_model)}</td>"
        f"<td>{escape(e.reason)} {_fmt(e.signals) if e.signals else ''}</td></tr>"
        for e in trace.events(ModelSwitch)
    ) + "".join(
        f"<tr><td>{e.step}</td><td>reroute</td><td>{escape(' > '.join(e.new_path))}</td>"
        f"<td>{escape(e.reason)}</td></tr>" for e in trace.events(RerouteEvent)
    ) + "".join(
        f'<tr><td>{e.step}</td><td class="bad">escalation</td><td>{escape(e.reason)}</td>'
        f"<td>{_fmt(e.detail)}</td></tr>" for e in trace.events(Escalation)
    )  # fmt: skip
    rows = "".join(
        f"<tr><td>{e.seq}</td><td>{e.step}</td><td>{escape(e.agent or '')}</td>"
        f"<td>{escape(e.kind)}</td><td><code>"
        f"{_fmt({k: v for k, v in e.model_dump(mode='json').items() if k not in NOT_DECISIONS and k not in ('kind', 'step', 'agent')})}"  # noqa: E501
        f"</code></td></tr>"
        for e in trace
    )
    run_id = escape(trace[0].run_id) if len(trace) else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>agentroute trace {run_id}</title><style>{_CSS}</style></head><body>"
        f"<h1>{title}</h1><p class=meta>run {run_id} · {status}</p>"
        + (f"<h2>Decisions</h2><table><tr><th>step</th><th>what</th><th>chosen</th>"
           f"<th>why</th></tr>{reasons}</table>" if reasons else "")
        + _graph_svg(trace) + _timeline(trace)
        + "<h2>Events</h2><table><tr><th>#</th><th>step</th><th>agent</th><th>kind</th>"
        f"<th>detail</th></tr>{rows}</table></body></html>"
    )  # fmt: skip
