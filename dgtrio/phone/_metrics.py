"""The service's Prometheus metrics (``GET /metrics``), with prometheus-client.

With ``--workers N`` every worker process writes its values to the directory in
``PROMETHEUS_MULTIPROC_DIR`` (set by the parent), and each ``/metrics`` answer sums
them all, so that a scrape through the shared port sees the whole host.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .. import AgentV1LatencyReport
from ._call import EndCause

__all__ = ["Metrics"]

_STAGES = {
    "stt": "stt_latency",
    "think": "ttt_text_latency",
    "tts": "tts_latency",
    "total": "total_latency",
}
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_LATENESS_BUCKETS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class Metrics:
    """The metrics of one server, in a registry of its own (never the global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._multiprocess = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.active = Gauge(
            "dgtrio_phone_active_calls",
            "Calls in progress.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.calls = Counter(
            "dgtrio_phone_calls",
            "Calls ended, by end cause.",
            ["cause"],
            registry=self.registry,
        )
        self.refused = Counter(
            "dgtrio_phone_refused",
            "Upgrades refused: unauthorized (403), capacity or draining (503).",
            ["reason"],
            registry=self.registry,
        )
        self.agent_latency = Histogram(
            "dgtrio_phone_agent_latency_seconds",
            "The agent's LatencyReport, by stage (stt, think, tts, total).",
            ["stage"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.lateness = Histogram(
            "dgtrio_phone_outbound_lateness_seconds",
            "How far each chunk of the agent's speech came behind its real-time playback.",
            registry=self.registry,
            buckets=_LATENESS_BUCKETS,
        )
        # Every label shows from the start, at zero: a rate() needs no first event.
        for cause in EndCause:
            self.calls.labels(cause=cause.value)
        for reason in ("unauthorized", "capacity", "draining"):
            self.refused.labels(reason=reason)

    def observe_latency(self, report: AgentV1LatencyReport) -> None:
        for stage, field in _STAGES.items():
            value = getattr(report, field)
            if value is not None:
                self.agent_latency.labels(stage=stage).observe(value)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type: this process's metrics, or with
        workers, every worker's, summed."""
        if self._multiprocess is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self._multiprocess)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
