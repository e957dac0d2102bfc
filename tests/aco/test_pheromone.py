"""Pheromone tables: bounds under any updates, the fusion formula, persistence, pictures."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute.aco import START, Bounds, PheromoneMemory, PheromoneTable
from agentroute.errors import ConfigError

NODES = ["a", "b", "c"]
op = st.one_of(
    st.tuples(st.just("evaporate"), st.floats(0.0, 1.0)),
    st.tuples(
        st.just("deposit"),
        st.lists(st.sampled_from(NODES), min_size=1, max_size=4),
        st.floats(0.0, 1e6, allow_nan=False),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=40), st.floats(0.001, 1.0), st.floats(1.0, 100.0))
def test_bounds_hold_under_any_sequence_of_updates(ops: list, lo: float, hi: float) -> None:  # type: ignore[type-arg]
    table = PheromoneTable("math", Bounds(tau_min=lo, tau_max=hi, tau_init=lo))
    table.ensure([(START, n) for n in NODES])
    for o in ops:
        if o[0] == "evaporate":
            table.evaporate(o[1])
        else:
            table.deposit(o[1], o[2])
        assert all(lo <= v <= hi for v in table.edges().values())


def test_bad_updates_and_bounds_are_refused() -> None:
    table = PheromoneTable("t")
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError):
            table.evaporate(bad)
    for amount in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError):
            table.deposit(["a"], amount)
    for bounds in ((0.0, 1.0, 0.5), (1.0, 0.5, 0.7), (0.1, 1.0, 2.0), (0.1, float("inf"), 1.0)):
        with pytest.raises(ConfigError):
            Bounds(*bounds)


def test_fused_pheromone_matches_the_formula() -> None:
    memory = PheromoneMemory(["math", "code", "chat"])
    memory.tables["math"].deposit(["a"], 2.0)
    memory.tables["code"].deposit(["a"], 0.5)
    edge = (START, "a")
    tau = {t: memory.tables[t].get(edge) for t in memory.task_types}
    weights = {"math": 2.0, "code": 1.0, "chat": 1.0}  # normalised to 0.5, 0.25, 0.25
    expected = 0.5 * tau["math"] + 0.25 * tau["code"] + 0.25 * tau["chat"]
    assert memory.fused(edge, weights) == pytest.approx(expected)
    assert memory.fused(edge, {"math": 1.0}) == pytest.approx(tau["math"])
    for bad in ({"poetry": 1.0}, {"math": -1.0}, {"math": 0.0}, {"math": float("nan")}):
        with pytest.raises(ConfigError):
            memory.fused(edge, bad)


def test_saved_tables_reload_identically_and_bad_files_are_refused(tmp_path: Path) -> None:
    memory = PheromoneMemory(["math", "code"], Bounds(0.1, 4.0, 1.0))
    memory.tables["math"].deposit(["a", "b"], 0.7)
    memory.tables["code"].evaporate(0.3)
    memory.tables["code"].deposit(["c"], 0.2)
    path = tmp_path / "tau.json"
    memory.save(path)
    again = PheromoneMemory.load(path)
    assert again.to_dict() == memory.to_dict()
    assert again.bounds == memory.bounds
    for text in ('{"format": "other"}', '{"format": "agentroute.pheromones", "version": 99}',
                 "not json"):  # fmt: skip
        path.write_text(text)
        with pytest.raises(ConfigError, match="cannot load"):
            PheromoneMemory.load(path)
    data = memory.to_dict()
    data["tables"]["math"][0][2] = 50.0  # type: ignore[index]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="outside the bounds"):
        PheromoneMemory.load(path)


def test_rate_tables_and_traffic_reload_and_version_1_files_still_load(tmp_path: Path) -> None:
    memory = PheromoneMemory(["math", "code"], rule="rate", prior=0.4, prior_weight=3.0)
    memory.tables["math"].reinforce(["a", "b"], 2.0, 1.5)
    memory.tables["code"].reinforce(["c"], 1.0, 0.0)
    memory.tables["code"].evaporate(0.25)
    path = tmp_path / "rate.json"
    memory.save(path)
    again = PheromoneMemory.load(path)
    assert again.to_dict() == memory.to_dict() and again.rule == "rate"
    for t in ("math", "code"):
        assert again.tables[t].edges() == memory.tables[t].edges()
        assert again.tables[t].stored() == memory.tables[t].stored()
    assert again.tables["code"].traffic((START, "c")) == 0.75
    # a version 1 file: trail rule, three columns, no traffic
    old = {"format": "agentroute.pheromones", "version": 1, "bounds": [0.1, 4.0, 1.0],
           "tables": {"math": [[START, "a", 2.5]]}}  # fmt: skip
    path.write_text(json.dumps(old))
    v1 = PheromoneMemory.load(path)
    assert v1.rule == "trail" and v1.tables["math"].get((START, "a")) == 2.5
    assert v1.tables["math"].traffic((START, "a")) == 0.0
    bad = memory.to_dict()
    bad["tables"]["code"][0][3] = -1.0  # type: ignore[index]
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="must be finite and >= 0"):
        PheromoneMemory.load(path)


def test_text_table_and_png_heatmap(tmp_path: Path) -> None:
    memory = PheromoneMemory(["math"])
    memory.ensure([(START, "a"), (START, "b"), ("a", "c"), ("b", "c")])
    memory.tables["math"].deposit(["b", "c"], 1.5)
    text = memory.text_table("math")
    start_row = next(line for line in text.splitlines() if line.startswith(START))
    assert "2.50*" in start_row and "1.00 " in start_row
    memory.heatmap_png("math", tmp_path / "math.png", cell=10)
    png = (tmp_path / "math.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (30, 30)  # 3 targets x 3 sources
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
