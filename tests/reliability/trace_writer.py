"""Writes traces as fast as it can, one file per run, and acknowledges on stdout every record
whose write has returned. The crash-safety test kills it at random moments."""

from __future__ import annotations

import sys
from pathlib import Path

from agentroute.events import ModelCallEvent, RunEnd, RunStart
from agentroute.trace import JsonlSink, Tracer


def main(folder: Path) -> None:
    out = sys.stdout
    for run in range(10**6):
        path = folder / f"run-{run:06d}.jsonl"
        tracer = Tracer(sinks=[JsonlSink(path)])
        tracer.emit(RunStart, task=f"task {run} " + "x" * 200, agents=("a",), router="r")
        out.write(f"{path.name} 0\n")
        out.flush()
        for i in range(1, 40):
            e = tracer.emit(ModelCallEvent, provider="p", model="m", attempt=1, ok=True,
                            latency_s=0.001, response={"text": "y" * (i * 37)})  # fmt: skip
            out.write(f"{path.name} {e.seq}\n")
            out.flush()
        e = tracer.emit(RunEnd, status="ok", cost_usd=0.0, input_tokens=0, output_tokens=0,
                        model_calls=39, wall_s=0.01)  # fmt: skip
        out.write(f"{path.name} {e.seq}\n")
        out.flush()
        tracer.close()
        out.write(f"{path.name} sealed\n")
        out.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
