"""What ``idle_memory.py`` feeds the server: a library of N files and a run of varied requests.

The library is one tiny clip (1 s, 160x90, H.264/AAC) written N times under film and
episode names, each copy with a few random bytes appended so that every file has its own
size and fingerprint (a scan would otherwise take the copies for one moved file), and an
NFO beside each film (title, year, genres, a plot, actors, some in a collection).

The requests are what a household's browsers, TVs and a curious member send, drawn at
random so that nothing repeats much: item ids (some that do not exist), page sizes and
offsets, sorts and filters, picture widths, search words with typos, unknown parameters,
DLNA Browse pages, progress reports, library and item pages, as an admin and as a member.
"""

from __future__ import annotations

import random
import shutil
import string
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx

from mediaserver.testing import make_clip

WORDS = [
    "river",
    "night",
    "house",
    "star",
    "winter",
    "garden",
    "stone",
    "letter",
    "king",
    "shadow",
    "ocean",
    "city",
    "road",
    "fire",
    "summer",
    "dream",
    "silver",
    "island",
    "wolf",
    "mountain",
    "train",
    "glass",
    "heart",
    "storm",
    "echo",
    "forest",
    "bridge",
    "mirror",
    "crown",
    "secret",
    "lantern",
    "harbour",
    "empire",
    "desert",
    "clock",
    "orchard",
    "velvet",
    "thunder",
]
GENRES = ["Drama", "Comedy", "Action", "Horror", "Romance", "Science Fiction", "Animation"]
ACTORS = [f"{a} {b}" for a in ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay") for b in WORDS[:12]]
SORTS = ["title", "-title", "year", "-year", "added", "-added", "rating", "runtime", "played"]
CD = "urn:schemas-upnp-org:service:ContentDirectory:1"


def title(rng: random.Random) -> str:
    return " ".join(w.capitalize() for w in rng.sample(WORDS, rng.randint(1, 3)))


def film_nfo(name: str, year: int, rng: random.Random) -> str:
    genres = "".join(f"<genre>{g}</genre>" for g in rng.sample(GENRES, rng.randint(1, 2)))
    actors = "".join(
        f"<actor><name>{a}</name><role>{title(rng)}</role></actor>"
        for a in rng.sample(ACTORS, rng.randint(1, 4))
    )
    film_set = f"<set><name>{WORDS[rng.randrange(8)].capitalize()} Collection</name></set>"
    plot = " ".join(rng.choices(WORDS, k=30))
    return (
        f"<movie><title>{escape(name)}</title><year>{year}</year><plot>{plot}</plot>"
        f"<rating>{rng.uniform(3, 9):.1f}</rating>{genres}{actors}"
        f"{film_set if rng.random() < 0.1 else ''}</movie>"
    )


def make_library(root: Path, files: int, seed: int = 7) -> list[Path]:
    """``files`` playable files under ``root/Movies`` (70 %) and ``root/Shows`` (30 %)."""
    rng = random.Random(seed)
    clip = make_clip(root / "clip.mp4", seconds=1.0, size="160x90")
    source = clip.read_bytes()
    clip.unlink()
    movies, shows = root / "Movies", root / "Shows"
    made = 0

    def write(path: Path) -> None:
        nonlocal made
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source + rng.randbytes(1 + made % 64 + made // 64))
        made += 1

    films = files * 7 // 10
    for n in range(films):
        name, year = f"{title(rng)} {n}", 1950 + rng.randrange(75)
        folder = movies / f"{name} ({year})"
        write(folder / f"{name} ({year}).mp4")
        (folder / f"{name} ({year}).nfo").write_text(film_nfo(name, year, rng), encoding="utf-8")
    show = 0
    while made < files:
        show += 1
        name = f"{title(rng)} Show {show}"
        (shows / name).mkdir(parents=True, exist_ok=True)
        (shows / name / "tvshow.nfo").write_text(
            f"<tvshow><title>{name}</title><genre>{rng.choice(GENRES)}</genre></tvshow>"
        )
        for season in range(1, 4):
            for episode in range(1, 6):
                if made < files:
                    write(shows / name / f"Season {season:02d}" / f"{name} S{season:02d}E{episode:02d}.mp4")  # fmt: skip
    return [movies, shows]


def remove_library(root: Path) -> None:
    shutil.rmtree(root / "Movies", ignore_errors=True)
    shutil.rmtree(root / "Shows", ignore_errors=True)


def typo(word: str, rng: random.Random) -> str:
    at = rng.randrange(len(word))
    return word[:at] + rng.choice(string.ascii_lowercase) + word[at + 1 :]


def search_text(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.3:
        return rng.choice(WORDS)[: rng.randint(2, 6)]
    if pick < 0.6:
        return " ".join(typo(w, rng) for w in rng.sample(WORDS, rng.randint(1, 2)))
    if pick < 0.8:
        return rng.choice(ACTORS)
    alphabet = string.ascii_letters + "éüßæøå0123456789 "
    return "".join(rng.choices(alphabet, k=rng.randint(1, 24)))


def browse(object_id: str, start: int, count: int) -> str:
    arguments = {"ObjectID": object_id, "BrowseFlag": "BrowseDirectChildren", "Filter": "*",
                 "StartingIndex": start, "RequestedCount": count, "SortCriteria": ""}  # fmt: skip
    body = "".join(f"<{k}>{v}</{k}>" for k, v in arguments.items())
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<s:Body><u:Browse xmlns:u="{CD}">{body}</u:Browse></s:Body></s:Envelope>'
    )


Request = tuple[str, str, dict[str, Any]]  # method, path, httpx keyword arguments


def one_request(rng: random.Random, top_id: int) -> Request:
    """A request drawn from what browsers, TVs and scripts send."""
    item = rng.randint(1, top_id + 50)  # a few ids that do not exist
    width = rng.randint(1, 1920)
    junk = {f"x{rng.randrange(10_000)}": str(rng.random())} if rng.random() < 0.2 else {}
    filters: dict[str, Any] = {"sort": rng.choice(SORTS), "limit": rng.randint(1, 200)}
    if rng.random() < 0.5:
        filters["offset"] = rng.randint(0, top_id)
    if rng.random() < 0.3:
        filters["genre"] = rng.choice(GENRES)
    if rng.random() < 0.2:
        filters["year"] = rng.randint(1950, 2025)
    if rng.random() < 0.2:
        filters["kind"] = rng.choice(["movie", "show", "episode", "movie,show"])
    choices: list[Callable[[], Request]] = [
        lambda: ("GET", "/api/v1/items", {"params": {**filters, **junk}}),
        lambda: ("GET", "/api/v1/items", {"params": {"q": search_text(rng), **junk}}),
        lambda: ("GET", "/api/v1/search", {"params": {"q": search_text(rng), **junk}}),
        lambda: ("GET", f"/api/v1/items/{item}", {"params": junk}),
        lambda: ("GET", f"/api/v1/items/{item}/children", {}),
        lambda: ("GET", f"/api/v1/items/{item}/similar", {}),
        lambda: ("GET", f"/api/v1/items/{item}/image/poster", {"params": {"width": width}}),
        lambda: ("GET", f"/api/v1/items/{item}/playback", {}),
        lambda: ("GET", f"/api/v1/people/{rng.randint(1, 120)}", {}),
        lambda: ("GET", "/api/v1/home", {}),
        lambda: ("GET", "/api/v1/genres", {}),
        lambda: (
            "POST",
            f"/api/v1/items/{item}/progress",
            {"json": {"position_s": rng.uniform(0, 1)}},
        ),
        lambda: ("GET", "/search", {"params": {"q": search_text(rng)}}),
        lambda: ("GET", f"/items/{item}", {}),
        lambda: ("GET", f"/libraries/{rng.randint(1, 3)}", {"params": {**filters, **junk}}),
        lambda: ("GET", f"/genres/{rng.choice(GENRES)}", {}),
        lambda: ("GET", f"/dlna/items/{item}/poster.jpg", {}),
        lambda: (
            "POST",
            "/dlna/control/ContentDirectory",
            {
                "content": browse(
                    rng.choice(["0", "movies", "shows", "recent", f"i{item}"]),
                    rng.randint(0, 400),
                    rng.randint(0, 60),
                ),
                "headers": {"SOAPACTION": f'"{CD}#Browse"', "Content-Type": "text/xml"},
            },
        ),
    ]
    return rng.choice(choices)()


def varied_requests(
    base_url: str, keys: list[str], count: int, top_id: int, *, clients: int = 4, seed: int = 11
) -> Counter[int]:
    """``count`` requests from ``clients`` threads, each signed in with one of ``keys`` in
    turn; the statuses answered, counted."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(seed + n)
        key = keys[n % len(keys)]
        with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:  # fmt: skip
            for _ in range(count // clients + (n < count % clients)):
                method, path, kwargs = one_request(rng, top_id)
                status = http.request(method, path, **kwargs).status_code
                with lock:
                    statuses[status] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses
