"""NFO artwork URLs, downloaded at scan time through the fetch rules, against local servers.

The network here is loopback only: an image server on 127.0.0.1 and a redirecting server on
127.0.0.2, each allowed only where a test says so.  No host name is ever looked up (the URLs
are address literals), and a guard on ``socket.create_connection`` lets connections reach
loopback only and records every attempt, so a refused address is seen never to be contacted.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from mediaserver.config import NetworkSettings, load_settings
from mediaserver.context import build_context
from mediaserver.db import Database
from mediaserver.events import EventBus
from mediaserver.library import catalog, queries
from mediaserver.library.images import CACHE_PREFIX, FILE_PREFIX, resolve_image
from mediaserver.library.remote_artwork import image_suffix
from mediaserver.library.scanner import Scanner, ScanReport
from mediaserver.testing import open_catalog
from tests.conftest import LibraryFolder

REAL_CREATE_CONNECTION = socket.create_connection
REMOTE = CACHE_PREFIX + "remote-"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><script>x()</script></svg>'
HTML = b"<!doctype html><html><body>Not found, but with a 200</body></html>"


# --- the edge: connections reach loopback only, and every attempt is recorded ----------------


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address[0])
        if not ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError(f"the test guard refuses {address[0]}")
        return REAL_CREATE_CONNECTION(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempts


# --- local servers ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        url = urlsplit(self.path)
        if url.path.endswith(".jpg"):
            self._send(self.server.jpeg, "image/jpeg")
        elif url.path == "/page.html":
            self._send(HTML, "text/html")
        elif url.path == "/logo.svg":
            self._send(SVG, "image/svg+xml")
        elif url.path == "/html-as.jpeg":  # the content type lies; the bytes do not
            self._send(HTML, "image/jpeg")
        elif url.path == "/to":
            self.send_response(302)
            self.send_header("Location", parse_qs(url.query)["url"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], jpeg: bytes) -> None:
        super().__init__(address, _Handler)
        self.host = address[0]
        self.jpeg = jpeg
        self.requests: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def redirect(self, target: str) -> str:
        return self.url("/to?url=" + quote(target, safe=""))

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def _serve(address: tuple[str, int], jpeg: bytes) -> Iterator[_Server]:
    server = _Server(address, jpeg)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)


@pytest.fixture(scope="session")
def jpeg(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> bytes:
    """A real 32x48 JPEG, made by ffmpeg."""
    out = tmp_path_factory.mktemp("jpeg") / "poster.jpg"
    argv = [ffmpeg_binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi"]
    argv += ["-i", "color=c=orange:s=32x48", "-frames:v", "1", "-y", str(out)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603
    return out.read_bytes()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return tmp_path / "data" / "images"


@pytest.fixture
def server(jpeg: bytes) -> Iterator[_Server]:
    """The image server, on 127.0.0.1."""
    yield from _serve(("127.0.0.1", 0), jpeg)


@pytest.fixture
def bouncer(server: _Server, jpeg: bytes) -> Iterator[_Server]:
    """A redirecting server on 127.0.0.2, same port."""
    yield from _serve(("127.0.0.2", server.port), jpeg)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_catalog(tmp_path / "data") as catalog_db:
        yield catalog_db


def _allowing(*allow: str, port: int) -> NetworkSettings:
    return NetworkSettings(allow_private_fetch=allow, allow_fetch_ports=(port,))


def _scan(
    db: Database, root: Path, ffmpeg: str, images: Path, network: NetworkSettings | None
) -> ScanReport:
    """``testing.scan_folder``, with the one argument it does not pass on."""
    scanner = Scanner(db, EventBus(), ffmpeg_binary=ffmpeg, images_dir=images, network=network)
    return _scan_with(scanner, db, root)


def _scan_with(scanner: Scanner, db: Database, root: Path) -> ScanReport:
    library_id = db.write(lambda d: catalog.ensure_library(d, root.name, root))
    report = scanner.scan(library_id, root)
    assert not report.cancelled
    return report


def _nfo(poster: str | None = None, fanart: str | None = None, plot: str = "") -> str:
    art = f'<thumb aspect="poster">{poster}</thumb>' if poster else ""
    art += f"<fanart><thumb>{fanart}</thumb></fanart>" if fanart else ""
    return f"<movie><plot>{plot}</plot>{art}</movie>".replace("&", "&amp;")


def _movie(library: LibraryFolder, title: str, poster: str | None = None, **kw: str) -> Path:
    video = library.add(f"Movies/{title}/{title}.mp4")
    library.write(f"Movies/{title}/{title}.nfo", _nfo(poster, **kw))
    return video


def _item(db: Database, title: str) -> dict[str, Any]:
    row = db.query_one("SELECT * FROM items WHERE kind = 'movie' AND title = ?", [title])
    assert row is not None, title
    return dict(row)


def _downloads(images: Path) -> list[str]:
    return sorted(p.name for p in images.iterdir() if p.name.startswith(("remote-", ".")))


def _problems(db: Database) -> dict[str, str]:
    return {Path(p["path"]).name: p["reason"] for p in queries.problems(db)}


# --- downloads -------------------------------------------------------------------------------


def test_image_suffix_reads_the_magic_bytes(jpeg: bytes) -> None:
    assert image_suffix(jpeg) == ".jpg"
    assert image_suffix(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == ".png"
    assert image_suffix(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == ".webp"
    for other in (SVG, HTML, b"GIF89a\x01\x00", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"\xff\xd8", b""):
        assert image_suffix(other) is None


def test_an_allowed_poster_and_fanart_are_stored_once(
    library: LibraryFolder,
    db: Database,
    server: _Server,
    images: Path,
    ffmpeg_binary: str,
    jpeg: bytes,
    tmp_path: Path,
) -> None:
    poster_url, fanart_url = server.url("/p.jpg"), server.url("/f.jpg?size=original")
    nfo = library.write(
        "Movies/Arrival (2016)/Arrival.2016.nfo", _nfo(poster_url, fanart=fanart_url)
    )
    library.add("Movies/Arrival (2016)/Arrival.2016.mp4")
    network = _allowing("127.0.0.1/32", port=server.port)
    scanner = Scanner(
        db, EventBus(), ffmpeg_binary=ffmpeg_binary, images_dir=images, network=network
    )

    report = _scan_with(scanner, db, library.root)
    item = _item(db, "Arrival")
    assert sorted(server.requests) == ["/f.jpg?size=original", "/p.jpg"]
    for slot, url in (("poster", poster_url), ("backdrop", fanart_url)):
        digest = hashlib.sha256(url.encode()).hexdigest()
        assert item[slot] == f"{REMOTE}{digest}.jpg"  # named by the URL's hash, nothing else
        path = resolve_image(item[slot], images)
        assert path is not None and path.parent == images and path.read_bytes() == jpeg
    assert _downloads(images) == sorted(p.name for p in images.glob("remote-*.jpg"))
    assert len(_downloads(images)) == 2  # no temporary file left behind
    assert report.images == 0  # the NFO's poster, so no frame is made into one
    assert _problems(db) == {}

    _scan_with(scanner, db, library.root)  # nothing changed
    nfo.write_text(_nfo(poster_url, fanart=fanart_url, plot="Edited."), encoding="utf-8")
    _scan_with(scanner, db, library.root)  # the NFO is read again, the files are there
    assert _item(db, "Arrival")["overview"] == "Edited."
    assert len(server.requests) == 2

    with open_catalog(tmp_path / "elsewhere") as fresh:  # a new catalog, the same images
        _scan(fresh, library.root, ffmpeg_binary, images, network)
        assert _item(fresh, "Arrival")["poster"] == item["poster"]
    assert len(server.requests) == 2


def test_a_sidecar_wins_and_its_slot_is_not_fetched(
    library: LibraryFolder, db: Database, server: _Server, images: Path, ffmpeg_binary: str
) -> None:
    video = _movie(library, "Sidecar", server.url("/p.jpg"), fanart=server.url("/f.jpg"))
    sidecar = video.with_name("poster.jpg")
    sidecar.write_bytes(b"a sidecar, only referenced")
    _scan(db, library.root, ffmpeg_binary, images, _allowing("127.0.0.1", port=server.port))
    item = _item(db, "Sidecar")
    assert item["poster"] == FILE_PREFIX + str(sidecar)
    assert item["backdrop"].startswith(REMOTE)
    assert server.requests == ["/f.jpg"]


def test_a_url_an_earlier_scan_could_not_fetch_replaces_the_frame_later(
    library: LibraryFolder, db: Database, server: _Server, images: Path, ffmpeg_binary: str
) -> None:
    _movie(library, "Late", server.url("/p.jpg"))
    _scan(db, library.root, ffmpeg_binary, images, None)  # artwork off: a frame, as before
    frame = _item(db, "Late")["poster"]
    assert frame.startswith(CACHE_PREFIX) and not frame.startswith(REMOTE)

    _scan(db, library.root, ffmpeg_binary, images, _allowing("127.0.0.1", port=server.port))
    assert _item(db, "Late")["poster"].startswith(REMOTE)
    assert server.requests == ["/p.jpg"]


def test_a_show_and_its_episodes_take_their_nfo_art(
    library: LibraryFolder, db: Database, server: _Server, images: Path, ffmpeg_binary: str
) -> None:
    library.write(
        "Shows/Dark/tvshow.nfo",
        f"""<tvshow><title>Dark</title>
            <thumb aspect="poster" type="season" season="1">{server.url("/s1.jpg")}</thumb>
            <thumb aspect="poster">{server.url("/show.jpg")}</thumb>
            <fanart><thumb>{server.url("/show-fanart.jpg")}</thumb></fanart></tvshow>""",
    )
    library.add("Shows/Dark/Season 1/Dark.S01E01.mp4")
    library.write(
        "Shows/Dark/Season 1/Dark.S01E01.nfo",
        f"<episodedetails><title>Secrets</title><thumb>{server.url('/e1.jpg')}</thumb>"
        "</episodedetails>",
    )
    _scan(db, library.root, ffmpeg_binary, images, _allowing("127.0.0.1", port=server.port))
    show = db.query_one("SELECT poster, backdrop FROM items WHERE kind = 'show'")
    episode = db.query_one("SELECT poster FROM items WHERE kind = 'episode'")
    assert show is not None and episode is not None
    assert all(ref.startswith(REMOTE) for ref in (show[0], show[1], episode[0]))
    assert len({show[0], show[1], episode[0]}) == 3
    assert sorted(server.requests) == ["/e1.jpg", "/show-fanart.jpg", "/show.jpg"]


# --- refused ---------------------------------------------------------------------------------


def test_private_and_metadata_urls_are_refused_and_never_contacted(
    library: LibraryFolder,
    db: Database,
    server: _Server,
    bouncer: _Server,
    images: Path,
    ffmpeg_binary: str,
    connects: list[str],
) -> None:
    port = server.port
    metadata = "http://169.254.169.254/latest/meta-data/"
    hostile = {
        "Loopback": (server.url("/p.jpg"), "127.0.0.1 is a loopback address"),
        "Mapped": (f"http://[::ffff:127.0.0.1]:{port}/p.jpg", "loopback address in IPv6 form"),
        "Decimal": (f"http://2130706433:{port}/p.jpg", "2130706433 is 127.0.0.1"),
        "Metadata": (metadata, "cloud metadata"),
        "Bounce": (bouncer.redirect(server.url("/p.jpg")), "redirects to a URL that is refused"),
        "Bounce Metadata": (bouncer.redirect(metadata), "cloud metadata address"),
    }
    for title, (url, _) in hostile.items():
        _movie(library, title, url)
    _movie(library, "No Art")
    library.add("Movies/Plain/Plain.mp4")
    # Only the bouncer may be reached: the image server stands for what it must not reach.
    report = _scan(db, library.root, ffmpeg_binary, images, _allowing("127.0.0.2", port=port))

    assert server.requests == [] and "127.0.0.1" not in connects
    assert set(connects) <= {"127.0.0.2"}
    assert len(bouncer.requests) == 2
    assert report.files_seen == len(hostile) + 2
    titles = db.query("SELECT title, poster FROM items WHERE kind = 'movie'")
    assert len(titles) == len(hostile) + 2
    assert all(r["poster"] and not r["poster"].startswith(REMOTE) for r in titles)  # frames
    assert not images.exists() or _downloads(images) == []
    problems = _problems(db)
    assert sorted(problems) == sorted(f"{title}.nfo" for title in hostile)
    for title, (_, reason) in hostile.items():
        assert problems[f"{title}.nfo"].startswith("poster not downloaded: ")
        assert reason in problems[f"{title}.nfo"], title


def test_with_the_default_network_settings_nothing_local_is_contacted(
    library: LibraryFolder,
    db: Database,
    server: _Server,
    bouncer: _Server,
    images: Path,
    ffmpeg_binary: str,
    connects: list[str],
) -> None:
    urls = [
        server.url("/p.jpg"),
        f"http://[::ffff:127.0.0.1]:{server.port}/p.jpg",
        f"http://2130706433:{server.port}/p.jpg",
        "http://2130706433/p.jpg",
        "http://169.254.169.254/latest/meta-data/",
        bouncer.redirect(server.url("/p.jpg")),
    ]
    for title, url in zip(
        ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"), urls, strict=True
    ):
        _movie(library, title, url)
    _scan(db, library.root, ffmpeg_binary, images, NetworkSettings())
    assert connects == [] and server.requests == [] and bouncer.requests == []
    assert len(_problems(db)) == len(urls)
    assert len(db.query("SELECT id FROM items WHERE kind = 'movie'")) == len(urls)


@pytest.mark.parametrize("path", ["/page.html", "/logo.svg", "/html-as.jpeg", "/missing.png"])
def test_an_answer_that_is_not_an_image_is_not_stored(
    library: LibraryFolder,
    db: Database,
    server: _Server,
    images: Path,
    ffmpeg_binary: str,
    path: str,
) -> None:
    _movie(library, "Bad Body", server.url(path))
    _movie(library, "Good Body", server.url("/good.jpg"))
    network = _allowing("127.0.0.1", port=server.port)
    scanner = Scanner(
        db, EventBus(), ffmpeg_binary=ffmpeg_binary, images_dir=images, network=network
    )
    _scan_with(scanner, db, library.root)
    assert not _item(db, "Bad Body")["poster"].startswith(REMOTE)
    assert _item(db, "Good Body")["poster"].startswith(REMOTE)
    assert len(_downloads(images)) == 1
    expected = "answered HTTP 404" if path == "/missing.png" else "is not a JPEG, PNG or WebP"
    assert expected in _problems(db)["Bad Body.nfo"]

    _scan_with(scanner, db, library.root)  # remembered: listed again, not asked again
    assert sorted(server.requests) == sorted([path, "/good.jpg"])
    assert expected in _problems(db)["Bad Body.nfo"]


@pytest.fixture
def big_server() -> Iterator[_Server]:
    """Serves an 11 MB "JPEG": right magic bytes, over the 10 MB cap."""
    yield from _serve(("127.0.0.1", 0), b"\xff\xd8\xff" + bytes(11 * 1024 * 1024))


def test_a_body_over_the_cap_is_not_stored(
    library: LibraryFolder, db: Database, big_server: _Server, images: Path, ffmpeg_binary: str
) -> None:
    _movie(library, "Huge", big_server.url("/p.jpg"))
    _scan(db, library.root, ffmpeg_binary, images, _allowing("127.0.0.1", port=big_server.port))
    assert "is larger than 10 MB" in _problems(db)["Huge.nfo"]
    assert not _item(db, "Huge")["poster"].startswith(REMOTE)
    assert _downloads(images) == []


def test_a_host_that_cannot_be_reached_is_given_up_on_within_the_scan(
    library: LibraryFolder,
    db: Database,
    server: _Server,
    images: Path,
    ffmpeg_binary: str,
    connects: list[str],
) -> None:
    titles = ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India")
    for title in titles:  # nothing listens on 127.0.0.3
        _movie(library, title, f"http://127.0.0.3:{server.port}/{title}.jpg")
    network = _allowing("127.0.0.3", port=server.port)
    report = _scan(db, library.root, ffmpeg_binary, images, network)
    assert report.files_seen == len(titles)
    tried = connects.count("127.0.0.3")
    assert 3 <= tried < len(titles)  # three failures, plus what was already under way
    problems = _problems(db)
    assert len(problems) == len(titles)
    assert (
        sum("could not be reached 3 times" in r for r in problems.values()) == len(titles) - tried
    )


# --- the setting -----------------------------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_fetch_artwork_setting_reaches_the_scanner(
    library: LibraryFolder, server: _Server, tmp_path: Path, enabled: bool
) -> None:
    _movie(library, "Configured", server.url("/p.jpg"))
    config = tmp_path / "hearth.toml"
    config.write_text(
        f"""data_dir = "{tmp_path / "data"}"
[library]
media_dirs = ["{library.root}"]
fetch_artwork = {str(enabled).lower()}
[network]
allow_private_fetch = ["127.0.0.1/32"]
allow_fetch_ports = [{server.port}]
""",
        encoding="utf-8",
    )
    ctx = build_context(load_settings(config, environ={}))
    ctx.start(background=False)
    try:
        ctx.library.scan_now(ctx.library.libraries()[0]["id"])
        poster = _item(ctx.db, "Configured")["poster"]
    finally:
        ctx.stop()
    assert poster.startswith(REMOTE) is enabled
    assert server.requests == (["/p.jpg"] if enabled else [])
