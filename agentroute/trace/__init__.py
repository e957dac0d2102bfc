"""Structured traces: every decision as an event, to pluggable sinks, with secrets redacted."""

from agentroute.trace.redact import Redactor
from agentroute.trace.sinks import JsonlSink, MemorySink, Sink
from agentroute.trace.tracer import Trace, Tracer, replaying, watch

__all__ = ["JsonlSink", "MemorySink", "Redactor", "Sink", "Trace", "Tracer", "replaying", "watch"]
