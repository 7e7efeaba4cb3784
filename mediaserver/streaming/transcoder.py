"""The ffmpeg job manager: segments made on demand, shared, throttled, capped and never leaked.

A *stream* is one rendition of one file (the copied original, or a rung of the ladder, with
one audio track and segment format), named by a content key.  A *job* is one ffmpeg making
segments N, N+1, ... of a stream into the segment cache.  A request for segment N is served
from the cache, or waits for a job that will reach N within a segment or two, or starts a
job at N (a seek).  Viewers of the same stream share jobs.

- fMP4 (the default): ffmpeg writes one fragmented MP4 to a pipe; we cut it into the
  segments the playlist promised (``fmp4.py``) and move each job's timeline to its start.
  Throttling is free: a job we stop reading from blocks in ``write()`` and uses no CPU.
- MPEG-TS (old TVs): ffmpeg's ``segment`` muxer cuts at our times into a job folder and
  lists each finished segment on stdout; throttling stops the process group (SIGSTOP).

Every ffmpeg runs in its own process group with the parent-death signal set by the thread
that started it, which lives exactly as long as its ffmpeg: after ``kill -9`` of the server
the kernel kills them.  Jobs idle for ``idle_timeout_seconds`` are stopped, at most
``max_transcodes`` transcodes (and ``max_remuxes`` remuxes) run at once.  A running job is
never stopped for someone else: a newcomer waits its turn in a short fair queue
(``slots.py``), then gets :class:`Busy` (a 503 with an estimated Retry-After).  Start-up
kills what a crashed run left.

What each ffmpeg runs (the spec, the argv) is ``command.py``.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec
import structlog

from mediaserver import metrics
from mediaserver.ffmpeg_tools import ffmpeg_failure, guarded_argv, input_url
from mediaserver.streaming import fmp4, slots
from mediaserver.streaming.command import Stream, StreamSpec, build_command, seek_point
from mediaserver.streaming.failures import FailureMemory
from mediaserver.streaming.playlists import Segment
from mediaserver.streaming.segment_cache import SegmentCache

__all__ = [
    "Busy",
    "SegmentFailed",
    "Stream",
    "StreamError",
    "StreamSpec",
    "Transcoder",
    "build_command",
]

log = structlog.get_logger(__name__)

_WAIT_AHEAD = {"transcode": 2, "remux": 8}  # wait for a job this close rather than restart
_MAX_JOB_SEGMENTS = 1200  # a job covers at most this many segments; the next one follows
_SEGMENT_TIMEOUT_S = 60.0
_MAX_OWNERS = 4096  # sessions whose person is remembered (the oldest are forgotten first)
_SHORT_PICTURES_KEPT = 1024  # files known to have sound after their last picture
_SOUND_AFTER_PICTURE_S = 0.5  # more sound than this after the last picture: hold it


class StreamError(Exception):
    """The stream cannot be made (ffmpeg failed, disk full); the message is for the viewer."""


class SegmentFailed(StreamError):
    """ffmpeg could not make this segment, and asking again soon would fail the same way
    (the failure is remembered for a while): not worth a retry."""


class Busy(Exception):
    """Every transcode slot is taken; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Job:
    id: int
    stream: Stream
    start: int
    end: int  # exclusive
    sessions: set[str]
    next_index: int = 0  # the next segment this job will finish
    requested: int = 0  # the furthest segment a viewer asked this job for
    last_request: float = field(default_factory=time.monotonic)
    state: Literal["running", "done", "failed", "stopped"] = "running"
    error: str | None = None
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False
    thread: threading.Thread | None = None
    pad: bool = False  # hold the last picture to the end (the sound outlasts the picture)
    picture_end: float | None = None  # where its output's pictures and sound end (seconds
    sound_end: float | None = None  # from the job's start), known once ffmpeg has ended

    @property
    def sound_after_picture(self) -> bool:
        """Whether its output went on with sound alone, through the segment it could not
        finish: the file's picture stops before its sound (not a file that just ends)."""
        if self.sound_end is None or self.next_index >= self.end:
            return False
        if self.picture_end is None and self.stream.spec.copy_audio:
            # No picture at all: copied sound past the end of a cut-short file comes out
            # from before the seek point, timed at the start.  Re-encoded sound is cut at
            # the seek point, so it is real sound after it.
            return False
        segments = self.stream.segments
        missing = segments[self.next_index]
        needed = missing.start_s + missing.duration_s - segments[self.start].start_s
        picture = self.picture_end if self.picture_end is not None else 0.0
        return self.sound_end >= needed - 0.1 and self.sound_end > picture + _SOUND_AFTER_PICTURE_S

    @property
    def alive(self) -> bool:
        return self.state == "running"

    def covers(self, index: int) -> bool:
        ahead = _WAIT_AHEAD[self.stream.spec.mode]
        return self.alive and self.start <= index < self.end and index <= self.next_index + ahead


class Transcoder:
    """All HLS jobs of one server."""

    def __init__(
        self,
        ffmpeg: str,
        cache: SegmentCache,
        secret: bytes,
        *,
        run_dir: Path,
        max_transcodes: int,
        max_remuxes: int,
        idle_timeout_s: float = 30.0,
        throttle_segments: int | None = 10,
        queue_wait_s: float = 5.0,
        failure_ttl_s: float = 300.0,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.cache = cache
        self.secret = secret
        self.run_dir = run_dir
        self.max_transcodes = max_transcodes
        self.max_remuxes = max_remuxes
        self.idle_timeout_s = idle_timeout_s
        self.throttle_segments = throttle_segments
        self.queue_wait_s = queue_wait_s
        self._cond = threading.Condition()
        self._queue = slots.FairQueue()
        self._owners: OrderedDict[str, str] = OrderedDict()  # session -> person
        self._jobs: list[Job] = []
        self._streams: dict[str, Stream] = {}
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._reaper: threading.Thread | None = None
        # Segments whose ffmpeg failed: asking again answers at once, without a new ffmpeg.
        self.failures = FailureMemory(ttl_s=failure_ttl_s)
        self._short_pictures: OrderedDict[tuple[int, int, int], None] = OrderedDict()
        cache.protected = self._protected
        cache.in_use = lambda key: any(j.alive and j.stream.key == key for j in self._jobs)

    # -- life cycle ---------------------------------------------------------------------

    def open(self) -> None:
        self.reap_leftovers()
        self.cache.open()
        self._reaper = threading.Thread(target=self._reap_idle, name="hls-reaper", daemon=True)
        self._reaper.start()
        metrics.TRANSCODES.set_function(lambda: self._count("transcode"))
        metrics.REMUXES.set_function(lambda: self._count("remux"))
        metrics.FFMPEG_PROCESSES.set_function(
            lambda: sum(1 for j in self._jobs if j.alive and j.process is not None)
        )
        metrics.SEGMENT_CACHE_BYTES.set_function(lambda: self.cache.total_bytes)

    def close(self) -> None:
        """Kill every ffmpeg and wait for its thread."""
        self._closing.set()
        with self._cond:
            jobs = list(self._jobs)
            for job in jobs:
                self._stop(job, "the server is shutting down")
            self._cond.notify_all()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=10)
        if self._reaper is not None:
            self._reaper.join(timeout=5)

    def reap_leftovers(self) -> int:
        """Kill ffmpeg processes a crashed run left (each job wrote its pid file)."""
        killed = 0
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for pid_file in self.run_dir.glob("*.pid"):
            with contextlib.suppress(ValueError, OSError, IndexError):
                pid_text, source = pid_file.read_text().split("\n", 1)
                pid = int(pid_text)
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                # Only an ffmpeg reading the file the job read: pids get reused.
                if b"ffmpeg" in cmdline and source.strip().encode() in cmdline:
                    os.killpg(pid, signal.SIGKILL)
                    killed += 1
            with contextlib.suppress(OSError):
                pid_file.unlink()
        for stale_log in self.run_dir.glob("*.log"):  # no job of this run has started yet
            with contextlib.suppress(OSError):
                stale_log.unlink()
        if killed:
            log.warning("killed ffmpeg processes left by a previous run", count=killed)
        return killed

    # -- streams ------------------------------------------------------------------------

    def register(self, spec: StreamSpec, segments: Sequence[Segment]) -> Stream:
        """Remember a stream (in memory and beside its segments, for after a restart)."""
        key = spec.key(self.secret)
        stream = Stream(key, spec, tuple(segments))
        with self._cond:
            stream = self._streams.setdefault(key, stream)
        # Also for a known stream: eviction removes the folder of a stream whose last
        # segment it dropped, and a restarted server finds streams by their description.
        folder = self.cache.stream_dir(key)
        description = folder / "stream.json"
        tmp = description.with_suffix(f".{threading.get_ident()}.tmp")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not description.exists():
                tmp.write_bytes(msgspec.json.encode({"spec": spec, "segments": segments}))
                os.replace(tmp, description)
        except OSError as exc:  # a full disk: the stream works, only a restart forgets it
            log.warning("could not describe a stream on disk", stream=key, error=str(exc))
            with contextlib.suppress(OSError):
                tmp.unlink()
        return stream

    def stream(self, key: str) -> Stream | None:
        with self._cond:
            known = self._streams.get(key)
        if known is not None:
            return known
        try:
            raw = msgspec.json.decode((self.cache.stream_dir(key) / "stream.json").read_bytes())
            spec = msgspec.convert(raw["spec"], StreamSpec)
            segments = tuple(Segment(**s) for s in raw["segments"])
        except (OSError, ValueError, KeyError, TypeError, msgspec.MsgspecError):
            return None
        if spec.key(self.secret) != key:
            return None
        stream = Stream(key, spec, segments)
        with self._cond:
            return self._streams.setdefault(key, stream)

    # -- segments -----------------------------------------------------------------------

    def init_segment(self, stream: Stream, session: str) -> Path:
        """The fMP4 init segment, from the cache or the first job that writes one."""
        path = self.cache.stream_dir(stream.key) / "init.mp4"
        deadline = time.monotonic() + _SEGMENT_TIMEOUT_S
        with self._cond:
            while not path.exists():
                job = next((j for j in self._jobs if j.alive and j.stream.key == stream.key), None)
                if job is None:
                    self._raise_remembered(stream, 0)
                    job = self._start(stream, 0, session)
                job.last_request = time.monotonic()
                self._wait(job, deadline)
                if job.state == "failed" and not path.exists() and not _padding_next(job):
                    self._raise_remembered(stream, job.next_index)
                    raise StreamError(job.error or "the stream could not be made")
        return path

    def segment(self, stream: Stream, index: int, session: str) -> Path:
        """Segment ``index`` of ``stream``: cached, or made by a shared or new job."""
        deadline = time.monotonic() + _SEGMENT_TIMEOUT_S
        failed_job: Job | None = None
        with self._cond:
            while True:
                path = self.cache.lookup(stream.key, index)
                if path is not None:
                    for other in self._jobs:
                        if other.stream.key == stream.key and other.start <= index < other.end:
                            self._touch(other, index, session)
                    return path
                found = next(
                    (j for j in self._jobs if j.stream.key == stream.key and j.covers(index)), None
                )
                if found is None:
                    self._raise_remembered(stream, index)
                    if failed_job is not None:
                        raise StreamError(failed_job.error or "the stream could not be made")
                    found = self._start(stream, index, session)
                job = found
                self._touch(job, index, session)
                self._wait(job, deadline)
                if not job.alive and job.state != "done":
                    made = self.cache.lookup(stream.key, index)
                    if made is not None:  # it failed just after making this one
                        return made
                    if _padding_next(job):
                        continue  # a new job, holding the last picture, makes it
                    self._raise_remembered(stream, index)
                    raise StreamError(job.error or "the stream stopped")
                if not job.alive and self.cache.lookup(stream.key, index) is None:
                    failed_job = job  # it ended without making this segment: do not loop

    def prepare(self, stream: Stream, session: str) -> None:
        """Start making the first segments now (the master playlist was just requested)."""
        if self.cache.lookup(stream.key, 0) is not None:
            return
        with self._cond:
            if any(j.stream.key == stream.key and j.covers(0) for j in self._jobs):
                return
            # Only into a free slot nobody queues for: the player's first segment request
            # takes its turn in the queue if it must.
            if self._may_start(stream.spec.mode, session):
                self._touch(self._start(stream, 0, session), 0, session)

    def claim(self, session: str, person: str) -> None:
        """``session`` plays for ``person`` (one user on one sign-in): at the cap, a new job of
        theirs may replace their own older one.  The first claim stands, so nobody can
        take over someone else's session."""
        with self._cond:
            if session in self._owners:
                self._owners.move_to_end(session)
                return
            self._owners[session] = person
            while len(self._owners) > _MAX_OWNERS:
                self._owners.popitem(last=False)

    def stop_session(self, session: str) -> int:
        """The viewer left: stop the jobs only this session used."""
        stopped = 0
        with self._cond:
            for job in self._jobs:
                job.sessions.discard(session)
                if job.alive and not job.sessions:
                    self._stop(job, "the viewer stopped")
                    stopped += 1
            self._owners.pop(session, None)
            self._cond.notify_all()
        return stopped

    def ping(self, session: str) -> None:
        """A paused viewer is still there: keep its jobs from being stopped as idle."""
        with self._cond:
            for job in self._jobs:
                if session in job.sessions:
                    job.last_request = time.monotonic()

    def at_capacity(self) -> bool:
        return self._count("transcode") >= self.max_transcodes

    def waiting(self) -> list[dict[str, Any]]:
        """Who waits for a slot, first come first."""
        with self._cond:
            return self._queue.listing()

    def jobs(self) -> list[dict[str, Any]]:
        with self._cond:
            return [
                {
                    "id": j.id,
                    "stream": j.stream.key,
                    "file_id": j.stream.spec.file_id,
                    "mode": j.stream.spec.mode,
                    "start": j.start,
                    "next": j.next_index,
                    "requested": j.requested,
                    "paused": j.paused,
                    "state": j.state,
                    "sessions": sorted(j.sessions),
                    "pid": j.process.pid if j.process else None,
                }
                for j in self._jobs
            ]

    # -- internals ----------------------------------------------------------------------

    def _raise_remembered(self, stream: Stream, index: int) -> None:
        """SegmentFailed if making segment ``index`` failed a short while ago."""
        failed = self.failures.recall(stream.key, index)
        if failed is not None:
            raise SegmentFailed(failed)

    def _count(self, mode: str) -> int:
        return sum(1 for j in self._jobs if j.alive and j.stream.spec.mode == mode)

    def _protected(self, key: str, index: int) -> bool:
        return any(
            j.alive and j.stream.key == key and j.requested <= index <= j.next_index + 1
            for j in self._jobs
        )

    def _touch(self, job: Job, index: int, session: str) -> None:
        job.last_request = time.monotonic()
        job.requested = max(job.requested, index) if job.start <= index < job.end else job.requested
        job.sessions.add(session)
        self._cond.notify_all()

    def _wait(self, job: Job, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StreamError("the server took too long to prepare this part of the video")
        self._cond.wait(timeout=min(remaining, 1.0))

    def _limit(self, mode: str) -> int:
        return self.max_transcodes if mode == "transcode" else self.max_remuxes

    def _person(self, session: str) -> str:
        person = self._owners.get(session)
        return f"user {person}" if person is not None else f"session {session}"

    def _owned(self, job: Job, person: str) -> bool:
        """Whether ``job`` serves ``person`` alone (in one or more of their sessions)."""
        return bool(job.sessions) and all(self._person(s) == person for s in job.sessions)

    def _may_start(self, mode: str, session: str) -> bool:
        """Whether ``session`` may start a ``mode`` job now (the lock is held): into a free
        slot when nobody else waits before it, or in place of its person's own job."""
        person = self._person(session)
        if any(
            j.alive and j.stream.spec.mode == mode and self._owned(j, person) for j in self._jobs
        ):
            return True
        if self._count(mode) >= self._limit(mode):
            return False
        first = self._queue.first(mode)
        return first is None or first.person == person

    def _wait_turn(self, mode: str, session: str) -> None:
        """Queue for a slot, at most ``queue_wait_s`` (the lock is held, and released while
        waiting); returns with the lock held when it is this session's turn, else Busy."""
        ticket = self._queue.join(self._person(session), mode)
        deadline = time.monotonic() + self.queue_wait_s
        try:
            while not self._may_start(mode, session):
                if self._closing.is_set():
                    raise StreamError("the server is shutting down")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    metrics.BUSY_REFUSALS.inc()
                    raise self._busy(mode, self._queue.ahead(ticket))
                self._cond.wait(timeout=min(remaining, 1.0))
        finally:
            self._queue.leave(ticket)
            self._cond.notify_all()  # the next in line may be first now

    def _busy(self, mode: str, position: int) -> Busy:
        now = time.monotonic()
        estimates = [
            self._free_in(j, now)
            for j in self._jobs
            if j.alive and j.stream.spec.mode == mode and j.next_index < j.end  # not ending
        ]
        seconds = slots.nth_free(estimates, position)
        message = slots.busy_message(mode, self._limit(mode), seconds)
        return Busy(message, retry_after=slots.retry_after(seconds))

    def _free_in(self, job: Job, now: float) -> float:
        """Seconds until ``job``'s slot should be free: its viewer plays up to where the job,
        kept ``throttle_segments`` ahead of them, makes the stream's last segment (a job
        that ends sooner is followed by the next in the same slot)."""
        segments = job.stream.segments
        ahead = self.throttle_segments or 0
        asked = min(max(job.requested, job.start), job.end - 1)
        last = max(asked, len(segments) - 1 - ahead)
        return slots.free_in(
            playout_s=segments[last].start_s - segments[asked].start_s,
            quiet_s=now - job.last_request,
            idle_timeout_s=self.idle_timeout_s,
            active_within_s=2 * job.stream.spec.segment_s + 1,
        )

    def _start(self, stream: Stream, index: int, session: str) -> Job:
        """A new job from ``index`` (the lock is held), or the job of another viewer of the
        same stream that came to cover ``index`` while this one queued for a slot."""
        if self._closing.is_set():
            raise StreamError("the server is shutting down")
        mode = stream.spec.mode
        if not self._may_start(mode, session):
            self._wait_turn(mode, session)
            shared = next(
                (j for j in self._jobs if j.stream.key == stream.key and j.covers(index)), None
            )
            if shared is not None:
                return shared
        # The same viewer moved (seek, quality switch): its old jobs make way.
        for job in self._jobs:
            if job.alive and job.sessions == {session}:
                self._stop(job, "the viewer moved on")
        person = self._person(session)
        first = self._queue.first(mode)
        full = self._count(mode) >= self._limit(mode)
        if full or (first is not None and first.person != person):
            # Let in for their own job (_may_start): the same person's job in another
            # session (a reloaded player, another film) makes way, the one they asked
            # least recently first; they never hold a second slot while others wait.
            own = [j for j in self._jobs if j.alive and j.stream.spec.mode == mode]
            own = sorted((j for j in own if self._owned(j, person)), key=lambda j: j.last_request)
            if own:
                self._stop(own[0], "the same person started another stream")
            elif full:  # cannot happen: _may_start let it in
                raise self._busy(mode, 0)
        return self._launch(stream, index, {session})

    def _launch(self, stream: Stream, index: int, sessions: set[str]) -> Job:
        end = min(len(stream.segments), index + _MAX_JOB_SEGMENTS)
        job = Job(next(self._ids), stream, index, end, sessions, next_index=index, requested=index)
        job.pad = not stream.spec.copy_video and _file_of(stream.spec) in self._short_pictures
        job.thread = threading.Thread(
            target=self._run, args=(job,), name=f"hls-job-{job.id}", daemon=True
        )
        self._jobs.append(job)
        job.thread.start()
        metrics.JOBS_STARTED.labels(stream.spec.mode).inc()
        log.info(
            "stream job started", job=job.id, stream=stream.key, mode=stream.spec.mode, start=index
        )
        return job

    def _follow(self, job: Job) -> None:
        """``job`` made the last segment it covers and the stream goes on: its successor
        starts now, in its slot, so no newcomer takes that slot before its viewers get
        there (the lock is held)."""
        if self._closing.is_set() or any(
            j.alive and j.stream.key == job.stream.key and j.start <= job.end < j.end
            for j in self._jobs
        ):
            return
        successor = self._launch(job.stream, job.end, set(job.sessions))
        # Not idle before its viewers reach it: they are still playing ``job``'s segments.
        segments = job.stream.segments
        lead = segments[job.end].start_s - segments[min(job.requested, job.end - 1)].start_s
        successor.last_request = max(job.last_request, time.monotonic()) + max(0.0, lead)

    def _stop(self, job: Job, reason: str) -> None:
        if job.alive:
            job.state = "stopped"
            job.error = reason
            log.info("stream job stopped", job=job.id, reason=reason, at=job.next_index)
        _kill(job.process)

    def _reap_idle(self) -> None:
        while not self._closing.wait(1.0):
            now = time.monotonic()
            with self._cond:
                for job in self._jobs:
                    if job.alive and now - job.last_request > self.idle_timeout_s:
                        self._stop(job, "nobody asked for its segments")
                self._jobs = [
                    j for j in self._jobs if j.alive or (j.thread and j.thread.is_alive())
                ]
                self._cond.notify_all()

    def _run(self, job: Job) -> None:
        """The job's thread: starts ffmpeg (so the parent-death signal follows this thread),
        reads its output until it ends, then cleans up."""
        spec = job.stream.spec
        work = self.cache.stream_dir(job.stream.key) / f"job-{job.id}"
        argv = build_command(
            self.ffmpeg, spec, job.stream.segments, job.start, job.end, work, pad=job.pad
        )
        pid_file = self.run_dir / f"{os.getpid()}-{job.id}.pid"
        log_path = self.run_dir / f"{os.getpid()}-{job.id}.log"
        try:
            # The folder goes when eviction takes a stream's last segment; a player still
            # holding its playlist brings it back.
            work.parent.mkdir(parents=True, exist_ok=True)
            if spec.segment_format == "ts":
                work.mkdir(parents=True, exist_ok=True)
            with open(log_path, "wb") as stderr:
                process = subprocess.Popen(  # noqa: S603 - an argv list, never a shell
                    guarded_argv(argv),
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    stdin=subprocess.DEVNULL,
                    process_group=0,
                )
            pid_file.write_text(f"{process.pid}\n{input_url(Path(spec.path))}\n")
            with self._cond:
                job.process = process
                if not job.alive:  # stopped while starting
                    _kill(process)
            assert process.stdout is not None
            if spec.segment_format == "fmp4":
                self._read_fmp4(job, process.stdout)
            else:
                self._read_ts(job, process.stdout, work)
            code = process.wait()
            with self._cond:
                if job.alive:
                    if code == 0 and job.next_index >= job.end:
                        job.state = "done"
                    elif code == 0 and job.sound_after_picture and not job.pad:
                        # The picture stopped before the sound: the next job holds it.
                        self._short_pictures[_file_of(spec)] = None
                        while len(self._short_pictures) > _SHORT_PICTURES_KEPT:
                            self._short_pictures.popitem(last=False)
                        job.state, job.error = "failed", "the picture ends before the sound"
                        log.info("the picture ends before the sound", job=job.id, at=job.next_index)
                    else:
                        job.state = "failed"
                        job.error = _failure(log_path, code, argv)
                        log.warning("stream job failed", job=job.id, error=job.error, code=code)
                        if code >= 0:  # ffmpeg's own failure, not a kill from outside
                            self.failures.remember(job.stream.key, job.next_index, job.error)
        except OSError as exc:  # a full disk, a vanished folder
            with self._cond:
                if job.alive:
                    job.state = "failed"
                    job.error = (
                        "the server's disk is full"
                        if exc.errno == 28
                        else f"the stream failed: {exc.strerror}"
                    )
                    log.warning("stream job failed", job=job.id, error=job.error)
        except Exception:
            log.exception("stream job crashed", job=job.id)
            with self._cond:
                job.state, job.error = "failed", "the server hit an internal error"
        finally:
            _kill(job.process)
            if job.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    job.process.wait(timeout=5)
                if job.process.stdout is not None:
                    job.process.stdout.close()
            for path in (pid_file, log_path):
                with contextlib.suppress(OSError):
                    path.unlink()
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
            with self._cond:
                self._cond.notify_all()

    def _finished(self, job: Job, index: int) -> None:
        """Segment ``index`` is in the cache: wake its waiters, then throttle (lock not held)."""
        with self._cond:
            job.next_index = index + 1
            if job.alive and job.next_index == job.end < len(job.stream.segments):
                self._follow(job)
            self._cond.notify_all()
            while (
                self.throttle_segments is not None
                and job.alive
                and job.next_index - job.requested > self.throttle_segments
            ):
                if not job.paused:
                    job.paused = True
                    if job.stream.spec.segment_format == "ts" and job.process is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(job.process.pid, signal.SIGSTOP)
                self._cond.wait(timeout=1.0)
            if job.paused:
                job.paused = False
                if job.stream.spec.segment_format == "ts" and job.process is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(job.process.pid, signal.SIGCONT)

    def _read_fmp4(self, job: Job, pipe: Any) -> None:
        stream = job.stream
        starts = stream.starts
        offset = stream.segments[job.start].start_s
        # Copied video starts at the keyframe (``offset``); re-encoded audio starts at the
        # seek point, a little later when the video is copied: each track gets its own shift.
        audio_offset = offset
        if stream.spec.copy_video and not stream.spec.copy_audio:
            audio_offset = seek_point(stream.spec, stream.segments, job.start)
        init = bytearray()
        tracks: dict[int, fmp4.Track] = {}
        video: fmp4.Track | None = None
        buffer = bytearray()
        current = job.start
        pending = bytearray()
        pending_video = False
        pending_end: float | None = None  # where the pending fragments' video ends
        stored = job.start - 1
        picture_end: float | None = None  # job-relative ends of what ffmpeg wrote
        sound_end: float | None = None
        # A fragment whose sound runs on well past its pictures: the file's picture has
        # ended.  It would make a segment holding the rest of the sound; a job holding the
        # last picture makes that segment and the ones after it instead.
        spilled = False
        while chunk := pipe.read1(1 << 20):
            buffer += chunk
            used = 0
            for box in fmp4.iter_boxes(buffer):
                used = box.end
                if box.kind in ("ftyp", "moov"):
                    init += buffer[box.start : box.end]
                    if box.kind == "moov":
                        tracks = fmp4.read_tracks(bytes(init))
                        video = next((t for t in tracks.values() if t.handler == "vide"), None)
                        self._write_init(stream.key, bytes(init))
                elif box.kind == "moof":
                    moof = bytearray(buffer[box.start : box.end])
                    local = fmp4.Box("moof", 0, box.header, box.size)
                    when = fmp4.fragment_time(moof, local, video) if video else None
                    if when is not None:
                        index = bisect.bisect_right(starts, when + offset + 0.02) - 1
                        if index > current and pending and not spilled:
                            self._store(job, current, pending)
                            stored = current
                            pending = bytearray()
                            pending_video = False
                        current = max(current, index, stored + 1)
                        pending_video = True
                        end = fmp4.fragment_end(moof, local, video) if video else None
                        pending_end = None if end is None else end + offset
                    video_only = {k: t for k, t in tracks.items() if t.handler == "vide"}
                    others = {k: t for k, t in tracks.items() if t.handler != "vide"}
                    pictures = _later(None, *_ends(moof, local, video_only))
                    sounds = _later(None, *_ends(moof, local, others))
                    picture_end, sound_end = (
                        _later(picture_end, pictures),
                        _later(sound_end, sounds),
                    )
                    spilled = spilled or (
                        not stream.spec.copy_video
                        and not job.pad
                        and pictures is not None
                        and sounds is not None
                        and sounds > pictures + _SOUND_AFTER_PICTURE_S
                    )
                    fmp4.shift_fragment(moof, local, video_only, offset)
                    fmp4.shift_fragment(moof, local, others, audio_offset)
                    pending += moof
                elif box.kind == "mdat":
                    pending += buffer[box.start : box.end]
                    following = current + 1
                    if (
                        pending_video
                        and not spilled
                        and pending_end is not None
                        and following < len(starts)
                        and pending_end >= starts[following] - 0.02
                    ):
                        # The segment's last fragment is in: store it now, not when ffmpeg
                        # has encoded the whole next segment and starts writing it.
                        self._store(job, current, pending)
                        stored, current = current, following
                        pending, pending_video, pending_end = bytearray(), False, None
            del buffer[:used]
            if not job.alive:
                return
        job.picture_end, job.sound_end = picture_end, sound_end
        # What is left is the last segment only if ffmpeg got that far: an input that ends
        # early (a truncated file) leaves a partial segment, or sound without pictures,
        # which must not be kept as a finished (immutable) segment.
        if (
            pending
            and pending_video
            and not spilled
            and job.alive
            and current == job.end - 1 > stored
        ):
            self._store(job, current, pending)

    def _write_init(self, key: str, data: bytes) -> None:
        path = self.cache.stream_dir(key) / "init.mp4"
        if path.exists():
            return
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        with self._cond:
            self._cond.notify_all()

    def _store(self, job: Job, index: int, data: bytearray) -> None:
        if index >= job.end:
            return
        self.cache.put(job.stream.key, index, "m4s", data)
        self._finished(job, index)

    def _read_ts(self, job: Job, pipe: Any, work: Path) -> None:
        for raw in pipe:
            name = raw.decode("utf-8", "replace").split(",", 1)[0].strip()
            if not name.endswith(".ts") or not name[:-3].isdigit():
                continue
            index = int(name[:-3])
            if index >= job.end:
                continue
            self.cache.adopt(job.stream.key, index, "ts", work / name)
            self._finished(job, index)
            if not job.alive:
                return


def _ends(moof: bytearray, local: fmp4.Box, tracks: dict[int, fmp4.Track]) -> list[float]:
    """Where each of ``tracks`` ends in this fragment (job-relative seconds)."""
    ends = (fmp4.fragment_end(moof, local, track) for track in tracks.values())
    return [end for end in ends if end is not None]


def _later(current: float | None, *found: float | None) -> float | None:
    values = [v for v in (current, *found) if v is not None]
    return max(values) if values else None


def _file_of(spec: StreamSpec) -> tuple[int, int, int]:
    """The file a stream is made from, as it is now (a changed file is another file)."""
    return (spec.file_id, spec.size, spec.mtime_ns)


def _padding_next(job: Job) -> bool:
    """The job found sound after the file's last picture: a job that holds it comes next."""
    return job.state == "failed" and job.sound_after_picture and not job.pad


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _failure(log_path: Path, code: int, argv: Sequence[str]) -> str:
    try:
        said = log_path.read_bytes()
    except OSError:
        said = b""
    return f"the video could not be converted ({ffmpeg_failure(said, argv=argv, code=code)})"
