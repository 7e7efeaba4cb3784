"""The probe pool (a hanging or dying worker costs one file, never the scan or the server)
and what it reads: streams named by their format, as old catalogs are migrated to."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mediaserver.db import Database, schema
from mediaserver.library.images import extract_frame
from mediaserver.library.probe import (
    Prober,
    ProbeResult,
    grab_frame,
    normalise_language,
    probe_file,
)
from mediaserver.testing import make_clip, open_catalog, scan_folder


def _children() -> list[int]:
    """Our spawned probe workers (not multiprocessing's resource tracker)."""
    me = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me and b"spawn_main" in cmdline:
                pids.append(int(entry))
    return pids


def test_a_hanging_probe_times_out_and_the_pool_carries_on(tmp_path: Path, clip_cache: Any) -> None:
    fifo = tmp_path / "hang.mkv"
    os.mkfifo(fifo)  # opening it for reading waits for a writer that never comes
    prober = Prober(workers=1, timeout_s=1.0)
    try:
        started = time.monotonic()
        hung = prober.probe(fifo)
        assert time.monotonic() - started < 10
        assert hung.error == "probing took too long (the file may be damaged)"
        assert not hung.transient
        good = prober.probe(clip_cache / "h264_aac.mp4")
        assert good.error is None and good.container == "mp4"
    finally:
        prober.close()


def test_a_worker_that_dies_flags_its_file_and_is_replaced(tmp_path: Path, clip_cache: Any) -> None:
    fifo = tmp_path / "die.mkv"
    os.mkfifo(fifo)
    prober = Prober(workers=1, timeout_s=30.0)
    try:
        future = prober.submit(fifo)
        deadline = time.monotonic() + 20
        while not (workers := _children()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # let the worker reach the blocking open
        for pid in _children():
            os.kill(pid, signal.SIGKILL)
        died = Prober.result(future)
        assert died.error is not None and "crashed" in died.error, died.error
        assert not died.transient
        assert workers, "no worker process was seen"
        again = prober.probe(clip_cache / "h264_aac.mp4")
        assert again.error is None
    finally:
        prober.close()


def test_a_failure_of_the_pool_itself_is_transient() -> None:
    future: concurrent.futures.Future[ProbeResult] = concurrent.futures.Future()
    future.set_exception(RuntimeError("pool is broken"))
    result = Prober.result(future)
    assert result.transient and result.error and "pool is broken" in result.error


def test_language_codes_are_unified() -> None:
    assert [normalise_language(c) for c in ("fre", "FRA", "ger", "eng", "und", "", None)] == [
        "fra",
        "fra",
        "deu",
        "eng",
        None,
        None,
        None,
    ]


def test_probing_does_not_block_other_threads(clip_cache: Any) -> None:
    prober = Prober(workers=2, timeout_s=30.0)
    try:
        results: list[ProbeResult] = []
        threads = [
            threading.Thread(target=lambda: results.append(prober.probe(clip_cache / "h264.mkv")))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert [r.container for r in results] == ["mkv"] * 4
    finally:
        prober.close()


def test_grab_frame_writes_the_frame_at_the_time_asked(tmp_path: Path, clip_cache: Any) -> None:
    import av

    out = tmp_path / "poster.jpg"
    assert grab_frame(clip_cache / "h264_aac.mp4", 1.0, out, width=160)
    with av.open(str(out)) as image:
        frame = next(image.decode(video=0))
        assert (frame.width, frame.height) == (160, 90)  # 320x180 scaled, aspect kept
    assert [p.name for p in tmp_path.iterdir()] == ["poster.jpg"]  # nothing half-written left


def test_copies_of_one_film_framed_side_by_side_all_get_the_poster(
    tmp_path: Path, clip_cache: Any, ffmpeg_binary: str
) -> None:
    """Copies of a film share a fingerprint and so one poster file: threads (and probe
    workers) write it at the same time, and each must see it made."""
    film, out = clip_cache / "h264_aac.mp4", tmp_path / "same.jpg"
    grabbers = [lambda: grab_frame(film, 1.0, out, width=160)] * 12
    extractors = [lambda: extract_frame(ffmpeg_binary, film, 4.0, out, width=160)] * 6
    for writers in (grabbers, extractors):
        with concurrent.futures.ThreadPoolExecutor(len(writers)) as pool:
            assert all(pool.map(lambda write: write(), writers))
        assert [p.name for p in tmp_path.iterdir()] == ["same.jpg"]
        out.unlink()


def test_a_scan_makes_posters_in_the_probe_workers_without_an_ffmpeg_process(
    tmp_path: Path, clip_cache: Any
) -> None:
    root = tmp_path / "media" / "Movies" / "Framed (2004)"
    root.mkdir(parents=True)
    shutil.copyfile(clip_cache / "h264_aac.mp4", root / "Framed.2004.mp4")
    with open_catalog(tmp_path / "data") as db:
        report = scan_folder(db, tmp_path / "media", ffmpeg="/nonexistent/ffmpeg")
        (row,) = db.query("SELECT poster FROM items WHERE kind = 'movie'")
    assert report.images == 1
    assert row["poster"].startswith("cache:") and row["poster"].endswith(".jpg")


def test_interlaced_video_is_recognised(
    tmp_path: Path, ffmpeg_binary: str, clip_cache: Any
) -> None:
    import subprocess

    import ffmpeg

    target = tmp_path / "interlaced.mkv"
    source = ffmpeg.input("testsrc=size=320x240:rate=25", f="lavfi", t=1)
    source = source.filter("tinterlace", "interleave_top").filter("setfield", "tff")
    argv = (
        ffmpeg.output(
            source,
            str(target),
            vcodec="libx264",
            preset="ultrafast",
            flags="+ildct+ilme",
            x264opts="tff=1",
        )
        .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
        .compile(cmd=ffmpeg_binary)
    )
    subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603
    prober = Prober(workers=1, timeout_s=30)
    try:
        interlaced = prober.probe(target).streams[0]
        progressive = prober.probe(clip_cache / "h264_aac.mp4").streams[0]
    finally:
        prober.close()
    assert interlaced["field_order"] in ("tt", "tb", "bb", "bt")
    assert progressive["field_order"] == "progressive"


def test_streams_are_named_by_their_format_not_the_decoder(
    tmp_path: Path, ffmpeg_binary: str, clip_cache: Any
) -> None:
    """FFmpeg reads AV1 with libdav1d, MP3 with mp3float and SubRip in Matroska with its
    "srt" decoder: the catalog keeps av1, mp3 and subrip, the names profiles compare."""
    mixed = make_clip(
        tmp_path / "mixed.mkv",
        seconds=1,
        size="160x90",
        subtitle=True,
        output={"c:a": "libmp3lame"},
        ffmpeg=ffmpeg_binary,
    )
    av1 = probe_file(str(clip_cache / "av1_aac.mp4"))
    assert [(s["type"], s["codec"]) for s in av1.streams] == [("video", "av1"), ("audio", "aac")]
    other = probe_file(str(mixed))
    assert [(s["type"], s["codec"]) for s in other.streams] == [
        ("video", "h264"),
        ("audio", "mp3"),
        ("subtitle", "subrip"),
    ]


def test_a_catalog_of_decoder_names_is_migrated_to_format_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "catalog.sqlite3"
    before = schema.MIGRATIONS.index(schema._m014_codec_formats)
    stored: list[tuple[int, str, str | None]] = [(0, "libdav1d", None), (1, "mp3float", None)]
    stored += [(2, "pgssub", None)]
    stored += [(3, "srt", None), (4, "h264", None), (1000, "ssa", "/films/A.ssa")]
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:before])
        patch.setattr(schema, "SCHEMA_VERSION", before)
        with Database(path) as old:

            def fill(db: Any) -> None:
                db.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'Films', '/films')")
                db.execute(
                    "INSERT INTO files (id, library_id, path, size, mtime_ns) "
                    "VALUES (1, 1, '/films/A.mkv', 1, 1)"
                )
                db.conn.executemany(
                    "INSERT INTO streams (file_id, idx, type, codec, external_path) "
                    "VALUES (1, ?, 'video', ?, ?)",
                    stored,
                )

            old.write(fill)
    with Database(path) as db:
        codecs = [r["codec"] for r in db.query("SELECT codec FROM streams ORDER BY idx")]
    # A sidecar's name comes from its extension (.ssa), never from a decoder: left alone.
    assert codecs == ["av1", "mp3", "hdmv_pgs_subtitle", "subrip", "h264", "ssa"]
