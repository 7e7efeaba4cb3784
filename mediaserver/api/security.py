"""Security headers on every response, and an API docs page that needs no inline script.

Every response gets ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``;
HTML responses also get a strict Content-Security-Policy and ``X-Frame-Options: DENY``, and
the styled-subtitle renderer's worker script gets a policy of its own.
It is a ``before_send`` hook rather than middleware because Litestar runs middleware only
for matched routes: the hook also sees 404s for unknown paths, and static files.
``docs/security.md`` says why each CSP source is there.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.types import Message, Scope

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DOCS_CONTENT_SECURITY_POLICY",
    "DOCS_PATH",
    "WASM_WORKER_POLICY",
    "RedocPage",
    "add_security_headers",
]

DOCS_PATH = "/schema"
_PAGE_DIRECTIVES = {
    "default-src": "'self'",
    # No inline script, no eval: a smuggled <script> cannot run.  'wasm-unsafe-eval' lets a
    # page compile WebAssembly, never JavaScript: the styled-subtitle renderer checks on the
    # page that WebAssembly runs before it starts its worker.
    "script-src": "'self' 'wasm-unsafe-eval'",
    "style-src": "'self'",
    "img-src": "'self'",
    # hls.js plays through MediaSource (blob:) and gives each subtitle <track> a data: src.
    "media-src": "'self' blob: data:",
    "worker-src": "'self'",  # hls.js's worker loads from its own file
    "connect-src": "'self'",  # htmx, the player's API calls, hls.js's segments
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Redoc 2.5.4 makes two <style> elements: styled-components' one, empty (the sha256 of ""),
# whose rules it adds through the CSSOM, which CSP does not govern; and perfect-scrollbar's
# fixed CSS.  A new Redoc may need new hashes: tests/browser/test_csp.py will say so.
_DOCS_DIRECTIVES = _PAGE_DIRECTIVES | {
    "script-src": "'self'",
    "style-src": "'self' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
    " 'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    "img-src": "'self' data:",  # its icons
    "media-src": "'self'",
    "worker-src": "'self' blob:",  # its search index
}
# A dedicated worker runs under the policy its own script arrives with, not its page's (the
# CSP spec; Chromium measured, Firefox and WebKit the same): without one, libass's worker
# would run under none.  Its policy lets it compile WebAssembly ('wasm-unsafe-eval', which
# is not JavaScript's eval) and fetch Hearth's own fonts and its .wasm, nothing else.
_WASM_WORKER = "/static/subtitles-ass-worker.js"  # which runs libass's own worker script
_WASM_WORKER_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self' 'wasm-unsafe-eval'",
    "connect-src": "'self'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{k} {v}" for k, v in _PAGE_DIRECTIVES.items())
"""The UI's pages: scripts and styles only from Hearth's own files."""
DOCS_CONTENT_SECURITY_POLICY = "; ".join(f"{k} {v}" for k, v in _DOCS_DIRECTIVES.items())
"""Redoc at ``/schema``, started by ``/static/api-docs.js``: still no inline script."""
WASM_WORKER_POLICY = "; ".join(f"{k} {v}" for k, v in _WASM_WORKER_DIRECTIVES.items())
"""The styled-subtitle renderer's worker script (libass in WebAssembly)."""

_EVERY: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    # Hearth links nowhere else, and its URLs (searches, titles, stream tokens) stay home.
    (b"referrer-policy", b"same-origin"),
]
_PAGE = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers that predate it
]
_DOCS = [
    (b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]


async def add_security_headers(message: Message, scope: Scope) -> None:
    """Add the headers when a response starts; a header the response already set is kept."""
    if message["type"] != "http.response.start":
        return
    headers = message.get("headers")
    raw: list[tuple[bytes, bytes]] = list(headers) if headers else []
    present = {name.lower() for name, _ in raw}
    html_page = any(
        name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in raw
    )
    wanted = _EVERY
    if html_page:
        page = _DOCS if scope["path"].startswith(DOCS_PATH) else _PAGE
        wanted = _EVERY + page
    elif scope["path"] == _WASM_WORKER:
        wanted = [*_EVERY, (b"content-security-policy", WASM_WORKER_POLICY.encode())]
    raw.extend(header for header in wanted if header[0] not in present)
    message["headers"] = raw


class RedocPage(RedocRenderPlugin):
    """Litestar's Redoc page without its inline ``<script>`` and ``<style>``.

    ``/static/api-docs.js`` starts Redoc on the schema URL the page names, so the docs page
    lives under a CSP with ``script-src 'self'`` like every other page.
    """

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request))
        script = html.escape(self.js_url)
        return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} API</title>
  {self.favicon}
  <script src="{script}" defer></script>
  <script src="/static/api-docs.js" defer></script>
</head>
<body>
  <div id="redoc-container" data-spec-url="{spec_url}"></div>
</body>
</html>
""".encode()
