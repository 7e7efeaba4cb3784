"""Search over a real temp catalog: typos, accents, British and American spellings,
people, genres, what a limited viewer may find, short and hostile queries, and the
indexes following the catalog (``library/search.py``, ``library/lookup.py``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlite_utils

from mediaserver.db import Database, schema
from mediaserver.library import catalog, lookup, queries
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.search import Typed, allowed_typos, typos
from mediaserver.library.spelling import spellings
from mediaserver.testing import open_catalog

CHILD = Access(max_age=7)  # a member limited to titles for ages up to 7


@dataclass(frozen=True)
class Title:
    title: str
    age: int | None = 0  # rating_age: 0 for everyone, 18 for adults, None unrated
    kind: str = "movie"
    original: str | None = None
    cast: Sequence[str] = ()
    directors: Sequence[str] = ()
    genres: Sequence[str] = ()


TITLES = [
    Title("Star Wars", cast=["Mark Hamill", "Carrie Fisher"], genres=["Science Fiction"]),
    Title("Stardust", cast=["Claire Danes"], genres=["Fantasy"]),
    Title("Stat Attack"),
    Title("Amélie", original="Le Fabuleux Destin d'Amélie Poulain", cast=["Audrey Tautou"]),
    Title("The Color Purple", directors=["Steven Spielberg"], genres=["Drama"]),
    Title("Theatre of Blood", age=18, cast=["Vincent Price"], genres=["Horror"]),
    Title("Grey Gardens", kind="show", genres=["Documentary"]),
    Title("The Matrix", age=18, cast=["Keanu Reeves", "Carrie-Anne Moss"], genres=["Action"]),
    Title("Night Harbour", age=18, cast=["Hidden Harriet"], genres=["Noir"]),
    Title("Bunny Picnic", cast=["Hidden Harriet Twin", "Mark Hamill"], genres=["Family", "Drama"]),
    Title("Jaws", directors=["Steven Spielberg"]),
    Title("The Grand Budapest Hotel"),
    Title("Hotel Rwanda"),
]


def _add(d: sqlite_utils.Database, library: int, t: Title) -> int:
    item_id = int(
        d.execute(
            """INSERT INTO items (library_id, kind, match_key, title, sort_title, original_title,
                                  rating_age, people, genres) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]')""",
            [
                library,
                t.kind,
                f"{t.kind}:{t.title}",
                t.title,
                catalog.sort_title(t.title),
                t.original,
                t.age,
                " ".join([*t.directors, *t.cast]),
            ],
        ).lastrowid
        or 0
    )
    people = [("director", n, p) for n, p in enumerate(t.directors)]
    people += [("actor", n, p) for n, p in enumerate(t.cast)]
    for role, n, name in people:
        d.execute(
            "INSERT INTO item_people (item_id, role, ord, name) VALUES (?, ?, ?, ?)",
            [item_id, role, n, name],
        )
    for genre in t.genres:
        d.execute("INSERT INTO item_genres (item_id, genre) VALUES (?, ?)", [item_id, genre])
    return item_id


def _seed(db: Database, titles: Sequence[Title]) -> dict[str, int]:
    def write(d: sqlite_utils.Database) -> dict[str, int]:
        library = catalog.ensure_library(d, "Films", Path("/media/films"))
        return {t.title: _add(d, library, t) for t in titles}

    return db.write(write)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with open_catalog(tmp_path_factory.mktemp("search")) as db:
        _seed(db, TITLES)
        yield db


def titles(db: Database, text: str, access: Access = EVERYTHING) -> list[str]:
    items, total = queries.list_items(db, queries.ItemQuery(q=text, limit=100), access)
    assert total == len(items)
    return [i["title"] for i in items]


def people(db: Database, text: str, access: Access = EVERYTHING) -> list[str]:
    return [p["name"] for p in lookup.find(db, text, access)["people"]]


def genres(db: Database, text: str, access: Access = EVERYTHING) -> list[str]:
    return [g["name"] for g in lookup.find(db, text, access)["genres"]]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("Strar Wars", "Star Wars"),  # a letter too many
        ("stra wars", "Star Wars"),  # two swapped
        ("starwars", "Star Wars"),  # no space
        ("matrx", "The Matrix"),  # one missing
        ("the matirx", "The Matrix"),
        ("grand budapets", "The Grand Budapest Hotel"),
        ("amelei", "Amélie"),  # a typo and no accent
        ("fabuleux destin", "Amélie"),  # the original title counts
    ],
)
def test_a_title_is_found_through_a_typo(db: Database, typed: str, found: str) -> None:
    assert titles(db, typed)[0] == found


def test_words_that_only_look_alike_find_nothing(db: Database) -> None:
    assert titles(db, "zebra") == []
    assert titles(db, "grand hot") == ["The Grand Budapest Hotel"]  # not "Hotel Rwanda"
    assert titles(db, "qqqqq wwwww") == []


def test_accents_are_folded_both_ways(db: Database) -> None:
    assert titles(db, "Amelie") == ["Amélie"]
    assert titles(db, "AMÉLIE") == ["Amélie"]
    assert titles(db, "poulain") == ["Amélie"]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("colour", "The Color Purple"),
        ("colours", "The Color Purple"),
        ("theater", "Theatre of Blood"),
        ("gray", "Grey Gardens"),
        ("harbor", "Night Harbour"),
    ],
)
def test_british_and_american_spellings_find_each_other(
    db: Database, typed: str, found: str
) -> None:
    assert titles(db, typed) == [found]


def test_other_spellings_are_word_matches_not_typos(tmp_path: Path) -> None:
    # Ten British titles are enough word matches that near spellings are not looked for:
    # the American one is found as a spelling of the word, not as a typo.
    with open_catalog(tmp_path) as db:
        _seed(db, [Title(f"Colour Film {n}") for n in range(10)] + [Title("The Color Purple")])
        assert "The Color Purple" in titles(db, "colour")
        assert len(titles(db, "color")) == 11


def test_spellings_table_and_endings() -> None:
    assert spellings("colour") == ["colour", "color"]
    assert spellings("color") == ["color", "colour"]
    assert "theaters" in spellings("theatres")
    assert "organize" in spellings("organise") and "organised" in spellings("organized")
    assert "analyze" in spellings("analyse")
    assert "traveling" in spellings("travelling") and "cancelled" in spellings("canceled")
    assert "catalog" in spellings("catalogue") and "defense" in spellings("defence")
    assert spellings("for") == ["for"]  # no "four": "-or" is no general rule
    assert spellings("door") == ["door"]


def test_word_matches_come_first_then_near_spellings(db: Database) -> None:
    found = titles(db, "star")
    assert set(found[:2]) == {"Star Wars", "Stardust"}
    assert found[2:] == ["Stat Attack"]  # "stat" is "star" with one typo


def test_found_titles_can_be_sorted_and_filtered(db: Database) -> None:
    query = queries.ItemQuery(q="star", sort="-title")
    assert [i["title"] for i in queries.list_items(db, query)[0]] == [
        "Stat Attack",
        "Stardust",
        "Star Wars",
    ]
    fantasy = queries.ItemQuery(q="star", genre="Fantasy")
    assert [i["title"] for i in queries.list_items(db, fantasy)[0]] == ["Stardust"]
    page = queries.ItemQuery(q="star", limit=1, offset=2)
    assert queries.list_items(db, page) == (queries.list_items(db, page)[0], 3)


def test_short_queries_use_prefixes_only(db: Database) -> None:
    assert Typed.parse("st").short and not Typed.parse("sta").short
    assert titles(db, "ja") == ["Jaws"]
    assert titles(db, "jw") == []  # two letters: no typo forgiven
    assert allowed_typos("ja") == 0 and allowed_typos("jaw") == 1
    assert allowed_typos("budapest") == 2


def test_typos_scores_whole_words_then_beginnings() -> None:
    assert typos(Typed.parse("star wars"), "Star Wars") == (0, 0)
    assert typos(Typed.parse("strar wars"), "Star Wars") == (1, 0)
    assert typos(Typed.parse("strar"), "Stardust") == (1, 1)  # near its beginning only
    assert typos(Typed.parse("grand"), "Hotel Rwanda") is None
    assert typos(Typed.parse(""), "Star Wars") is None


def test_people_are_found_by_name_and_with_typos(db: Database) -> None:
    assert people(db, "carrie") == ["Carrie Fisher", "Carrie-Anne Moss"]
    assert people(db, "keanu reevs") == ["Keanu Reeves"]
    assert people(db, "spielburg") == ["Steven Spielberg"]
    (spielberg,) = lookup.find(db, "spielberg")["people"]
    assert spielberg["title_count"] == 2


def test_a_persons_titles_by_role_newest_first(db: Database) -> None:
    (hamill,) = lookup.find(db, "mark hamill")["people"]
    person = lookup.person(db, hamill["id"])
    assert person is not None and person["name"] == "Mark Hamill"
    assert [(r["role"], [i["title"] for i in r["items"]]) for r in person["roles"]] == [
        ("actor", ["Bunny Picnic", "Star Wars"])  # no years: by title
    ]
    assert lookup.person(db, 987654) is None


def test_genres_are_found_by_beginning_and_with_typos(db: Database) -> None:
    assert genres(db, "sci") == ["Science Fiction"]
    assert genres(db, "scince fiction") == ["Science Fiction"]
    assert genres(db, "horor") == ["Horror"]
    assert genres(db, "dr") == ["Drama"]
    (drama,) = lookup.find(db, "drama")["genres"]
    assert drama == {"name": "Drama", "title_count": 2}
    assert lookup.genre(db, "DRAMA") == {"name": "Drama", "title_count": 2}
    assert lookup.genre(db, "Cooking") is None
    items, total = lookup.genre_titles(db, "drama")
    assert total == 2 and [i["title"] for i in items] == ["Bunny Picnic", "The Color Purple"]


def test_a_child_finds_nothing_hidden_even_by_a_typo(db: Database) -> None:
    assert titles(db, "matrix", CHILD) == []
    assert titles(db, "matrx", CHILD) == []
    assert titles(db, "theater", CHILD) == []
    assert titles(db, "harbour", CHILD) == []
    assert titles(db, "star", CHILD)[:2] != []  # what they may see, they find


def test_a_child_finds_no_person_of_hidden_titles_only(db: Database) -> None:
    assert people(db, "keanu", CHILD) == []  # only in The Matrix
    assert people(db, "keanu reevs", CHILD) == []
    assert people(db, "harriet", CHILD) == ["Hidden Harriet Twin"]  # not Hidden Harriet
    assert people(db, "harriet") == ["Hidden Harriet", "Hidden Harriet Twin"]
    (hamill,) = lookup.find(db, "hamill", CHILD)["people"]
    assert hamill["title_count"] == 2
    keanu = lookup.find(db, "keanu")["people"][0]["id"]
    assert lookup.person(db, keanu, CHILD) is None  # their page is a 404 too


def test_a_child_finds_no_genre_of_hidden_titles_only(db: Database) -> None:
    assert genres(db, "horror", CHILD) == []
    assert genres(db, "horor", CHILD) == []
    assert genres(db, "noir", CHILD) == []
    assert lookup.genre(db, "Horror", CHILD) is None
    assert lookup.genre(db, "Horror") == {"name": "Horror", "title_count": 1}


HOSTILE = [
    '"',
    '""',
    "*",
    "NEAR(",
    "NEAR(star wars, 2)",
    "-",
    "-star",
    "AND",
    "OR",
    "NOT star",
    "star AND",
    "title:star",
    "{title}: star",
    "^star",
    "(",
    ")",
    "star*",
    "'; DROP TABLE items; --",
    "\x00star",
    "star\x00",
    "🎬 star",
    "s" * 5000,
    "a b c d e f g h i j k l m n o p",
    " ",
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_fts_syntax_in_a_query_is_only_text(db: Database, text: str) -> None:
    answer = lookup.find(db, text)
    assert set(answer) == {"items", "total", "people", "genres"}
    titles(db, text)
    titles(db, text, CHILD)


def test_the_operators_are_words_not_syntax(db: Database) -> None:
    assert titles(db, "-star") == titles(db, "star*") == titles(db, "star")
    assert titles(db, '"star wars"') == ["Star Wars"]
    assert titles(db, "star AND wars") == []  # "and" is a word to find, like any other


def test_the_indexes_follow_changes_and_new_people(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        ids = _seed(db, [Title("Amélie", cast=["Audrey Tautou"])])
        assert titles(db, "amelei") == ["Amélie"]
        db.write(
            lambda d: d.execute(
                "UPDATE items SET title = 'Bienvenue chez les Ch''tis' WHERE id = ?",
                [ids["Amélie"]],
            )
        )
        assert titles(db, "amelei") == []
        assert titles(db, "bienvenu chez") == ["Bienvenue chez les Ch'tis"]
        (tautou,) = lookup.find(db, "tautou")["people"]
        db.write(lambda d: d.execute("DELETE FROM items WHERE id = ?", [ids["Amélie"]]))
        assert titles(db, "bienvenu chez") == []
        assert people(db, "tautou") == []  # in nothing now
        _seed(db, [Title("Coco", cast=["Audrey Tautou"])])
        assert lookup.find(db, "tautou")["people"][0]["id"] == tautou["id"]  # the same page


def test_an_older_catalog_is_indexed_by_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "catalog.sqlite3"
    before = next(n for n, m in enumerate(schema.MIGRATIONS) if m.__name__.endswith("_search"))
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:before])
        patch.setattr(schema, "SCHEMA_VERSION", before)
        with Database(path) as old:
            _seed(old, [Title("Amélie", cast=["Audrey Tautou"], genres=["Comedy"])])
    with Database(path) as db:
        assert titles(db, "amelei") == ["Amélie"]
        assert people(db, "audrey tautuo") == ["Audrey Tautou"]
        assert db.integrity_check() == ["ok"]


def test_another_program_cannot_change_titles_behind_the_index(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        _seed(db, [Title("Amélie")])
    conn = sqlite3.connect(tmp_path / "catalog.sqlite3")
    try:
        with pytest.raises(sqlite3.OperationalError, match="hearth_search_text"):
            conn.execute("UPDATE items SET title = 'Coco'")
    finally:
        conn.close()
