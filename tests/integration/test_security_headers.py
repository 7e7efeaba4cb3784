"""Security headers on every response of a real Hearth, and titles from files that stay text.

Every response says ``nosniff`` and ``Referrer-Policy``; every HTML page (404s and the API
docs too) carries a Content-Security-Policy with no inline or eval'd script, and refuses
to be framed.  A movie whose NFO is an XSS attempt shows up escaped on every page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from mediaserver.api.security import CONTENT_SECURITY_POLICY, DOCS_CONTENT_SECURITY_POLICY
from mediaserver.testing import make_clip
from tests.integration.conftest import auth_headers

XSS = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
XSS_GENRE = '"><svg onload=alert(3)>'
XSS_ESCAPED = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
HOSTILE_NFO = f"""<?xml version="1.0" encoding="UTF-8"?>
<movie>
  <title>{escape(XSS)}</title>
  <year>2020</year>
  <tagline>{escape(XSS)}</tagline>
  <plot>Plot: {escape(XSS)}</plot>
  <genre>{escape(XSS_GENRE)}</genre>
</movie>
"""


def hostile_library(root: Path) -> Path:
    """A one-movie library whose NFO title, tagline, plot and genre are markup."""
    make_clip(root / "Movies" / "Hostile (2020).mp4", seconds=1)
    (root / "Movies" / "Hostile (2020).nfo").write_text(HOSTILE_NFO, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def client(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[httpx.Client]:
    hostile = hostile_library(tmp_path_factory.mktemp("hostile") / "Hostile")
    with (
        hearth_server(tmp_path_factory.mktemp("security-data"), [hearth_library, hostile]) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as http,
    ):
        scan_waiter(http)
        yield http


@pytest.fixture(scope="module")
def ids(client: httpx.Client) -> dict[str, int]:
    """Item ids by title, and a library's id under ``"library"``."""
    found = client.get("/api/v1/items", params={"kind": "movie,show,season,episode"}).json()
    by_title = {item["title"]: int(item["id"]) for item in found["items"]}
    by_title["library"] = int(client.get("/api/v1/libraries").json()["libraries"][0]["id"])
    return by_title


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parsed}


def assert_every_response_headers(response: httpx.Response) -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", response.url
    assert response.headers.get("referrer-policy") == "same-origin", response.url


def assert_html_headers(response: httpx.Response, policy: str = CONTENT_SECURITY_POLICY) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.url
    assert_every_response_headers(response)
    assert response.headers.get_list("content-security-policy") == [policy], response.url
    assert response.headers.get("x-frame-options") == "DENY"
    csp = directives(policy)
    # No 'unsafe-inline', no 'unsafe-eval', no hosts; pages (not the API docs) may compile
    # WebAssembly, which the styled-subtitle renderer checks for before it starts.
    wasm = ["'wasm-unsafe-eval'"] if policy == CONTENT_SECURITY_POLICY else []
    assert csp["script-src"] == ["'self'", *wasm]
    sources = [source for values in csp.values() for source in values]
    assert not any("unsafe" in source for source in sources if source != "'wasm-unsafe-eval'")
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]


def html_pages(ids: dict[str, int]) -> list[tuple[str, int]]:
    library = f"/libraries/{ids['library']}"
    return [
        ("/", 200),
        (library, 200),
        (f"{library}/problems", 200),
        (f"/items/{ids['Amber Lighthouse']}", 200),  # a movie: the player page
        (f"/items/{ids['Orbit Patrol']}", 200),  # a show
        ("/search?q=orbit", 200),
        ("/nope", 404),  # no route at all: Litestar's middleware would not see this one
        ("/items/999999", 404),
        (f"{library}?sort=nope", 400),
    ]


def test_every_html_page_has_the_headers(client: httpx.Client, ids: dict[str, int]) -> None:
    for path, status in html_pages(ids):
        response = client.get(path)
        assert response.status_code == status, path
        assert_html_headers(response)


def test_htmx_fragments_and_head_requests_have_them_too(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    fragment = client.get("/search?q=orbit", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert_html_headers(fragment)
    assert_html_headers(client.head("/"))


def test_the_api_docs_page_runs_no_inline_script(client: httpx.Client) -> None:
    for path in ("/schema", "/schema/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert_html_headers(response, DOCS_CONTENT_SECURITY_POLICY)
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", response.text, re.S)
        assert scripts and all(text.strip() == "" for text in scripts), scripts
        assert 'src="/static/api-docs.js"' in response.text
        assert "<style" not in response.text and " style=" not in response.text
    docs = directives(DOCS_CONTENT_SECURITY_POLICY)
    assert all(source.startswith("'sha256-") for source in docs["style-src"][1:])
    assert client.get("/static/api-docs.js").status_code == 200


def test_json_media_and_static_responses_say_nosniff(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    item = ids["Amber Lighthouse"]
    file_id = client.get(f"/api/v1/items/{item}").json()["files"][0]["id"]
    checks = {
        "/api/v1/items": ("application/json", 200),
        "/api/v1/items/999999": ("application/json", 404),
        "/health": ("application/json", 200),
        "/schema/openapi.json": ("application/", 200),
        "/metrics": ("text/plain", 200),
        f"/api/v1/items/{item}/file?file_id={file_id}": ("video/mp4", 200),
        f"/api/v1/items/{item}/image/poster": ("image/", 200),
        "/static/app.js": ("text/javascript", 200),
        "/static/app.css": ("text/css", 200),
        "/static/favicon.svg": ("image/svg+xml", 200),
        "/static/nope.js": ("", 404),
    }
    for path, (content_type, status) in checks.items():
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers.get("content-type", "").startswith(content_type), path
        assert_every_response_headers(response)
        if not response.headers.get("content-type", "").startswith("text/html"):
            assert "content-security-policy" not in response.headers, path
    ranged = client.get(
        f"/api/v1/items/{item}/file", params={"file_id": file_id}, headers={"Range": "bytes=0-99"}
    )
    assert ranged.status_code == 206
    assert_every_response_headers(ranged)


def test_a_header_is_sent_once(client: httpx.Client) -> None:
    response = client.get("/")
    for name in ("x-content-type-options", "referrer-policy", "x-frame-options"):
        assert len(response.headers.get_list(name)) == 1, name


def test_titles_from_files_are_escaped_everywhere(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    item = ids[XSS]  # the scanner kept the NFO's title as text
    library = client.get(f"/api/v1/items/{item}").json()["library_id"]
    for path in ("/", f"/items/{item}", "/search?q=onerror", f"/libraries/{library}"):
        html = client.get(path).text
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path  # shown, as text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "<svg onload" not in html, path
    item_page = client.get(f"/items/{item}").text
    assert XSS_ESCAPED in item_page
    assert "&lt;svg onload=alert(3)&gt;" in item_page  # the genre


def test_templates_never_mark_text_safe() -> None:
    """Autoescape is Litestar's default for every template; nothing may opt out of it."""
    from mediaserver.app import web_root

    templates = sorted((web_root() / "templates").rglob("*.html"))
    assert templates
    opt_out = re.compile(r"\|\s*safe\b|\{%-?\s*autoescape\s+false|Markup\(")
    for template in templates:
        assert not opt_out.search(template.read_text(encoding="utf-8")), template
    # Two modules build markup, escaping every value they are given: the SVG charts
    # (tests/unit/test_charts.py feeds them a <script> title) and the ``when`` filter's
    # <time> element, built with Markup.format (tests/unit/test_words.py feeds it <b>).
    allowed = {"charts.py", "filters.py"}
    for module in (Path(__file__).parents[2] / "mediaserver").rglob("*.py"):
        if module.name not in allowed:
            assert "Markup(" not in module.read_text(encoding="utf-8"), module
