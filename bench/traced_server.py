"""``mediaserver serve`` with tracemalloc on: ``idle_memory.py --trace`` runs the server so.

SIGUSR1 writes a snapshot to ``$MEDIASERVER_DATA_DIR/trace-<n>.tracemalloc`` (n counts
from 1); the bench compares the one taken idle with each taken after a round of requests.
Tracing costs memory and time of its own: its figures say *where* memory goes, not how much
the server holds without it.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from mediaserver.cli import main

taken = 0


def snapshot(signum: int, frame: FrameType | None) -> None:
    global taken
    taken += 1
    path = Path(os.environ["MEDIASERVER_DATA_DIR"]) / f"trace-{taken}.tracemalloc"
    tracemalloc.take_snapshot().dump(str(path.with_suffix(".part")))
    path.with_suffix(".part").rename(path)


if __name__ == "__main__":
    tracemalloc.start(int(os.environ.get("HEARTH_TRACE_FRAMES", "12")))
    signal.signal(signal.SIGUSR1, snapshot)
    sys.exit(main(["serve"]))
