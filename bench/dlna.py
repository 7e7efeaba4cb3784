"""DLNA Browse and Search latency on a 20,000-item catalog, as a TV pages through it.

The catalog is bench/api.py's (films, and shows with seasons and episodes, each film and
episode with a file and streams).  ``mediaserver serve`` runs on 127.0.0.1 with discovery
off (SSDP is not measured here and never multicast by a bench); one client plays a TV:
it browses the root, pages through Movies 50 at a time from the first page to the last,
opens shows and their seasons, reads single items (BrowseMetadata) and searches titles.

    .venv/bin/python bench/dlna.py --items 20000

The last line is machine-readable: ``key=value`` pairs (milliseconds).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
from api import (  # bench/, run as a script
    fill_catalog,
    free_port,
    make_api_key,
    percentile,
    start_server,
    stop_server,
    wait_ready,
)

CD = "urn:schemas-upnp-org:service:ContentDirectory:1"


def envelope(action: str, **arguments: object) -> str:
    body = "".join(f"<{k}>{v}</{k}>" for k, v in arguments.items())
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<s:Body><u:{action} xmlns:u="{CD}">{body}</u:{action}></s:Body></s:Envelope>'
    )


def call(client: httpx.Client, action: str, **arguments: object) -> tuple[float, str]:
    started = time.perf_counter()
    answer = client.post(
        "/dlna/control/ContentDirectory",
        content=envelope(action, **arguments),
        headers={"SOAPACTION": f'"{CD}#{action}"', "User-Agent": "SEC_HHP_[TV] Samsung"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    answer.raise_for_status()
    return elapsed, answer.text


def browse(
    client: httpx.Client, object_id: str, flag: str = "BrowseDirectChildren", start: int = 0
) -> tuple[float, str]:
    return call(client, "Browse", ObjectID=object_id, BrowseFlag=flag, Filter="*",
                StartingIndex=start, RequestedCount=50, SortCriteria="")  # fmt: skip


def ids(answer: str, kind: str) -> list[str]:
    """The ids of the DIDL-Lite containers or items in a Browse answer."""
    result = ET.fromstring(answer).findtext(".//Result") or ""
    tag = f"{{urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/}}{kind}"
    return [str(o.get("id")) for o in ET.fromstring(result) if o.tag == tag]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="hearth-dlna-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        media.mkdir()
        (work / "data").mkdir()
        make_api_key(work / "data")
        _, movies = fill_catalog(work / "data" / "catalog.sqlite3", media, args.items, args.seed)
        port = free_port()
        server = start_server(work, media, port, "warning")
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server)
            times: dict[str, list[float]] = {
                k: [] for k in ("root", "page", "show", "meta", "search")
            }
            with httpx.Client(base_url=base, timeout=60) as tv:
                for _ in range(20):
                    times["root"].append(browse(tv, "0")[0])
                film_ids: list[str] = []
                for start in range(0, movies, 50):  # every page of Movies, first to last
                    elapsed, result = browse(tv, "movies", start=start)
                    times["page"].append(elapsed)
                    film_ids += ids(result, "item")
                _, shows = browse(tv, "shows")
                for show in ids(shows, "container")[:20]:
                    elapsed, seasons = browse(tv, show)
                    times["show"].append(elapsed)
                    for season in ids(seasons, "container")[:2]:
                        times["show"].append(browse(tv, season)[0])
                for film in rng.sample(film_ids, min(200, len(film_ids))):
                    times["meta"].append(browse(tv, film, flag="BrowseMetadata")[0])
                for word in ("harbor", "ember", "tide", "st", "a"):
                    elapsed, _ = call(tv, "Search", ContainerID="0",
                                      SearchCriteria=f'dc:title contains "{word}"', Filter="*",
                                      StartingIndex=0, RequestedCount=50, SortCriteria="")  # fmt: skip
                    times["search"].append(elapsed)
            print(f"catalog: {args.items} items, {movies} films; {len(times['page'])} pages of 50")
            for name, values in times.items():
                print(f"  {name:7} n={len(values):4}  p50 {percentile(values, 50):6.1f} ms  "
                      f"p99 {percentile(values, 99):6.1f} ms  max {max(values):6.1f} ms")  # fmt: skip
            print(" ".join(
                f"{name}_p50_ms={percentile(v, 50):.1f} {name}_p99_ms={percentile(v, 99):.1f}"
                for name, v in times.items()
            ))  # fmt: skip
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
