"""Prometheus metrics Hearth exports at ``/metrics`` (besides Litestar's request metrics).

prometheus-client's convention is module-level collectors in the default registry; they
hold no resources, so this is the one thing created at import time.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DB_WRITE_LATENCY",
    "DB_WRITE_QUEUE",
    "SCAN_DURATION",
    "SCAN_FILES",
]

SCAN_DURATION = Histogram(
    "hearth_scan_duration_seconds",
    "Time one library scan took.",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800),
)
SCAN_FILES = Counter("hearth_scan_files_total", "Media files seen by scans.")
DB_WRITE_LATENCY = Histogram(
    "hearth_db_write_seconds",
    "Time one write transaction held the writer.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1),
)
DB_WRITE_QUEUE = Gauge("hearth_db_write_queue_depth", "Writes waiting for the writer thread.")
