"""Kill a process at random moments while it writes traces: every record whose write had
returned is in the file, intact and in its hash chain; only the line being written when the
process died may be torn, and the next writer closes it off."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentroute.trace.chain import salvage, verify
from agentroute.trace.sinks import JsonlSink

WRITER = Path(__file__).with_name("trace_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def test_random_kills_lose_no_completed_record(
    tmp_path: Path, figures: dict[str, Any], deep: bool
) -> None:
    rng = random.Random(1234)
    kills = 200 if deep else 25
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    records = torn = 0
    for k in range(kills):
        folder = tmp_path / f"kill-{k}"
        folder.mkdir()
        child = subprocess.Popen([sys.executable, str(WRITER), str(folder)], env=env,
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert child.stdout is not None
        # wait for the first acknowledgement, then kill at a random moment after it
        child.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        acked, _ = child.communicate(timeout=10)
        files = sorted(folder.glob("run-*.jsonl"))
        sealed = {line.split()[0] for line in acked.splitlines() if line.endswith(" sealed")}
        by_file: dict[str, set[int]] = {}
        for line in acked.splitlines():
            name, what = line.split()
            if what != "sealed":
                by_file.setdefault(name, set()).add(int(what))
        for f in files:
            found = salvage(f)
            seqs = {int(r["seq"]) for r in found.records}  # type: ignore[call-overload]
            assert by_file.get(f.name, set()) <= seqs, f"{f.name}: acknowledged records lost"
            assert seqs == set(range(len(seqs)))  # nothing in between is missing
            if f.name in sealed:
                verify(f)  # the finished runs verify whole
            records += len(seqs)
            torn += found.torn_tail
        # a writer that opens the torn file again closes the torn line and chains on
        last = files[-1]
        if salvage(last).torn_tail:
            JsonlSink(last).close()
            assert not salvage(last).torn_tail
    figures["crash kills / completed records intact"] = f"{kills} kills, {records} records"
    figures["kills that tore a line mid-write"] = torn


def test_a_torn_line_closed_by_the_next_writer_is_chained_over(tmp_path: Path) -> None:
    from agentroute.events import RunStart
    from agentroute.trace import Tracer

    path = tmp_path / "t.jsonl"
    first = Tracer(sinks=[JsonlSink(path)])
    first.emit(RunStart, task="one", agents=("a",), router="r")
    first.emit(RunStart, task="one more", agents=("a",), router="r")
    with path.open("ab") as f:
        f.write(b'{"kind":"model_call","prev":"')  # the writer died here
    assert salvage(path).torn_tail
    second = Tracer(sinks=[JsonlSink(path)])
    second.emit(RunStart, task="two", agents=("a",), router="r")
    second.close()
    found = salvage(path)
    assert [r["task"] for r in found.records] == ["one", "one more", "two"]
    assert found.torn_closed == 1 and found.sealed and not found.torn_tail
    # an edited record is still corruption, not a torn line (the one line right before a torn
    # line is the exception: nothing after it holds its hash)
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b"one", b"uno")
    path.write_bytes(b"\n".join(lines))
    import pytest

    from agentroute.errors import TraceError

    with pytest.raises(TraceError):
        salvage(path)
