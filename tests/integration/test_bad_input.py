"""Bad-input cases 3, 4, 5 and 12: hostile paths, stream parameters, media files and URLs.

3. Media paths with ``..%2F``, ``..%5C``, ``%252e%252e``, absolute paths or a trailing ``/``
   are 404 and nothing outside the allowed folders is read.
4. A stream parameter with spaces, quotes, dashes or a value outside its enum is a 400 naming
   the parameter, and starts no ffmpeg (the argv of valid requests: ``unit/test_stream_argv``).
5. A "video" that is an HLS playlist or an ffconcat list naming ``file:///etc/passwd``,
   ``http://169.254.169.254/`` or a file of ours is flagged by the scan, and no output of the
   server carries a foreign byte.
12. A URL-like value (``file:///etc/passwd``, ``http://127.0.0.1:1/x``) in any path or query
    parameter of any route in the route table is never used as a filesystem path.

One Hearth runs in this process (uvicorn in a thread), so an audit hook
(``sys.addaudithook``) sees every file it opens or lists, every socket it connects and every
process it starts while a test fires its requests.  ffmpeg and the probe workers are other
processes: for them inotify watches *lures*, files only a demuxer that followed a playlist or
concat list would open (one outside every allowed folder, one inside the library that a
"safe" relative concat entry can name), and a listening socket counts connections to the
address the playlists name.  ``test_without_the_guard_ffmpeg_reads_the_lures`` shows the
lures work: without ``INPUT_GUARD`` ffmpeg opens them.
"""

from __future__ import annotations

import contextlib
import ctypes
import mimetypes
import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import av
import httpx
import pytest
from PIL import Image

import mediaserver
from mediaserver.app import create_app, web_root
from mediaserver.config import load_settings
from mediaserver.ffmpeg_tools import INPUT_GUARD, input_url
from mediaserver.testing import make_clip
from tests.integration.conftest import auth_headers, wait_for_scan, wait_until
from tests.styled_media import FONT

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(sys.platform != "linux", reason="inotify and /etc/passwd are Linux's"),
]

GOOD = "Good Movie"  # H.264/AAC Matroska, a text subtitle, chapters, a font: plays every way
SIDECAR = "Side Car"  # a real MP4 beside a hostile .m3u8, .srt and .nfo
LEAKY = "Leaky Poster"  # a real 2 s MKV whose poster and subtitle sidecars link to /etc/passwd
HOSTILE = {  # library path -> what it is; every one must be flagged by the scan
    "Evil Playlist (2002).mkv": "an HLS playlist naming /etc/passwd, 169.254.169.254 and lures",
    "Evil Concat (2003).mp4": "an ffconcat list naming /etc/passwd and the outside lure",
    "Evil Lure Playlist (2005).mkv": "an HLS playlist naming only the outside lure",
    "Evil Lure Concat (2006).mp4": "an ffconcat list naming the inside lure (a 'safe' entry)",
    "Evil Stream (2008).ts": "an HLS playlist named like an MPEG-TS file",
}
PASSWD = Path("/etc/passwd")
METADATA_URL = "http://169.254.169.254/latest/meta-data/"
FORBIDDEN_HOSTS = {"169.254.169.254"}
IN_OPEN = 0x20


# -- what the server process does: an audit hook ----------------------------------------


@dataclass
class Seen:
    """What the process did while a test recorded: paths opened or listed, sockets
    connected (their addresses), processes started (their argv)."""

    opened: list[str] = field(default_factory=list)
    connects: list[Any] = field(default_factory=list)
    popens: list[list[str]] = field(default_factory=list)
    lures_before: int = 0  # lure opens and listener connections when recording began
    connections_before: int = 0


class AuditLog:
    """One audit hook for the whole test process (hooks cannot be removed): it records only
    while a test holds ``record()``.  Processes the server starts (from its threads, never
    the main thread, where the tests run ffmpeg themselves) are kept for the whole run too."""

    def __init__(self) -> None:
        self.seen: Seen | None = None
        self.all_popens: list[list[str]] = []
        self.active = False  # while this module's server runs: later modules pay one check

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        try:
            self._note(event, args)
        except Exception:  # a hook that raises would fail the server's own call instead
            return

    def _note(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "subprocess.Popen":
            if threading.current_thread() is threading.main_thread():
                return
            argv = args[1]
            command = [argv] if isinstance(argv, str | bytes | os.PathLike) else list(argv)
            self.all_popens.append([os.fsdecode(a) for a in command])
        seen = self.seen
        if seen is None:
            return
        if event in ("open", "os.listdir", "os.scandir"):
            target = args[0] if args else None
            if isinstance(target, str | bytes | os.PathLike):
                seen.opened.append(os.fsdecode(target))
        elif event == "socket.connect":
            seen.connects.append(args[1])
        elif event == "subprocess.Popen":
            seen.popens.append(self.all_popens[-1])  # the server's: returned above if ours

    @contextmanager
    def record(self) -> Iterator[Seen]:
        seen = Seen()
        self.seen = seen
        try:
            yield seen
        finally:
            self.seen = None


_AUDIT = AuditLog()
_HOOKED: list[bool] = []


def audit_log() -> AuditLog:
    if not _HOOKED:  # installed on first use, not at import: collection stays hook-free
        sys.addaudithook(_AUDIT)
        _HOOKED.append(True)
    return _AUDIT


# -- what other processes do: inotify on lure files, a socket that counts connections -----


class OpenWatch:
    """``IN_OPEN`` on a few files, whichever process opens them (ffmpeg, probe workers)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd: int = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._paths: dict[int, Path] = {}
        for path in paths:
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), IN_OPEN)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {path} failed")
            self._paths[wd] = path
        self._opened: list[Path] = []

    def opened(self) -> list[Path]:
        """Every open of a watched file since the watch began (a list: it only grows)."""
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                offset += 16 + length
                if mask & IN_OPEN and wd in self._paths:
                    self._opened.append(self._paths[wd])
        return list(self._opened)

    def close(self) -> None:
        os.close(self._fd)


class Listener:
    """A socket on 127.0.0.1 the playlists name: any connection, from any process, stays
    queued in its backlog and is counted here."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0

    def accepted(self) -> int:
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return self.connections
            conn.close()
            self.connections += 1


@dataclass
class Lures:
    outside: Path  # outside every allowed folder; an absolute playlist entry names it
    inside: Path  # in the library, not a media file; a relative concat entry names it
    tokens: tuple[bytes, ...]  # their contents: must never appear in an answer
    listener: Listener
    watch: OpenWatch


def _playlist(*uris: str) -> str:
    segments = "".join(f"#EXTINF:2.0,\n{uri}\n" for uri in uris)
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n{segments}#EXT-X-ENDLIST\n"


def _concat(*files: str) -> str:
    return "ffconcat version 1.0\n" + "".join(f"file '{f}'\nduration 2.0\n" for f in files)


def write_hostile(root: Path, outside: Path, inside: Path, port: int) -> None:
    """The hostile files of :data:`HOSTILE` and the hostile sidecars of :data:`SIDECAR`."""
    listener_url = f"http://127.0.0.1:{port}/x.ts"
    texts = {
        "Evil Playlist (2002).mkv": _playlist(
            "file:///etc/passwd", METADATA_URL, listener_url, f"file://{outside}"
        ),
        "Evil Concat (2003).mp4": _concat("/etc/passwd", str(outside)),
        "Evil Lure Playlist (2005).mkv": _playlist(f"file://{outside}"),
        "Evil Lure Concat (2006).mp4": _concat(inside.name),
        "Evil Stream (2008).ts": _playlist("file:///etc/passwd", listener_url),
    }
    for name, text in texts.items():
        (root / name).write_text(text, encoding="utf-8")
    side = f"{SIDECAR} (2004)"
    (root / f"{side}.m3u8").write_text(_playlist("file:///etc/passwd", METADATA_URL))
    # A "subtitle" that is a playlist and a concat list: only subtitle demuxers may read it.
    (root / f"{side}.en.srt").write_text(_playlist("file:///etc/passwd") + _concat(str(outside)))
    # XXE: an external entity naming /etc/passwd in the title.
    (root / f"{side}.nfo").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE movie [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        "<movie><title>&x;</title><plot>&x;</plot></movie>\n"
    )


def _good_nfo(port: int, outside: Path) -> str:
    """Artwork URLs a scan may fetch: the metadata service, loopback, a file URL; and a cast
    whose photos name the same, or files outside the library (only the first has a photo,
    in ``.actors``; the second's there is a link to ``/etc/passwd``)."""
    cast = {
        "Good Actor": "",
        "Passwd Actor": "",
        "File Actor": "file:///etc/passwd",
        "Outside Actor": str(outside),
        "Portrait Actor": str(outside.with_name("portrait.jpg")),  # a picture, but not ours
        "Climbing Actor": "../../outside/lure.ts",
        "Loopback Actor": f"http://127.0.0.1:{port}/actor.jpg",
        "Metadata Actor": METADATA_URL,
    }
    actors = "".join(f"<actor><name>{n}</name><thumb>{t}</thumb></actor>" for n, t in cast.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<movie><title>Good Movie</title>'
        "<genre>Drama</genre>"
        f'<thumb aspect="poster">{METADATA_URL}</thumb>'
        f"<fanart><thumb>http://127.0.0.1:{port}/fanart.jpg</thumb></fanart>"
        f'<thumb aspect="landscape">file:///etc/passwd</thumb>{actors}</movie>\n'
    )


# -- the server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HlsStream:
    key: str
    token: str
    session: str
    subtitle: int  # the text subtitle track the master playlist lists

    @property
    def query(self) -> str:
        return f"t={quote(self.token, safe='')}&s={self.session}"


@dataclass
class Hearth:
    url: str
    client: httpx.Client
    library: Path
    data: Path
    lures: Lures
    passwd_line: bytes  # the first line of /etc/passwd: must never appear in an answer
    items: dict[str, dict[str, Any]]  # title -> GET /api/v1/items/{id}
    library_id: int
    stream: HlsStream  # GOOD's first rendition, from its master playlist
    user_id: int  # the admin's, whose API key the client uses
    scan_seen: Seen  # what the process did from start-up to the end of the scan

    def item(self, title: str) -> int:
        return int(self.items[title]["id"])

    def file(self, title: str) -> int:
        return int(self.items[title]["files"][0]["id"])

    def raw(self, target: str, method: str = "GET") -> httpx.Response:
        """``target`` (path and query) sent exactly as written: no decoding, no normalising."""
        url = httpx.URL(self.url).copy_with(raw_path=target.encode("ascii"))
        return self.client.request(method, url)

    def markers(self) -> tuple[bytes, ...]:
        return (self.passwd_line, *self.lures.tokens)

    @contextmanager
    def record(self) -> Iterator[Seen]:
        """Record what the process does, and from where the lure counts start."""
        lures, connections = len(self.lures.watch.opened()), self.lures.listener.accepted()
        with audit_log().record() as seen:
            seen.lures_before, seen.connections_before = lures, connections
            yield seen


def _library(root: Path, ffmpeg: str, outside: Path, port: int) -> Path:
    good = root / f"{GOOD} (2001)" / f"{GOOD} (2001).mkv"
    chapters = ((0.0, 6.0, "One"), (6.0, 12.0, "Two"))
    # Longer than the trickplay interval (10 s): see test_a_short_video_gets_trickplay.
    font = {"attach": str(FONT), "metadata:s:t:0": "mimetype=font/ttf"}  # stream 3
    make_clip(good, seconds=12, subtitle=True, chapters=chapters, output=font, ffmpeg=ffmpeg)
    (good.parent / f"{GOOD} (2001).nfo").write_text(_good_nfo(port, outside), encoding="utf-8")
    (good.parent / ".actors").mkdir()
    Image.new("RGB", (60, 90), "teal").save(good.parent / ".actors/Good_Actor.jpg", "JPEG")
    Image.new("RGB", (60, 90), "red").save(outside.with_name("portrait.jpg"), "JPEG")
    (good.parent / ".actors/Passwd_Actor.jpg").symlink_to(PASSWD)
    make_clip(root / f"{SIDECAR} (2004).mp4", video="smptebars", ffmpeg=ffmpeg)
    leaky = root / f"{LEAKY} (2007)" / f"{LEAKY} (2007).mkv"  # short Matroska: no trickplay
    make_clip(leaky, video="rgbtestsrc", ffmpeg=ffmpeg)
    (leaky.parent / f"{LEAKY} (2007)-poster.jpg").symlink_to(PASSWD)
    (leaky.parent / f"{LEAKY} (2007).en.srt").symlink_to(PASSWD)
    inside = root / "lure.bin"
    inside.write_bytes(b"INSIDE-LURE-" + secrets.token_hex(16).encode())
    write_hostile(root, outside, inside, port)
    return inside


def _first_stream(client: httpx.Client, item_id: int, session: str) -> HlsStream:
    master = client.get(f"/api/v1/items/{item_id}/hls/master.m3u8", params={"session": session})
    assert master.status_code == 200, master.text
    uri = next(line for line in master.text.splitlines() if line and not line.startswith("#"))
    parts = urlsplit(uri)
    key = parts.path.split("/")[4]
    query = parse_qs(parts.query)
    subtitle = re.search(r"/subtitles/(\d+)\.m3u8", master.text)
    assert subtitle is not None, master.text
    return HlsStream(key, query["t"][0], query["s"][0], int(subtitle[1]))


@pytest.fixture(scope="module")
def hearth(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    ffmpeg_binary: str,
) -> Iterator[Hearth]:
    if not PASSWD.is_file():
        pytest.skip("needs /etc/passwd")
    passwd_line = PASSWD.read_bytes().splitlines()[0]
    audit = audit_log()
    base = tmp_path_factory.mktemp("bad-input")
    outside = base / "outside" / "lure.ts"  # .ts: an extension the HLS demuxer accepts
    outside.parent.mkdir()
    outside_token = b"OUTSIDE-LURE-" + secrets.token_hex(16).encode()
    outside.write_bytes(outside_token)
    listener = Listener()
    library = base / "media"
    inside = _library(library, ffmpeg_binary, outside, listener.port)
    inside_token = inside.read_bytes()  # before the watch starts: this read is an open too
    try:
        watch = OpenWatch([outside, inside])  # after writing them: our own writes are opens
    except (OSError, AttributeError) as exc:
        pytest.skip(f"needs inotify: {exc}")
    lures = Lures(outside, inside, (outside_token, inside_token), listener, watch)
    data = base / "data"
    with contextlib.ExitStack() as stack:
        audit.active = True
        stack.callback(setattr, audit, "active", False)
        stack.callback(watch.close)
        stack.callback(listener.sock.close)
        with audit.record() as scan_seen:
            # The folder browser may look only inside the library: the pages that show
            # it list their browse roots, and nothing outside allowed_roots may be read.
            browse = {"MEDIASERVER_BROWSE_ROOTS": str(library)}
            url = stack.enter_context(hearth_server(data, [library], env=browse))
            client = stack.enter_context(
                httpx.Client(base_url=url, headers=auth_headers(url), timeout=30)
            )
            wait_for_scan(client)
        # Trickplay runs after the scan; tests that count started processes need it done.
        wait_until(
            lambda: (
                (s := client.get("/api/v1/trickplay/status").json())["state"] == "idle"
                and s["files_done"] == s["files_total"]
                and s["built"] >= 1
            ),
            60,
            "trickplay to finish",
        )
        listed = client.get("/api/v1/items", params={"kind": "movie", "limit": 500}).json()
        items = {i["title"]: client.get(f"/api/v1/items/{i['id']}").json() for i in listed["items"]}
        library_id = client.get("/api/v1/libraries").json()["libraries"][0]["id"]
        assert {GOOD, SIDECAR, LEAKY} <= set(items), sorted(items)
        stream = _first_stream(client, int(items[GOOD]["id"]), "badinputbase")
        yield Hearth(
            url,
            client,
            library,
            data,
            lures,
            passwd_line,
            items,
            library_id,
            stream,
            int(client.get("/api/v1/auth/me").json()["id"]),
            scan_seen,
        )


# -- judging what was seen ------------------------------------------------------------------


def allowed_roots(h: Hearth) -> list[Path]:
    """Where the server may read: its library, its data (catalog, cache, images), the web
    folder, and Python's own files (the venv, the interpreter, this package's source for
    tracebacks)."""
    roots = {
        h.library,
        h.data,
        web_root(),
        Path(mediaserver.__file__).parent,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(sys.exec_prefix),
        *(Path(p) for p in sysconfig.get_paths().values()),
    }
    return [Path(os.path.realpath(r)) for r in roots]


# mimetypes reads the system's type maps the first time a type is guessed.
_ALLOWED_FILES = {"/dev/null", "/dev/urandom", *mimetypes.knownfiles}


def foreign(h: Hearth, seen: Seen) -> list[str]:
    """Opened or listed paths (symlinks resolved) outside :func:`allowed_roots`, and any
    open of a lure even where it lies inside the library."""
    roots = allowed_roots(h)
    lures = {os.path.realpath(p) for p in (h.lures.outside, h.lures.inside)}
    found = []
    for raw in seen.opened:
        real = os.path.realpath(raw)
        inside = any(Path(real).is_relative_to(root) for root in roots)
        if real in lures or (not inside and real not in _ALLOWED_FILES):
            found.append(raw if raw == real else f"{raw} -> {real}")
    return sorted(set(found))


def forbidden_connects(h: Hearth, seen: Seen) -> list[Any]:
    """Connections to the metadata service, to the lure listener or to port 1."""
    bad = []
    for address in seen.connects:
        if isinstance(address, tuple) and len(address) >= 2:
            host, port = address[0], address[1]
            if host in FORBIDDEN_HOSTS or port in (1, h.lures.listener.port):
                bad.append(address)
    return bad


def unguarded(popens: Sequence[Sequence[str]]) -> list[str]:
    """ffmpeg commands with an input not preceded by both whitelists (or naming hls/concat)."""
    problems = []
    for command in popens:
        argv = list(command[command.index("--") + 1 :] if "--" in command else command)
        if not argv or not Path(argv[0]).name.startswith("ffmpeg"):
            continue
        previous = 0
        for at, arg in enumerate(argv):
            if arg != "-i":
                continue
            options = argv[previous:at]
            previous = at + 2
            source = argv[at + 1]
            protocols = _option(options, "-protocol_whitelist")
            formats = (_option(options, "-format_whitelist") or "").split(",")
            if (
                protocols != "file,pipe"
                or formats == [""]
                or {"hls", "concat", "applehttp"} & set(formats)
                or not source.startswith(("file:", "pipe:"))
            ):
                problems.append(" ".join(argv))
    return problems


def _option(options: Sequence[str], name: str) -> str | None:
    values = [options[i + 1] for i, a in enumerate(options[:-1]) if a == name]
    return values[-1] if values else None


def carries_marker(h: Hearth, bodies: Mapping[str, bytes]) -> list[str]:
    return [url for url, body in bodies.items() if any(m in body for m in h.markers())]


def assert_clean(h: Hearth, seen: Seen, bodies: Mapping[str, bytes] | None = None) -> None:
    """Nothing foreign opened, connected or answered; every ffmpeg guarded; still healthy."""
    assert foreign(h, seen) == []
    assert forbidden_connects(h, seen) == []
    assert unguarded(seen.popens) == []
    assert h.lures.watch.opened()[seen.lures_before :] == []
    assert h.lures.listener.accepted() == seen.connections_before
    if bodies is not None:
        assert carries_marker(h, bodies) == []
    assert h.client.get("/health").status_code == 200


# -- case 5: hostile media files ----------------------------------------------------------


def test_hostile_files_are_flagged_and_never_catalogued(hearth: Hearth) -> None:
    problems = hearth.client.get(f"/api/v1/libraries/{hearth.library_id}/problems").json()
    reasons = {Path(p["path"]).name: p["reason"] for p in problems["problems"]}
    for name in HOSTILE:
        assert name in reasons, f"{name} ({HOSTILE[name]}) was not flagged: {sorted(reasons)}"
        assert "not a readable media file" in reasons[name], (name, reasons[name])
    assert set(hearth.items) == {GOOD, SIDECAR, LEAKY}
    paths = {Path(f["path"]).name for item in hearth.items.values() for f in item["files"]}
    assert paths.isdisjoint(HOSTILE)
    # The XXE title was refused with the NFO: the name gave the title, no entity was expanded.
    assert hearth.items[SIDECAR]["title"] == SIDECAR


def test_the_scan_opened_and_fetched_nothing_the_hostile_files_name(hearth: Hearth) -> None:
    """From start-up to the end of the scan (probes, posters, NFO artwork, trickplay)."""
    seen = hearth.scan_seen
    named = {os.path.realpath(p) for p in (PASSWD, hearth.lures.outside, hearth.lures.inside)}
    assert [p for p in seen.opened if os.path.realpath(p) in named] == []
    assert forbidden_connects(hearth, seen) == []
    # The NFO's artwork URLs reached the fetcher, which refused them without connecting.
    problems = hearth.client.get(f"/api/v1/libraries/{hearth.library_id}/problems").json()
    nfo = [p["reason"] for p in problems["problems"] if p["path"].endswith(".nfo")]
    port = hearth.lures.listener.port
    assert any("169.254.169.254" in r and f"127.0.0.1:{port}" in r for r in nfo), nfo
    assert hearth.lures.watch.opened() == []  # by any process: the probe workers too
    assert hearth.lures.listener.accepted() == 0
    assert unguarded(seen.popens) == []


def test_a_cast_photo_comes_only_from_the_library(hearth: Hearth) -> None:
    item = hearth.item(GOOD)
    cast = [p for p in hearth.client.get(f"/api/v1/items/{item}").json()["people"]]
    assert [p["name"] for p in cast if p["photo_url"]] == ["Good Actor"]
    first = hearth.client.get(f"/api/v1/items/{item}/cast/0/photo")
    assert first.status_code == 200, first.text
    with hearth.record() as seen:
        for position in range(1, len(cast)):
            answer = hearth.client.get(f"/api/v1/items/{item}/cast/{position}/photo")
            assert answer.status_code == 404, (position, answer.text)
    assert_clean(hearth, seen)


def _outputs(h: Hearth, title: str, session: str) -> dict[str, bytes]:
    """Every answer the server gives about one item: details, file, images, playback
    decision, HLS (master, variants, init and first segment, subtitles), trickplay,
    chapters and pages."""
    item, file = h.item(title), h.file(title)
    urls = [
        f"/api/v1/items/{item}",
        f"/api/v1/items/{item}/file?file_id={file}",
        f"/api/v1/items/{item}/image/poster",
        f"/api/v1/items/{item}/image/backdrop",
        f"/api/v1/items/{item}/playback?profile=chromium",
        f"/api/v1/items/{item}/trickplay.vtt",
        f"/api/v1/items/{item}/trickplay/{file}/0.jpg",
        f"/api/v1/items/{item}/chapters",
        f"/api/v1/items/{item}/chapters/{file}/0.jpg",
        f"/items/{item}",
    ]
    urls += [
        f"/api/v1/items/{item}/subtitles/{s['idx']}.vtt?file_id={file}"
        for s in h.items[title]["files"][0]["streams"]
        if s["type"] == "subtitle"
    ]
    bodies = {url: h.client.get(url).content for url in urls}
    master_url = f"/api/v1/items/{item}/hls/master.m3u8?session={session}"
    master = h.client.get(master_url)
    bodies[master_url] = master.content
    assert master.status_code == 200, master.text
    lines = master.text.splitlines()
    variants = [line for line in lines if line and not line.startswith("#")]
    renditions = re.findall(r'URI="([^"]+)"', master.text)
    for uri in [variants[0], *renditions]:  # the first variant: the one players start with
        playlist = h.client.get(uri)
        bodies[uri] = playlist.content
        entries = re.findall(r'URI="([^"]+)"', playlist.text)
        entries += [x for x in playlist.text.splitlines() if x and not x.startswith("#")][:1]
        for entry in entries:
            target = urljoin(h.url + uri, entry)
            bodies[target] = h.client.get(target).content
    return bodies


def test_no_output_carries_a_foreign_byte(hearth: Hearth) -> None:
    with hearth.record() as seen:
        bodies: dict[str, bytes] = {}
        for title in (GOOD, SIDECAR):
            bodies.update(_outputs(hearth, title, f"sweep{title[:4]}"))
        for page in (
            "/",
            f"/libraries/{hearth.library_id}",
            f"/libraries/{hearth.library_id}/problems",
            f"/api/v1/libraries/{hearth.library_id}/problems",
            "/api/v1/items?limit=500",
            "/search?q=passwd",
        ):
            bodies[page] = hearth.client.get(page).content
    # The sweep saw real media, so a clean result means something.
    good, file = hearth.item(GOOD), hearth.file(GOOD)
    assert bodies[f"/api/v1/items/{good}/file?file_id={file}"][:4] == b"\x1a\x45\xdf\xa3"
    assert bodies[f"/api/v1/items/{good}/image/poster"][:3] == b"\xff\xd8\xff"
    assert bodies[f"/api/v1/items/{good}/trickplay/{file}/0.jpg"][:3] == b"\xff\xd8\xff"
    assert any(b"moof" in body[:64] for body in bodies.values()), "no media segment was served"
    assert any(body.startswith(b"WEBVTT") and b"Hello" in body for body in bodies.values())
    assert len(bodies) > 30
    assert_clean(hearth, seen, bodies)


HOSTILE_FILES = sorted(HOSTILE)


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_ffmpeg_with_our_guard_refuses_each_hostile_file(
    hearth: Hearth, ffmpeg_binary: str, name: str
) -> None:
    before, connections = len(hearth.lures.watch.opened()), hearth.lures.listener.accepted()
    guard = [arg for key, value in INPUT_GUARD.items() for arg in (f"-{key}", value)]
    argv = [ffmpeg_binary, "-hide_banner", "-nostdin", "-loglevel", "error", *guard]
    argv += ["-i", input_url(hearth.library / name), "-f", "null", "-"]
    done = subprocess.run(argv, capture_output=True, timeout=30, check=False)  # noqa: S603
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert not any(m in output for m in hearth.markers())
    if name.endswith((".mkv", ".mp4")):  # probed as playlist or concat: refused by name
        assert b"not on whitelist" in done.stderr, done.stderr
    with pytest.raises(av.FFmpegError):  # PyAV, as the probe and keyframe index open files
        av.open(input_url(hearth.library / name), options=dict(INPUT_GUARD), timeout=10.0)
    assert hearth.lures.watch.opened()[before:] == []
    assert hearth.lures.listener.accepted() == connections


def test_without_the_guard_ffmpeg_reads_the_lures(tmp_path: Path, ffmpeg_binary: str) -> None:
    """The control: the same kind of files make an unguarded ffmpeg open what they name, and
    the watch sees it.  (Own copies, so the module's lures stay untouched.)"""
    outside = tmp_path / "outside" / "lure.ts"
    outside.parent.mkdir()
    outside.write_bytes(b"lure\n")
    root = tmp_path / "media"
    root.mkdir()
    inside = root / "lure.bin"
    inside.write_bytes(b"lure\n")
    (root / "playlist.mkv").write_text(_playlist(f"file://{outside}"))
    (root / "concat.mp4").write_text(_concat(inside.name))
    watch = OpenWatch([outside, inside])
    try:
        for name, lure in (("playlist.mkv", outside), ("concat.mp4", inside)):
            argv = [ffmpeg_binary, "-hide_banner", "-nostdin", "-loglevel", "error"]
            argv += ["-protocol_whitelist", "file,pipe"]  # the protocol list alone: not enough
            argv += ["-i", input_url(root / name), "-f", "null", "-"]
            subprocess.run(argv, capture_output=True, timeout=30, check=False)  # noqa: S603
            assert lure in watch.opened(), name
    finally:
        watch.close()


# -- case 3: hostile media paths ----------------------------------------------------------

# Raw, as they go on the wire: nothing below decodes or normalises them before the server.
TRAVERSALS = [
    "..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "..%5C..%5C..%5C..%5C..%5C..%5C..%5Cetc%5Cpasswd",
    "%252e%252e%252f%252e%252e%252f%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "../../../../../../../etc/passwd",
    "..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd%00.jpg",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "file:%2F%2F%2Fetc%2Fpasswd",
    "http:%2F%2F127.0.0.1:1%2Fx",
]


def _positions(h: Hearth) -> list[str]:
    """Every place a request names a file, with ``{}`` where the hostile part goes."""
    item, file, s = h.item(GOOD), h.file(GOOD), h.stream
    return [
        "/static/{}",
        "/static/vendor/{}",
        f"/api/v1/items/{item}/image/{{}}",
        f"/api/v1/items/{item}/subtitles/{{}}",
        f"/api/v1/items/{item}/subtitles/{s.subtitle}.vtt/{{}}",
        f"/api/v1/items/{item}/trickplay/{file}/{{}}",
        f"/api/v1/items/{item}/chapters/{file}/{{}}",
        f"/api/v1/hls/{s.key}/{{}}?{s.query}",
        f"/api/v1/hls/{s.key}/subtitles/{{}}?{s.query}",
        f"/api/v1/hls/{{}}/index.m3u8?{s.query}",
        f"/api/v1/hls/{s.key}/{{}}/index.m3u8?{s.query}",
        "/schema/{}",
    ]


def test_the_positions_serve_files_when_the_name_is_right(hearth: Hearth) -> None:
    """Each position answers 200 with a valid name: the 404s below come from the value."""
    s = hearth.stream
    valid = ["app.css", "redoc-2.5.4/redoc.standalone.js", "poster", f"{s.subtitle}.vtt", None]
    valid += ["0.jpg", "0.jpg", "index.m3u8", f"{s.subtitle}.m3u8", s.key, None, "openapi.json"]
    for position, name in zip(_positions(hearth), valid, strict=True):
        if name is not None:
            answer = hearth.raw(position.format(name))
            assert answer.status_code == 200, (position, answer.status_code)


@pytest.mark.parametrize("value", TRAVERSALS)
def test_a_hostile_name_in_any_file_position_is_404(hearth: Hearth, value: str) -> None:
    with hearth.record() as seen:
        answers = {p.format(value): hearth.raw(p.format(value)) for p in _positions(hearth)}
    statuses = {target: a.status_code for target, a in answers.items()}
    assert {t: code for t, code in statuses.items() if code != 404} == {}
    assert_clean(hearth, seen, {t: a.content for t, a in answers.items()})


@pytest.mark.parametrize(
    "value", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "file:%2F%2F%2Fetc%2Fpasswd", "1%20-f"]
)
def test_a_hostile_file_id_is_400_naming_it(hearth: Hearth, value: str) -> None:
    item = hearth.item(GOOD)
    with hearth.record() as seen:
        targets = [
            f"/api/v1/items/{item}/file?file_id={value}",
            f"/api/v1/items/{item}/subtitles/{hearth.stream.subtitle}.vtt?file_id={value}",
            f"/api/v1/items/{item}/trickplay.vtt?file_id={value}",
            f"/api/v1/items/{item}/chapters?file_id={value}",
        ]
        answers = {t: hearth.raw(t) for t in targets}
    for target, answer in answers.items():
        assert answer.status_code == 400, (target, answer.status_code)
        assert answer.json()["detail"].startswith("file_id:"), answer.text
    assert_clean(hearth, seen, {t: a.content for t, a in answers.items()})


def test_a_trailing_slash_is_404(hearth: Hearth) -> None:
    item, file, s = hearth.item(GOOD), hearth.file(GOOD), hearth.stream
    targets = [
        "/static/app.css/",
        f"/api/v1/items/{item}/image/poster/",
        f"/api/v1/items/{item}/file/?file_id={file}",
        f"/api/v1/items/{item}/subtitles/{s.subtitle}.vtt/",
        f"/api/v1/items/{item}/trickplay/{file}/0.jpg/",
        f"/api/v1/hls/{s.key}/index.m3u8/?{s.query}",
    ]
    statuses = {t: hearth.raw(t).status_code for t in targets}
    assert hearth.client.get("/health").status_code == 200
    assert statuses == dict.fromkeys(targets, 404)


def test_malformed_static_names_are_404_not_500(hearth: Hearth) -> None:
    targets = ["/static/app.css%00.txt", "/static/app.css%2F..%2Fapp.js", "/static/app.css%2Fx"]
    with hearth.record() as seen:
        answers = {t: hearth.raw(t) for t in targets}
    assert_clean(hearth, seen, {t: a.content for t, a in answers.items()})  # read nothing
    assert {t: a.status_code for t, a in answers.items()} == dict.fromkeys(targets, 404)


def test_a_poster_symlink_does_not_serve_a_file_outside_the_library(hearth: Hearth) -> None:
    answer = hearth.client.get(f"/api/v1/items/{hearth.item(LEAKY)}/image/poster")
    assert hearth.passwd_line not in answer.content
    assert answer.status_code == 404 or answer.content[:3] == b"\xff\xd8\xff"


def test_a_subtitle_symlink_is_not_read(hearth: Hearth) -> None:
    item, file = hearth.item(LEAKY), hearth.file(LEAKY)
    tracks = [
        s["idx"] for s in hearth.items[LEAKY]["files"][0]["streams"] if s["type"] == "subtitle"
    ]
    with hearth.record() as seen:
        answers = {
            idx: hearth.client.get(f"/api/v1/items/{item}/subtitles/{idx}.vtt?file_id={file}")
            for idx in tracks
        }
    assert all(hearth.passwd_line not in a.content for a in answers.values())
    assert [p for p in seen.opened if os.path.realpath(p) == str(PASSWD)] == []


def test_a_short_video_gets_trickplay(hearth: Hearth) -> None:
    assert hearth.client.get(f"/api/v1/items/{hearth.item(SIDECAR)}/trickplay.vtt").is_success
    answer = hearth.client.get(f"/api/v1/items/{hearth.item(LEAKY)}/trickplay.vtt")
    assert answer.status_code == 200, answer.text


# -- case 12: every path and query parameter of every route -------------------------------

# Decoded values, percent-encoded on the way so the handler sees exactly these strings.
URL_LIKE = [
    "../../../../../../../etc/passwd",
    "..\\..\\..\\..\\..\\..\\etc\\passwd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/etc/passwd",
    "file:///etc/passwd",
    "http://127.0.0.1:1/x",
    METADATA_URL,
]
# Parameters the master playlist reads from the raw query (not in its signature).
_MASTER_QUERY = (
    "profile",
    "vcodec",
    "acodec",
    "container",
    "ten_bit",
    "max_height",
    "max_channels",
    "segments",
    "audio",
    "subtitle",
    "file_id",
    "session",
)
# Handler arguments that are not query parameters (besides the declared dependencies).
_NOT_QUERY = {"self", "request", "data", "scope", "state", "headers", "cookies"}
# Routes that change state are walked only where that cannot matter: stopping or pinging
# sessions nobody has.  (The others take their input in a form or JSON body.)
_HARMLESS_POSTS = {
    "/api/v1/hls/sessions/{session:str}/stop",
    "/api/v1/hls/sessions/{session:str}/ping",
}
# Text parameters the handler checks against a list or a pattern: a hostile value is a 400.
_CHECKED = {*_MASTER_QUERY, "kind", "s"}


@dataclass(frozen=True)
class RouteParam:
    path: str  # the template, e.g. /api/v1/items/{item_id:int}/image/{image:str}
    method: str
    name: str
    where: str  # "path" or "query"
    typed: bool  # int or Literal: a hostile value is a 400


def _route_params(tmp_path: Path) -> list[RouteParam]:
    """Every str/path path parameter and every query parameter of every GET route (and of
    :data:`_HARMLESS_POSTS`)."""
    settings = load_settings(None, {"MEDIASERVER_DATA_DIR": str(tmp_path)})
    found: list[RouteParam] = []
    for route in create_app(settings).routes:
        for handler in getattr(route, "route_handlers", []):
            methods = sorted(set(getattr(handler, "http_methods", ())) & {"GET", "POST"})
            if route.path not in _HARMLESS_POSTS:
                methods = [m for m in methods if m == "GET"]  # HEAD runs the GET handler
            path_params = getattr(route, "path_parameters", {})
            signature = handler.parsed_fn_signature.parameters
            for method in methods:
                for name, definition in path_params.items():
                    if definition.type in (str, Path):
                        found.append(RouteParam(route.path, method, name, "path", False))
                injected = set(handler.resolve_dependencies()) | _NOT_QUERY
                query = [n for n in signature if n not in path_params and n not in injected]
                if route.path.endswith("/hls/master.m3u8"):
                    query += list(_MASTER_QUERY)
                for name in query:
                    annotation = str(signature[name].annotation) if name in signature else "str"
                    typed = "int" in annotation or "Literal" in annotation
                    found.append(RouteParam(route.path, method, name, "query", typed))
    return found


def _fill(h: Hearth, template: str, hostile: RouteParam | None, value: str) -> str:
    """The template with valid values, ``value`` (raw) in ``hostile``'s place."""
    s = h.stream
    if "/trickplay/" in template or "/chapters/{" in template:
        name = "0.jpg"
    elif "/hls/{key:str}/subtitles/" in template:
        name = f"{s.subtitle}.m3u8"
    elif "/hls/{key:str}/" in template:
        name = "index.m3u8"
    elif "/dlna/files/" in template and "/subtitles/" in template:
        name = f"{s.subtitle}.srt"
    elif "/dlna/files/" in template:
        name = "original.mkv"  # GOOD is Matroska
    elif "/dlna/scpd/" in template:
        name = "ContentDirectory.xml"
    elif "/dlna/icons/" in template:
        name = "icon-48.png"
    else:
        name = f"{s.subtitle}.vtt"
    samples = {
        "item_id": str(h.item(GOOD)),
        "user_id": str(h.user_id),
        "library_id": str(h.library_id),
        "file_id": str(h.file(GOOD)),
        "credential_id": "999999",
        "key": s.key,
        "name": name,
        "image": "poster",
        "session": "walkerbaseline",
        "path": "openapi.json",
        "file_path": "app.css",
        "chart": "titles",
        "index": "3",  # GOOD's font attachment
        "position": "0",  # an actor's place in a cast
        "genre_name": "Drama",  # Good Movie's
    }

    def one(match: re.Match[str]) -> str:
        param = match[1]
        if hostile is not None and hostile.where == "path" and hostile.name == param:
            return value
        return samples[param]

    path = re.sub(r"\{([^:}]+):[a-z]+\}", one, template)
    query = {"t": quote(s.token, safe=""), "s": s.session} if "/api/v1/hls/{key" in template else {}
    if hostile is not None and hostile.where == "query":
        query[hostile.name] = value
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_url_like_values_in_every_route_parameter_are_never_paths(
    hearth: Hearth, tmp_path: Path
) -> None:
    params = _route_params(tmp_path)
    walked = {(p.path, p.method) for p in params}
    assert len(params) > 60 and "/static/{file_path:path}" in {p.path for p in params}
    # The valid request of every walked route works: the hostile value makes the difference.
    for path, method in sorted(walked - {("/setup", "GET")}):  # 403 once there is an admin
        answer = hearth.raw(_fill(hearth, path, None, ""), method)
        assert answer.status_code < 400, (method, path, answer.status_code, answer.text[:200])
    rows: list[tuple[RouteParam, str, int]] = []
    bodies: dict[str, bytes] = {}
    with hearth.record() as seen:
        for param in params:
            for value in URL_LIKE:
                target = _fill(hearth, param.path, param, quote(value, safe=""))
                answer = hearth.raw(target, param.method)
                rows.append((param, value, answer.status_code))
                bodies[f"{param.method} {target}"] = answer.content
    wrong = []
    for param, value, status in rows:
        if param.where == "path":
            # A session id is no file name: 400 when malformed, 404 when its "/" leaves the
            # route.  Every other path parameter names a file: 404.
            expected = {400, 404} if param.name == "session" else {404}
        elif param.typed or param.name in _CHECKED:
            expected = {400}
        elif param.name == "t":  # the signed token of an HLS URL
            expected = {403}
        else:  # free text (a search, a genre, a redirect target): anything but a 5xx
            expected = set(range(200, 500))
        if status not in expected:
            wrong.append(
                f"{param.method} {param.path} {param.where}:{param.name}={value!r} -> {status}"
            )
    assert wrong == []
    assert_clean(hearth, seen, bodies)


# -- case 4: stream parameters ------------------------------------------------------------

BAD_STREAM_PARAMS: list[tuple[str, str]] = [
    ("vcodec", "h264 -f image2 {x}"),
    ("vcodec", "h264 -f"),
    ("vcodec", '"h264"'),
    ("vcodec", "h264'"),
    ("vcodec", "h264;rm -rf {x}"),
    ("vcodec", "-h264"),
    ("vcodec", "h264,$(touch {x})"),
    ("acodec", "aac -f image2 {x}"),
    ("acodec", "aac\x00"),
    ("container", "mp4,-f"),
    ("ten_bit", "hevc -y"),
    ("profile", "generic -f image2 {x}"),
    ("profile", "'generic'"),
    ("profile", "../../etc/passwd"),
    ("segments", "ts;rm"),
    ("segments", "hls"),
    ("max_height", "-1"),
    ("max_height", "1e9"),
    ("max_height", "720 -f"),
    ("max_height", "0x2d0"),
    ("max_height", "99999"),
    ("max_height", "\u00b2"),  # a superscript two: str.isdigit() says yes, int() says no
    ("max_height", "7" * 5000),  # more digits than int() converts
    ("max_channels", "-2"),
    ("max_channels", "2;rm"),
    ("audio", "1 -map 0"),
    ("audio", "-1"),
    ("subtitle", "0 -vf subtitles={x}"),
    ("file_id", "1;rm"),
]


def _stream_param_cases() -> list[Any]:
    cases: list[Any] = []
    for endpoint in ("playback", "hls/master.m3u8"):
        for name, value in BAD_STREAM_PARAMS:
            cases.append(
                pytest.param(endpoint, name, value, id=f"{endpoint}-{name}={value[:24]!r}")
            )
        for name in ("audio", "subtitle", "file_id"):
            cases.append(pytest.param(endpoint, name, "\u00b2", id=f"{endpoint}-{name}=sup2"))
    return cases


def _job_ids(h: Hearth) -> set[int]:
    return {int(j["id"]) for j in h.client.get("/api/v1/hls/jobs").json()["jobs"]}


@pytest.mark.parametrize(("endpoint", "name", "value"), _stream_param_cases())
def test_a_bad_stream_parameter_is_400_and_starts_nothing(
    hearth: Hearth, tmp_path: Path, endpoint: str, name: str, value: str
) -> None:
    trap = tmp_path / "x"  # what an injected "-f image2 /tmp/x" would write
    value = value.format(x=trap)
    before = _job_ids(hearth)
    with hearth.record() as seen:
        target = f"/api/v1/items/{hearth.item(GOOD)}/{endpoint}?{name}={quote(value, safe='')}"
        answer = hearth.raw(target)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(f"{name}:"), answer.text
    assert seen.popens == []
    assert max(_job_ids(hearth) | {0}) <= max(before | {0})
    assert not trap.exists()
    assert_clean(hearth, seen, {target: answer.content})


ISSUE_NAMES = "videoCodec=h264%20-f%20image2%20{x}&level=41%3Brm&maxHeight=-1"


@pytest.mark.parametrize("endpoint", ["playback", "hls/master.m3u8"])
def test_unknown_stream_parameters_are_400(hearth: Hearth, tmp_path: Path, endpoint: str) -> None:
    query = ISSUE_NAMES.format(x=quote(str(tmp_path / "x"), safe=""))
    answer = hearth.raw(f"/api/v1/items/{hearth.item(SIDECAR)}/{endpoint}?{query}&session=unk0")
    hearth.client.post("/api/v1/hls/sessions/unk0/stop")  # the job a 200 may have started
    assert answer.status_code == 400


# -- last: the whole module -----------------------------------------------------------------


def test_every_ffmpeg_this_module_ran_was_guarded(hearth: Hearth) -> None:
    ffmpegs = [c for c in audit_log().all_popens if any(Path(a).name == "ffmpeg" for a in c)]
    assert len(ffmpegs) >= 3  # trickplay, HLS jobs, subtitle conversions ran
    assert unguarded(ffmpegs) == []
    assert hearth.lures.watch.opened() == []
    assert hearth.lures.listener.accepted() == 0
    assert hearth.client.get("/health").status_code == 200
    assert hearth.client.get("/api/v1/items").status_code == 200
