"""The DLNA MediaServer on a LAN of our own, met by clients that are not ours.

The server runs ``mediaserver serve`` in one network namespace (198.51.100.1) over the
shared test library, with discovery on; everything else runs in the other (198.51.100.2),
as a TV or a phone on the same Wi-Fi would:

- Debian's ``gssdp-discover`` (GUPnP) finds it by SSDP, and its LOCATION is its
  description;
- async-upnp-client's ``upnp-client`` browses and searches the ContentDirectory and asks
  ConnectionManager, and the ``res`` URLs it is handed play (``ffprobe`` reads what came
  down: the MP4 as it is, and the MPEG-TS the engine makes of the MKV);
- hostile SSDP packets, a flood of searches, a SOAP body with entities and a GENA
  subscription whose callback is another host are refused, counted, and leave the server
  answering; a subscription on the subscriber's own address gets its first event;
- stopping the server says ``ssdp:byebye`` (the last test: it stops the server).

Nothing here touches the machine's own network: every packet stays on the veth pair
between the two namespaces the test makes, and they are removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest

from mediaserver.testing import user_credentials
from tests.integration.netns import CLIENT_IP, SERVER_IP, Lan, make_lan, read_until, serve_in

PORT = 8430  # test_discovery's server has 8420
NAME = "Hearth TV Test"
MEDIA_SERVER = "urn:schemas-upnp-org:device:MediaServer:1"
BASE = f"http://{SERVER_IP}:{PORT}"
DESCRIPTION = f"{BASE}/dlna/description.xml"
UPNP_CLIENT = Path(sys.executable).parent / "upnp-client"
DIDL = "{urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/}"
DC = "{http://purl.org/dc/elements/1.1/}"
MOVIES = {"Amber Lighthouse", "Marble Orchard", "Zephyr Quokka"}


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    key: str  # an admin's API key
    id: str  # the contents of <data>/server-id
    data: Path

    @property
    def udn(self) -> str:
        return f"uuid:{self.id}"

    @property
    def usn(self) -> str:
        return f"{self.udn}::{MEDIA_SERVER}"


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    with make_lan() as made:
        yield made


def admin_get(lan: Lan, key: str, path: str) -> Any:
    """``GET path`` with the admin's key, from the server's own namespace."""
    answer = lan.python(
        lan.server_ns,
        f"""
        import json, httpx
        r = httpx.get({BASE + path!r}, headers={{"Authorization": "Bearer {key}"}}, timeout=10)
        print(json.dumps({{"status": r.status_code, "body": r.json()}}))
        """,
        timeout=20,
    )
    assert answer.returncode == 0, answer.stderr
    reply = json.loads(answer.stdout.strip().splitlines()[-1])
    assert reply["status"] == 200, reply
    return reply["body"]


@pytest.fixture(scope="module")
def server(
    lan: Lan, hearth_library: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("dlna-data")
    key = user_credentials(data, "admin", "a long test admin password", admin=True)[0]
    config = f'[discovery]\nname = "{NAME}"\n'
    with serve_in(lan, data, hearth_library, config, PORT) as process:
        deadline = time.monotonic() + 60
        while True:  # the first scan starts by itself; Browse needs its items
            status = admin_get(lan, key, "/api/v1/scan/status")
            if status["state"] == "idle" and not status["queued"] and status["last"]:
                break
            assert time.monotonic() < deadline, f"the scan did not finish: {status}"
            time.sleep(0.3)
        yield Server(process, key, (data / "server-id").read_text().strip(), data)


def ssdp_counts(lan: Lan, server: Server) -> dict[str, int]:
    status = admin_get(lan, server.key, "/api/v1/dlna")
    assert status["ssdp"]["addresses"] == [SERVER_IP], status
    return dict(status["ssdp"]["packets"])


def headers_of(message: str) -> dict[str, str]:
    """An SSDP message's headers (names in lower case), the start line left out."""
    lines = message.replace("\r\n", "\n").split("\n")[1:]
    pairs = [line.partition(":") for line in lines if ":" in line]
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


# -- 1. discovery -----------------------------------------------------------------------


def test_gssdp_discover_finds_the_media_server(lan: Lan, server: Server) -> None:
    if shutil.which("gssdp-discover") is None:
        pytest.skip("gssdp-discover is not installed (Debian: apt install gupnp-tools)")
    found = lan.run(
        lan.client_ns,
        ["gssdp-discover", "-i", lan.client_link, "--target", MEDIA_SERVER, "--timeout", "4"],
        timeout=20,
    )
    assert found.returncode == 0, found
    # resource available
    #   USN:      uuid:...::urn:schemas-upnp-org:device:MediaServer:1
    #   Location: http://198.51.100.1:8430/dlna/description.xml
    blocks = found.stdout.split("resource available")[1:]
    seen = {
        (fields.get("USN"), fields.get("Location"))
        for fields in (
            dict(
                (name.strip(), value.strip())
                for name, _, value in (line.partition(":") for line in block.splitlines())
                if value
            )
            for block in blocks
        )
    }
    assert seen == {(server.usn, DESCRIPTION)}, found.stdout
    # ...and the LOCATION it was given is this server's description.
    described = lan.python(
        lan.client_ns, f"import httpx; print(httpx.get({DESCRIPTION!r}, timeout=10).text)"
    )
    assert described.returncode == 0, described.stderr
    device = SafeET.fromstring(described.stdout.strip()).find(
        "{urn:schemas-upnp-org:device-1-0}device"
    )
    assert device is not None, described.stdout
    ns = "{urn:schemas-upnp-org:device-1-0}"
    assert device.findtext(f"{ns}UDN") == server.udn
    assert device.findtext(f"{ns}deviceType") == MEDIA_SERVER
    assert device.findtext(f"{ns}friendlyName") == NAME


# -- 2. browsing and playing ------------------------------------------------------------


def upnp(lan: Lan, action: str, **arguments: str) -> dict[str, Any]:
    """``upnp-client call-action`` in the client's namespace: the action's out-arguments."""
    if not UPNP_CLIENT.exists():
        pytest.skip(f"async-upnp-client's upnp-client is not at {UPNP_CLIENT}")
    answer = lan.run(
        lan.client_ns,
        [str(UPNP_CLIENT), "--timeout", "10", "call-action", DESCRIPTION, action,
         *(f"{name}={value}" for name, value in arguments.items())],
        timeout=30,
    )  # fmt: skip
    assert answer.returncode == 0 and answer.stdout.startswith("{"), answer
    out: dict[str, Any] = json.loads(answer.stdout)["out_parameters"]
    return out


def browse(lan: Lan, object_id: str) -> tuple[list[Element], dict[str, Any]]:
    """BrowseDirectChildren of ``object_id``: the DIDL-Lite's objects and the out-arguments."""
    out = upnp(
        lan, "ContentDirectory/Browse", ObjectID=object_id, BrowseFlag="BrowseDirectChildren",
        Filter="*", StartingIndex="0", RequestedCount="0", SortCriteria="",
    )  # fmt: skip
    didl = SafeET.fromstring(out["Result"])
    assert didl.tag == f"{DIDL}DIDL-Lite", out["Result"]
    return list(didl), out


def fetch(lan: Lan, url: str, target: Path) -> tuple[int, dict[str, str]]:
    """GET ``url`` from the client's namespace into ``target``: the status and headers."""
    answer = lan.python(
        lan.client_ns,
        f"""
        import json, httpx
        with httpx.stream("GET", {url!r}, timeout=30) as r, open({str(target)!r}, "wb") as out:
            for chunk in r.iter_bytes():
                out.write(chunk)
        print(json.dumps({{"status": r.status_code, "headers": dict(r.headers)}}))
        """,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    reply = json.loads(answer.stdout.strip().splitlines()[-1])
    return int(reply["status"]), dict(reply["headers"])


def probe(path: Path) -> dict[str, Any]:
    if shutil.which("ffprobe") is None:
        pytest.skip("needs ffprobe on PATH")
    answer = subprocess.run(  # noqa: S603
        ["ffprobe", "-v", "error", "-show_entries",
         "format=duration,format_name:stream=codec_type,codec_name", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    found: dict[str, Any] = json.loads(answer.stdout)
    return found


def test_upnp_client_browses_the_folders(lan: Lan, server: Server) -> None:
    objects, out = browse(lan, "0")
    folders = [(o.tag, o.get("id"), o.findtext(f"{DC}title")) for o in objects]
    assert folders == [
        (f"{DIDL}container", "movies", "Movies"),
        (f"{DIDL}container", "shows", "TV shows"),
        (f"{DIDL}container", "recent", "Recently added"),
        (f"{DIDL}container", "continue", "Continue watching"),
        (f"{DIDL}container", "genres", "Genres"),
    ]
    assert (out["NumberReturned"], out["TotalMatches"]) == (5, 5)
    counts = {o.get("id"): o.get("childCount") for o in objects}
    assert (counts["shows"], counts["continue"], counts["genres"]) == ("1", "0", "1"), counts
    genres, _ = browse(lan, "genres")  # Amber Lighthouse's NFO says Comedy
    assert [(g.get("id"), g.findtext(f"{DC}title")) for g in genres] == [("g/Comedy", "Comedy")]
    comedies, _ = browse(lan, "g/Comedy")
    assert [c.findtext(f"{DC}title") for c in comedies] == ["Amber Lighthouse"]
    shows, _ = browse(lan, "shows")
    assert [s.findtext(f"{DC}title") for s in shows] == ["Orbit Patrol"]
    seasons, _ = browse(lan, str(shows[0].get("id")))
    assert [s.findtext(f"{DC}title") for s in seasons] == ["Season 1", "Season 2"]


def test_upnp_client_plays_a_file_and_a_stream(lan: Lan, server: Server, tmp_path: Path) -> None:
    objects, out = browse(lan, "movies")
    assert (out["NumberReturned"], out["TotalMatches"]) == (3, 3), out
    resources = {
        str(o.findtext(f"{DC}title")): [(str(r.text), r.attrib) for r in o.iter(f"{DIDL}res")]
        for o in objects
    }
    assert set(resources) == MOVIES, resources  # not Broken Reel: it has no playable file
    for title in MOVIES:
        assert resources[title], f"{title} has no res to play"
    # The MP4s as they are; the MKV, which a plain TV cannot open, as MPEG-TS first.
    zephyr_url, zephyr = resources["Zephyr Quokka"][0]
    assert zephyr_url.startswith(f"{BASE}/dlna/files/") and zephyr_url.endswith("/original.mp4")
    assert resources["Amber Lighthouse"][0][0].endswith("/original.mp4")
    (stream_url, stream), (mkv_url, _) = resources["Marble Orchard"]
    assert stream_url.startswith(f"{BASE}/dlna/files/") and "/stream.ts?profile=" in stream_url
    assert mkv_url.endswith("/original.mkv")
    assert stream["protocolInfo"].startswith("http-get:*:video/mpeg:")

    original = tmp_path / "original.mp4"
    status, headers = fetch(lan, zephyr_url, original)
    assert status == 200, headers
    assert headers["content-type"] == "video/mp4"
    assert headers["contentfeatures.dlna.org"] == zephyr["protocolInfo"].split(":", 3)[3]
    assert original.stat().st_size == int(zephyr["size"]) > 0
    transcoded = tmp_path / "stream.ts"
    status, headers = fetch(lan, stream_url, transcoded)
    assert status == 200, headers
    assert headers["content-type"] == "video/mpeg"
    assert headers["contentfeatures.dlna.org"] == stream["protocolInfo"].split(":", 3)[3]

    for path, container in ((original, "mp4"), (transcoded, "mpegts")):
        found = probe(path)
        assert container in found["format"]["format_name"].split(","), found
        videos = [s["codec_name"] for s in found["streams"] if s["codec_type"] == "video"]
        assert videos == ["h264"], found
        assert abs(float(found["format"]["duration"]) - 1.0) < 0.3, found  # the 1 s clips


def test_upnp_client_asks_the_capabilities(lan: Lan, server: Server) -> None:
    search = upnp(lan, "ContentDirectory/GetSearchCapabilities")["SearchCaps"]
    assert search.split(",") == ["dc:title", "upnp:class", "upnp:genre", "dc:date"]
    assert upnp(lan, "ContentDirectory/GetSortCapabilities")["SortCaps"] == "dc:title,dc:date"
    update_id = upnp(lan, "ContentDirectory/GetSystemUpdateID")["Id"]
    assert update_id == admin_get(lan, server.key, "/api/v1/dlna")["system_update_id"]
    protocols = upnp(lan, "ConnectionManager/GetProtocolInfo")
    assert protocols["Sink"] in ("", None), protocols
    source = protocols["Source"].split(",")
    for wanted in ("video/mp4", "video/mpeg", "video/x-matroska"):
        assert f"http-get:*:{wanted}:*" in source, source


def test_upnp_client_searches_episode_titles(lan: Lan, server: Server) -> None:
    def search(criteria: str) -> tuple[list[str], int, int]:
        out = upnp(
            lan, "ContentDirectory/Search", ContainerID="0", SearchCriteria=criteria,
            Filter="*", StartingIndex="0", RequestedCount="0", SortCriteria="",
        )  # fmt: skip
        found = SafeET.fromstring(out["Result"])
        titles = sorted(str(o.findtext(f"{DC}title")) for o in found)
        return titles, int(out["NumberReturned"]), int(out["TotalMatches"])

    # Launch, Docking and Zenith have an "n", Apogee not; no film is a plain videoItem.
    assert search('upnp:class = "object.item.videoItem" and dc:title contains "n"') == (
        ["01. Launch", "01. Zenith", "02. Docking"], 3, 3
    )  # fmt: skip
    assert search('dc:title contains "ZEN"') == (["01. Zenith"], 1, 1)
    assert search('dc:title contains "no title has this"') == ([], 0, 0)


# -- 3. hardening -----------------------------------------------------------------------

SSDP_ABUSE = """
import json, socket, time
GROUP, SERVER, ME = "239.255.255.250", %(server)r, %(me)r

def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ME))
    s.bind((ME, 0))
    return s

def search(st, mx="1", man='"ssdp:discover"'):
    lines = ["M-SEARCH * HTTP/1.1", "HOST: 239.255.255.250:1900"]
    lines += [f"MAN: {man}"] if man else []
    lines += [f"MX: {mx}"] if mx else []
    return ("\\r\\n".join(lines + [f"ST: {st}"]) + "\\r\\n\\r\\n").encode()

def replies(s, seconds):
    got, end = [], time.monotonic() + seconds
    s.settimeout(0.1)
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            continue
        got.append([peer[0], data.decode("ascii", "replace")])
    return got

hostile = [
    bytes(range(256)),                                       # not-ascii
    b"hello, is anyone there?",                              # not-a-search
    b"M-SEARCH * HTTP/1.1\\r\\nthis line has no colon\\r\\n\\r\\n",  # malformed
    "M-SEARCH * HTTP/1.1\\r\\nST: caf\\u00e9\\r\\n\\r\\n".encode(),  # not-ascii
    b"M-SEARCH * HTTP/1.1\\r\\n\\r\\n",                          # no-man
    search("ssdp:all") + b"X-PADDING: " + b"a" * 3000,       # too-long
    search("ssdp:all", mx="-1"),                             # bad-mx
    search("ssdp:all", mx="abc"),                            # bad-mx
    search("ssdp:all", man=None),                            # no-man
]
bad = udp()
for packet in hostile:
    for where in (GROUP, SERVER):
        bad.sendto(packet, (where, 1900))
bad.sendto(search("ssdp:all", mx=None), (GROUP, 1900))       # bad-mx: multicast needs MX
time.sleep(0.3)

flood = udp()
for _ in range(300):
    flood.sendto(search("upnp:rootdevice"), (GROUP, 1900))
flooded = replies(flood, 1.5)  # replies wait up to MX (1 s); the bucket refills meanwhile

direct = udp()  # unicast without MX: answered at once
direct.sendto(search(%(device)r, mx=None), (SERVER, 1900))
direct_replies = replies(direct, 1.0)

last = udp()
last.sendto(search("ssdp:all"), (GROUP, 1900))
print(json.dumps({"flooded": flooded, "direct": direct_replies, "last": replies(last, 3.0)}))
"""


def test_ssdp_survives_hostile_packets_and_a_flood(lan: Lan, server: Server) -> None:
    before = ssdp_counts(lan, server)
    code = SSDP_ABUSE % {"server": SERVER_IP, "me": CLIENT_IP, "device": MEDIA_SERVER}
    answer = lan.python(lan.client_ns, code, timeout=30)
    assert answer.returncode == 0, answer.stderr
    got = json.loads(answer.stdout.strip().splitlines()[-1])
    after = ssdp_counts(lan, server)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}

    # Each hostile packet went to the group and to the server's address.
    assert delta.get("not-ascii") == 4, delta
    assert delta.get("not-a-search") == 2, delta
    assert delta.get("malformed") == 2, delta
    assert delta.get("no-man") == 4, delta
    assert delta.get("too-long") == 2, delta
    assert delta.get("bad-mx") == 5, delta
    # The flood: a burst of 20 (and what refills while it is read), the rest cut.
    flooded = got["flooded"]
    assert 15 <= len(flooded) <= 40, len(flooded)
    assert all(headers_of(r)["usn"] == f"{server.udn}::upnp:rootdevice" for _, r in flooded)
    assert delta.get("rate-limited", 0) >= 200, delta
    assert delta.get("answered") == len(flooded) + 2, (delta, len(flooded))
    assert delta.get("failed", 0) == 0 and delta.get("queue-full", 0) == 0, delta

    # Then a unicast search without MX is answered at once...
    [(source, reply)] = got["direct"]
    fields = headers_of(reply)
    assert source == SERVER_IP and reply.startswith("HTTP/1.1 200 OK\r\n"), reply
    assert (fields["st"], fields["usn"], fields["location"]) == (
        MEDIA_SERVER, server.usn, DESCRIPTION
    )  # fmt: skip
    # ...and a multicast one for everything gets every target: the responder is alive.
    usns = sorted(headers_of(reply)["usn"] for _, reply in got["last"])
    assert usns == sorted([
        server.udn, f"{server.udn}::upnp:rootdevice", server.usn,
        f"{server.udn}::urn:schemas-upnp-org:service:ContentDirectory:1",
        f"{server.udn}::urn:schemas-upnp-org:service:ConnectionManager:1",
        f"{server.udn}::urn:microsoft.com:service:X_MS_MediaReceiverRegistrar:1",
    ]), got["last"]  # fmt: skip


HTTP_ABUSE = """
import http.server, json, threading, time, httpx
BASE, ME = %(base)r, %(me)r
ACTION = '"urn:schemas-upnp-org:service:ContentDirectory:1#Browse"'
ENVELOPE = (
    '<?xml version="1.0"?>%%s<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
    ' s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
    '<u:Browse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">'
    '<ObjectID>%%s</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><Filter>*</Filter>'
    '<StartingIndex>0</StartingIndex><RequestedCount>0</RequestedCount>'
    '<SortCriteria></SortCriteria></u:Browse></s:Body></s:Envelope>'
)
LAUGHS = '<!DOCTYPE s [<!ENTITY a "0"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
EXTERNAL = '<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
out = {}

def control(body):
    r = httpx.post(BASE + "/dlna/control/ContentDirectory", content=body.encode(), timeout=10,
                   headers={"SOAPACTION": ACTION, "Content-Type": 'text/xml; charset="utf-8"'})
    return [r.status_code, r.text]

out["laughs"] = control(ENVELOPE %% (LAUGHS, "&b;"))
out["external"] = control(ENVELOPE %% (EXTERNAL, "&x;"))
out["plain"] = control(ENVELOPE %% ("", "0"))

events = []
class Listener(http.server.BaseHTTPRequestHandler):
    def do_NOTIFY(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        events.append({"path": self.path, "body": body.decode(),
                       "headers": {k.lower(): v for k, v in self.headers.items()}})
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
listener = http.server.HTTPServer((ME, 0), Listener)
threading.Thread(target=listener.serve_forever, daemon=True).start()
url = BASE + "/dlna/event/ContentDirectory"

def subscribe(callback):
    r = httpx.request("SUBSCRIBE", url, timeout=10, headers={
        "CALLBACK": callback, "NT": "upnp:event", "TIMEOUT": "Second-300"})
    return [r.status_code, dict(r.headers)]

out["foreign"] = subscribe("<http://10.9.9.9:4000/x>")
out["own"] = subscribe(f"<http://{ME}:{listener.server_address[1]}/hearth-events>")
deadline = time.monotonic() + 5
while not events and time.monotonic() < deadline:
    time.sleep(0.05)
out["events"] = events
sid = out["own"][1].get("sid", "")
for name in ("unsubscribe", "again"):
    r = httpx.request("UNSUBSCRIBE", url, headers={"SID": sid}, timeout=10)
    out[name] = r.status_code
listener.shutdown()
print(json.dumps(out))
"""


def test_soap_and_gena_refuse_what_a_tv_never_sends(lan: Lan, server: Server) -> None:
    answer = lan.python(lan.client_ns, HTTP_ABUSE % {"base": BASE, "me": CLIENT_IP}, timeout=40)
    assert answer.returncode == 0, answer.stderr
    got = json.loads(answer.stdout.strip().splitlines()[-1])
    # Entities (a billion laughs, an external file) are refused before any is expanded...
    for name in ("laughs", "external"):
        status, text = got[name]
        assert status == 400, got[name]
        assert "root:" not in text and "0000000000" not in text, text
    # ...and the same Browse without them is answered.
    status, text = got["plain"]
    assert status == 200 and "<NumberReturned>5</NumberReturned>" in text, got["plain"]

    # A callback on another host is refused; one on the subscriber itself is taken.
    assert got["foreign"][0] == 412, got["foreign"]
    status, headers = got["own"]
    assert status == 200, got["own"]
    assert headers["sid"].startswith("uuid:") and headers["timeout"] == "Second-300", headers
    [event] = got["events"]
    assert event["path"] == "/hearth-events", event
    assert event["headers"]["sid"] == headers["sid"] and event["headers"]["seq"] == "0", event
    assert (event["headers"]["nt"], event["headers"]["nts"]) == ("upnp:event", "upnp:propchange")
    body = SafeET.fromstring(event["body"])
    update_id = body.findtext(".//SystemUpdateID")
    assert update_id is not None and update_id.isdigit(), event["body"]
    assert int(update_id) == admin_get(lan, server.key, "/api/v1/dlna")["system_update_id"]
    assert (got["unsubscribe"], got["again"]) == (200, 412), got
    assert admin_get(lan, server.key, "/api/v1/dlna")["subscriptions"] == 0


# -- 4. goodbye (last: it stops the server) ----------------------------------------------

BYEBYE = """
import socket, time
GROUP, ME = "239.255.255.250", %(me)r
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 1900))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton(GROUP) + socket.inet_aton(ME))
s.settimeout(0.2)
print("READY", flush=True)
end = time.monotonic() + %(wait)s
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(4096)
    except socket.timeout:
        continue
    text = data.decode("ascii", "replace")
    if "ssdp:byebye" in text:
        print("BYEBYE", peer[0], text.replace("\\r\\n", "|"), flush=True)
"""


def test_stopping_says_byebye(lan: Lan, server: Server) -> None:
    """Last, on purpose: a TV that lists the server drops it at once when it stops."""
    listener = lan.start(BYEBYE % {"me": CLIENT_IP, "wait": 15})
    try:
        read_until(listener, lambda line: line.startswith("READY"))
        stopped = time.monotonic()
        os.killpg(server.process.pid, signal.SIGTERM)
        line = read_until(
            listener, lambda line: line.startswith("BYEBYE") and f"USN: {server.usn}|" in line
        )
        assert time.monotonic() - stopped < 10, line
        assert line.split()[1] == SERVER_IP, line
        fields = headers_of(line.split(" ", 2)[2].replace("|", "\n"))
        assert (fields["nt"], fields["nts"]) == (MEDIA_SERVER, "ssdp:byebye"), line
        # A clean stop: uvicorn shuts down, then re-raises the SIGTERM it caught (0.29+).
        assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
        log = (server.data / "server.log").read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log and '"level":"error"' not in log, log
    finally:
        listener.kill()
        listener.wait(timeout=10)
