"""Scanner: real clips on disk, a real catalog, real probes; one scan of a few files each."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mediaserver.db import Database
from mediaserver.events import Event, EventBus
from mediaserver.library import queries
from mediaserver.library.images import CACHE_PREFIX, FILE_PREFIX, resolve_image
from mediaserver.library.probe import PROBE_VERSION
from mediaserver.library.scanner import Scanner, ScanReport
from mediaserver.library.service import LibraryService
from mediaserver.testing import make_clip, open_catalog, scan_folder

pytestmark = pytest.mark.timeout(120)

MOVIE_NFO = """<?xml version="1.0" encoding="UTF-8"?>
<movie>
  <title>{title}</title>
  <year>2005</year>
  <plot>What the NFO says happens.</plot>
  <genre>Drama</genre>
  <genre>Comedy</genre>
  <mpaa>Rated PG-13</mpaa>
</movie>
"""
SHOW_NFO = """<?xml version="1.0" encoding="UTF-8"?>
<tvshow>
  <title>Proper Show Title</title>
  <year>2010</year>
  <plot>A show about names.</plot>
  <genre>Mystery</genre>
</tvshow>
"""
SRT = "1\n00:00:00,000 --> 00:00:01,000\nHi.\n"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_catalog(tmp_path / "data") as catalog:
        yield catalog


@pytest.fixture
def scan(db: Database, library: Any, ffmpeg_binary: str) -> Any:
    def run(**kwargs: Any) -> ScanReport:
        return scan_folder(db, library.root, ffmpeg=ffmpeg_binary, **kwargs)

    return run


def _items(db: Database, kind: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM items" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
    return [dict(r) for r in db.query(sql, [kind] if kind else [])]


def _one(db: Database, **where: Any) -> dict[str, Any]:
    clause = " AND ".join(f"{k} = ?" for k in where)
    rows = db.query(f"SELECT * FROM items WHERE {clause}", list(where.values()))
    assert len(rows) == 1, f"{len(rows)} items match {where}"
    return dict(rows[0])


def _files(db: Database) -> dict[str, dict[str, Any]]:
    return {r["path"]: dict(r) for r in db.query("SELECT * FROM files")}


def test_movies_episodes_and_multi_episode_files(db: Database, library: Any, scan: Any) -> None:
    library.add("Movies/Alpha (2001)/Alpha.2001.mp4")
    show = "Shows/Signal Tests"
    library.add(f"{show}/Season 01/Signal.Tests.S01E01E02.mkv", "h264.mkv")
    library.add(f"{show}/Season 01/Signal.Tests.S01E03.Finale.mkv", "two_audio_sub.mkv")
    library.add(f"{show}/Season 02/Signal.Tests.S02E01.mp4", "bars.mp4")

    report = scan()

    assert (report.files_seen, report.probed, report.unchanged, report.problems) == (4, 4, 0, 0)
    assert len(report.items_added) == 7  # movie, show, 2 seasons, 3 episodes
    assert report.items_removed == [] and not report.cancelled
    movie = _one(db, kind="movie")
    assert (movie["title"], movie["year"], movie["parent_id"]) == ("Alpha", 2001, None)
    assert movie["runtime_s"] == pytest.approx(2.0, abs=0.1)
    series = _one(db, kind="show")
    assert (series["title"], series["parent_id"]) == ("Signal Tests", None)
    seasons = queries.children(db, series["id"])
    assert [(s["kind"], s["season_number"], s["title"]) for s in seasons] == [
        ("season", 1, "Season 1"),
        ("season", 2, "Season 2"),
    ]
    first = queries.children(db, seasons[0]["id"])
    assert [(e["kind"], e["episode_number"], e["episode_end"]) for e in first] == [
        ("episode", 1, 2),
        ("episode", 3, None),
    ]
    assert first[1]["title"] == "Finale"
    assert all(e["show_id"] == series["id"] for e in first)
    second = queries.children(db, seasons[1]["id"])
    assert [(e["episode_number"], e["episode_end"]) for e in second] == [(1, None)]

    finale = queries.get_item(db, first[1]["id"])
    assert finale is not None
    (file,) = finale["files"]
    assert file["container"] == "mkv"
    streams = [(s["type"], s["codec"], s["language"]) for s in file["streams"]]
    assert streams[0][:2] == ("video", "h264")
    assert [s[2] for s in streams if s[0] == "audio"] in (["eng", "fre"], ["eng", "fra"])
    assert [s[2] for s in streams if s[0] == "subtitle"] == ["eng"]
    assert file["streams"][0]["width"] == 320 and file["streams"][0]["height"] == 180
    # Only files whose probe succeeded are catalogued; nothing was flagged.
    assert queries.problems(db) == []


def test_unchanged_rescan_probes_nothing_and_a_touched_file_only_itself(
    db: Database, library: Any, scan: Any
) -> None:
    touched = library.add("Movies/One (2001)/One.2001.mp4")
    library.add("Movies/Two (2002)/Two.2002.mkv", "h264.mkv")
    library.add("Movies/Three (2003)/Three.2003.mp4", "bars.mp4")
    assert scan().probed == 3
    before = _files(db)
    items_before = _items(db)

    again = scan()
    assert (again.files_seen, again.unchanged, again.probed) == (3, 3, 0)
    assert (again.items_added, again.items_removed, again.moved) == ([], [], 0)
    assert _files(db) == before  # probed_at included: nothing was opened again
    assert _items(db) == items_before

    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    third = scan()
    assert (third.files_seen, third.unchanged, third.probed) == (3, 2, 1)
    assert third.items_added == [] and third.items_removed == []
    after = _files(db)
    for path, row in before.items():
        if path == str(touched):
            assert after[path]["probed_at"] != row["probed_at"]
            assert after[path]["mtime_ns"] == st.st_mtime_ns + 5_000_000_000
            assert (after[path]["id"], after[path]["item_id"]) == (row["id"], row["item_id"])
        else:
            assert after[path] == row


def test_nfo_wins_over_the_file_name(db: Database, library: Any, scan: Any) -> None:
    library.add("Movies/Wrong Name (1999)/Wrong.Name.1999.mp4")
    library.write("Movies/Wrong Name (1999)/Wrong.Name.1999.nfo", MOVIE_NFO.format(title="Right"))
    library.add("Shows/showdir/Season 1/showdir.S01E01.mkv", "h264.mkv")
    library.write("Shows/showdir/tvshow.nfo", SHOW_NFO)
    scan()

    movie = _one(db, kind="movie")
    assert (movie["title"], movie["year"]) == ("Right", 2005)
    assert movie["overview"] == "What the NFO says happens."
    assert movie["content_rating"] == "PG-13"
    item = queries.get_item(db, movie["id"])
    assert item is not None and item["genres"] == ["Drama", "Comedy"]
    series = _one(db, kind="show")
    assert (series["title"], series["year"]) == ("Proper Show Title", 2010)
    assert series["overview"] == "A show about names."
    assert queries.genres(db) == ["Comedy", "Drama", "Mystery"]
    assert [i["title"] for i in queries.list_items(db, queries.ItemQuery(q="wrong"))[0]] == []


def test_nfo_sets_become_collections(db: Database, library: Any, scan: Any) -> None:
    nfo = "<movie><title>{t}</title><year>{y}</year>{s}</movie>"
    library.add("Movies/One (2001)/One.2001.mp4")
    library.write(
        "Movies/One (2001)/One.2001.nfo",
        nfo.format(t="One", y=2001, s="<set><name>Saga</name></set>"),
    )
    library.add("Movies/Two (2003)/Two.2003.mkv", "h264.mkv")
    library.write(
        "Movies/Two (2003)/Two.2003.nfo", nfo.format(t="Two", y=2003, s="<set>Saga</set>")
    )
    library.add("Movies/Alone (2004)/Alone.2004.mp4", "bars.mp4")
    scan()
    saga = _one(db, kind="collection")
    assert saga["title"] == "Saga"
    assert [c["title"] for c in queries.children(db, saga["id"])] == ["One", "Two"]
    listed, total = queries.list_items(db, queries.ItemQuery(kind=("collection",)))
    assert total == 1 and listed[0]["child_count"] == 2
    one = queries.get_item(db, _one(db, title="One")["id"])
    assert one is not None and one["collections"] == [{"id": saga["id"], "title": "Saga"}]
    # No copy of a film's poster: the oldest film anyone looking may see stands for it.
    assert saga["poster"] is None and _one(db, title="One")["poster"] is not None
    shown = queries.poster_of(db, saga["id"])
    assert shown is not None and shown.reference == _one(db, title="One")["poster"]
    assert listed[0]["poster_url"] == f"/api/v1/items/{_one(db, title='One')['id']}/image/poster"
    alone = queries.get_item(db, _one(db, title="Alone")["id"])
    assert alone is not None and alone["collections"] == []
    # Leaving the set (NFO edited) and deleting the other member empties the collection away.
    library.write("Movies/One (2001)/One.2001.nfo", nfo.format(t="One", y=2001, s=""))
    (library.root / "Movies/Two (2003)/Two.2003.mkv").unlink()
    scan()
    assert _items(db, "collection") == []


def test_editing_only_the_nfo_updates_the_item(db: Database, library: Any, scan: Any) -> None:
    library.add("Movies/Film (2005)/Film.2005.mp4")
    nfo = library.write("Movies/Film (2005)/Film.2005.nfo", MOVIE_NFO.format(title="First"))
    scan()
    before = _one(db, kind="movie")
    assert before["title"] == "First"

    nfo.write_text(MOVIE_NFO.format(title="Second"), encoding="utf-8")
    st = nfo.stat()
    os.utime(nfo, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    report = scan()
    assert (report.unchanged, report.probed) == (0, 1)
    assert report.items_added == [] and report.items_removed == []
    after = _one(db, kind="movie")
    assert (after["id"], after["title"]) == (before["id"], "Second")
    assert scan().unchanged == 1  # and the new signature is remembered


def test_sidecar_subtitles_become_streams(db: Database, library: Any, scan: Any) -> None:
    library.add("Movies/Subbed (2010)/Subbed.2010.mkv", "h264.mkv")
    library.write("Movies/Subbed (2010)/Subbed.2010.en.srt", SRT)
    library.write("Movies/Subbed (2010)/Subbed.2010.fr.forced.srt", SRT)
    library.write("Movies/Subbed (2010)/Other.en.srt", SRT)  # belongs to no video
    scan()
    item = queries.get_item(db, _one(db, kind="movie")["id"])
    assert item is not None
    external = [s for s in item["files"][0]["streams"] if s["external"]]
    assert [(s["type"], s["codec"], s["is_forced"]) for s in external] == [
        ("subtitle", "subrip", False),
        ("subtitle", "subrip", True),
    ]
    assert external[0]["language"] in ("en", "eng")
    assert external[1]["language"] in ("fr", "fre", "fra")
    paths = [r[0] for r in db.query("SELECT external_path FROM streams WHERE idx >= 1000")]
    assert [Path(p).name for p in sorted(paths)] == [
        "Subbed.2010.en.srt",
        "Subbed.2010.fr.forced.srt",
    ]


def test_posters_sidecar_loose_folder_and_extracted(
    db: Database, library: Any, scan: Any, tmp_path: Path
) -> None:
    library.add("Movies/Postered (2001)/Postered.2001.mp4")
    sidecar = library.write("Movies/Postered (2001)/poster.jpg", "not decoded, only referenced")
    library.add("Loose/First.Film.2002.mp4", "h264_aac.mp4")
    library.add("Loose/Second.Film.2003.mp4", "bars.mp4")
    library.write("Loose/poster.jpg", "a folder-wide poster for a folder of many films")
    library.add("Movies/Bare (2004)/Bare.2004.mkv", "h264.mkv")
    report = scan()
    images_dir = tmp_path / "data" / "images"

    postered = _one(db, title="Postered")
    assert postered["poster"] == FILE_PREFIX + str(sidecar)
    first, second = _one(db, title="First Film"), _one(db, title="Second Film")
    assert first["poster"].startswith(CACHE_PREFIX)
    assert second["poster"].startswith(CACHE_PREFIX)
    assert first["poster"] != second["poster"]
    bare = _one(db, title="Bare")
    assert bare["poster"].startswith(CACHE_PREFIX)
    assert report.images == 3
    for item in (first, second, bare):
        path = resolve_image(item["poster"], images_dir)
        assert path is not None and path.parent == images_dir
        assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    assert sorted(p.name for p in images_dir.iterdir() if p.suffix != ".jpg") == []


def test_a_moved_file_keeps_its_item_and_file_row(db: Database, library: Any, scan: Any) -> None:
    old = library.add("Movies/Old Name (2001)/Old.Name.2001.mp4")
    library.add("Movies/Stays (2000)/Stays.2000.mkv", "h264.mkv")
    scan()
    before = _files(db)[str(old)]
    item_id = before["item_id"]

    new = library.root / "Elsewhere" / "New.Name.2002.mp4"
    new.parent.mkdir()
    old.rename(new)
    report = scan()
    assert (report.moved, report.removed_files) == (1, 0)
    assert report.items_added == [] and report.items_removed == []
    after = _files(db)
    assert str(old) not in after
    assert (after[str(new)]["id"], after[str(new)]["item_id"]) == (before["id"], item_id)
    item = _one(db, id=item_id)
    assert (item["kind"], item["title"], item["year"]) == ("movie", "New Name", 2002)
    assert len(_items(db, "movie")) == 2


def test_deleting_files_removes_items_and_emptied_parents(
    db: Database, library: Any, scan: Any
) -> None:
    e1 = library.add("Shows/Gone/Season 1/Gone.S01E01.mkv", "h264.mkv")
    e2 = library.add("Shows/Gone/Season 2/Gone.S02E01.mp4")
    movie = library.add("Movies/Kept (2001)/Kept.2001.mp4", "bars.mp4")
    scan()
    series = _one(db, kind="show")
    season2 = _one(db, kind="season", season_number=2)
    episode2 = _one(db, kind="episode", season_number=2)

    e2.unlink()
    report = scan()
    assert report.removed_files == 1
    assert sorted(report.items_removed) == sorted([episode2["id"], season2["id"]])
    assert _one(db, kind="show")["id"] == series["id"]
    assert [s["season_number"] for s in _items(db, "season")] == [1]

    e1.unlink()
    report = scan()
    assert len(report.items_removed) == 3  # episode, season 1, show
    assert _items(db, "show") == [] and _items(db, "season") == [] and _items(db, "episode") == []
    assert [r["path"] for r in _files(db).values()] == [str(movie)]
    assert _one(db, kind="movie")["title"] == "Kept"


def test_a_vanished_library_folder_removes_nothing(
    db: Database, library: Any, scan: Any, ffmpeg_binary: str
) -> None:
    library.add("Movies/Safe (2001)/Safe.2001.mp4")
    library.add("Movies/Sound (2002)/Sound.2002.mkv", "h264.mkv")
    scan()
    items, files = _items(db), _files(db)
    root = library.root
    away = root.with_name("unplugged")
    root.rename(away)
    try:
        report = scan()
        assert (report.files_seen, report.removed_files, report.items_removed) == (0, 0, [])
        assert _items(db) == items and _files(db) == files
        (problem,) = queries.problems(db)
        assert problem["path"] == str(root)
        assert problem["reason"].startswith("library folder:")
        assert "not found" in problem["reason"]
    finally:
        away.rename(root)
    back = scan()
    assert (back.unchanged, back.removed_files, back.items_removed) == (2, 0, [])
    assert queries.problems(db) == []


def test_an_empty_library_folder_removes_nothing(db: Database, library: Any, scan: Any) -> None:
    """An unmounted disk leaves an empty mount point behind: the catalog must survive it."""
    library.add("Movies/Safe (2001)/Safe.2001.mp4")
    scan()
    items, files = _items(db), _files(db)
    root = library.root
    away = root.with_name("unmounted")
    root.rename(away)
    root.mkdir()
    try:
        report = scan()
        assert (report.files_seen, report.removed_files, report.items_removed) == (0, 0, [])
        assert _items(db) == items and _files(db) == files
        (problem,) = queries.problems(db)
        assert problem["path"] == str(root)
        assert "empty" in problem["reason"] and "keeping its 1 file until" in problem["reason"]
    finally:
        root.rmdir()
        away.rename(root)
    assert scan().unchanged == 1
    assert queries.problems(db) == []


def test_cancelling_stops_early_and_removes_nothing(db: Database, library: Any, scan: Any) -> None:
    library.add("Movies/A (2001)/A.2001.mp4")
    library.add("Movies/B (2002)/B.2002.mkv", "h264.mkv")
    library.add("Movies/C (2003)/C.2003.mp4", "bars.mp4")

    # Cancelled while probing: the file in hand is saved, the rest are left for next time.
    stop = threading.Event()

    def stop_when_probing(phase: str, done: int, total: int, current: str | None) -> None:
        if phase == "probing":
            stop.set()

    partial = scan(progress=stop_when_probing, should_stop=stop.is_set)
    assert partial.cancelled
    assert (partial.files_seen, partial.probed, partial.images) == (3, 1, 0)
    assert len(_files(db)) == 1 and len(_items(db, "movie")) == 1

    full = scan()
    assert (full.unchanged, full.probed, len(full.items_added)) == (1, 2, 2)
    items, files = _items(db), _files(db)

    # Cancelled right after the first progress call: the walk ends at once, and the files
    # it never got to see must not be taken for deleted ones.
    calls: list[str] = []
    report = scan(
        progress=lambda phase, *rest: calls.append(phase), should_stop=lambda: bool(calls)
    )
    assert report.cancelled
    assert calls == ["finding files"]
    assert (report.files_seen, report.removed_files, report.items_removed) == (0, 0, [])
    assert _items(db) == items and _files(db) == files


def test_service_publishes_events(
    db: Database, library: Any, ffmpeg_binary: str, tmp_path: Path
) -> None:
    library.add("Movies/Evented (2001)/Evented.2001.mp4")
    doomed = library.add("Movies/Doomed (2002)/Doomed.2002.mkv", "h264.mkv")
    bus = EventBus()
    seen: list[tuple[Event, Mapping[str, Any]]] = []
    bus.subscribe(lambda event, payload: seen.append((event, payload)))
    scanner = Scanner(db, bus, ffmpeg_binary=ffmpeg_binary, images_dir=tmp_path / "images")
    service = LibraryService(db, bus, scanner)
    (library_id,) = service.sync_libraries([library.root])

    service.request_scan()
    assert service.wait_idle(60)
    names = [e for e, _ in seen]
    assert names[0] == Event.SCAN_STARTED and names[-1] == Event.SCAN_FINISHED
    added = sorted(p["item_id"] for e, p in seen if e == Event.ITEM_ADDED)
    assert added == sorted(i["id"] for i in _items(db)) and len(added) == 2
    finished = seen[-1][1]
    assert finished["library_id"] == library_id
    assert (finished["files"], finished["added"], finished["cancelled"]) == (2, 2, False)
    assert service.status().state == "idle"
    last = service.status().last
    assert last is not None and last["added"] == 2
    (scan_row,) = db.query("SELECT outcome, files_seen, items_added FROM scans")
    assert tuple(scan_row) == ("ok", 2, 2)

    doomed_id = _one(db, title="Doomed")["id"]
    doomed.unlink()
    seen.clear()
    service.scan_now(library_id)
    assert [p["item_id"] for e, p in seen if e == Event.ITEM_REMOVED] == [doomed_id]
    assert [e for e, _ in seen if e == Event.ITEM_ADDED] == []
    service.close()


def test_ratings_become_ages_and_episodes_take_their_shows(
    db: Database, library: Any, scan: Any, ffmpeg_binary: str
) -> None:
    import subprocess

    from mediaserver.library import catalog

    tagged = library.root / "Tagged Film (2019).mkv"
    subprocess.run(  # noqa: S603
        [ffmpeg_binary, "-v", "error", "-i", str(library.clip("h264.mkv")), "-c", "copy",
         "-metadata", "LAW_RATING=PG-13", str(tagged)],
        check=True,
    )  # fmt: skip
    library.add("Plain Film (2018).mp4")
    library.write("Plain Film (2018).nfo", "<movie><title>Plain Film</title><mpaa>R</mpaa></movie>")
    library.add("Dark Show/Season 1/Dark Show S01E01.mp4", "bars.mp4")
    library.write(
        "Dark Show/tvshow.nfo", "<tvshow><title>Dark Show</title><mpaa>TV-MA</mpaa></tvshow>"
    )
    scan()
    db.write(catalog.refresh_rating_ages)  # what the library service runs after each scan
    ages = {r["title"]: (r["content_rating"], r["rating_age"]) for r in
            db.query("SELECT title, content_rating, rating_age FROM items")}  # fmt: skip
    assert ages["Tagged Film"] == ("PG-13", 13)  # embedded in the file
    assert ages["Plain Film"] == ("R", 17)  # from the NFO
    assert ages["Dark Show"] == ("TV-MA", 17)
    assert ages["Season 1"] == (None, 17) and ages["Episode 1"][1] == 17  # inherited


def test_hdr_transfer_is_stored_and_an_older_probe_is_redone(
    db: Database, library: Any, scan: Any, ffmpeg_binary: str
) -> None:
    """The HDR filter reads the colour transfer; catalogs probed before it was stored get
    it at their next scan, without anyone touching the files."""
    hdr = {"color_trc": "smpte2084", "color_primaries": "bt2020", "colorspace": "bt2020nc"}
    make_clip(
        library.root / "Movies/Bright (2020)/Bright.2020.mkv",
        ffmpeg=ffmpeg_binary,
        seconds=1,
        output=hdr,
    )
    make_clip(
        library.root / "Movies/Hybrid (2021)/Hybrid.2021.mp4",
        ffmpeg=ffmpeg_binary,
        seconds=1,
        output={**hdr, "color_trc": "arib-std-b67"},
    )
    library.add("Movies/Plain (2001)/Plain.2001.mp4")
    assert scan().probed == 3

    def transfers() -> dict[str, str | None]:
        rows = db.query(
            """SELECT i.title, s.color_transfer FROM streams s JOIN files f ON f.id = s.file_id
               JOIN items i ON i.id = f.item_id WHERE s.type = 'video'"""
        )
        return {r[0]: r[1] for r in rows}

    found = transfers()
    assert (found["Bright"], found["Hybrid"]) == ("smpte2084", "arib-std-b67")
    assert found["Plain"] in (None, "bt709")
    assert {r[0] for r in db.query("SELECT probe_version FROM files")} == {PROBE_VERSION}

    # A catalog from before: nothing stored, version 0 (what the migration leaves).
    db.write(lambda d: d.execute("UPDATE streams SET color_transfer = NULL"))
    db.write(lambda d: d.execute("UPDATE files SET probe_version = 0"))
    again = scan()
    assert (again.unchanged, again.probed) == (0, 3)
    assert transfers() == found
    third = scan()
    assert (third.unchanged, third.probed) == (3, 0)  # and only once
