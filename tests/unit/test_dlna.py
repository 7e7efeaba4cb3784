"""The DLNA pieces without a network: SSDP parsing and matching, SOAP, search, DIDL, GENA."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import pytest

from mediaserver.discovery.ssdp import (
    PER_SENDER_BURST,
    SSDP_GROUP,
    Search,
    SsdpResponder,
    is_home_address,
    parse_search,
)
from mediaserver.dlna import didl, gena, upnp
from mediaserver.dlna.content import parse_search as parse_criteria
from mediaserver.dlna.content import parse_sort
from mediaserver.dlna.service import renderer_for
from mediaserver.streaming.subtitles import srt_from_webvtt

UDN = "uuid:00000000-0000-4000-8000-000000000001"
DEVICE = "urn:schemas-upnp-org:device:MediaServer:1"
CDS = "urn:schemas-upnp-org:service:ContentDirectory:1"


def search_packet(
    st: str = "ssdp:all", mx: str | None = "2", man: str = '"ssdp:discover"'
) -> bytes:
    lines = ["M-SEARCH * HTTP/1.1", f"HOST: {SSDP_GROUP}:1900", f"MAN: {man}", f"ST: {st}"]
    if mx is not None:
        lines.append(f"MX: {mx}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (search_packet(), Search("ssdp:all", 2)),
        (search_packet(mx="120"), Search("ssdp:all", 5)),  # more than 5 counts as 5
        (search_packet(mx=None), Search("ssdp:all", None)),  # unicast searches need none
        (search_packet(mx="-1"), "bad-mx"),
        (search_packet(mx="0"), "bad-mx"),
        (search_packet(mx="1.5"), "bad-mx"),
        (search_packet(mx="٣"), "not-ascii"),
        (search_packet(man="ssdp:discover"), "no-man"),  # the quotes are part of it
        (search_packet(st=""), "no-st"),
        (b"NOTIFY * HTTP/1.1\r\n\r\n", "not-a-search"),
        (b"\xff\xfe\x00garbage", "not-ascii"),
        (b"M-SEARCH * HTTP/1.1\r\nno colon here\r\n\r\n", "malformed"),
        (b"M-SEARCH * HTTP/1.1\r\n" + b"X: y\r\n" * 40 + b"\r\n", "malformed"),
        (b"M" * 3000, "too-long"),
        (b"", "not-a-search"),
    ],
)
def test_searches_are_parsed_strictly(packet: bytes, expected: Search | str) -> None:
    assert parse_search(packet) == expected


@pytest.mark.parametrize(
    ("address", "home"),
    [("192.168.1.20", True), ("10.0.0.1", True), ("172.20.1.1", True), ("127.0.0.1", True),
     ("169.254.3.4", True), ("fe80::1%eth0", True), ("fd00::5", True), ("::1", True),
     ("::ffff:192.168.1.2", True), ("8.8.8.8", False), ("2001:4860::8", False),
     ("100.64.1.1", False), ("239.255.255.250", False), ("0.0.0.0", False), ("nonsense", False)],
)  # fmt: skip
def test_home_addresses(address: str, home: bool) -> None:
    assert is_home_address(address) is home


def responder() -> SsdpResponder:
    return SsdpResponder(
        udn=UDN, device_type=DEVICE, service_types=[CDS], port=8420,
        location_path="/dlna/description.xml", server_header="Linux/6 UPnP/1.0 Hearth/1",
        interfaces=(), bound="0.0.0.0",
    )  # fmt: skip


def test_replies_match_the_target() -> None:
    ssdp = responder()
    everything = ssdp.reply(Search("ssdp:all", 1), "192.168.1.5")
    assert len(everything) == 4
    sts = [line for a in everything for line in a.decode().split("\r\n") if line.startswith("ST:")]
    assert sts == ["ST: upnp:rootdevice", f"ST: {UDN}", f"ST: {DEVICE}", f"ST: {CDS}"]
    (one,) = ssdp.reply(Search(DEVICE, 1), "192.168.1.5")
    text = one.decode()
    assert text.startswith("HTTP/1.1 200 OK\r\n") and text.endswith("\r\n\r\n")
    assert "LOCATION: http://192.168.1.5:8420/dlna/description.xml\r\n" in text
    assert f"USN: {UDN}::{DEVICE}\r\n" in text and "EXT:\r\n" in text
    (own,) = ssdp.reply(Search(UDN, 1), "10.0.0.2")
    assert f"USN: {UDN}\r\n" in own.decode()
    assert ssdp.reply(Search("urn:schemas-upnp-org:device:MediaServer:2", 1), "10.0.0.2") == []
    assert ssdp.reply(Search("urn:schemas-upnp-org:device:MediaRenderer:1", 1), "10.0.0.2") == []


def pktinfo(local: str, destination: str) -> list[tuple[int, int, bytes]]:
    data = struct.pack("i4s4s", 2, socket.inet_aton(local), socket.inet_aton(destination))
    return [(socket.IPPROTO_IP, 8, data)]


def test_the_receive_path_filters_and_limits() -> None:
    async def run() -> SsdpResponder:
        ssdp = responder()
        ssdp._addresses = ["192.168.1.5"]
        on_lan = pktinfo("192.168.1.5", SSDP_GROUP)
        ssdp._handle(search_packet(), on_lan, 0, ("8.8.8.8", 1900))  # not from home
        ssdp._handle(search_packet(mx="-1"), on_lan, 0, ("192.168.1.9", 1900))
        ssdp._handle(search_packet(mx=None), on_lan, 0, ("192.168.1.9", 1900))  # multicast, no MX
        ssdp._handle(search_packet(), pktinfo("10.9.9.9", SSDP_GROUP), 0, ("10.9.9.8", 1900))
        ssdp._handle(search_packet(), on_lan, socket.MSG_TRUNC, ("192.168.1.9", 1900))
        ssdp._handle(b"NOTIFY * HTTP/1.1\r\n\r\n", on_lan, 0, ("192.168.1.9", 1900))
        ssdp._handle(search_packet(mx=None), pktinfo("192.168.1.5", "192.168.1.5"), 0,
                     ("192.168.1.9", 50000))  # unicast without MX: answered  # fmt: skip
        for _ in range(PER_SENDER_BURST + 10):  # a burst from one sender
            ssdp._handle(search_packet(), on_lan, 0, ("192.168.1.7", 1900))
        for task in list(ssdp._tasks):
            task.cancel()
        await asyncio.sleep(0)
        return ssdp

    counts = asyncio.run(run()).counts
    assert counts["foreign-source"] == 1 and counts["bad-mx"] == 2
    assert counts["other-interface"] == 1 and counts["too-long"] == 1
    assert counts["answered"] == 1 + PER_SENDER_BURST and counts["rate-limited"] == 10


def browse_body(extra: str = "", action: str = "Browse", service: str = CDS) -> bytes:
    args = (
        "<ObjectID>0</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><Filter>*</Filter>"
        "<StartingIndex>0</StartingIndex><RequestedCount>10</RequestedCount>"
        "<SortCriteria></SortCriteria>"
    )
    return (
        f'<?xml version="1.0"?>{extra}<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<s:Body><u:{action} xmlns:u="{service}">{args}</u:{action}></s:Body></s:Envelope>'
    ).encode()


def test_soap_requests_are_checked() -> None:
    action, args = upnp.parse_control(upnp.CONTENT_DIRECTORY, f'"{CDS}#Browse"', browse_body())
    assert action.name == "Browse" and args["RequestedCount"] == "10" and args["ObjectID"] == "0"
    # No SOAPACTION header: the body alone says what is asked.
    assert upnp.parse_control(upnp.CONTENT_DIRECTORY, None, browse_body())[0].name == "Browse"
    for hostile in (
        '<!DOCTYPE x [<!ENTITY a "aaaa">]>',
        '<!DOCTYPE x SYSTEM "file:///etc/passwd">',
    ):
        with pytest.raises(upnp.SoapError):
            upnp.parse_control(upnp.CONTENT_DIRECTORY, None, browse_body(hostile))
    with pytest.raises(upnp.SoapError):
        upnp.parse_control(upnp.CONTENT_DIRECTORY, None, b"<a>" * 40_000)
    with pytest.raises(upnp.UpnpError) as wrong:
        upnp.parse_control(upnp.CONTENT_DIRECTORY, f'"{CDS}#Search"', browse_body())
    assert wrong.value.code == 401
    with pytest.raises(upnp.UpnpError) as other_service:
        upnp.parse_control(upnp.CONTENT_DIRECTORY, None, browse_body(service=DEVICE))
    assert other_service.value.code == 401
    bad_count = browse_body().replace(b">10<", b">ten<")
    with pytest.raises(upnp.UpnpError) as bad:
        upnp.parse_control(upnp.CONTENT_DIRECTORY, None, bad_count)
    assert bad.value.code == 402 and "RequestedCount" in bad.value.description


def test_soap_answers_and_faults_are_well_formed() -> None:
    from xml.etree import ElementTree as ET

    action = upnp.CONTENT_DIRECTORY.action("GetSystemUpdateID")
    assert action is not None
    answer = ET.fromstring(upnp.soap_response(upnp.CONTENT_DIRECTORY, action, {"Id": "7 & <8>"}))
    assert answer.findtext(f".//{{{CDS}}}GetSystemUpdateIDResponse/Id") == "7 & <8>"
    failed = ET.fromstring(upnp.soap_fault(upnp.UpnpError(701, "No such object")))
    assert failed.findtext(".//{urn:schemas-upnp-org:control-1-0}errorCode") == "701"


def test_search_criteria() -> None:
    assert parse_criteria("*") is None
    assert parse_criteria('dc:title contains "a \\"b\\""') == (
        "rel",
        "dc:title",
        "contains",
        'a "b"',
    )
    both = parse_criteria(
        'upnp:class derivedfrom "object.item" and (dc:title = "x" or @refID exists false)'
    )
    assert both == ("and", ("rel", "upnp:class", "derivedfrom", "object.item"),
                    ("or", ("rel", "dc:title", "=", "x"), ("rel", "@refID", "exists", False)))  # fmt: skip
    for broken in (
        "",
        "dc:title",
        'dc:title near "x"',
        '(dc:title = "x"',
        "dc:title = x",
        "((((" * 30,
    ):
        with pytest.raises(upnp.UpnpError) as refused:
            parse_criteria(broken)
        assert refused.value.code == 708, broken


def test_sort_criteria() -> None:
    assert parse_sort("") is None and parse_sort("+dc:title") == "title"
    assert parse_sort("-dc:date,+dc:title") == "-year" and parse_sort("dc:title") == "title"
    with pytest.raises(upnp.UpnpError) as refused:
        parse_sort("+dc:title,+upnp:artist")
    assert refused.value.code == 709


def test_didl_pieces() -> None:
    assert didl.npt(3725.5) == "1:02:05.500" and didl.npt(0) == "0:00:00.000"
    assert didl.FLAGS_FILE == "01700000" + "0" * 24
    assert didl.profile_name("mp4", "h264", "aac", 1080) == "AVC_MP4_MP_HD_1080i_AAC"
    assert didl.profile_name("ts", "h264", "aac", 480) == "AVC_TS_MP_SD_AAC_MULT5_ISO"
    assert didl.profile_name("mkv", "h264", "aac", 1080) is None
    assert didl.profile_name("mp4", "hevc", "aac", 1080) is None
    assert didl.filter_set("*") is None and didl.filter_set("dc:title, res@size") == {
        "dc:title",
        "res@size",
    }
    item = {"kind": "movie", "title": 'Fish & "Chips"', "year": 2001, "genres": ["Drama"]}
    resource = didl.Resource("http://h/f?a=1&b=2", "http-get:*:video/mp4:*", {"size": "5"})
    only_title = didl.item_xml("i1", "movies", item, [resource], wanted=frozenset({"dc:title"}))
    assert 'Fish &amp; "Chips"' in only_title and "upnp:genre" not in only_title
    assert 'size="5"' not in only_title and "http://h/f?a=1&amp;b=2" in only_title
    everything = didl.item_xml("i1", "movies", item, [resource])
    assert "<upnp:genre>Drama</upnp:genre>" in everything and 'size="5"' in everything


@pytest.mark.parametrize(
    ("header", "ok"),
    [("<http://192.168.1.9:4000/ev>", True), ("<http://192.168.1.9/a><http://192.168.1.9:2/b>", True),
     ("<http://192.168.1.10:4000/ev>", False), ("<http://tv.local:4000/ev>", False),
     ("<https://192.168.1.9/ev>", False), ("<http://192.168.1.9:0/ev>", False),
     ("<http://192.168.1.9:99999/ev>", False), ("http://192.168.1.9/ev", False),
     ("<http://192.168.1.9/a> and more", False), ("<http://x@192.168.1.9/a>", False), ("", False)],
)  # fmt: skip
def test_callbacks_only_to_the_subscriber(header: str, ok: bool) -> None:
    if ok:
        assert gena.parse_callbacks(header, "192.168.1.9")
    else:
        with pytest.raises(gena.GenaError):
            gena.parse_callbacks(header, "192.168.1.9")


def test_subscriptions_lapse_and_are_capped() -> None:
    now = [0.0]
    subs = gena.Subscriptions(clock=lambda: now[0])
    sub, seconds = subs.subscribe("ContentDirectory", "<http://10.0.0.2/e>", "upnp:event",
                                  "Second-30", "10.0.0.2")  # fmt: skip
    assert seconds == gena.MIN_TIMEOUT_S and len(subs) == 1
    assert gena.granted_timeout("Second-infinite") == gena.TIMEOUT_S
    now[0] = 61
    assert len(subs) == 0
    with pytest.raises(gena.GenaError):
        subs.renew("ContentDirectory", sub.sid, None)
    for _ in range(gena.MAX_PER_HOST):
        subs.subscribe("ConnectionManager", "<http://10.0.0.3/e>", "upnp:event", None, "10.0.0.3")
    with pytest.raises(gena.GenaError) as full:
        subs.subscribe("ConnectionManager", "<http://10.0.0.3/e>", "upnp:event", None, "10.0.0.3")
    assert full.value.status == 503
    with pytest.raises(gena.GenaError) as no_nt:
        subs.subscribe("ConnectionManager", "<http://10.0.0.4/e>", "upnp:foo", None, "10.0.0.4")
    assert no_nt.value.status == 412


@pytest.mark.parametrize(
    ("agent", "profile"),
    [("DLNADOC/1.50 SEC_HHP_[TV] UE55TU7100/1.0 UPnP/1.0", "tv-samsung"),
     ("Linux/4.4 UPnP/1.0 LGE_DLNA_SDK/1.6.0 webOS", "tv-lg"),
     ("VLC/3.0.18 LibVLC/3.0.18", "dlna-player"), ("Kodi/20.2", "dlna-player"),
     ("Sony BRAVIA KD-55X", "dlna-tv"), ("", "dlna-tv"), ("Algorithmic bot", "dlna-tv")],
)  # fmt: skip
def test_renderers_by_user_agent(agent: str, profile: str) -> None:
    chosen = renderer_for(agent)
    assert chosen.name == profile and chosen.segments == "ts"


def test_srt_from_webvtt() -> None:
    vtt = (
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\nNOTE a comment\n\n"
        "cue-1\n00:01.000 --> 00:02.500 align:start position:10%\n<i>Hi</i> &amp; <c.yellow>you</c>\n\n"
        "01:00:00.000 --> 01:00:01.250\nline one\nline two\n\n00:05.000 --> 00:06.000\n\n"
    )
    assert srt_from_webvtt(vtt) == (
        "1\n00:00:01,000 --> 00:00:02,500\n<i>Hi</i> & you\n\n"
        "2\n01:00:00,000 --> 01:00:01,250\nline one\nline two\n"
    )
    assert srt_from_webvtt("WEBVTT\n\n") == ""


def test_mangled_input_only_ever_gets_our_refusals() -> None:
    """Thousands of damaged SSDP packets, SOAP bodies and search criteria (seeded): each is
    parsed or refused with our own error, never anything else (no crash, no hang)."""
    import random

    rng = random.Random(8)
    body = browse_body()
    criteria = '(upnp:class derivedfrom "object.item") and dc:title contains "a \\"b\\""'
    packet = search_packet()

    def mangle(data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(out) or 1)
            choice = rng.random()
            if choice < 0.4 and out:
                out[at % len(out)] = rng.randrange(256)
            elif choice < 0.7:
                out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
            else:
                del out[at : at + rng.randint(1, 20)]
        return bytes(out)

    for _ in range(3000):
        assert isinstance(parse_search(mangle(packet)), Search | str)
        with contextlib.suppress(upnp.SoapError, upnp.UpnpError):
            upnp.parse_control(upnp.CONTENT_DIRECTORY, None, mangle(body))
        try:
            parse_criteria(mangle(criteria.encode()).decode("latin-1"))
        except upnp.UpnpError as refused:
            assert refused.code == 708
