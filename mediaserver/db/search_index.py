"""The search indexes beside ``items_fts``: trigrams of titles and of people's names, and
a table of people, so that a search finds a title typed with a typo, and a person.

``titles_trigram`` and ``people_trigram`` are FTS5 ``trigram`` tables (SQLite 3.34+): any
three letters of a title find it, which is what a misspelt word still shares with the
right one.  The trigram tokenizer of SQLite before 3.45 keeps accents (it has no
``remove_diacritics``), so the triggers store text *folded* by :func:`search_text`
(``"Amélie!"`` as ``" amelie "``), and a search folds what is typed the same way.  SQL alone cannot fold: SQLite
has no ``translate()``, and nesting a ``replace()`` per accented letter overflows its parser
at about 30 letters.  So :class:`~mediaserver.db.Database` gives every connection it opens
the function ``hearth_search_text``; the tables are contentless (``content=''``), holding only the
index.  An edit of ``items`` from another program (the ``sqlite3`` shell) is refused with
"no such function: hearth_search_text" rather than half done.

``people`` gives each name in ``item_people`` an id for its page (``/people/{id}``), filled by
a trigger as items are saved.  Rows are never removed: a person whose last title goes keeps
their id (a bookmark works again once they are back) and is simply never shown, since
every read asks for a title the viewer may see.

Changing :func:`search_text` changes what the index holds: it needs a migration that refills the
trigram tables, or the index and the typed text stop agreeing.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata

import sqlite_utils

__all__ = ["SEARCH_TEXT_FUNCTION", "fold", "migrate_search", "register_functions", "search_text"]

SEARCH_TEXT_FUNCTION = "hearth_search_text"
# Letters that are not an accent on another letter, but that people type plain.
_PLAIN = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "\u0131": "i"}
)


def fold(text: str) -> str:
    """Lower case, without accents: ``"Amélie"`` → ``"amelie"``, ``"Straße"`` → ``"strasse"``."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_PLAIN))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_text(text: str) -> str:
    """What the trigram tables hold: the folded words, one space between them and one
    around them, so that a word's first and last letters make pieces of their own
    (``" st"``, ``"ar "``): the pieces a short word still shares when mistyped."""
    return " " + " ".join(re.findall(r"\w+", fold(text))) + " "


def _search_text_or_null(text: object) -> str | None:
    return search_text(text) if isinstance(text, str) else None


def register_functions(conn: sqlite3.Connection) -> None:
    """What the search triggers call; every connection to the catalog needs it."""
    conn.create_function(SEARCH_TEXT_FUNCTION, 1, _search_text_or_null, deterministic=True)


def _title_values(row: str) -> str:
    return f"{row}.id, {SEARCH_TEXT_FUNCTION}({row}.title), {SEARCH_TEXT_FUNCTION}({row}.original_title)"


def migrate_search(db: sqlite_utils.Database) -> None:
    """Migration 18: the trigram tables, ``people`` and ``people_fts``, filled and kept in
    step by triggers (seasons are left out, as in ``items_fts``)."""
    f = SEARCH_TEXT_FUNCTION
    db.executescript(
        f"""
        CREATE VIRTUAL TABLE titles_trigram USING fts5(
            title, original_title, content='', tokenize='trigram'
        );
        INSERT INTO titles_trigram (rowid, title, original_title)
            SELECT {_title_values("items")} FROM items WHERE kind != 'season';
        CREATE TRIGGER items_trigram_ai AFTER INSERT ON items WHEN new.kind != 'season' BEGIN
            INSERT INTO titles_trigram (rowid, title, original_title)
            VALUES ({_title_values("new")});
        END;
        CREATE TRIGGER items_trigram_ad AFTER DELETE ON items WHEN old.kind != 'season' BEGIN
            INSERT INTO titles_trigram (titles_trigram, rowid, title, original_title)
            VALUES ('delete', {_title_values("old")});
        END;
        CREATE TRIGGER items_trigram_au AFTER UPDATE OF title, original_title ON items
        WHEN old.kind != 'season' BEGIN
            INSERT INTO titles_trigram (titles_trigram, rowid, title, original_title)
            VALUES ('delete', {_title_values("old")});
            INSERT INTO titles_trigram (rowid, title, original_title)
            VALUES ({_title_values("new")});
        END;

        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE
        );
        CREATE INDEX IF NOT EXISTS item_people_name ON item_people(name COLLATE NOCASE);
        CREATE VIRTUAL TABLE people_fts USING fts5(
            name, content='people', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2', prefix='1 2 3'
        );
        CREATE VIRTUAL TABLE people_trigram USING fts5(name, content='', tokenize='trigram');
        CREATE TRIGGER people_ai AFTER INSERT ON people BEGIN
            INSERT INTO people_fts (rowid, name) VALUES (new.id, new.name);
            INSERT INTO people_trigram (rowid, name) VALUES (new.id, {f}(new.name));
        END;
        CREATE TRIGGER people_ad AFTER DELETE ON people BEGIN
            INSERT INTO people_fts (people_fts, rowid, name) VALUES ('delete', old.id, old.name);
            INSERT INTO people_trigram (people_trigram, rowid, name)
            VALUES ('delete', old.id, {f}(old.name));
        END;
        INSERT OR IGNORE INTO people (name)
            SELECT name FROM item_people ORDER BY item_id, role, ord;
        CREATE TRIGGER item_people_ai AFTER INSERT ON item_people BEGIN
            INSERT OR IGNORE INTO people (name) VALUES (new.name);
        END;
        """
    )
