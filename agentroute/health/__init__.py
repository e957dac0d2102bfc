"""Health monitors: parallel checks that score runtime conditions and reweight the graph."""

from agentroute.health.breaker import BreakerState, CircuitBreakerMonitor
from agentroute.health.builtin import (
    IntentMonitor,
    LatencyMonitor,
    RateLimitMonitor,
    RiskMonitor,
    RiskRule,
)
from agentroute.health.drift import (
    DriftMonitor,
    DriftWeights,
    Interaction,
    StabilityIndex,
    stability_index,
)
from agentroute.health.monitor import (
    EventCursor,
    HealthContext,
    HealthMonitor,
    MonitorReport,
    OutcomeCursor,
    run_monitors,
)

__all__ = [
    "BreakerState", "CircuitBreakerMonitor", "DriftMonitor", "DriftWeights", "EventCursor",
    "HealthContext", "HealthMonitor", "IntentMonitor", "Interaction", "LatencyMonitor",
    "MonitorReport", "OutcomeCursor", "RateLimitMonitor", "RiskMonitor", "RiskRule",
    "StabilityIndex", "run_monitors", "stability_index",
]  # fmt: skip
