"""Pheromone memory: one bounded table of edge pheromones per task type, fused per query.

A path is a sequence of agent instances (an agent on a model), one per workflow stage; its
edges are ``(START, first)``, ``(first, second)``, ... For a query with task-type weights
w_t (from intent inference) the colony reads the fused pheromone

    tau(q, edge) = sum over types t of w_t(q) * tau_t(edge).

Each edge also keeps its *traffic*: how many ants walked it (weighted by their task type),
evaporating with the pheromone. Two rules say what the pheromone is:

- ``trail`` (the classic ant system): the deposits an edge earned, evaporating. It settles
  near ``deposit * quality * share / rho``, where *share* is how often the edge is chosen, so
  a popular edge keeps its lead over a better one that is rarely tried.
- ``rate``: the deposits an edge earned per unit of traffic, a success rate in [0, 1],

      tau(edge) = (credit + prior * prior_weight) / (traffic + prior_weight),

  where credit and traffic evaporate alike: how good the ants that walked the edge found it,
  whatever their number. An edge that degrades falls as soon as its own outcomes come back;
  an edge nobody walks keeps its estimate while its traffic evaporates, so the colony knows
  less and less about it (`agentroute.aco.Colony`'s ``explore`` reads that).

Every value read stays within ``[tau_min, tau_max]`` (MAX-MIN ant system), so no path is
starved forever and none takes over for good. Tables save as versioned JSON and render as a
text table or a PNG heatmap, so a user can see why a route is preferred.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from agentroute.errors import ConfigError

START = "^start"
FORMAT = "agentroute.pheromones"
VERSION = 2
"""Version 2 adds each edge's traffic and the rule; version 1 files (trail rule, no traffic)
still load."""
Edge = tuple[str, str]
Change = tuple[str, str, float, float]
Rule = Literal["trail", "rate"]


@dataclass(frozen=True)
class Bounds:
    tau_min: float = 0.05
    tau_max: float = 5.0
    tau_init: float = 1.0

    def __post_init__(self) -> None:
        values = (self.tau_min, self.tau_max, self.tau_init)
        if not all(math.isfinite(v) for v in values):
            raise ConfigError("pheromone bounds must be finite")
        if not 0 < self.tau_min <= self.tau_init <= self.tau_max:
            raise ConfigError(f"need 0 < tau_min <= tau_init <= tau_max, got {values}")

    def clamp(self, tau: float) -> float:
        return min(self.tau_max, max(self.tau_min, tau))


def path_edges(path: Sequence[str]) -> list[Edge]:
    return list(itertools.pairwise([START, *path]))


class PheromoneTable:
    """Pheromone and traffic on the edges of one task type. Edges not yet seen read as
    ``tau_init`` (trail rule) or ``prior`` (rate rule) and carry no traffic."""

    def __init__(
        self,
        task_type: str,
        bounds: Bounds | None = None,
        *,
        rule: Rule = "trail",
        prior: float = 0.5,
        prior_weight: float = 1.0,
    ) -> None:
        if rule not in get_args(Rule):
            raise ConfigError(f"the pheromone rule is trail or rate, not {rule!r}")
        if not (0.0 <= prior <= 1.0 and math.isfinite(prior_weight) and prior_weight > 0):
            raise ConfigError("need 0 <= prior <= 1 and a finite prior_weight > 0")
        self.task_type = task_type
        self.bounds = bounds or Bounds()
        self.rule, self.prior, self.prior_weight = rule, prior, prior_weight
        self._tau: dict[Edge, float] = {}
        """The trail (trail rule) or the credit, deposits not yet divided by traffic (rate)."""
        self._traffic: dict[Edge, float] = {}

    def get(self, edge: Edge) -> float:
        if self.rule == "trail":
            return self._tau.get(edge, self.bounds.tau_init)
        w = self.prior_weight
        rate = (self._tau.get(edge, 0.0) + self.prior * w) / (self._traffic.get(edge, 0.0) + w)
        return self.bounds.clamp(rate)

    def traffic(self, edge: Edge) -> float:
        """How many ants walked the edge (weighted by this type's share of their task), less
        what has evaporated since."""
        return self._traffic.get(edge, 0.0)

    def ensure(self, edges: Iterable[Edge]) -> None:
        """Register edges (at ``tau_init`` for the trail rule) so evaporation treats all of
        them alike."""
        for e in edges:
            self._tau.setdefault(e, self.bounds.tau_init if self.rule == "trail" else 0.0)
            self._traffic.setdefault(e, 0.0)

    def edges(self) -> dict[Edge, float]:
        """Every known edge's pheromone as read."""
        return {e: self.get(e) for e in self._tau}

    def stored(self) -> dict[Edge, tuple[float, float]]:
        """Every known edge's stored (trail or credit, traffic)."""
        return {e: (v, self._traffic.get(e, 0.0)) for e, v in self._tau.items()}

    def evaporate(self, rho: float) -> list[Change]:
        if not 0.0 <= rho <= 1.0:
            raise ConfigError(f"evaporation rate must lie in [0, 1], not {rho}")
        before = self.edges()
        keep = 1.0 - rho
        for edge, old in self._tau.items():
            self._tau[edge] = self.bounds.clamp(keep * old) if self.rule == "trail" else keep * old
        for edge, old in self._traffic.items():
            self._traffic[edge] = keep * old
        return self._changes(before)

    def deposit(self, path: Sequence[str], amount: float) -> list[Change]:
        """Add ``amount`` to the trail (or the credit) of every edge of ``path``."""
        return self.reinforce(path, 0.0, amount)

    def reinforce(self, path: Sequence[str], traffic: float, amount: float) -> list[Change]:
        """An outcome on ``path``: ``traffic`` more ants walked each of its edges and they
        deposit ``amount``. Returns how the pheromone as read moved."""
        if not all(math.isfinite(x) and x >= 0 for x in (traffic, amount)):
            raise ConfigError(f"deposit and traffic must be finite and >= 0: {amount}, {traffic}")
        edges = path_edges(path)
        before = {e: self.get(e) for e in edges}
        for edge in edges:
            old = self._tau.get(edge, self.bounds.tau_init if self.rule == "trail" else 0.0)
            new = old + amount
            self._tau[edge] = self.bounds.clamp(new) if self.rule == "trail" else new
            self._traffic[edge] = self._traffic.get(edge, 0.0) + traffic
        return self._changes(before)

    def restore(self, rows: Iterable[Sequence[object]]) -> None:
        """Load `PheromoneMemory.to_dict` rows: ``[src, dst, stored, traffic]``, or version
        1's ``[src, dst, trail]``. Raises ValueError for a value the rule cannot hold."""
        for src, dst, stored, *rest in rows:
            value = float(stored)  # type: ignore[arg-type]
            traffic = float(rest[0]) if rest else 0.0  # type: ignore[arg-type]
            where = f"{self.task_type} {src}->{dst}"
            if not (math.isfinite(value) and math.isfinite(traffic) and min(value, traffic) >= 0):
                raise ValueError(f"{where}: {value}, {traffic} must be finite and >= 0")
            if self.rule == "trail" and not self.bounds.tau_min <= value <= self.bounds.tau_max:
                raise ValueError(f"{where}: {value} is outside the bounds")
            self._tau[(str(src), str(dst))] = value
            self._traffic[(str(src), str(dst))] = traffic

    def _changes(self, before: Mapping[Edge, float]) -> list[Change]:
        changes = []
        for edge, old in before.items():
            new = self.get(edge)
            if new != old:
                changes.append((*edge, old, new))
        return changes


class PheromoneMemory:
    """The per-task-type tables, fused per query by the task-type weights. ``rule``,
    ``prior`` and ``prior_weight`` are the tables' (see the module's docstring): ``prior`` is
    what the rate rule reads for an edge with no traffic, worth ``prior_weight`` outcomes."""

    def __init__(
        self,
        task_types: Sequence[str],
        bounds: Bounds | None = None,
        *,
        rule: Rule = "trail",
        prior: float = 0.5,
        prior_weight: float = 1.0,
    ) -> None:
        if not task_types or len(set(task_types)) != len(task_types):
            raise ConfigError(f"need distinct task types, got {list(task_types)}")
        self.bounds = bounds or Bounds()
        self.rule, self.prior, self.prior_weight = rule, prior, prior_weight
        self.tables = {
            t: PheromoneTable(t, self.bounds, rule=rule, prior=prior, prior_weight=prior_weight)
            for t in task_types
        }

    @property
    def task_types(self) -> list[str]:
        return list(self.tables)

    def ensure(self, edges: Iterable[Edge]) -> None:
        edges = list(edges)
        for table in self.tables.values():
            table.ensure(edges)

    def check_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        unknown = set(weights) - set(self.tables)
        if unknown:
            raise ConfigError(f"unknown task types {sorted(unknown)}; known: {self.task_types}")
        if any(not math.isfinite(w) or w < 0 for w in weights.values()):
            raise ConfigError(f"task-type weights must be finite and >= 0: {dict(weights)}")
        total = sum(weights.values())
        if total <= 0:
            raise ConfigError("task-type weights sum to zero")
        return {t: w / total for t, w in weights.items()}

    def fused(self, edge: Edge, weights: Mapping[str, float], *, checked: bool = False) -> float:
        """tau(q, edge) = sum_t w_t(q) tau_t(edge), with the weights normalised to sum 1.
        ``checked=True`` skips validation for weights that came from `check_weights`."""
        w = weights if checked else self.check_weights(weights)
        return sum(wt * self.tables[t].get(edge) for t, wt in w.items())

    def traffic(self, edge: Edge, weights: Mapping[str, float]) -> dict[str, float]:
        """The edge's traffic for each task type the (checked) ``weights`` name."""
        return {t: self.tables[t].traffic(edge) for t in weights}

    # -- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        """Rows are ``[src, dst, stored, traffic]``: the trail, or for the rate rule the
        credit (deposits not yet divided by traffic)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "rule": self.rule,
            "prior": [self.prior, self.prior_weight],
            "bounds": [self.bounds.tau_min, self.bounds.tau_max, self.bounds.tau_init],
            "tables": {
                t: [[src, dst, v, n] for (src, dst), (v, n) in sorted(table.stored().items())]
                for t, table in self.tables.items()
            },
        }

    def save(self, path: str | Path) -> None:
        target = Path(path)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | Path) -> PheromoneMemory:
        try:
            data = json.loads(Path(path).read_text())
            if data.get("format") != FORMAT:
                raise ValueError("not a pheromone file")
            if data.get("version") not in (1, VERSION):
                raise ValueError(f"version {data.get('version')} is not 1 or {VERSION}")
            prior, weight = map(float, data.get("prior", (0.5, 1.0)))
            memory = cls(
                list(data["tables"]),
                Bounds(*map(float, data["bounds"])),
                rule=data.get("rule", "trail"),
                prior=prior,
                prior_weight=weight,
            )
            for t, rows in data["tables"].items():
                memory.tables[t].restore(rows)
            return memory
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot load pheromones from {path}: {e}") from e

    # -- pictures ---------------------------------------------------------------------------
    def text_table(self, task_type: str) -> str:
        """Rows = from, columns = to, cells = pheromone; the strongest edge of each row
        is starred."""
        sources, targets, tau = self._grid(task_type)
        width = max([len(t) for t in targets] + [6])
        head = " " * (max(len(s) for s in sources) + 2) if sources else ""
        lines = [
            f"pheromone for task type {task_type!r}",
            head + " ".join(f"{t:>{width}}" for t in targets),
        ]
        for s in sources:
            row = [tau.get((s, t)) for t in targets]
            best = max((v for v in row if v is not None), default=None)
            cells = [
                f"{'':>{width}}" if v is None else f"{v:>{width - 1}.2f}{'*' if v == best else ' '}"
                for v in row
            ]
            lines.append(f"{s:<{len(head) - 2}}  " + " ".join(cells))
        return "\n".join(lines)

    def heatmap_png(self, task_type: str, path: str | Path, cell: int = 24) -> None:
        """A PNG heatmap (rows = from, columns = to, in `text_table`'s order; dark = strong,
        white = no edge), written with the standard library only."""
        sources, targets, tau = self._grid(task_type)
        lo, hi = self.bounds.tau_min, self.bounds.tau_max
        rows = []
        for s in sources:
            line = bytearray()
            for t in targets:
                v = tau.get((s, t))
                if v is None:
                    rgb = (255, 255, 255)
                else:
                    x = (v - lo) / (hi - lo) if hi > lo else 1.0
                    rgb = (int(255 - 200 * x), int(245 - 160 * x), int(235 - 60 * x))
                line += bytes(rgb) * cell
            rows.extend([bytes(line)] * cell)
        _write_png(Path(path), len(targets) * cell, len(sources) * cell, rows)

    def _grid(self, task_type: str) -> tuple[list[str], list[str], dict[Edge, float]]:
        if task_type not in self.tables:
            raise ConfigError(f"unknown task type {task_type!r}; known: {self.task_types}")
        tau = self.tables[task_type].edges()
        sources = sorted({s for s, _ in tau}, key=lambda s: (s != START, s))
        targets = sorted({t for _, t in tau})
        return sources, targets, tau


def _write_png(path: Path, width: int, height: int, rows: Sequence[bytes]) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    if not rows or not width:
        width, height, rows = 1, 1, [b"\xff\xff\xff"]
    raw = b"".join(b"\x00" + r for r in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(png + chunk(b"IEND", b""))
