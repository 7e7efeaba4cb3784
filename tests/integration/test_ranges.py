"""serve_file over a real uvicorn server: ranges, multipart, conditionals, HEAD and 404."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from litestar import Litestar, Request, Response, route
from litestar.params import FromQuery

from mediaserver.api.ranges import CHUNK_SIZE, MAX_RANGES, etag_for, serve_file

SIZE = 1024 * 1024 + 17
CONTENT_TYPE = "video/mp2t"  # Debian's mimetypes would say text/vnd.trolltech.linguist


def make_app(root: Path) -> Litestar:
    """One route, GET and HEAD, serving files from ``root`` with query-chosen options."""

    @route("/f", http_method=["GET", "HEAD"])
    async def send(
        request: Request,
        name: FromQuery[str] = "clip.ts",
        ct: FromQuery[str] = CONTENT_TYPE,
        download: FromQuery[bool] = False,
    ) -> Response:
        extra = {"Content-Disposition": f'attachment; filename="{name}"'} if download else None
        return serve_file(request, root / Path(name).name, content_type=ct, extra_headers=extra)

    return Litestar([send])


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def payload(media_dir: Path) -> bytes:
    data = os.urandom(SIZE)
    (media_dir / "clip.ts").write_bytes(data)
    (media_dir / "empty.ts").write_bytes(b"")
    return data


@pytest.fixture(scope="module")
def base_url(
    server_runner: Callable[..., AbstractContextManager[str]], media_dir: Path, payload: bytes
) -> Iterator[str]:
    with server_runner(make_app(media_dir)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def get(client: httpx.Client, method: str = "GET", **headers: str) -> httpx.Response:
    """Request /f with headers given as keyword arguments (underscores become dashes)."""
    return client.request(
        method, "/f", headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


def fds_open_on(path: Path) -> int:
    """How many descriptors of this process (the server runs in it) point at ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):  # fds come and go while the server runs
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return count


def parse_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/byteranges body strictly, checking every delimiter."""
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]+)", content_type)
    assert match, content_type
    delimiter = b"--" + match.group(1).encode()
    close = b"\r\n" + delimiter + b"--\r\n"
    assert body.startswith(delimiter + b"\r\n") and body.endswith(close)
    parts = []
    for raw in body[len(delimiter) + 2 : -len(close)].split(b"\r\n" + delimiter + b"\r\n"):
        head, sep, data = raw.partition(b"\r\n\r\n")
        assert sep
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append(({k.lower(): v for k, v in fields.items()}, data))
    return parts


def test_full_get(client: httpx.Client, media_dir: Path, payload: bytes) -> None:
    response = get(client)
    assert response.status_code == 200
    assert response.content == payload
    st = os.stat(media_dir / "clip.ts")
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == etag_for(st)
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert int(modified.timestamp()) == st.st_mtime_ns // 1_000_000_000
    assert "content-range" not in response.headers
    assert "content-disposition" not in response.headers


def test_head_has_get_headers_and_no_body(client: httpx.Client) -> None:
    full, head = get(client), get(client, "HEAD")
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "content-type", "accept-ranges", "etag", "last-modified"):
        assert head.headers[name] == full.headers[name]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=-1", SIZE - 1, SIZE - 1),
        ("bytes=100-", 100, SIZE - 1),
        ("bytes=1000-99999999999", 1000, SIZE - 1),
        ("bytes=-99999999999", 0, SIZE - 1),
        (f"bytes={CHUNK_SIZE - 3}-{3 * CHUNK_SIZE + 5}", CHUNK_SIZE - 3, 3 * CHUNK_SIZE + 5),
        ("bytes=0-99,50-149,150-199", 0, 199),  # overlapping and adjacent: coalesced to one
    ],
)
def test_single_range(
    client: httpx.Client, payload: bytes, header: str, start: int, end: int
) -> None:
    response = get(client, range=header)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.content == payload[start : end + 1]


def test_head_with_range(client: httpx.Client) -> None:
    response = get(client, "HEAD", range="bytes=10-19")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 10-19/{SIZE}"
    assert response.headers["content-length"] == "10"
    assert response.content == b""


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unsatisfiable(client: httpx.Client, method: str) -> None:
    response = get(client, method, range=f"bytes={SIZE}-")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.headers["content-type"].startswith("text/plain")
    assert (response.text == "") == (method == "HEAD")
    assert method == "HEAD" or "not satisfiable" in response.text


@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=5-1", "items=0-1", "bytes=", "bytes=1-2-3", "0-1"]
)
def test_invalid_range_is_ignored(client: httpx.Client, payload: bytes, header: str) -> None:
    response = get(client, range=header)
    assert response.status_code == 200
    assert response.content == payload


def test_too_many_ranges_serve_full(client: httpx.Client, payload: bytes) -> None:
    header = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(MAX_RANGES + 1))
    response = get(client, range=header)
    assert response.status_code == 200
    assert response.content == payload


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9, 500-599, -10", [(0, 9), (500, 599), (SIZE - 10, SIZE - 1)]),
        ("bytes=500-599,0-9,5-20,600-700", [(0, 20), (500, 700)]),  # sorted and coalesced
        (
            f"bytes=0-{CHUNK_SIZE},{SIZE - CHUNK_SIZE - 7}-",
            [(0, CHUNK_SIZE), (SIZE - CHUNK_SIZE - 7, SIZE - 1)],
        ),
    ],
)
def test_multi_range(
    client: httpx.Client, payload: bytes, header: str, expected: list[tuple[int, int]]
) -> None:
    response = get(client, range=header)
    assert response.status_code == 206
    assert "content-range" not in response.headers
    assert response.headers["content-length"] == str(len(response.content))
    parts = parse_multipart(response.headers["content-type"], response.content)
    assert [(start, end) for start, end in expected] == [
        tuple(map(int, re.findall(r"\d+", fields["content-range"])[:2])) for fields, _ in parts
    ]
    for (fields, data), (start, end) in zip(parts, expected, strict=True):
        assert fields["content-type"] == CONTENT_TYPE
        assert fields["content-range"] == f"bytes {start}-{end}/{SIZE}"
        assert data == payload[start : end + 1]


def test_if_range(client: httpx.Client, payload: bytes) -> None:
    full = get(client)
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    assert get(client, range="bytes=0-9", if_range=etag).status_code == 206
    assert get(client, range="bytes=0-9", if_range=modified).content == payload[:10]
    for stale in ('"nope"', "W/" + etag, formatdate(0, usegmt=True), "garbage"):
        response = get(client, range="bytes=0-9", if_range=stale)
        assert response.status_code == 200, stale
        assert response.content == payload


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_conditional_304(client: httpx.Client, method: str) -> None:
    full = get(client)
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    for headers in (
        {"if_none_match": etag},
        {"if_none_match": f'"other", W/{etag}'},
        {"if_none_match": "*"},
        {"if_modified_since": modified},
        {"if_none_match": etag, "range": "bytes=0-9"},
    ):
        response = get(client, method, **headers)
        assert response.status_code == 304, headers
        assert response.content == b""
        assert response.headers["etag"] == etag
    assert (
        get(client, method, if_none_match='"other"', if_modified_since=modified).status_code == 200
    )
    assert get(client, method, if_modified_since=formatdate(0, usegmt=True)).status_code == 200


def test_content_type_verbatim_and_extra_headers(client: httpx.Client) -> None:
    response = client.get("/f", params={"ct": "text/vtt", "download": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/vtt"  # no charset added
    assert response.headers["content-disposition"] == 'attachment; filename="clip.ts"'


def test_empty_file(client: httpx.Client) -> None:
    response = client.get("/f", params={"name": "empty.ts"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    ranged = client.get("/f", params={"name": "empty.ts"}, headers={"range": "bytes=0-"})
    assert ranged.status_code == 416
    assert ranged.headers["content-range"] == "bytes */0"


@pytest.mark.parametrize("name", ["missing.ts", "."])
def test_missing_or_not_a_file_is_404_json(client: httpx.Client, name: str) -> None:
    response = client.get("/f", params={"name": name})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status_code"] == 404
    assert "Media file" in response.json()["detail"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_one_descriptor_per_request_closed_after_disconnect(
    client: httpx.Client, media_dir: Path
) -> None:
    big = media_dir / "big.ts"
    with big.open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # sparse: far beyond what socket buffers can hold
    for _ in range(3):
        with (
            httpx.Client(
                base_url=str(client.base_url), headers=client.headers, timeout=10
            ) as other,
            other.stream("GET", "/f", params={"name": big.name}) as response,
        ):
            assert response.status_code == 200
            chunks = response.iter_raw(1024)  # keep it: dropping it closes the connection
            next(chunks)
            assert fds_open_on(big) == 1  # the server is mid-body, blocked on the socket
        # leaving the block dropped the connection mid-body
    deadline = time.monotonic() + 5
    while fds_open_on(big) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fds_open_on(big) == 0
    get(client, range="bytes=0-9, 20-29")
    get(client, "HEAD")
    assert get(client, if_none_match="*").status_code == 304
    assert fds_open_on(media_dir / "clip.ts") == 0
    assert get(client).status_code == 200
