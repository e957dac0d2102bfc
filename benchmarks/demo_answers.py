"""The main job's answers, checked on the labelled support messages.

Runs `agentroute.demo.run_demo` (the same code as `agentroute demo`) on each labelled message,
with the injected fault (the demo's default: the large model writes) and without it (the
probe decides small or large), and checks each answer against a written rubric:

- routed: the router chose the message's team;
- to the customer: the reply speaks to "you";
- in role: it does not speak as the customer ("my money", "I was charged", "the customer");
- on topic: it names something of the team's subject;
- a next step: it says what happens next ("will", "we'll", "please"...);
- clean: no echo of the instructions, no template placeholders ("[Your Name]"), no code or
  markdown, 1-5 sentences and at most 500 characters.

An answer is useful when it passes all six. The rubric is a heuristic, so every answer is
printed with the checks it failed, for a person to read. Wall time is the job's own
(`Result.wall_s`), with both servers already up.

    .venv/bin/python benchmarks/demo_answers.py
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

from main_job import LABELLED

from agentroute.demo import run_demo
from agentroute.events import ModelCallEvent

TOPIC = {  # word starts: "log" must not match "apologize"
    "billing": r"refund|charg|payment|pay|invoice|money|fee|card|bill|subscription|account|amount",
    "shipping": r"parcel|package|deliver|courier|track|return|ship|order|address|exchange",
    "technical": r"app|log|password|reset|error|website|crash|account|email|setting|sign",
}
OUT_OF_ROLE = re.compile(
    r"\bthe (customer|user)('s)?\b|"
    r"\bmy (money|order|parcel|package|card|account|password|shoes|invoice|statement|refund)\b|"
    r"\bI (was charged|forgot|bought|want|get error|have been charged)\b",
    re.I,
)
ECHO = re.compile(
    r"acknowledge the problem|you acknowledge|two or three sentences|\[[^\]]+\]", re.I
)
NEXT = re.compile(r"\bwill\b|'ll\b|\bplease\b|\bgoing to\b|\bshould\b|\bcan\b", re.I)


def checks(answer: str, label: str, routed: tuple[str, ...]) -> dict[str, bool]:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", answer.strip()) if s]
    return {
        "routed": routed == (label,),
        "to the customer": re.search(r"\byou(r)?\b", answer, re.I) is not None,
        "in role": OUT_OF_ROLE.search(answer) is None,
        "on topic": re.search(rf"\b({TOPIC[label]})", answer, re.I) is not None,
        "a next step": NEXT.search(answer) is not None,
        "clean": ECHO.search(answer) is None
        and 1 <= len(sentences) <= 5
        and len(answer) <= 500
        and not any(mark in answer for mark in ("```", "**", "\n\n")),
    }


def run(fault: bool) -> dict[str, float]:
    useful, walls, by_large = 0, [], 0
    for text, label in LABELLED:
        result = run_demo(text, fault=fault, trace_dir=None)
        walls.append(result.wall_s)
        answers = [e for e in result.trace.events(ModelCallEvent) if e.ok and e.purpose == "answer"]
        by_large += bool(answers) and answers[-1].tier == "large"
        verdict = checks(result.output, label, result.agents)
        failed = [name for name, ok in verdict.items() if not ok]
        useful += not failed
        print(f"- [{label} -> {'+'.join(result.agents)}] {text}\n    {result.output.strip()!r}"
              f"\n    {'useful' if not failed else 'failed: ' + ', '.join(failed)}")  # fmt: skip
    walls.sort()
    n = len(LABELLED)
    return {
        "useful": useful / n,
        "wall_p50": statistics.median(walls),
        "wall_max": walls[-1],
        "large": by_large / n,
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    run_demo("warm up", fault=False, trace_dir=None)  # both servers up before timing
    rows = []
    for fault in (True, False):
        print(f"\n## {'with' if fault else 'without'} the injected fault")
        rows.append((fault, run(fault)))
    print(f"\n# demo answers, {len(LABELLED)} labelled messages, {time.strftime('%Y-%m-%d')}")
    print("| fault | useful answers | job wall p50 | job wall max | written by large |")
    print("|---|---|---|---|---|")
    for fault, r in rows:
        print(f"| {'on' if fault else 'off'} | {r['useful']:.0%} | {r['wall_p50']:.1f} s | "
              f"{r['wall_max']:.1f} s | {r['large']:.0%} |")  # fmt: skip


if __name__ == "__main__":
    main()
