"""Customer-support triage: a reasoning router picks the specialist, a one-token entropy
probe picks the small or the large model, a hard budget holds.

Runs on the embedded local models by default; pass ``--base-url`` (and ``--small``/``--large``
model names) to use any OpenAI-compatible server instead.

    python cookbook/support_triage.py --task "My parcel is two weeks late"
    python cookbook/support_triage.py --base-url http://gpu-box:8000/v1 \
        --small Qwen/Qwen2.5-7B-Instruct --large Qwen/Qwen2.5-32B-Instruct --task "..."
"""

from __future__ import annotations

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute.demo import DEFAULT_TASK, support_pipeline


def main() -> None:
    parser = cookbook_parser(__doc__, task=DEFAULT_TASK)
    parser.add_argument("--budget-usd", type=float, default=0.002)
    args = parser.parse_args()
    small, large = small_and_large(args)
    pipeline = support_pipeline(small, large, budget_usd=args.budget_usd)
    result = pipeline.run(args.task)
    print(result.output.strip())
    print(
        f"route={'+'.join(result.agents)} models={' -> '.join(result.models)} "
        f"calls={result.model_calls} cost=${result.cost_usd:.6f} trace={result.trace_path}"
    )
    if args.check_replay:
        report_replays([lambda: pipeline.replay(result.trace)])


if __name__ == "__main__":
    main()
