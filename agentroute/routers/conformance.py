"""The conformance suite every router must pass, built-in or user-written.

    await check_router(lambda: MyRouter(...), candidates_for, "a question", "usual output")

``make_router`` builds a fresh router (so determinism can be checked without shared state);
``candidates_for(text)`` returns candidates, and a ``complete`` function for the router's own
reasoning, whose model calls all answer ``text``. The suite checks that a router

- returns a `RouteDecision` under its own name, choosing only known candidates, with a reason;
- decides the same way twice on the same inputs (clocks and randomness are injected);
- raises `RoutingError` when given no candidates or candidates with repeated names;
- survives hostile model output (empty, binary, huge, ids outside the catalogue): a valid
  decision or a `RoutingError`, never another exception;
- leaves the candidate list as it found it.

Failures are collected and raised together as one `AssertionError` naming each broken rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from agentroute.errors import RoutingError
from agentroute.routers.base import Candidate, Router
from agentroute.types import Completer, RouteDecision

CandidatesFor = Callable[[str], Awaitable[tuple[list[Candidate], Completer | None]]]

HOSTILE_OUTPUTS = (
    "",
    "\x00\x01\ufffd\u202e",
    "Reason:\nAgents:",
    "Reason: none of these\nAgents: nobody-here, [999], [0] x, ; , ,",
    "Agents: " + ", ".join(f"[{i}]" for i in range(200)),
    "9" * 5000,
    "Reason: " + "very " * 2000 + "\nAgents: " + "x" * 3000,
    '{"agents": ["a"], "reason": null}',
)


def _shape(router: Router, decision: object, names: Sequence[str], where: str) -> list[str]:
    if not isinstance(decision, RouteDecision):
        return [f"{where}: returned {type(decision).__name__}, not RouteDecision"]
    problems = []
    if decision.router != router.name:
        problems.append(f"{where}: decision names router {decision.router!r}, not {router.name!r}")
    unknown = [c for c in decision.chosen if c not in names]
    if unknown:
        problems.append(f"{where}: chose names outside the candidates: {unknown}")
    if not decision.reason.strip():
        problems.append(f"{where}: the decision gives no reason")
    return problems


async def check_router(
    make_router: Callable[[], Router],
    candidates_for: CandidatesFor,
    query: str,
    usual_output: str,
) -> None:
    problems: list[str] = []
    router = make_router()
    if not isinstance(router, Router):
        raise AssertionError(f"{router!r} does not implement the Router protocol")

    candidates, complete = await candidates_for(usual_output)
    names = [c.name for c in candidates]
    before = list(candidates)
    first = await router.route(query, candidates, complete)
    problems += _shape(router, first, names, "usual output")
    if candidates != before:
        problems.append("the router changed the candidate list it was given")

    candidates, complete = await candidates_for(usual_output)
    again = await make_router().route(query, candidates, complete)
    if (again.chosen, again.scores) != (first.chosen, first.scores):
        problems.append(
            f"not deterministic: {first.chosen} {first.scores} then {again.chosen} {again.scores}"
        )

    for label, bad in (("no candidates", []), ("repeated names", [*candidates, candidates[0]])):
        try:
            await make_router().route(query, bad, complete)
            problems.append(f"{label}: no RoutingError")
        except RoutingError:
            pass
        except Exception as e:  # the suite reports any other exception as a failure
            problems.append(f"{label}: raised {type(e).__name__}, not RoutingError")

    for i, text in enumerate(HOSTILE_OUTPUTS):
        cands, comp = await candidates_for(text)
        try:
            d = await make_router().route(query, cands, comp)
            problems += _shape(router, d, [c.name for c in cands], f"hostile output #{i}")
        except RoutingError:
            pass
        except Exception as e:  # the suite reports any other exception as a failure
            problems.append(f"hostile output #{i}: raised {type(e).__name__}: {e}")

    if problems:
        raise AssertionError(
            f"router {router.name!r} fails conformance:\n- " + "\n- ".join(problems)
        )
