"""The server's recommendation run, in a child process that takes its memory with it.

A run loads numpy and scipy (some 30 MB) and, at the scale of 10,000 people, builds
matrices of hundreds of MB; in the server's own process the allocator would keep much of
that after the run, and the libraries stay loaded for good.  So the server spawns a child
(``spawn``: nothing of the server's threads or sockets is copied) that opens the catalog
itself, runs :class:`~mediaserver.recommend.job.Job` at nice 10 and writes its rows
through its own writer (SQLite's lock and ``busy_timeout`` keep the two writers apart; a
write of the job holds the lock about 25 ms).  Progress and the result come back over a
pipe.  Plugin candidates are asked for in the server, before the child starts, since
plugins live there.  If the server goes away, the child's next progress message finds the
pipe closed and it stops.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from mediaserver.accounts.users import UserService
from mediaserver.db import Database
from mediaserver.recommend.service import Candidates, RunResult

__all__ = ["run_in_child"]

Offered = dict[int, Sequence[tuple[int, str]]]  # user id -> plugin candidates


def run_in_child(
    db: Database,
    users: UserService,
    candidates: Candidates | None,
    on_progress: Callable[[int, int], None],
    on_start: Callable[[BaseProcess], None] = lambda child: None,
) -> RunResult:
    """Run the job in a child process and wait for it; raises RuntimeError if it fails.
    ``on_start(child)``: the process, for a server that must end it before it closes."""
    offered: Offered = (
        {u.id: list(candidates(u.id)) for u in users.all()} if candidates is not None else {}
    )
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(str(db.path), offered, sender), name="hearth-recommend", daemon=True
    )
    child.start()
    on_start(child)
    sender.close()  # the child holds the only writing end: EOF when it is gone
    result: RunResult | None = None
    failure = ""
    try:
        with receiver:
            while True:
                try:
                    message = receiver.recv()
                except EOFError:
                    break
                if message[0] == "progress":
                    on_progress(message[1], message[2])
                elif message[0] == "done":
                    result = message[1]
                else:
                    failure = message[1]
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join()
    if result is None:
        raise RuntimeError(
            f"the recommendation job failed: {failure or f'its process ended with {child.exitcode}'}"
        )
    # The child wrote "More like this" to the catalog: what this process remembers of it
    # (Database.memo) is stale, as after any write of its own.
    db.write(lambda d: None)
    return result


def _child(path: str, offered: Offered, sender: Connection) -> None:
    from mediaserver.recommend.job import Job

    with contextlib.suppress(OSError):
        os.nice(10)  # the whole child: playback and the API keep the cores
    try:
        with Database(Path(path)) as db:
            job = Job(db, UserService(db), lambda user_id: offered.get(user_id, ()))
            result = job.run(
                on_progress=lambda done, people: sender.send(("progress", done, people))
            )
        sender.send(("done", result))
    except BrokenPipeError:
        pass  # the server has gone: nobody wants the rows now
    except Exception as exc:  # the server logs it as the task's failure
        sender.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()
