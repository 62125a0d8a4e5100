"""Prometheus metrics, one registry per app (so tests can build apps side by side).

With several worker processes each has its own registry; scrape each worker, or run one
process per container as most deployments do.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    """The counters and histograms the server exports at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.verifications = Counter(
            "otp_verifications",
            "Verification decisions",
            ["result", "purpose"],
            registry=self.registry,
        )
        self.verify_latency = Histogram(
            "otp_verify_seconds",
            "Time to answer a verification",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.verify_batch_size = Histogram(
            "otp_verify_batch_size",
            "Verifications decided together in one transaction (group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.hsm_operations = Counter(
            "otp_hsm_operations",
            "Calls into the HSM",
            ["operation", "outcome"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
