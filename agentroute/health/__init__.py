"""Health monitors: parallel checks that score runtime conditions and reweight the graph."""

from agentroute.health.breaker import BreakerState, CircuitBreakerMonitor
from agentroute.health.builtin import (
    IntentMonitor,
    LatencyMonitor,
    RateLimitMonitor,
    RiskMonitor,
    RiskRule,
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
    "BreakerState", "CircuitBreakerMonitor", "EventCursor", "HealthContext", "HealthMonitor", "IntentMonitor",
    "LatencyMonitor", "MonitorReport", "OutcomeCursor", "RateLimitMonitor", "RiskMonitor",
    "RiskRule", "run_monitors",
]  # fmt: skip
