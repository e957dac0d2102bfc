"""The trace hash chain: every mutation of a sealed trace is detected, nothing else is."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentroute import Trace, TraceError
from agentroute.events import Escalation, RunStart
from agentroute.trace import JsonlSink, Tracer
from agentroute.trace.chain import verify
from tests.conftest import run_cli


def sealed(path: Path, n: int = 6) -> bytes:
    tracer = Tracer(sinks=[JsonlSink(path)], clock=lambda: 1.0)
    tracer.emit(RunStart, task="t", agents=("a",), router="first")
    for i in range(n - 1):
        tracer.emit(Escalation, reason=f"r{i}", detail={"i": i})
    tracer.close()
    return path.read_bytes()


def test_sealed_trace_verifies_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    sealed(path)
    report = verify(path)
    assert report.records == 6 and report.seals == 1
    assert len(Trace.load(path)) == 6


def test_an_edited_seal_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    original = sealed(path)
    path.write_bytes(original.replace(b'"kind":"seal","v":1', b'"kind":"seal","v":2'))
    with pytest.raises(TraceError, match="seal"):
        verify(path)


def test_two_sealed_segments_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    sealed(path, 3)
    sealed(path, 2)
    report = verify(path)
    assert (report.records, report.seals) == (5, 2)


def test_saved_traces_are_sealed(tmp_path: Path) -> None:
    tracer = Tracer(clock=lambda: 2.0)
    tracer.emit(Escalation, reason="x")
    path = tracer.trace.save(tmp_path / "saved.jsonl")
    assert verify(path).records == 1


MUTATIONS = ["edit", "delete", "swap", "truncate_lines", "truncate_bytes", "append", "duplicate"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(MUTATIONS), st.data())
def test_every_mutation_is_detected(tmp_path: Path, kind: str, data: st.DataObject) -> None:
    path = tmp_path / f"m-{kind}.jsonl"
    path.unlink(missing_ok=True)
    original = sealed(path)
    lines = original.splitlines(keepends=True)
    n = len(lines)
    if kind == "edit":
        i = data.draw(st.integers(0, n - 1))
        line = lines[i]
        j = data.draw(st.integers(0, len(line) - 2))
        new_char = data.draw(st.sampled_from(b'0123456789abcdefXYZ {}":,'))
        if line[j] == new_char:
            return
        lines[i] = line[:j] + bytes([new_char]) + line[j + 1 :]
    elif kind == "delete":
        del lines[data.draw(st.integers(0, n - 1))]
    elif kind == "swap":
        i, j = data.draw(st.integers(0, n - 2)), 0
        j = data.draw(st.integers(i + 1, n - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "truncate_lines":
        lines = lines[: data.draw(st.integers(0, n - 1))]
    elif kind == "truncate_bytes":
        cut = data.draw(st.integers(1, len(original) - 1))
        path.write_bytes(original[:cut])
        with pytest.raises(TraceError):
            verify(path)
        return
    elif kind == "append":
        lines.append(lines[data.draw(st.integers(0, n - 2))])
    elif kind == "duplicate":
        i = data.draw(st.integers(0, n - 1))
        lines.insert(i, lines[i])
    mutated = b"".join(lines)
    if mutated == original:
        return
    path.write_bytes(mutated)
    with pytest.raises(TraceError):
        verify(path)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2000))
def test_loader_and_verifier_survive_garbage(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(blob)
    for fn in (Trace.load, verify):
        with contextlib.suppress(TraceError):
            fn(path)


def test_cli_verify(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    original = sealed(path)
    ok = run_cli("trace", "verify", str(path))
    assert ok.returncode == 0 and "6 records" in ok.stdout
    path.write_bytes(original.replace(b'"r2"', b'"r9"'))
    bad = run_cli("trace", "verify", str(path))
    assert bad.returncode == 1 and "hash chain broken" in bad.stderr


def test_a_keyed_chain_cannot_be_forged_by_recomputing_hashes(tmp_path: Path) -> None:
    import hashlib
    import json as _json

    from agentroute.trace.chain import GENESIS, line_hash, seal_line

    key = b"held-outside-the-file"
    path = tmp_path / "keyed.jsonl"
    sink = JsonlSink(path, key=key)
    for i in range(3):
        sink.write({"kind": "escalation", "answer": f"answer {i}"})
    sink.close()
    assert verify(path, key=key).records == 3
    with pytest.raises(TraceError, match="keyed"):
        verify(path)
    # a forger edits an answer and recomputes every hash (the unkeyed way)
    lines = path.read_bytes().splitlines(keepends=True)
    prev, forged = GENESIS, []
    for raw in lines[:-1]:
        record = _json.loads(raw)
        record["prev"] = prev
        record["answer"] = record["answer"].replace("1", "9")
        line = (_json.dumps(record, separators=(",", ":")) + "\n").encode()
        forged.append(line)
        prev = hashlib.sha256(line).hexdigest()
    forged.append((seal_line(3, prev, keyed=True) + "\n").encode())
    path.write_bytes(b"".join(forged))
    with pytest.raises(TraceError, match=r"wrong key|broken"):
        verify(path, key=key)
    assert line_hash(b"x", key) != line_hash(b"x")
