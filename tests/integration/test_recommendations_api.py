"""Recommendations over HTTP on a real Hearth: a small household whose right answers are
known, its viewing reported through ``/api/v1/items/{id}/progress``, the job started with
``POST /api/v1/tasks/recommendations/run`` and everyone's rows read back from
``GET /api/v1/recommendations``.

The catalog: five comedies and five horror films (rated PG), one thriller rated R, all in
"Films"; four family films (rated G) in "Kids".  Genres, ratings, years and overviews come
from NFO files.  The household (made once for the module, in this order):

- everyone below, the admin too, watched the R-rated "Red Harvest" first;
- comedy fans A1, A2, A3 each watched four of the five comedies (A1 not "Banana Peel", A2
  not "Custard Pie", A3 not "Rubber Chicken"); horror fans B1, B2, B3 likewise (B1 not
  "Black Cellar", B2 not "Grave Hour", B3 not "Night Crawler");
- A3 also watched two family films and B3 two (one shared); A1 and B1 started one each
  (before their other viewing);
- Sam started "Banana Peel" and "Paper Boat", then watched two comedies; Nia watched two
  comedies (the "Not interested" test is hers alone).

Each test that needs more people makes its own, and every test runs the job itself, so no
test depends on another having run.  The server runs with ``after_events = 0``: the job
only runs when a test starts it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import (
    add_member,
    make_admin,
    run_server,
    wait_for_scan,
    wait_until,
    write_config,
)

LENGTH = 10.0  # seconds: 64x36, 1 fps
WATCHED_AT = 9.6  # past 90 %: watched
STARTED_AT = 4.0  # 40 %: started, not finished
TASK = "recommendations"

COMEDY = ["Banana Peel", "Custard Pie", "Rubber Chicken", "Silly Walk", "Whoopee Cushion"]
HORROR = ["Black Cellar", "Grave Hour", "Night Crawler", "Bone Orchard", "Hollow Well"]
KIDS = ["Sunny Farm", "Tiny Train", "Paper Boat", "Puddle Jump"]
R_RATED = "Red Harvest"
COLOURS = ["black", "navy", "olive", "teal", "purple", "maroon", "green", "gray", "red",
           "blue", "orange", "yellow", "white", "pink", "brown", "cyan"]  # fmt: skip

# person -> (watched, started); each person's started films are reported first
HOUSEHOLD: dict[str, tuple[list[str], list[str]]] = {
    "A1": ([R_RATED, *COMEDY[1:]], ["Puddle Jump"]),
    "A2": ([R_RATED, COMEDY[0], *COMEDY[2:]], []),
    "A3": ([R_RATED, *COMEDY[:2], *COMEDY[3:], "Sunny Farm", "Tiny Train"], []),
    "B1": ([R_RATED, *HORROR[1:]], ["Tiny Train"]),
    "B2": ([R_RATED, HORROR[0], *HORROR[2:]], []),
    "B3": ([R_RATED, *HORROR[:2], *HORROR[3:], "Sunny Farm", "Paper Boat"], []),
    "Sam": ([R_RATED, "Silly Walk", "Whoopee Cushion"], ["Banana Peel", "Paper Boat"]),
    "Nia": ([R_RATED, "Silly Walk", "Whoopee Cushion"], []),
}
GROUPS = {"A": COMEDY, "B": HORROR}


def _nfo(title: str, year: int, genre: str, rating: str, plot: str) -> str:
    return (
        f"<movie><title>{title}</title><year>{year}</year><genre>{genre}</genre>"
        f"<mpaa>{rating}</mpaa><plot>{plot}</plot></movie>"
    )


def _catalog() -> list[tuple[str, str, int, str, str, str]]:
    """(library folder, title, year, genre, rating, plot) for every film."""
    films = [("Films", t, 2011 + n, "Comedy", "PG", "A funny mix-up and silly laughs at a "
              f"party number {n}.") for n, t in enumerate(COMEDY)]  # fmt: skip
    films += [("Films", t, 2001 + n, "Horror", "PG", "A dark scary night in a haunted house "
               f"number {n}.") for n, t in enumerate(HORROR)]  # fmt: skip
    films.append(("Films", R_RATED, 1995, "Thriller", "R", "A violent heist goes wrong."))
    films += [("Kids", t, 2020 + n, "Family", "G", "Friendly animals sing songs together "
               f"on day {n}.") for n, t in enumerate(KIDS)]  # fmt: skip
    return films


@contextmanager
def _serve(data: Path, media: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """A real Hearth (as ``run_hearth``) whose recommendation job runs only when asked."""
    from mediaserver.app import create_app
    from mediaserver.config import load_settings

    config = write_config(data)
    with config.open("a", encoding="utf-8") as toml:
        toml.write("[recommendations]\nafter_events = 0\n")
    environ = {
        "MEDIASERVER_DATA_DIR": str(data),
        "MEDIASERVER_MEDIA_DIRS": ":".join(str(p) for p in media),
    }
    settings = load_settings(config, environ)
    assert settings.recommendations.after_events == 0
    key = make_admin(settings)
    with run_server(create_app(settings)) as url:
        yield url, key


def job_state(client: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    """The recommendation job's entry on ``/api/v1/tasks``."""
    answer = client.get("/api/v1/tasks", headers=admin)
    assert answer.status_code == 200, answer.text
    [task] = [t for t in answer.json()["tasks"] if t["id"] == TASK]
    return dict(task)


def run_job(client: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    """Start the job as the admin and wait for it to end; its entry on ``/api/v1/tasks``."""
    wait_until(lambda: job_state(client, admin)["running_since"] is None, 60, "a running job")
    before = job_state(client, admin)["last_run"]
    if before is not None:  # so that the new last run has another started_at
        wait_until(
            lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > before["started_at"],
            2,
            "the next second",
            interval=0.02,
        )
    started = client.post(f"/api/v1/tasks/{TASK}/run", headers=admin)
    assert started.status_code == 202, started.text
    assert started.json() == {"task": TASK, "started": True}

    def finished() -> dict[str, Any] | None:
        task = job_state(client, admin)
        done = task["running_since"] is None and task["last_run"] not in (None, before)
        return task if done else None

    task: dict[str, Any] = wait_until(finished, 60, "the recommendation job", interval=0.05)
    assert task["last_run"]["outcome"] == "ok", task
    return task


@dataclass
class Home:
    client: httpx.Client
    admin: dict[str, str]
    ids: dict[str, int]  # title -> item id; "library:<name>" -> library id
    people: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> headers
    user_ids: dict[str, int] = field(default_factory=dict)

    def title(self, item_id: int) -> str:
        return next(t for t, i in self.ids.items() if i == item_id and ":" not in t)

    def member(self, name: str, **limits: Any) -> dict[str, str]:
        user_id, headers = add_member(self.client, self.admin, name, **limits)
        self.people[name], self.user_ids[name] = headers, user_id
        return headers

    def limit(self, name: str, **limits: Any) -> None:
        changed = self.client.patch(
            f"/api/v1/users/{self.user_ids[name]}", json=limits, headers=self.admin
        )
        assert changed.status_code == 200, changed.text

    def report(self, headers: dict[str, str], title: str, position: float, state: str) -> None:
        answer = self.client.post(
            f"/api/v1/items/{self.ids[title]}/progress",
            json={"position_s": position, "state": state},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text

    def watch(self, headers: dict[str, str], *titles: str) -> None:
        for title in titles:
            self.report(headers, title, WATCHED_AT, "stopped")

    def start(self, headers: dict[str, str], *titles: str) -> None:
        for title in titles:
            self.report(headers, title, STARTED_AT, "paused")

    def task(self) -> dict[str, Any]:
        return job_state(self.client, self.admin)

    def run(self) -> dict[str, Any]:
        return run_job(self.client, self.admin)

    def rows(self, who: str | dict[str, str]) -> list[dict[str, Any]]:
        headers = self.people[who] if isinstance(who, str) else who
        answer = self.client.get("/api/v1/recommendations", headers=headers)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["rows"])

    def shape(self, who: str) -> list[tuple[str, str, list[int]]]:
        """Rows as (key, title, item ids in order)."""
        return [(r["key"], r["title"], [i["id"] for i in r["items"]]) for r in self.rows(who)]

    def offered(self, who: str) -> set[int]:
        return {i["id"] for r in self.rows(who) for i in r["items"]}

    def touched(self, who: str) -> set[int]:
        """What the server says this person started or watched (their ``user_data``)."""
        items = self.client.get(
            "/api/v1/items", params={"limit": 500}, headers=self.people[who]
        ).json()["items"]
        return {
            int(i["id"])
            for i in items
            if i["user_data"]["watched"]
            or i["user_data"]["position_s"] > 0
            or i["user_data"]["last_played_at"] is not None
        }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    media = tmp_path_factory.mktemp("recommend-media")
    catalog = _catalog()

    def clip(n: int) -> None:
        folder, title, year, genre, rating, plot = catalog[n]
        path = media / folder / f"{title} ({year}).mp4"
        make_clip(path, seconds=LENGTH, size="64x36", video=f"color=c={COLOURS[n]}",
                  audio=False, output={"r": 1, "preset": "ultrafast"})  # fmt: skip
        path.with_suffix(".nfo").write_text(_nfo(title, year, genre, rating, plot), "utf-8")

    (media / "Films").mkdir()
    (media / "Kids").mkdir()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(clip, range(len(catalog))))
    data = tmp_path_factory.mktemp("recommend-data")
    with (
        _serve(data, [media / "Films", media / "Kids"]) as (url, key),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        admin = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=admin, timeout=30) as scans:
            wait_for_scan(scans)
        items = client.get("/api/v1/items?limit=500", headers=admin).json()["items"]
        ids = {i["title"]: int(i["id"]) for i in items}
        assert set(ids) == {film[1] for film in catalog}, ids
        libraries = client.get("/api/v1/libraries", headers=admin).json()["libraries"]
        ids.update({f"library:{lib['name']}": int(lib["id"]) for lib in libraries})
        home = Home(client, admin, ids)
        home.people["admin"] = admin
        home.watch(admin, R_RATED)
        for name, (watched, started) in HOUSEHOLD.items():
            headers = home.member(name)
            home.start(headers, *started)  # first: what they watched last is a finished film
            home.watch(headers, *watched)
        yield home


def _group_of(name: str) -> list[str]:
    return GROUPS[name[0]]


def _other_group_of(name: str) -> list[str]:
    return GROUPS["B" if name[0] == "A" else "A"]


def test_each_taste_group_is_offered_its_own_kind_first(home: Home) -> None:
    home.run()
    because_rows = 0
    for name in ("A1", "A2", "A3", "B1", "B2", "B3"):
        rows = {r["key"]: r for r in home.rows(name)}
        assert "for-you" in rows, (name, list(rows))
        ranked = [i["id"] for i in rows["for-you"]["items"]]
        own = [n for n, i in enumerate(ranked) if home.title(i) in _group_of(name)]
        other = [n for n, i in enumerate(ranked) if home.title(i) in _other_group_of(name)]
        [unseen] = [t for t in _group_of(name) if t not in HOUSEHOLD[name][0]]
        assert own and ranked[own[0]] == home.ids[unseen], (name, [home.title(i) for i in ranked])
        assert not other or own[0] < other[0], (name, [home.title(i) for i in ranked])
        watched = {home.ids[t] for t in HOUSEHOLD[name][0]}
        for row in rows.values():
            for item in row["items"]:
                assert isinstance(item["reason"], str) and item["reason"].strip(), (name, row)
            if row["key"].startswith("because-"):
                because_rows += 1
                anchor = int(row["key"].removeprefix("because-"))
                assert anchor in watched, (name, row["key"])
                assert row["title"] == f"Because you watched {home.title(anchor)}", row["title"]
        for item in rows["for-you"]["items"]:  # a reason naming a title names one they saw
            if item["reason"].startswith("Because you watched "):
                named = item["reason"].removeprefix("Because you watched ")
                assert named in HOUSEHOLD[name][0], (name, item["title"], item["reason"])
    assert because_rows >= 6, "every taste-group member should get a 'Because you watched' row"
    for name in home.people:  # the others too (the admin, Sam, Nia, other tests' members)
        for row in home.rows(name):
            assert row["title"].strip() and all(i["reason"].strip() for i in row["items"]), row


def test_nothing_started_or_watched_is_offered(home: Home) -> None:
    home.run()
    for name, (watched, started) in HOUSEHOLD.items():
        touched = home.touched(name)
        assert touched == {home.ids[t] for t in [*watched, *started]}, name
        offered = home.offered(name)
        assert offered, f"{name} has no recommendations at all"
        assert not offered & touched, (name, sorted(home.title(i) for i in offered & touched))
    # Sam's started "Banana Peel" is what the household's comedy fans would offer first.
    assert home.ids["Banana Peel"] in home.offered("A1")
    assert home.ids["Banana Peel"] not in home.offered("Sam")


def test_not_interested_goes_at_once_and_stays_gone_until_undone(home: Home) -> None:
    home.run()
    nia = home.people["Nia"]
    first = home.rows("Nia")[0]
    assert first["key"] == "for-you", first
    dropped = int(first["items"][0]["id"])
    others = [n for n in HOUSEHOLD if n != "Nia" and dropped in home.offered(n)]
    assert others, f"{home.title(dropped)} is offered to nobody else"
    said = home.client.post(
        "/api/v1/recommendations/not-interested", json={"item_id": dropped}, headers=nia
    )
    assert said.status_code == 204, said.text
    assert dropped not in home.offered("Nia")  # at once, before any run
    assert all(dropped in home.offered(n) for n in others)  # hers alone
    home.run()
    assert dropped not in home.offered("Nia")  # and the next run leaves it out
    assert home.offered("Nia"), "Nia still gets other recommendations"
    undone = home.client.delete(f"/api/v1/recommendations/not-interested/{dropped}", headers=nia)
    assert undone.status_code == 204, undone.text
    assert dropped not in home.offered("Nia")  # the stored rows are the last run's
    home.run()
    assert dropped in home.offered("Nia")


def test_not_interested_refuses_unknown_hidden_and_malformed_items(home: Home) -> None:
    kid = home.member("Hidden Kid", libraries=[home.ids["library:Kids"]])
    url = "/api/v1/recommendations/not-interested"
    unknown = home.client.post(url, json={"item_id": 987654}, headers=home.people["Nia"])
    assert unknown.status_code == 404, unknown.text
    hidden = home.client.post(url, json={"item_id": home.ids["Silly Walk"]}, headers=kid)
    assert hidden.status_code == 404, hidden.text
    assert hidden.json()["detail"] == unknown.json()["detail"].replace(
        "987654", str(home.ids["Silly Walk"])
    )  # a hidden item is answered exactly like a missing one
    for body in ({}, {"item_id": "seven"}, {"item_id": 1.5},
                 {"item_id": home.ids["Tiny Train"], "extra": 1}, [1]):  # fmt: skip
        answer = home.client.post(url, json=body, headers=kid)
        assert answer.status_code == 400, (body, answer.text)
    broken = home.client.post(
        url, content=b"{not json", headers={**kid, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400, broken.text
    assert home.client.post(url, json={"item_id": 1}).status_code == 401  # not signed in


def test_a_childs_rating_limit_holds_in_every_row(home: Home) -> None:
    kit = home.member("Kit", max_rating="PG")
    home.watch(kit, "Silly Walk", "Whoopee Cushion", "Sunny Farm")
    red = home.ids[R_RATED]
    home.run()
    rows = home.rows("Kit")
    assert rows and all(r["items"] for r in rows), rows
    offered = {i["id"]: i for r in rows for i in r["items"]}
    assert red not in offered, [r["key"] for r in rows if red in {i["id"] for i in r["items"]}]
    assert {i["content_rating"] for i in offered.values()} <= {"G", "PG"}, offered
    refused = home.client.post(
        "/api/v1/recommendations/not-interested", json={"item_id": red}, headers=kit
    )
    assert refused.status_code == 404, refused.text
    thriller = home.client.put(
        "/api/v1/recommendations/likes", json={"genres": ["Thriller"]}, headers=kit
    )
    assert thriller.status_code == 400, thriller.text  # only an R-rated film is a thriller
    likes = home.client.get("/api/v1/recommendations/likes", headers=kit).json()
    assert "Thriller" not in likes["available"] and "Comedy" in likes["available"], likes

    # The control: without the limit the same history is offered the R-rated film ...
    home.limit("Kit", max_rating=None)
    home.run()
    assert red in home.offered("Kit")
    # ... and a limit set again hides it at once, before any run.
    home.limit("Kit", max_rating="PG")
    assert red not in home.offered("Kit")


def test_a_member_limited_to_one_library_is_offered_nothing_from_another(home: Home) -> None:
    lou = home.member("Lou", libraries=[home.ids["library:Kids"]])
    home.watch(lou, "Sunny Farm")
    kids = {home.ids[t] for t in KIDS}
    home.run()
    offered = home.offered("Lou")
    assert offered, "Lou has no recommendations at all"
    assert offered <= kids, sorted(home.title(i) for i in offered - kids)
    for row in home.rows("Lou"):
        assert {i["library_id"] for i in row["items"]} == {home.ids["library:Kids"]}, row

    home.limit("Lou", libraries=None)  # the control: Films is offered to the same history
    home.run()
    assert home.offered("Lou") - kids


def test_a_newcomer_gets_trending_then_picks_in_the_genres_they_like(home: Home) -> None:
    neo = home.member("Neo")
    home.run()
    rows = home.rows("Neo")
    assert [r["key"] for r in rows] == ["trending"], rows
    trending = rows[0]
    assert trending["title"] == "Trending in your household"
    assert len(trending["items"]) >= 3 and all(i["reason"].strip() for i in trending["items"])
    assert trending["items"][0]["id"] == home.ids[R_RATED]  # everyone watched it

    likes = home.client.get("/api/v1/recommendations/likes", headers=neo)
    assert likes.status_code == 200, likes.text
    assert likes.json()["genres"] == []
    assert {"Comedy", "Horror", "Family", "Thriller"} <= set(likes.json()["available"])
    url = "/api/v1/recommendations/likes"
    for body in ({"genres": ["Western"]}, {"genres": ["Horror", "Western"]},
                 {"genres": "Horror"}, {"genre": ["Horror"]}, {}):  # fmt: skip
        refused = home.client.put(url, json=body, headers=neo)
        assert refused.status_code == 400, (body, refused.text)
    assert home.client.get(url, headers=neo).json()["genres"] == []  # nothing half-stored
    chosen = home.client.put(url, json={"genres": ["Horror"]}, headers=neo)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json() == {"genres": ["Horror"]}
    assert home.client.get(url, headers=neo).json()["genres"] == ["Horror"]

    home.run()
    by_key = {r["key"]: r for r in home.rows("Neo")}
    assert list(by_key) == ["likes", "trending"], list(by_key)
    picked = by_key["likes"]
    assert picked["title"] == "Picked for you"
    horror = {home.ids[t] for t in HORROR}
    assert len(picked["items"]) >= 3 and {i["id"] for i in picked["items"]} <= horror, picked
    assert {i["reason"] for i in picked["items"]} == {"In genres you like: Horror"}


def test_the_home_page_promises_genre_picks_only_when_some_will_come(home: Home) -> None:
    """Issue 15, point 11: after "What do you like?", a promise only of what will come."""

    def notice(headers: dict[str, str], *genres: str) -> str:
        sent = home.client.post(
            "/recommendations/likes", data={"genre": list(genres)}, headers=headers
        )
        assert sent.status_code == 303 and sent.headers["location"] == "/?picked=1", sent.text
        page = home.client.get("/?picked=1", headers={**headers, "accept": "text/html"}).text
        return page.split('<p class="notice" role="status">')[1].split("</p>")[0]

    coming = "your picks are being worked out and appear here in a moment"
    assert coming in notice(home.member("Uma"), "Family")
    said = notice(home.member("Zed"), "Thriller")  # one thriller: too few for a row
    assert coming not in said and "Nothing in those genres can be suggested to you yet" in said
    assert "No genres were ticked" in notice(home.member("Vic"))
    wait_until(lambda: home.task()["running_since"] is None, 60, "the run the form started")


def test_runs_without_new_viewing_give_the_same_rows(home: Home) -> None:
    home.run()
    first = {name: home.shape(name) for name in home.people}
    assert sum(len(rows) for rows in first.values()) >= 2 * len(HOUSEHOLD)
    for _ in range(3):  # "in a row": each a second or more after the one before
        home.run()
        again = {name: home.shape(name) for name in home.people}
        changed = {n: (first[n], again[n]) for n in first if again[n] != first[n]}
        assert not changed, changed


def test_a_film_given_up_early_is_never_called_watched(home: Home) -> None:
    ivy = home.member("Ivy")
    home.watch(ivy, "Silly Walk", "Whoopee Cushion")
    home.report(ivy, "Bone Orchard", 0.2 * LENGTH, "stopped")  # gave up after a fifth
    home.run()
    watched = {home.ids["Silly Walk"], home.ids["Whoopee Cushion"]}
    anchored = [
        (int(r["key"].split("-")[-1]), r["title"])
        for r in home.rows("Ivy")
        if r["key"].startswith(("because-", "more-like-"))
    ]
    assert anchored, "Ivy should get a 'Because you watched' or 'More like' row"
    named = {
        i["reason"]
        for r in home.rows("Ivy")
        for i in r["items"]
        if i["reason"].startswith("Because you watched ")
    }
    assert named, "Ivy's for-you row should say what earned its titles their place"
    assert {anchor for anchor, _ in anchored} <= watched, anchored
    assert named <= {"Because you watched Silly Walk", "Because you watched Whoopee Cushion"}


def test_the_job_is_on_the_tasks_list_and_only_admins_run_it(home: Home) -> None:
    task = home.run()
    assert task["name"] == "Compute recommendations"
    assert task["last_run"]["outcome"] == "ok" and task["last_run"]["detail"] is None
    assert task["running_since"] is None and task["state"] is None
    assert task["schedule"].startswith("daily at ") and task["next_run"], task
    member = home.people["Nia"]
    run = home.client.post(f"/api/v1/tasks/{TASK}/run", headers=member)
    assert run.status_code == 403, run.text
    assert home.client.get("/api/v1/tasks", headers=member).status_code == 403
    assert home.task()["last_run"] == task["last_run"]  # the refused one did not run
    missing = home.client.post("/api/v1/tasks/recommendation/run", headers=home.admin)
    assert missing.status_code == 404, missing.text
