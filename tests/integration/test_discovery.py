"""mDNS/DNS-SD on a LAN of our own: two network namespaces joined by a veth pair.

The server runs in one namespace (198.51.100.1) with discovery on; from the other
(198.51.100.2), a python-zeroconf browser in its own process and Debian's ``dig`` ask for
it, as a phone app or another Hearth would.  Nothing here touches the machine's own
network: the namespaces are made by the test and removed after it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mediaserver.testing import user_credentials
from tests.integration.netns import CLIENT_IP, SERVER_IP, Lan, make_lan, read_until, serve_in
from tests.integration.netns import ip as _ip

PORT = 8420
NAME = "Hearth Test"


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    with make_lan() as made:
        yield made


@pytest.fixture(scope="module")
def server(lan: Lan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data, media = tmp_path_factory.mktemp("discovery-data"), tmp_path_factory.mktemp("empty")
    config = f'[discovery]\nname = "{NAME}"\n'
    key = user_credentials(data, "admin", "a long test admin password", admin=True)[0]
    with serve_in(lan, data, media, config, PORT):
        yield {"key": key, "id": (data / "server-id").read_text().strip(), "log": str(data)}


BROWSE = """
import json, sys, time
from zeroconf import Zeroconf, ServiceBrowser, IPVersion
found = {}
class Listener:
    def add_service(self, zc, kind, name):
        info = zc.get_service_info(kind, name, timeout=3000)
        if info:
            found[name] = {"addresses": info.parsed_addresses(), "port": info.port,
                           "server": info.server,
                           "txt": {k.decode(): (v or b"").decode() for k, v in info.properties.items()}}
    def update_service(self, zc, kind, name): self.add_service(zc, kind, name)
    def remove_service(self, zc, kind, name): found.pop(name, None)
zc = Zeroconf(interfaces=["%(ip)s"], ip_version=IPVersion.V4Only)
ServiceBrowser(zc, ["_http._tcp.local.", "_hearth._tcp.local."], Listener())
deadline = time.time() + %(wait)s
while time.time() < deadline and len(found) < %(want)s:
    time.sleep(0.1)
zc.close()
print(json.dumps(found))
"""


def browse(
    lan: Lan, want: int = 2, wait: float = 10, *, ns: str = "", ip: str = CLIENT_IP
) -> dict[str, dict[str, Any]]:
    """What a zeroconf browser in ``ns`` (the client's) finds within ``wait`` seconds."""
    code = BROWSE % {"ip": ip, "want": want, "wait": wait}
    answer = lan.python(ns or lan.client_ns, code)
    assert answer.returncode == 0, answer.stderr
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def test_another_machine_finds_both_services(lan: Lan, server: dict[str, str]) -> None:
    found = browse(lan)
    http, hearth = f"{NAME}._http._tcp.local.", f"{NAME}._hearth._tcp.local."
    assert set(found) == {http, hearth}, found
    for entry in found.values():
        assert entry["addresses"] == [SERVER_IP] and entry["port"] == PORT
    from mediaserver import __version__

    assert found[http]["txt"] == {"path": "/", "id": server["id"], "version": __version__}
    txt = found[hearth]["txt"]
    assert isinstance(txt, dict)
    assert txt["id"] == server["id"] and txt["api"] == "/api/v1" and txt["federation"] == "closed"


def test_a_plain_dns_client_gets_an_answer(lan: Lan, server: dict[str, str]) -> None:
    """``dig`` asks port 5353 of the server's address directly (RFC 6762 5.5): asked at
    224.0.0.251, dig drops the answer because it comes from the server's own address."""
    if shutil.which("dig") is None:
        pytest.skip("dig is not installed (make test installs bind9-dnsutils)")
    for question in ("_hearth._tcp.local", "_http._tcp.local"):
        answer = lan.run(
            lan.client_ns,
            ["dig", "-p", "5353", f"@{SERVER_IP}", "+short", "+time=2", "+tries=3", question,
             "PTR"],
        )  # fmt: skip
        expected = f"{NAME.replace(' ', chr(92) + '032')}.{question}."
        assert answer.stdout.strip() == expected, answer


def test_a_taken_name_and_the_other_nodes(lan: Lan, server: dict[str, str]) -> None:
    """A second node with the same name in the other namespace becomes "Hearth Test (2)",
    and the server lists it as a peer."""
    other = """
        import asyncio, json
        from mediaserver.discovery.mdns import Announcer
        async def main():
            node = Announcer(name=%r, node_id="00000000-0000-4000-8000-000000000002",
                             version="9.9", port=8421, bound=%r)
            await node.start()
            print("NAMES", json.dumps(node.announced_names), flush=True)
            await asyncio.sleep(%s)
            await node.stop()
        asyncio.run(main())
    """ % (NAME, CLIENT_IP, 12)  # noqa: UP031 (the script's own braces)
    node = lan.start(other)
    try:
        line = read_until(node, lambda line: line.startswith("NAMES "))  # structlog prints too
        names = json.loads(line.removeprefix("NAMES "))
        assert f"{NAME} (2)._hearth._tcp.local." in names, names
        peers: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not peers:
            answer = lan.python(
                lan.server_ns,
                f"import httpx; print(httpx.get('http://{SERVER_IP}:{PORT}/api/v1/discovery',"
                f" headers={{'Authorization': 'Bearer {server['key']}'}}).text)",
            )
            body = json.loads(answer.stdout)
            peers = list(body["peers"])
            time.sleep(0.3)
        assert body["announcing"] and body["addresses"] == [SERVER_IP]
        assert [(p["name"], p["id"], p["port"], p["addresses"]) for p in peers] == [
            (f"{NAME} (2)", "00000000-0000-4000-8000-000000000002", 8421, [CLIENT_IP])
        ]
    finally:
        node.terminate()
        node.wait(timeout=10)


def test_a_new_address_is_announced(lan: Lan, server: dict[str, str]) -> None:
    """A node whose interface gets another address (a new lease) announces it anew."""
    script = """
        import asyncio
        from mediaserver.discovery.mdns import Announcer
        async def main():
            node = Announcer(name="Roaming Node", node_id="00000000-0000-4000-8000-000000000003",
                             version="9.9", port=8422, recheck_s=0.5)
            await node.start()
            print("READY", flush=True)
            await asyncio.sleep(20)
            await node.stop()
        asyncio.run(main())
    """
    node = lan.start(script)
    name = "Roaming Node._hearth._tcp.local."
    try:
        read_until(node, lambda line: line.startswith("READY"))
        seen = browse(lan, want=4, wait=5, ns=lan.server_ns, ip=SERVER_IP)
        assert seen[name]["addresses"] == [CLIENT_IP], seen
        _ip("-n", lan.client_ns, "addr", "add", "198.51.100.3/24", "dev", lan.client_link)
        addresses: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "198.51.100.3" not in addresses:
            seen = browse(lan, want=4, wait=3, ns=lan.server_ns, ip=SERVER_IP)
            addresses = list(seen.get(name, {}).get("addresses", []))
        assert sorted(addresses) == [CLIENT_IP, "198.51.100.3"], seen
    finally:
        node.terminate()
        node.wait(timeout=10)
        subprocess.run(  # noqa: S603 (not there if the test stopped before adding it)
            ["ip", "-n", lan.client_ns, "addr", "del", "198.51.100.3/24", "dev", lan.client_link],
            capture_output=True,
            timeout=10,
        )


WATCH = """
import sys, time
from zeroconf import Zeroconf, ServiceBrowser, IPVersion
class Listener:
    def add_service(self, zc, kind, name): print("ADDED", name, flush=True)
    def update_service(self, zc, kind, name): pass
    def remove_service(self, zc, kind, name): print("REMOVED", name, flush=True)
zc = Zeroconf(interfaces=["%(ip)s"], ip_version=IPVersion.V4Only)
ServiceBrowser(zc, ["_hearth._tcp.local."], Listener())
time.sleep(%(wait)s)
zc.close()
"""


def test_stopping_says_goodbye(lan: Lan, server: dict[str, str]) -> None:
    """Last, on purpose: a browser that has the server in view hears it leave at once
    (goodbye packets); a server that merely died would linger for the records' TTL."""
    watcher = lan.start(WATCH % {"ip": CLIENT_IP, "wait": 20})
    ours = f"{NAME}._hearth._tcp.local."
    try:
        read_until(watcher, lambda line: line.strip() == f"ADDED {ours}")
        pids = subprocess.run(  # noqa: S603
            ["ip", "netns", "pids", lan.server_ns], capture_output=True, text=True, check=True
        )
        stopped = time.monotonic()
        for pid in pids.stdout.split():
            os.kill(int(pid), signal.SIGTERM)
        read_until(watcher, lambda line: line.strip() == f"REMOVED {ours}")
        assert time.monotonic() - stopped < 10
    finally:
        watcher.kill()
        watcher.wait(timeout=10)
