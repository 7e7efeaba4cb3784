"""The cast's photos: Kodi's ``.actors`` folders, an NFO's local ``<thumb>``, and its URL
downloaded through the fetch rules (an image server on 127.0.0.1, as in
``test_remote_artwork.py``, whose guard lets connections reach loopback only).

Real scans of real clips into a real catalog; the answers are read back as the API gives
them (``queries.get_item``).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from PIL import Image

from mediaserver.db import Database
from mediaserver.events import EventBus
from mediaserver.library import catalog, queries
from mediaserver.library.cast_photos import FETCH_PER_ITEM, PHOTO_WIDTH, PhotoFolder, photo_key
from mediaserver.library.images import CACHE_PREFIX, FILE_PREFIX, resolve_image
from mediaserver.library.scanner import Scanner
from mediaserver.testing import open_catalog
from tests.conftest import LibraryFolder
from tests.unit.test_remote_artwork import _allowing, _serve, _Server, connects  # noqa: F401

NFD: Literal["NFD"] = "NFD"
DECOMPOSED = unicodedata.normalize(NFD, "Zoë_Kravitz.jpg")


def _picture(width: int = 60, height: int = 90, colour: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG")
    return out.getvalue()


def _folder(*names: str) -> PhotoFolder:
    return PhotoFolder.of(Path("/films/Arrival"), dict.fromkeys(names, 0))


# --- matching a name to a file -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "files", "expected"),
    [
        ("Amy Adams", ["Amy_Adams.jpg", "Jeremy_Renner.jpg"], "Amy_Adams.jpg"),
        ("Amy Adams", ["amy_adams.JPG"], "amy_adams.JPG"),
        ("Amy Adams", ["Amy Adams.png"], "Amy Adams.png"),  # spaces kept in the file name
        ("Zoë Kravitz", ["Zoë_Kravitz.jpg"], "Zoë_Kravitz.jpg"),
        ("Zoë Kravitz", ["Zoe_Kravitz.jpg"], "Zoe_Kravitz.jpg"),  # accents dropped
        ("Zoe Kravitz", ["Zoë_Kravitz.webp"], "Zoë_Kravitz.webp"),
        # macOS writes names decomposed: "e" and a combining diaeresis.
        ("Zoë Kravitz", [DECOMPOSED], DECOMPOSED),
        ("Mark O'Brien", ["Mark_O'Brien.jpg"], "Mark_O'Brien.jpg"),
        ("Mark O'Brien", ["Mark_OBrien.jpg"], "Mark_OBrien.jpg"),
        ("Robert Downey Jr.", ["Robert_Downey_Jr_.jpg"], "Robert_Downey_Jr_.jpg"),
        ("Björk", ["bjork.jpeg"], "bjork.jpeg"),
        ("Jonas Tørnqvist", ["Jonas_Tornqvist.jpg"], "Jonas_Tornqvist.jpg"),  # ø is no accent
        ("Ulrich Mühe", ["Ulrich_Muhe.jpg"], "Ulrich_Muhe.jpg"),
        ("Daniel Brühl", ["Daniel_Brühl.jpg"], "Daniel_Brühl.jpg"),
        ("Jo Anne", ["Joanne.jpg", "Jo_Anne.jpg"], "Jo_Anne.jpg"),  # Kodi's spelling first
        ("Joanne", ["Jo_Anne.jpg", "Joanne.jpg"], "Joanne.jpg"),
        ("Amy Adams", ["Amy_Adams.nfo", "Amy_Adams.txt"], None),
        ("Amy", ["Amy_Adams.jpg"], None),
    ],
)
def test_an_actors_name_finds_their_picture(
    name: str, files: list[str], expected: str | None
) -> None:
    found = _folder(*files).photo_of(name)
    assert found == (Path("/films/Arrival/.actors") / expected if expected else None)


def test_photo_keys_ignore_case_accents_and_separators() -> None:
    assert photo_key("Zoë  Kravitz") == photo_key("zoe_kravitz") == "zoekravitz"
    assert photo_key(unicodedata.normalize(NFD, "Penélope Cruz")) == "penelopecruz"
    assert photo_key("Chow Yun-fat") == "chowyunfat"
    assert photo_key("Mads Mikkelsen Ærø Łukasz Straße") == "madsmikkelsenaerolukaszstrasse"
    assert photo_key("渡辺 謙") == "渡辺謙"  # letters of any script stay


# --- scans -------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_catalog(tmp_path / "data") as catalog_db:
        yield catalog_db


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return tmp_path / "data" / "images"


def _scan(db: Database, root: Path, ffmpeg: str, images: Path, network: Any = None) -> None:
    scanner = Scanner(db, EventBus(), ffmpeg_binary=ffmpeg, images_dir=images, network=network)
    library_id = db.write(lambda d: catalog.ensure_library(d, root.name, root))
    assert not scanner.scan(library_id, root).cancelled


def _cast(db: Database, title: str) -> dict[str, dict[str, Any]]:
    row = db.query_one("SELECT id FROM items WHERE title = ?", [title])
    assert row is not None, title
    item = queries.get_item(db, int(row[0]))
    assert item is not None
    return {p["name"]: p for p in item["people"] if p["role"] == "actor"}


def _photo(db: Database, title: str, name: str) -> str | None:
    row = db.query_one(
        """SELECT ip.photo FROM item_people ip JOIN items i ON i.id = ip.item_id
           WHERE i.title = ? AND ip.name = ?""",
        [title, name],
    )
    assert row is not None, (title, name)
    return row[0]


def _actor(name: str, role: str = "", thumb: str = "", order: str = "") -> str:
    parts = f"<name>{name}</name><role>{role}</role>"
    parts += f"<thumb>{thumb}</thumb>" if thumb else ""
    parts += f"<order>{order}</order>" if order else ""
    return f"<actor>{parts}</actor>"


def test_a_films_cast_takes_photos_from_its_folder_and_its_nfo(
    library: LibraryFolder, db: Database, images: Path, ffmpeg_binary: str, tmp_path: Path
) -> None:
    folder = "Films/Arrival (2016)"
    library.add(f"{folder}/Arrival (2016).mp4")
    outside = tmp_path / "elsewhere.jpg"  # a picture outside the library
    outside.write_bytes(_picture())
    library.write(
        f"{folder}/Arrival (2016).nfo",
        "<movie><title>Arrival</title>"
        + _actor("Amy Adams", "Louise Banks")
        + _actor("Zoë Kravitz", "A linguist")
        + _actor("Forest Whitaker", "Colonel Weber", thumb="pictures/forest.png")
        + _actor("Tzi Ma", "General Shang", thumb=str(outside))
        + _actor("Mark O'Brien", thumb="../../../elsewhere.jpg")
        + "</movie>",
    )
    photos = library.root / folder / ".actors"
    photos.mkdir()
    (photos / "Amy_Adams.jpg").write_bytes(_picture())
    (photos / unicodedata.normalize(NFD, "Zoe_Kravitz.jpg")).write_bytes(_picture())
    (photos / "Jeremy_Renner.jpg").write_bytes(_picture())  # not in this cast
    (library.root / folder / "pictures").mkdir()
    (library.root / folder / "pictures/forest.png").write_bytes(_picture())

    _scan(db, library.root, ffmpeg_binary, images)
    cast = _cast(db, "Arrival")
    assert [(n, p["character"]) for n, p in cast.items()] == [
        ("Amy Adams", "Louise Banks"),
        ("Zoë Kravitz", "A linguist"),
        ("Forest Whitaker", "Colonel Weber"),
        ("Tzi Ma", "General Shang"),
        ("Mark O'Brien", None),
    ]
    item_id = db.query_one("SELECT id FROM items WHERE title = 'Arrival'")[0]  # type: ignore[index]
    assert [p["photo_url"] for p in cast.values()] == [
        f"/api/v1/items/{item_id}/cast/0/photo",
        f"/api/v1/items/{item_id}/cast/1/photo",
        f"/api/v1/items/{item_id}/cast/2/photo",
        None,  # a path outside the library is never served
        None,  # nor one that climbs out of it
    ]
    assert _photo(db, "Arrival", "Amy Adams") == FILE_PREFIX + str(photos / "Amy_Adams.jpg")
    forest = _photo(db, "Arrival", "Forest Whitaker")
    assert resolve_image(forest, images) == library.root / folder / "pictures/forest.png"

    # The picture goes: so does the photo, though the film itself did not change.
    (photos / "Amy_Adams.jpg").unlink()
    _scan(db, library.root, ffmpeg_binary, images)
    assert _photo(db, "Arrival", "Amy Adams") is None
    assert _photo(db, "Arrival", "Zoë Kravitz") is not None


def test_a_shows_actors_folder_serves_the_show_and_its_episodes(
    library: LibraryFolder, db: Database, images: Path, ffmpeg_binary: str
) -> None:
    library.write(
        "Shows/Dark/tvshow.nfo",
        "<tvshow><title>Dark</title>" + _actor("Louis Hofmann", "Jonas Kahnwald") + "</tvshow>",
    )
    library.add("Shows/Dark/Season 1/Dark.S01E01.mp4")
    library.write(
        "Shows/Dark/Season 1/Dark.S01E01.nfo",
        "<episodedetails><title>Secrets</title>"
        + _actor("Louis Hofmann", "Jonas")
        + _actor("Guest Star")
        + "</episodedetails>",
    )
    (library.root / "Shows/Dark/.actors").mkdir()
    (library.root / "Shows/Dark/.actors/Louis_Hofmann.jpg").write_bytes(_picture())
    (library.root / "Shows/Dark/Season 1/.actors").mkdir()
    (library.root / "Shows/Dark/Season 1/.actors/Guest_Star.png").write_bytes(_picture())

    _scan(db, library.root, ffmpeg_binary, images)
    show_photo = FILE_PREFIX + str(library.root / "Shows/Dark/.actors/Louis_Hofmann.jpg")
    assert _photo(db, "Dark", "Louis Hofmann") == show_photo
    assert _photo(db, "Secrets", "Louis Hofmann") == show_photo
    assert _photo(db, "Secrets", "Guest Star") == FILE_PREFIX + str(
        library.root / "Shows/Dark/Season 1/.actors/Guest_Star.png"
    )
    assert _cast(db, "Secrets")["Louis Hofmann"]["character"] == "Jonas"


def test_a_rescan_of_the_film_or_a_missing_disk_keeps_the_photos(
    library: LibraryFolder, db: Database, images: Path, ffmpeg_binary: str, tmp_path: Path
) -> None:
    video = library.add("Films/Heat/Heat.mp4")
    nfo = library.write(
        "Films/Heat/Heat.nfo", "<movie>" + _actor("Al Pacino", "Hanna") + "</movie>"
    )
    (video.parent / ".actors").mkdir()
    (video.parent / ".actors/Al_Pacino.jpg").write_bytes(_picture())
    _scan(db, library.root, ffmpeg_binary, images)
    photo = _photo(db, "Heat", "Al Pacino")
    assert photo is not None

    nfo.write_text("<movie>" + _actor("Al Pacino", "Vincent Hanna") + "</movie>", encoding="utf-8")
    _scan(db, library.root, ffmpeg_binary, images)  # the NFO changed: the film is saved again
    assert _cast(db, "Heat")["Al Pacino"]["character"] == "Vincent Hanna"
    assert _photo(db, "Heat", "Al Pacino") == photo

    parked = tmp_path / "parked"
    shutil.move(library.root, parked)  # the disk is unplugged: nothing is taken away
    library.root.mkdir()
    _scan(db, library.root, ffmpeg_binary, images)
    assert _photo(db, "Heat", "Al Pacino") == photo


# --- downloads ---------------------------------------------------------------------------


@pytest.fixture
def photo_server() -> Iterator[_Server]:
    """Serves a 1000×1500 JPEG for every ``.jpg`` path, on 127.0.0.1."""
    yield from _serve(("127.0.0.1", 0), _picture(1000, 1500, "teal"))


def test_a_photo_url_is_downloaded_once_and_kept_small(
    library: LibraryFolder,
    db: Database,
    images: Path,
    ffmpeg_binary: str,
    photo_server: _Server,
    connects: list[str],  # noqa: F811
) -> None:
    url = photo_server.url("/renner.jpg")
    library.add("Films/Arrival/Arrival.mp4")
    (library.root / "Films/Arrival/.actors").mkdir()
    (library.root / "Films/Arrival/.actors/Amy_Adams.jpg").write_bytes(_picture())
    cast = [_actor("Amy Adams", thumb=photo_server.url("/amy.jpg"))]  # the folder's wins
    cast += [_actor("Jeremy Renner", thumb=url)]
    cast += [_actor(f"Extra {n}", thumb=photo_server.url(f"/extra{n}.jpg")) for n in range(30)]
    library.write("Films/Arrival/Arrival.nfo", "<movie>" + "".join(cast) + "</movie>")
    library.add("Films/Sicario/Sicario.mp4", "bars.mp4")  # the same man, the same URL
    library.write(
        "Films/Sicario/Sicario.nfo", "<movie>" + _actor("Jeremy Renner", thumb=url) + "</movie>"
    )
    network = _allowing("127.0.0.1", port=photo_server.port)

    _scan(db, library.root, ffmpeg_binary, images, network=None)  # downloads off
    assert photo_server.requests == [] and connects == []
    assert _photo(db, "Arrival", "Jeremy Renner") is None

    _scan(db, library.root, ffmpeg_binary, images, network)
    digest = hashlib.sha256(url.encode()).hexdigest()
    stored = f"{CACHE_PREFIX}remote-{digest}-w{PHOTO_WIDTH}.jpg"
    assert _photo(db, "Arrival", "Jeremy Renner") == stored
    assert _photo(db, "Sicario", "Jeremy Renner") == stored
    path = resolve_image(stored, images)
    assert path is not None
    with Image.open(path) as picture:
        assert picture.format == "JPEG" and picture.size == (PHOTO_WIDTH, 600)
    # One request per URL, for the first FETCH_PER_ITEM of the cast only; Amy had hers.
    assert "/amy.jpg" not in photo_server.requests
    assert sorted(photo_server.requests) == sorted(
        ["/renner.jpg", *(f"/extra{n}.jpg" for n in range(FETCH_PER_ITEM - 2))]
    )
    assert _photo(db, "Arrival", f"Extra {FETCH_PER_ITEM - 3}") is not None
    assert _photo(db, "Arrival", f"Extra {FETCH_PER_ITEM - 2}") is None

    asked = len(photo_server.requests)
    _scan(db, library.root, ffmpeg_binary, images, network)
    _scan(db, library.root, ffmpeg_binary, images, network=None)  # turned off: kept
    assert len(photo_server.requests) == asked
    assert _photo(db, "Arrival", "Jeremy Renner") == stored
    assert queries.problems(db) == []  # a missing face is not a problem to fix
