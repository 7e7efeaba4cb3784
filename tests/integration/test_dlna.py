"""The DLNA server over HTTP on 127.0.0.1, as a TV's control point uses it.

SSDP and multicast are off here (MEDIASERVER_DISCOVERY=off for every test process); the
LAN side, with independent clients in network namespaces, is ``test_dlna_lan.py``.  The
library is two roots, films and series, so a DLNA user limited to one shows the limits.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.integration.conftest import add_member, auth_headers, wait_for_scan, wait_until

CD = "urn:schemas-upnp-org:service:ContentDirectory:1"
CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
MRR = "urn:microsoft.com:service:X_MS_MediaReceiverRegistrar:1"
DIDL = "{urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/}"
DC = "{http://purl.org/dc/elements/1.1/}"
UPNP = "{urn:schemas-upnp-org:metadata-1-0/upnp/}"
DEVICE = "{urn:schemas-upnp-org:device-1-0}"
SRT = (
    "1\n00:00:00,100 --> 00:00:00,900\nThe keeper <i>waves</i>.\n\n"
    "2\n00:00:00,900 --> 00:00:01,000\n<Keeper> Ahoy!\n"  # words in brackets, not a tag
)


@pytest.fixture(scope="module")
def roots(hearth_library: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Films and series in two libraries (copies: this module adds a file later)."""
    base = tmp_path_factory.mktemp("dlna-media")
    films, series = base / "Films", base / "Series"
    shutil.copytree(hearth_library / "Movies", films)
    shutil.copytree(hearth_library / "Shows", series)
    for broken in films.glob("Broken*"):
        broken.unlink()
    (films / "Amber Lighthouse.en.srt").write_text(SRT, encoding="utf-8")
    return films, series


@pytest.fixture(scope="module")
def url(
    hearth_server: Callable[..., AbstractContextManager[str]],
    roots: tuple[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    with hearth_server(tmp_path_factory.mktemp("dlna-data"), list(roots)) as base:
        with httpx.Client(base_url=base, timeout=30, headers=auth_headers(base)) as admin:
            wait_for_scan(admin, timeout=120)
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    # A TV's control point: no credentials, a Samsung-like User-Agent is set per test.
    with httpx.Client(base_url=url, timeout=60) as made:
        yield made


def envelope(service: str, action: str, **arguments: object) -> str:
    body = "".join(f"<{k}>{v}</{k}>" for k, v in arguments.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope '
        'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action} xmlns:u="{service}">{body}</u:{action}></s:Body></s:Envelope>'
    )


def soap(
    client: httpx.Client, service: str, action: str, *, agent: str = "VLC/3.0.18", **args: object
) -> httpx.Response:
    short = service.split(":")[-2]
    return client.post(
        f"/dlna/control/{short}",
        content=envelope(service, action, **args),
        headers={"SOAPACTION": f'"{service}#{action}"', "Content-Type": 'text/xml; charset="utf-8"',
                 "User-Agent": agent},
    )  # fmt: skip


def outputs(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    call = root[0][0]
    return {child.tag: child.text or "" for child in call}


def fault(response: httpx.Response) -> int:
    assert response.status_code == 500, response.text
    code = ET.fromstring(response.content).find(".//{urn:schemas-upnp-org:control-1-0}errorCode")
    assert code is not None and code.text
    return int(code.text)


def browse(
    client: httpx.Client,
    object_id: str,
    *,
    flag: str = "BrowseDirectChildren",
    start: int = 0,
    count: int = 0,
    sort: str = "",
    agent: str = "VLC/3.0.18",
) -> tuple[list[ET.Element], int]:
    """The DIDL-Lite objects of one Browse, and TotalMatches."""
    answer = outputs(
        soap(client, CD, "Browse", agent=agent, ObjectID=object_id, BrowseFlag=flag, Filter="*",
             StartingIndex=start, RequestedCount=count, SortCriteria=sort)
    )  # fmt: skip
    objects = list(ET.fromstring(answer["Result"]))
    assert int(answer["NumberReturned"]) == len(objects)
    return objects, int(answer["TotalMatches"])


def titles(objects: list[ET.Element]) -> list[str]:
    return [o.findtext(f"{DC}title") or "" for o in objects]


def res(obj: ET.Element) -> list[tuple[str, str]]:
    """(URL, protocolInfo) of each resource, first the one a TV plays."""
    return [(r.text or "", r.get("protocolInfo", "")) for r in obj.findall(f"{DIDL}res")]


def test_the_device_and_its_services_describe_themselves(client: httpx.Client, url: str) -> None:
    answer = client.get("/dlna/description.xml")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/xml")
    device = ET.fromstring(answer.content).find(f"{DEVICE}device")
    assert device is not None
    assert device.findtext(f"{DEVICE}deviceType") == "urn:schemas-upnp-org:device:MediaServer:1"
    status = client.get("/api/v1/dlna", headers=auth_headers(url)).json()
    assert device.findtext(f"{DEVICE}UDN") == status["udn"] and status["user"] == "admin"
    assert device.findtext(f"{DEVICE}friendlyName") == status["name"]
    users_page = client.get("/admin/users", headers=auth_headers(url))
    assert "see <strong>admin</strong>'s view" in users_page.text  # the first admin's
    services = {s.findtext(f"{DEVICE}serviceType"): s for s in device.iter(f"{DEVICE}service")}
    assert set(services) == {CD, CM, MRR}
    for service in services.values():
        scpd = client.get(service.findtext(f"{DEVICE}SCPDURL") or "")
        assert scpd.status_code == 200, scpd.text
        names = {
            e.text
            for e in ET.fromstring(scpd.content).iter("{urn:schemas-upnp-org:service-1-0}name")
        }
        assert ("Browse" in names) == (service is services[CD])
    for icon in device.iter(f"{DEVICE}icon"):
        picture = client.get(icon.findtext(f"{DEVICE}url") or "")
        assert picture.status_code == 200
        assert picture.headers["content-type"] == icon.findtext(f"{DEVICE}mimetype")
        magic = b"\x89PNG" if picture.headers["content-type"] == "image/png" else b"\xff\xd8"
        assert picture.content.startswith(magic)


def test_the_folder_tree(client: httpx.Client) -> None:
    top, total = browse(client, "0")
    assert titles(top) == ["Movies", "TV shows", "Recently added", "Continue watching", "Genres"]
    assert total == 5 and [o.get("childCount") for o in top][:2] == ["3", "1"]
    movies, total = browse(client, "movies")
    assert titles(movies) == ["Amber Lighthouse", "Marble Orchard", "Zephyr Quokka"] and total == 3
    assert all(m.findtext(f"{UPNP}class") == "object.item.videoItem.movie" for m in movies)
    (show,), _ = browse(client, "shows")
    assert show.tag == f"{DIDL}container" and show.findtext(f"{DC}title") == "Orbit Patrol"
    seasons, _ = browse(client, show.get("id", ""))
    assert titles(seasons) == ["Season 1", "Season 2"]
    assert {s.get("parentID") for s in seasons} == {show.get("id")}
    episodes, _ = browse(client, seasons[1].get("id", ""))
    assert titles(episodes) == ["01. Zenith", "02. Apogee"]
    assert episodes[0].findtext(f"{UPNP}seriesTitle") == "Orbit Patrol"
    genres, _ = browse(client, "genres")
    assert "Comedy" in titles(genres)  # from Amber Lighthouse's NFO
    comedy, _ = browse(client, "g/Comedy")
    assert titles(comedy) == ["Amber Lighthouse"]
    recent, total = browse(client, "recent")
    assert total == 4 and "Orbit Patrol" in titles(recent)


def test_continue_watching_is_the_dlna_users(client: httpx.Client, url: str) -> None:
    """The admin (the DLNA user here) stops a film part-way: TVs offer it to continue."""
    movies, _ = browse(client, "movies")
    zephyr = movies[2]
    item_id = zephyr.get("id", "")[1:]
    assert browse(client, "continue")[1] == 0
    stopped = client.post(f"/api/v1/items/{item_id}/progress",
                          json={"position_s": 0.3, "state": "stopped"}, headers=auth_headers(url))  # fmt: skip
    assert stopped.status_code == 200, stopped.text
    shown, total = browse(client, "continue")
    assert total == 1 and titles(shown) == ["Zephyr Quokka"]


def test_paging_sorting_and_metadata(client: httpx.Client) -> None:
    page, total = browse(client, "movies", start=1, count=1)
    assert titles(page) == ["Marble Orchard"] and total == 3
    backwards, _ = browse(client, "movies", sort="-dc:title")
    assert titles(backwards) == ["Zephyr Quokka", "Marble Orchard", "Amber Lighthouse"]
    newest, _ = browse(client, "movies", sort="-dc:date")
    assert titles(newest) == [
        "Zephyr Quokka",
        "Amber Lighthouse",
        "Marble Orchard",
    ]  # 2019, 2010, 2001
    film = page[0]
    (again,), total = browse(client, film.get("id", ""), flag="BrowseMetadata")
    assert (
        total == 1 and again.get("parentID") == "movies" and titles([again]) == ["Marble Orchard"]
    )
    (root,), _ = browse(client, "0", flag="BrowseMetadata")
    assert root.get("parentID") == "-1" and root.get("childCount") == "5"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"ObjectID": "i999999", "BrowseFlag": "BrowseDirectChildren"}, 701),
        ({"ObjectID": "g/No Such Genre", "BrowseFlag": "BrowseMetadata"}, 701),
        ({"ObjectID": "nonsense", "BrowseFlag": "BrowseMetadata"}, 701),
        ({"ObjectID": "0", "BrowseFlag": "BrowseEverything"}, 402),
        (
            {"ObjectID": "0", "BrowseFlag": "BrowseDirectChildren", "SortCriteria": "+upnp:artist"},
            709,
        ),
        ({"ObjectID": "0", "BrowseFlag": "BrowseMetadata", "StartingIndex": 3}, 402),
        ({"ObjectID": "0", "BrowseFlag": "BrowseDirectChildren", "RequestedCount": -1}, 402),
        ({"ObjectID": "0", "BrowseFlag": "BrowseDirectChildren", "RequestedCount": 2**32}, 402),
    ],
)
def test_bad_browses_are_upnp_errors(client: httpx.Client, args: dict[str, Any], code: int) -> None:
    full = {"Filter": "*", "StartingIndex": 0, "RequestedCount": 0, "SortCriteria": "", **args}
    assert fault(soap(client, CD, "Browse", **full)) == code


def test_browsing_children_of_a_film_is_710(client: httpx.Client) -> None:
    movies, _ = browse(client, "movies")
    response = soap(client, CD, "Browse", ObjectID=movies[0].get("id"),
                    BrowseFlag="BrowseDirectChildren", Filter="*", StartingIndex=0,
                    RequestedCount=0, SortCriteria="")  # fmt: skip
    assert fault(response) == 710


def test_search(client: httpx.Client) -> None:
    def search(criteria: str, container: str = "0", sort: str = "") -> list[str]:
        answer = outputs(
            soap(client, CD, "Search", ContainerID=container, SearchCriteria=criteria, Filter="*",
                 StartingIndex=0, RequestedCount=0, SortCriteria=sort)
        )  # fmt: skip
        return titles(list(ET.fromstring(answer["Result"])))

    # Within a folder, only what is under it (found by the LAN test's independent client).
    (show,), _ = browse(client, "shows")
    seasons, _ = browse(client, show.get("id", ""))
    assert search("*", seasons[1].get("id", "")) == ["02. Apogee", "01. Zenith"]
    assert len(search("*", show.get("id", ""))) == 4
    assert search('dc:title contains "n"', "movies") == []
    assert search('dc:title contains "n"', "shows") == ["02. Docking", "01. Launch", "01. Zenith"]
    assert search("*", "g/Comedy") == ["Amber Lighthouse"]
    # ...and in the order asked for, with a title term too.
    assert search('dc:title contains "n"', sort="-dc:title") == [
        "01. Zenith",
        "01. Launch",
        "02. Docking",
    ]
    assert search("*", seasons[1].get("id", ""), sort="-dc:title") == ["01. Zenith", "02. Apogee"]

    assert search('dc:title contains "ORCH"') == ["Marble Orchard"]
    assert search(
        'dc:title contains "l" and upnp:class derivedfrom "object.item.videoItem.movie"'
    ) == [
        "Amber Lighthouse",
        "Marble Orchard",
    ]
    episodes = search('upnp:class = "object.item.videoItem" and dc:title contains "e"')
    assert sorted(episodes) == ["01. Zenith", "02. Apogee"]  # not Launch, not Docking
    assert search('(upnp:genre = "comedy") or dc:title = "zephyr quokka"') == [
        "Amber Lighthouse",
        "Zephyr Quokka",
    ]
    assert len(search("*")) == 7  # 3 films and 4 episode files
    for broken in ("dc:title contains", 'dc:title likes "x"', '(dc:title = "x"', "and"):
        response = soap(client, CD, "Search", ContainerID="0", SearchCriteria=broken, Filter="*",
                        StartingIndex=0, RequestedCount=0, SortCriteria="")  # fmt: skip
        assert fault(response) == 708, broken


def test_the_small_actions(client: httpx.Client, url: str) -> None:
    assert "dc:title" in outputs(soap(client, CD, "GetSearchCapabilities"))["SearchCaps"]
    assert outputs(soap(client, CD, "GetSortCapabilities"))["SortCaps"] == "dc:title,dc:date"
    update = outputs(soap(client, CD, "GetSystemUpdateID"))["Id"]
    assert (
        int(update)
        == client.get("/api/v1/dlna", headers=auth_headers(url)).json()["system_update_id"]
    )
    features = ET.fromstring(outputs(soap(client, CD, "X_GetFeatureList"))["FeatureList"])
    ids = [c.get("id") for c in features.iter("{urn:schemas-upnp-org:av:avs}container")]
    assert ids == ["movies", "shows", "recent"]
    protocols = outputs(soap(client, CM, "GetProtocolInfo"))
    assert "http-get:*:video/mpeg:*" in protocols["Source"].split(",") and protocols["Sink"] == ""
    assert outputs(soap(client, CM, "GetCurrentConnectionIDs"))["ConnectionIDs"] == "0"
    info = outputs(soap(client, CM, "GetCurrentConnectionInfo", ConnectionID=0))
    assert info["Direction"] == "Output" and info["Status"] == "OK"
    assert fault(soap(client, CM, "GetCurrentConnectionInfo", ConnectionID=7)) == 706
    # Windows Media Player and the Xbox ask before they list a server.
    assert outputs(soap(client, MRR, "IsAuthorized", DeviceID=""))["Result"] == "1"
    assert outputs(soap(client, MRR, "IsValidated", DeviceID="xbox-1"))["Result"] == "1"


def test_soap_that_is_refused(client: httpx.Client) -> None:
    doctype = (
        '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "xxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]>'
        + envelope(CD, "Browse", ObjectID="&y;", BrowseFlag="BrowseMetadata", Filter="*",
                   StartingIndex=0, RequestedCount=0, SortCriteria="")
    )  # fmt: skip
    for body in (doctype, "<not-soap/>", "\x00\xff garbage", ""):
        answer = client.post("/dlna/control/ContentDirectory", content=body,
                             headers={"SOAPACTION": f'"{CD}#Browse"'})  # fmt: skip
        assert answer.status_code == 400, (body, answer.text)
    wrong = client.post(
        "/dlna/control/ContentDirectory",
        content=envelope(CD, "Browse", ObjectID=0),
        headers={"SOAPACTION": f'"{CD}#DestroyObject"'},
    )
    assert fault(wrong) == 401
    assert fault(soap(client, CD, "DestroyObject", ObjectID="0")) == 401
    assert fault(soap(client, CD, "Browse", ObjectID="0")) == 402  # BrowseFlag and more missing
    assert (
        client.post("/dlna/control/AVTransport", content=envelope(CD, "Browse")).status_code == 404
    )
    assert client.get("/dlna/control/ContentDirectory").status_code == 405
    assert browse(client, "0")[1] == 5  # and it still answers


def test_files_play_with_dlna_headers_and_ranges(client: httpx.Client, tmp_path: Path) -> None:
    movies, _ = browse(client, "movies", agent="DLNADOC/1.50 SEC_HHP_[TV] Samsung/1.0")
    amber, marble = movies[0], movies[1]
    ((original, info),) = res(amber)[:1]
    assert info.startswith(
        "http-get:*:video/mp4:DLNA.ORG_PN=AVC_MP4_MP_SD_AAC_MULT5;DLNA.ORG_OP=01;"
    )
    headers = {"getcontentFeatures.dlna.org": "1", "transferMode.dlna.org": "Streaming"}
    part = client.get(original, headers={**headers, "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["contentFeatures.dlna.org"] == info.split(":", 3)[3]
    assert part.headers["transferMode.dlna.org"] == "Streaming"
    head = client.head(original)
    assert head.status_code == 200 and int(head.headers["content-length"]) > 1000
    seeking = client.get(original, headers={"TimeSeekRange.dlna.org": "npt=0.5-"})
    assert seeking.status_code == 406
    # The mkv: a Samsung opens MKV (direct); a generic TV gets MPEG-TS first.
    assert res(marble)[0][0].endswith("/original.mkv")
    generic, _ = browse(client, "movies", agent="Sony BRAVIA")
    stream_url, stream_info = res(generic[1])[0]
    assert "/stream.ts?profile=dlna-tv" in stream_url
    assert ":video/mpeg:" in stream_info and "DLNA.ORG_OP=10;DLNA.ORG_CI=1" in stream_info
    answer = client.get(stream_url)
    assert answer.status_code == 200 and answer.headers["content-type"] == "video/mpeg"
    assert answer.headers["contentFeatures.dlna.org"] == stream_info.split(":", 3)[3]
    saved = tmp_path / "marble.ts"
    saved.write_bytes(answer.content)
    probe = json.loads(subprocess.run(  # noqa: S603
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(saved)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout)  # fmt: skip
    assert probe["format"]["format_name"] == "mpegts"
    assert {s["codec_name"] for s in probe["streams"]} == {"h264", "aac"}
    assert 0.8 < float(probe["format"]["duration"]) < 1.5
    later = client.get(stream_url, headers={"TimeSeekRange.dlna.org": "npt=0:00:00.000-"})
    assert later.status_code == 200 and later.headers["TimeSeekRange.dlna.org"].startswith(
        "npt=0:00:00.000-"
    )
    assert client.get(stream_url, headers={"TimeSeekRange.dlna.org": "bytes=7"}).status_code == 400
    assert client.get(stream_url, headers={"TimeSeekRange.dlna.org": "npt=99-"}).status_code == 416
    assert (
        client.head(stream_url).headers["contentFeatures.dlna.org"] == stream_info.split(":", 3)[3]
    )


def test_subtitles_and_posters(client: httpx.Client) -> None:
    movies, _ = browse(client, "movies", agent="SEC_HHP_[TV] Samsung")
    amber = movies[0]
    caption = amber.find("{http://www.sec.co.kr/}CaptionInfoEx")
    assert caption is not None and caption.get("{http://www.sec.co.kr/}type") == "srt"
    srt = client.get(caption.text or "")
    assert srt.status_code == 200 and srt.headers["content-type"].startswith("text/srt")
    assert "00:00:00,100 --> 00:00:00,900" in srt.text and "The keeper <i>waves</i>." in srt.text
    assert "00:00:00,900 --> 00:00:01,000\n<Keeper> Ahoy!" in srt.text
    assert "http-get:*:text/srt:*" in [p for _, p in res(amber)]
    (video, _), *_ = res(amber)
    asked = client.head(video, headers={"getCaptionInfo.sec": "1"})
    assert asked.headers["CaptionInfo.sec"] == caption.text
    assert "CaptionInfo.sec" not in client.head(video).headers
    art = amber.findtext(f"{UPNP}albumArtURI")
    assert art and client.get(art).content.startswith(b"\xff\xd8")  # a JPEG poster frame
    assert client.get(art.replace(f"/{amber.get('id', '')[1:]}/", "/999999/")).status_code == 404


def test_only_the_home_network_and_only_while_on(client: httpx.Client) -> None:
    for forwarded in ({"X-Forwarded-For": "1.1.1.1"}, {"Forwarded": 'for="[2001:4860::8]:80"'},
                      {"X-Real-IP": "8.8.8.8"}, {"X-Forwarded-For": "10.0.0.2, 9.9.9.9"}):  # fmt: skip
        answer = client.get("/dlna/description.xml", headers=forwarded)
        assert answer.status_code == 403 and "home network" in answer.text, forwarded
    assert (
        client.get("/dlna/description.xml", headers={"X-Forwarded-For": "192.168.1.20"}).status_code
        == 200
    )


def test_dlna_can_be_turned_off(
    hearth_server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    server = hearth_server(tmp_path / "data", [tmp_path], extra="[dlna]\nenabled = false\n")
    with server as off, httpx.Client(base_url=off, timeout=30) as plain:
        assert plain.get("/dlna/description.xml").status_code == 404
        assert plain.get("/api/v1/dlna", headers=auth_headers(off)).json() == {"enabled": False}
        page = plain.get("/admin/users", headers=auth_headers(off))
        assert "The DLNA server is off" in page.text


class _Events(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_NOTIFY(self) -> None:  # the HTTP method's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    _Events.received = []
    server = HTTPServer(("127.0.0.1", 0), _Events)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/events", _Events.received
    server.shutdown()


def test_event_subscriptions(
    client: httpx.Client,
    url: str,
    roots: tuple[Path, Path],
    spare_clip: Path,
    listener: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    callback, received = listener
    path = "/dlna/event/ContentDirectory"
    subscribe = {"CALLBACK": f"<{callback}>", "NT": "upnp:event", "TIMEOUT": "Second-300"}
    made = client.request("SUBSCRIBE", path, headers=subscribe)
    assert made.status_code == 200 and made.headers["timeout"] == "Second-300", made.text
    sid = made.headers["sid"]
    first = wait_until(lambda: received[:1], 10, "the initial event")[0]
    assert first[0]["SID"] == sid and first[0]["SEQ"] == "0"
    start_id = int(ET.fromstring(first[1]).findtext(".//SystemUpdateID") or 0)
    # The catalog gains a film: the SystemUpdateID goes up and the subscriber hears of it.
    shutil.copy(spare_clip, roots[0] / spare_clip.name)
    before = time.time()
    with httpx.Client(base_url=url, timeout=30, headers=auth_headers(url)) as admin:
        assert admin.post("/api/v1/scan").status_code == 202
        wait_for_scan(admin, timeout=120, started_after=before)
    update = wait_until(lambda: received[1:2], 15, "the change event")[0]
    assert update[0]["SEQ"] == "1"
    assert int(ET.fromstring(update[1]).findtext(".//SystemUpdateID") or 0) > start_id
    assert browse(client, "movies")[1] == 4
    renewed = client.request("SUBSCRIBE", path, headers={"SID": sid, "TIMEOUT": "Second-99999"})
    assert renewed.status_code == 200 and renewed.headers["timeout"] == "Second-1800"
    both = client.request("SUBSCRIBE", path, headers={"SID": sid, **subscribe})
    assert both.status_code == 400
    assert client.request("UNSUBSCRIBE", path, headers={"SID": sid}).status_code == 200
    assert client.request("UNSUBSCRIBE", path, headers={"SID": sid}).status_code == 412
    assert client.request("SUBSCRIBE", path, headers={"SID": "uuid:made-up"}).status_code == 412


@pytest.mark.parametrize(
    "callback",
    ["<http://10.1.2.3:4000/x>", "<http://localhost:4000/x>", "<https://127.0.0.1/x>",
     "http://127.0.0.1:4000/x", "<http://127.0.0.1:4000/x> junk", "<http://u:p@127.0.0.1/x>", ""],
)  # fmt: skip
def test_callbacks_elsewhere_are_refused(client: httpx.Client, callback: str) -> None:
    answer = client.request(
        "SUBSCRIBE",
        "/dlna/event/ContentDirectory",
        headers={"CALLBACK": callback, "NT": "upnp:event"},
    )
    assert answer.status_code == 412, answer.text


def test_no_subscriptions_through_a_proxy(client: httpx.Client) -> None:
    """Through a proxy on this machine, the callback check would be about the proxy."""
    answer = client.request(
        "SUBSCRIBE", "/dlna/event/ContentDirectory",
        headers={"CALLBACK": "<http://127.0.0.1:9/x>", "NT": "upnp:event",
                 "X-Forwarded-For": "192.168.1.30"},
    )  # fmt: skip
    assert answer.status_code == 412 and "proxy" in answer.text


def test_subscriptions_are_capped_per_device(client: httpx.Client) -> None:
    from mediaserver.dlna.gena import MAX_PER_HOST

    # Nobody listens on port 9 (discard): the initial events go nowhere, quickly.
    headers = {"CALLBACK": "<http://127.0.0.1:9/x>", "NT": "upnp:event"}
    sids = []
    for _ in range(MAX_PER_HOST):
        made = client.request("SUBSCRIBE", "/dlna/event/ConnectionManager", headers=headers)
        assert made.status_code == 200
        sids.append(made.headers["sid"])
    refused = client.request("SUBSCRIBE", "/dlna/event/ConnectionManager", headers=headers)
    assert refused.status_code == 503
    for sid in sids:
        client.request("UNSUBSCRIBE", "/dlna/event/ConnectionManager", headers={"SID": sid})
    assert client.request("NOTIFY", "/dlna/event/ConnectionManager").status_code == 405
    assert client.request("SUBSCRIBE", "/dlna/event/Nothing", headers=headers).status_code == 404


def test_the_dlna_user_decides_what_tvs_see(
    hearth_server: Callable[..., AbstractContextManager[str]],
    roots: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """``[dlna] user = "kids"``: only their library; others' files and posters are 404."""
    server = hearth_server(tmp_path / "data", list(roots), extra='[dlna]\nuser = "kids"\n')
    with server as base, httpx.Client(base_url=base, timeout=60) as tv:
        admin = auth_headers(base)
        with httpx.Client(base_url=base, timeout=30, headers=admin) as signed_in:
            wait_for_scan(signed_in, timeout=120)
        assert browse(tv, "0")[0][0].get("childCount") == "0"  # nobody called kids yet
        assert "names nobody" in tv.get("/api/v1/dlna", headers=admin).json()["problem"]
        page = tv.get("/admin/users", headers=admin)
        assert "[dlna] user = &#39;kids&#39; names nobody" in page.text
        films = tv.get("/api/v1/items", params={"kind": "movie"}, headers=admin).json()["items"]
        libraries = tv.get("/api/v1/libraries", headers=admin).json()["libraries"]
        series = next(lib["id"] for lib in libraries if lib["path"].endswith("Series"))
        add_member(tv, admin, "kids", libraries=[series])
        movies, total = browse(tv, "movies")
        assert total == 0 and movies == []
        page = tv.get("/admin/users", headers=admin)
        assert "see <strong>kids</strong>'s view" in page.text
        shows, _ = browse(tv, "shows")
        assert titles(shows) == ["Orbit Patrol"]
        hidden = films[0]
        meta = soap(tv, CD, "Browse", ObjectID=f"i{hidden['id']}", BrowseFlag="BrowseMetadata",
                    Filter="*", StartingIndex=0, RequestedCount=0, SortCriteria="")  # fmt: skip
        assert fault(meta) == 701
        item = tv.get(f"/api/v1/items/{hidden['id']}", headers=admin).json()
        file = item["files"][0]
        assert tv.get(f"/dlna/files/{file['id']}/original.{file['container']}").status_code == 404
        assert tv.get(f"/dlna/items/{hidden['id']}/poster.jpg").status_code == 404


def test_a_tv_that_leaves_stops_its_transcode(
    hearth_server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    """A 60 s MPEG-4 Part 2 film must be transcoded for a generic TV; the TV seeks to 0:30,
    reads a little and goes away: its ffmpeg is stopped at once, not left to the reaper."""
    from mediaserver.testing import make_clip

    media = tmp_path / "media"
    make_clip(media / "Long Walk (1999).mkv", seconds=60, vcodec="mpeg4")
    with (
        # Two segments ahead at most: the job is still there (paused) when the TV goes.
        hearth_server(tmp_path / "data", [media], streaming={"throttle_segments": 2}) as base,
        httpx.Client(base_url=base, timeout=60, headers=auth_headers(base)) as admin,
        httpx.Client(base_url=base, timeout=60) as tv,
    ):
        wait_for_scan(admin, timeout=120)
        (film,), _ = browse(tv, "movies", agent="Sony BRAVIA")
        url, info = res(film)[0]
        assert "/stream.ts?profile=dlna-tv" in url and "DLNA.ORG_CI=1" in info
        seek = {"TimeSeekRange.dlna.org": "npt=0:00:30.000-"}
        with tv.stream("GET", url, headers=seek) as answer:
            assert answer.status_code == 200
            start = answer.headers["TimeSeekRange.dlna.org"]
            assert re.fullmatch(r"npt=0:00:30\.000-0:01:00\.\d{3}/0:01:00\.\d{3}", start), start
            first = next(answer.iter_bytes(64 * 1024))
            assert first[0] == 0x47  # an MPEG-TS sync byte
            jobs = admin.get("/api/v1/hls/jobs").json()["jobs"]
            assert any(
                j["state"] == "running" and j["sessions"][0].startswith("dlna") for j in jobs
            )

        def stopped() -> bool:
            jobs = admin.get("/api/v1/hls/jobs").json()["jobs"]
            return not any(j["state"] == "running" for j in jobs)

        wait_until(stopped, 5, "the TV's transcode to stop")
