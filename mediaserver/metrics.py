"""Prometheus metrics Hearth exports at ``/metrics`` (besides Litestar's request metrics).

prometheus-client's convention is module-level collectors in the default registry; they
hold no resources, so this is the one thing created at import time.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BUSY_REFUSALS",
    "DB_WRITE_LATENCY",
    "DB_WRITE_QUEUE",
    "FFMPEG_PROCESSES",
    "JOBS_STARTED",
    "LIVE_STREAMS",
    "PLAYBACK_EVENTS",
    "PLAYBACK_SESSIONS",
    "PROGRESS_WRITES",
    "REMUXES",
    "SCAN_DURATION",
    "SCAN_FILES",
    "SEGMENT_CACHE_BYTES",
    "SEGMENT_REQUESTS",
    "TASK_DURATION",
    "TASK_RUNS",
    "TRANSCODES",
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

TRANSCODES = Gauge("hearth_transcodes_active", "HLS jobs re-encoding video right now.")
REMUXES = Gauge("hearth_remuxes_active", "HLS jobs copying video right now.")
FFMPEG_PROCESSES = Gauge("hearth_ffmpeg_processes", "ffmpeg processes the streaming engine runs.")
JOBS_STARTED = Counter("hearth_stream_jobs_total", "HLS jobs started.", ["mode"])
BUSY_REFUSALS = Counter(
    "hearth_stream_busy_total", "Segment requests refused (503) because every slot was taken."
)
SEGMENT_CACHE_BYTES = Gauge("hearth_segment_cache_bytes", "Bytes in the HLS segment cache.")
SEGMENT_REQUESTS = Counter(
    "hearth_segment_requests_total",
    "HLS segment requests by where they were served from.",
    ["source"],
)

PROGRESS_WRITES = Counter("hearth_progress_writes_total", "Progress reports stored.", ["state"])
PLAYBACK_EVENTS = Counter(
    "hearth_playback_events_total", "Playback events received, kept or refused.", ["outcome"]
)
PLAYBACK_SESSIONS = Gauge(
    "hearth_playback_sessions", "People watching something right now (the now-playing list)."
)
LIVE_STREAMS = Gauge(
    "hearth_live_streams", "Open /api/v1/events streams (devices following along)."
)
TASK_RUNS = Counter("hearth_task_runs_total", "Runs of scheduled tasks.", ["task", "outcome"])
TASK_DURATION = Histogram(
    "hearth_task_duration_seconds",
    "Time one run of a scheduled task took.",
    ["task"],
    buckets=(0.1, 1, 10, 60, 300, 1800, 7200),
)
