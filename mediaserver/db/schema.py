"""Tables, full-text search and numbered, forward-only migrations.

The schema version is SQLite's ``user_version``.  A file written by a newer Hearth is
refused rather than guessed at, and a copy of the file is taken before any migration
runs on an existing catalog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from mediaserver.db import sealing
from mediaserver.db.search_index import migrate_search

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "check_version", "migrate"]


def _m001_catalog(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE libraries (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
            active INTEGER NOT NULL DEFAULT 1,
            last_scan_at TEXT
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES items(id) ON DELETE CASCADE,
            kind TEXT NOT NULL
                CHECK (kind IN ('movie', 'show', 'season', 'episode', 'collection')),
            match_key TEXT NOT NULL,
            title TEXT NOT NULL,
            sort_title TEXT NOT NULL,
            original_title TEXT,
            year INTEGER,
            overview TEXT,
            tagline TEXT,
            season_number INTEGER,
            episode_number INTEGER,
            episode_end INTEGER,
            runtime_s REAL,
            content_rating TEXT,
            rating REAL,
            premiered TEXT,
            genres TEXT NOT NULL DEFAULT '[]',
            studios TEXT NOT NULL DEFAULT '[]',
            people TEXT NOT NULL DEFAULT '',
            poster TEXT,
            backdrop TEXT,
            added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
            last_added_at TEXT,
            UNIQUE (library_id, match_key)
        );
        CREATE INDEX items_parent ON items(parent_id, season_number, episode_number);
        CREATE INDEX items_kind ON items(library_id, kind, sort_title);
        -- Browsing one kind in title order walks this index and stops after the page; with
        -- library_id in it, the rows an OFFSET skips are never read from the table.
        CREATE INDEX items_kind_title ON items(kind, sort_title, year, library_id);
        CREATE INDEX items_kind_added ON items(kind, added_at);
        -- Movies and shows by their newest content (a show is new when an episode is).
        CREATE INDEX items_last_added ON items(last_added_at);
        CREATE TABLE item_genres (
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            genre TEXT NOT NULL COLLATE NOCASE,
            PRIMARY KEY (item_id, genre)
        ) WITHOUT ROWID;
        CREATE INDEX item_genres_genre ON item_genres(genre);
        -- Columns in primary-key order: SQLite 3.40's integrity_check misreports NOT NULL
        -- on WITHOUT ROWID tables whose key columns are declared out of order.
        CREATE TABLE item_people (
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('actor', 'director', 'writer')),
            ord INTEGER NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (item_id, role, ord)
        ) WITHOUT ROWID;
        CREATE TABLE collection_items (
            collection_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            PRIMARY KEY (collection_id, item_id)
        ) WITHOUT ROWID;
        CREATE INDEX collection_items_item ON collection_items(item_id);
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
            item_id INTEGER REFERENCES items(id) ON DELETE SET NULL,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            fingerprint TEXT,
            sidecar_signature INTEGER NOT NULL DEFAULT 0,
            container TEXT,
            duration_s REAL,
            bit_rate INTEGER,
            chapters TEXT NOT NULL DEFAULT '[]',
            probe_error TEXT,
            probed_at TEXT,
            added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ'))
        );
        CREATE INDEX files_item ON files(item_id);
        CREATE INDEX files_fingerprint ON files(size, fingerprint);
        CREATE TABLE streams (
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            type TEXT NOT NULL CHECK (type IN ('video', 'audio', 'subtitle', 'attachment', 'data')),
            codec TEXT,
            profile TEXT,
            level INTEGER,
            width INTEGER,
            height INTEGER,
            bit_depth INTEGER,
            pix_fmt TEXT,
            frame_rate REAL,
            channels INTEGER,
            channel_layout TEXT,
            sample_rate INTEGER,
            bit_rate INTEGER,
            language TEXT,
            title TEXT,
            is_default INTEGER NOT NULL DEFAULT 0,
            is_forced INTEGER NOT NULL DEFAULT 0,
            external_path TEXT,
            PRIMARY KEY (file_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE scan_problems (
            id INTEGER PRIMARY KEY,
            library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            reason TEXT NOT NULL,
            seen_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
            UNIQUE (library_id, path)
        );
        CREATE TABLE scans (
            id INTEGER PRIMARY KEY,
            library_id INTEGER REFERENCES libraries(id) ON DELETE CASCADE,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT,
            files_seen INTEGER NOT NULL DEFAULT 0,
            files_probed INTEGER NOT NULL DEFAULT 0,
            items_added INTEGER NOT NULL DEFAULT 0,
            items_removed INTEGER NOT NULL DEFAULT 0,
            problems INTEGER NOT NULL DEFAULT 0
        );
        """
    )
    db.executescript(_FTS)


# Search as you type asks for prefixes ("mat"*): the prefix indexes answer those without
# walking every term.  Title and original title are what people type; overview and people
# are matched too.  Triggers keep the index in step with ``items``; seasons ("Season 1")
# are not indexed, so every row the index finds is something a search may show.
_FTS = """
CREATE VIRTUAL TABLE items_fts USING fts5(
    title, original_title, overview, people,
    content='items', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3'
);
CREATE TRIGGER items_ai AFTER INSERT ON items WHEN new.kind != 'season' BEGIN
    INSERT INTO items_fts (rowid, title, original_title, overview, people)
    VALUES (new.id, new.title, new.original_title, new.overview, new.people);
END;
CREATE TRIGGER items_ad AFTER DELETE ON items WHEN old.kind != 'season' BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, original_title, overview, people)
    VALUES ('delete', old.id, old.title, old.original_title, old.overview, old.people);
END;
CREATE TRIGGER items_au AFTER UPDATE OF title, original_title, overview, people ON items
WHEN old.kind != 'season' BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, original_title, overview, people)
    VALUES ('delete', old.id, old.title, old.original_title, old.overview, old.people);
    INSERT INTO items_fts (rowid, title, original_title, overview, people)
    VALUES (new.id, new.title, new.original_title, new.overview, new.people);
END;
"""


def _m002_keyframes(db: sqlite_utils.Database) -> None:
    # Where a remux may cut: packed doubles, filled on first play (streaming/keyframes.py).
    db.execute("ALTER TABLE files ADD COLUMN keyframes BLOB")


def _m003_field_order(db: sqlite_utils.Database) -> None:
    # progressive, tt, bb, tb or bt (interlaced); filled when a file is next probed.
    db.execute("ALTER TABLE streams ADD COLUMN field_order TEXT")


def _m004_accounts(db: sqlite_utils.Database) -> None:
    # People, and what lets them in: web sessions, refresh tokens and API keys are stored
    # as SHA-256 of the secret (a stolen catalog opens nothing), passwords as argon2id.
    db.executescript(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            is_admin INTEGER NOT NULL DEFAULT 0,
            max_rating TEXT,
            show_unrated INTEGER NOT NULL DEFAULT 1,
            totp_secret TEXT,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
            password_changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ'))
        );
        CREATE TABLE user_libraries (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, library_id)
        ) WITHOUT ROWID;
        CREATE TABLE credentials (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('session', 'refresh', 'api_key')),
            secret_hash BLOB NOT NULL UNIQUE,
            name TEXT,
            device TEXT,
            address TEXT,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
            last_used_at TEXT,
            expires_at TEXT
        );
        CREATE INDEX credentials_user ON credentials(user_id, kind);
        """
    )


def _m005_two_factor(db: sqlite_utils.Database) -> None:
    # TOTP: a secret being enrolled until its first code confirms it, the last time step
    # used (a code works once), and one-time recovery codes kept as HMACs.
    db.executescript(
        """
        ALTER TABLE users ADD COLUMN totp_pending TEXT;
        ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE recovery_codes (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            code_hash BLOB NOT NULL,
            used_at TEXT,
            PRIMARY KEY (user_id, code_hash)
        ) WITHOUT ROWID;
        """
    )


def _m006_access(db: sqlite_utils.Database) -> None:
    # Per-viewer limits: the age an item's rating is meant for (its own, else its show's;
    # filled by the library service, NULL = unrated), whether a user sees every library
    # (new ones too) or only those in user_libraries, and profile pictures, kept in the
    # catalog so a backup has them.
    db.executescript(
        """
        ALTER TABLE items ADD COLUMN rating_age INTEGER;
        CREATE INDEX items_rating_age ON items(rating_age);
        ALTER TABLE users ADD COLUMN all_libraries INTEGER NOT NULL DEFAULT 1;
        CREATE TABLE avatars (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            content_type TEXT NOT NULL,
            data BLOB NOT NULL,
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ'))
        );
        """
    )


def _m007_preferences(db: sqlite_utils.Database) -> None:
    # Playback preferences per person (languages to start with), as JSON.
    db.execute("ALTER TABLE users ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}'")


def _m008_progress(db: sqlite_utils.Database) -> None:
    # Each person's place in each item and what they have watched.
    db.executescript(
        """
        CREATE TABLE progress (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            position_s REAL NOT NULL DEFAULT 0,
            watched INTEGER NOT NULL DEFAULT 0,
            play_count INTEGER NOT NULL DEFAULT 0,
            last_played_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (user_id, item_id)
        ) WITHOUT ROWID;
        CREATE INDEX progress_recent ON progress(user_id, last_played_at);
        CREATE INDEX progress_item ON progress(item_id);
        """
    )


def _m009_playback_events(db: sqlite_utils.Database) -> None:
    # What happened during each viewing, append-only, for analytics.  No foreign key to
    # items: the history outlives a file that is gone; a removed user's events go with them.
    db.executescript(
        """
        CREATE TABLE playback_events (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL,
            type TEXT NOT NULL CHECK (type IN ('play', 'pause', 'resume', 'seek', 'progress',
                                               'quality', 'stop', 'complete', 'error')),
            at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            device TEXT,
            session TEXT,
            position_s REAL,
            from_s REAL,
            to_s REAL,
            decision TEXT,
            rung TEXT,
            detail TEXT
        );
        CREATE INDEX playback_events_at ON playback_events(at);
        CREATE INDEX playback_events_item ON playback_events(item_id, type);
        CREATE INDEX playback_events_user ON playback_events(user_id, at);
        """
    )


def _m010_rollups(db: sqlite_utils.Database) -> None:
    # Hourly and daily totals of the playback events (activity/rollups.py).
    db.executescript(
        """
        CREATE TABLE playback_rollups (
            period TEXT NOT NULL CHECK (period IN ('hour', 'day')),
            bucket TEXT NOT NULL,
            item_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            plays INTEGER NOT NULL,
            completes INTEGER NOT NULL,
            seconds REAL NOT NULL,
            direct INTEGER NOT NULL,
            remux INTEGER NOT NULL,
            transcode INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            PRIMARY KEY (period, bucket, item_id, user_id)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_state (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        """
    )


def _m011_activity_log(db: sqlite_utils.Database) -> None:
    # What happened on the server, a sentence per row, for admins (activity/log.py).  No
    # foreign key to items: an entry outlives the file it names; a removed user's entries
    # stay, without the link.
    db.executescript(
        """
        CREATE TABLE activity_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
            kind TEXT NOT NULL,
            severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            item_id INTEGER,
            summary TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX activity_log_at ON activity_log(at);
        CREATE INDEX activity_log_kind ON activity_log(kind);
        -- Removing a user sets their entries' user_id to NULL: without this, a full scan.
        CREATE INDEX activity_log_user ON activity_log(user_id);
        """
    )


def _m012_recommendations(db: sqlite_utils.Database) -> None:
    # What the recommendation job picked for each person, row by row with reasons; what
    # they said they are not interested in; and the genres a new person said they like.
    db.executescript(
        """
        CREATE TABLE recommendations (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            row_key TEXT NOT NULL,
            position INTEGER NOT NULL,
            row_title TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            reason TEXT NOT NULL,
            score REAL NOT NULL,
            computed_at TEXT NOT NULL,
            PRIMARY KEY (user_id, row_key, position)
        ) WITHOUT ROWID;
        CREATE TABLE recommendation_feedback (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            PRIMARY KEY (user_id, item_id)
        ) WITHOUT ROWID;
        CREATE TABLE liked_genres (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            genre TEXT NOT NULL COLLATE NOCASE,
            PRIMARY KEY (user_id, genre)
        ) WITHOUT ROWID;
        """
    )


def _m013_start_offset(db: sqlite_utils.Database) -> None:
    # Where a file's own clock starts (seconds): Hearth counts positions from there, so a
    # clip whose timestamps begin at 1:00:00 plays and reports from 0:00.  NULL: probed by
    # an older Hearth (whose Matroska lengths could include that start); the next scan
    # probes those files again (library/scanner.py).
    db.execute("ALTER TABLE files ADD COLUMN start_offset_s REAL")


# Decoder name -> format name, for every decoder of the FFmpeg that PyAV bundles whose name is
# not its format's (``Codec.name`` against ``Codec.canonical_name``), plus the lib* decoders
# other builds pick.  Frozen here: a migration must do the same thing on every machine.
_DECODER_FORMATS = {
    "libdav1d": "av1", "libaom-av1": "av1", "libvpx": "vp8", "libvpx-vp9": "vp9",
    "mpegvideo": "mpeg2video", "msmpeg4": "msmpeg4v3", "flv": "flv1",
    "mp3float": "mp3", "mp2float": "mp2", "mp1float": "mp1", "mp3adufloat": "mp3adu",
    "mp3on4float": "mp3on4", "aac_fixed": "aac", "ac3_fixed": "ac3", "dca": "dts",
    "libopus": "opus", "libvorbis": "vorbis", "als": "mp4als", "amrnb": "amr_nb",
    "amrwb": "amr_wb", "mpc7": "musepack7", "mpc8": "musepack8",
    "srt": "subrip", "ssa": "ass", "pgssub": "hdmv_pgs_subtitle", "dvdsub": "dvd_subtitle",
    "dvbsub": "dvb_subtitle", "cc_dec": "eia_608",
}  # fmt: skip


def _m014_codec_formats(db: sqlite_utils.Database) -> None:
    # Streams were stored with the decoder's name ("libdav1d", "mp3float", "pgssub"), which
    # no profile knows, so AV1 and MP3 were transcoded and PGS was taken for text.  Renamed
    # here, at once: a re-probe fixes a file only when a scan reaches it and its disk is
    # mounted, and this takes a moment on any catalog and touches nothing else.  Sidecars
    # are named by their extension, never by a decoder.
    db.conn.executemany(
        "UPDATE streams SET codec = ? WHERE codec = ? AND external_path IS NULL",
        [(fmt, decoder) for decoder, fmt in _DECODER_FORMATS.items()],
    )


def _m015_readable_length(db: sqlite_utils.Database) -> None:
    # How much of a file cut short can be read (library/damage.py); NULL when all of it can,
    # or when it was probed before this check.
    db.execute("ALTER TABLE files ADD COLUMN readable_s REAL")


def _m016_own_posters(db: sqlite_utils.Database) -> None:
    # Shows, seasons and collections kept a copy of a child's poster, which a viewer who may
    # not see that child was shown too.  Only art of their own stays; the rest is chosen
    # per viewer when read.  Shows first: they compare against their seasons' copies.
    db.executescript(
        """
        UPDATE items SET poster = NULL WHERE kind = 'show' AND poster IN (
            SELECT s.poster FROM items s WHERE s.parent_id = items.id
            UNION SELECT e.poster FROM items s JOIN items e ON e.parent_id = s.id
            WHERE s.parent_id = items.id);
        UPDATE items SET poster = NULL WHERE kind = 'season' AND poster IN (
            SELECT e.poster FROM items e WHERE e.parent_id = items.id);
        UPDATE items SET poster = NULL WHERE kind = 'collection' AND poster IN (
            SELECT m.poster FROM collection_items ci JOIN items m ON m.id = ci.item_id
            WHERE ci.collection_id = items.id);
        """
    )


def _m017_library_setup(db: sqlite_utils.Database) -> None:
    # Libraries made in the web UI next to those from the config file (and the demo), each
    # with a kind and any number of folders; ``libraries.path`` stays as the first folder, so
    # code that reads one path per library keeps working.  ``settings`` holds what the admin
    # chose in the UI for the whole server (its name, the household's languages).
    db.executescript(
        """
        ALTER TABLE libraries ADD COLUMN kind TEXT NOT NULL DEFAULT 'mixed'
            CHECK (kind IN ('films', 'shows', 'mixed'));
        ALTER TABLE libraries ADD COLUMN source TEXT NOT NULL DEFAULT 'config'
            CHECK (source IN ('config', 'web', 'demo'));
        CREATE TABLE library_folders (
            library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            path TEXT NOT NULL UNIQUE,
            PRIMARY KEY (library_id, position)
        ) WITHOUT ROWID;
        INSERT INTO library_folders (library_id, position, path) SELECT id, 0, path FROM libraries;
        CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        """
    )


def _m018_profile_picker(db: sqlite_utils.Database) -> None:
    # The sign-in page's profile picker: who chose to be on it, and their optional PIN
    # (an argon2 hash, like the password; never the digits).
    db.executescript(
        """
        ALTER TABLE users ADD COLUMN on_picker INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE users ADD COLUMN pin_hash TEXT;
        """
    )


def _m019_cast(db: sqlite_utils.Database) -> None:
    # The cast as Kodi's NFOs give it: who each actor plays, the photo the NFO names (an
    # http(s) URL or ``file:`` a picture in the library) and the photo found for them
    # (an image reference as items.poster holds; library/cast_photos.py fills it).  And
    # "More like this": each title's most similar titles in order, rewritten by the
    # recommendation job where a run finds them changed (recommend/similar.py).  The
    # indexes: the cascade when an item goes, and titles sharing people with another (the
    # search's people pages want the same index under the same name: IF NOT EXISTS).
    db.executescript(
        """
        ALTER TABLE item_people ADD COLUMN character TEXT;
        ALTER TABLE item_people ADD COLUMN thumb TEXT;
        ALTER TABLE item_people ADD COLUMN photo TEXT;
        CREATE TABLE similar_titles (
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            similar_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            PRIMARY KEY (item_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX similar_titles_similar ON similar_titles(similar_id);
        CREATE INDEX IF NOT EXISTS item_people_name ON item_people(name COLLATE NOCASE);
        """
    )


def _m020_colour_transfer(db: sqlite_utils.Database) -> None:
    # A video stream's transfer characteristic (smpte2084 is HDR10's PQ, arib-std-b67 is
    # HLG), for the HDR filter.  Files probed before it have none: probe_version tells the
    # next scan to probe them again (library/probe.py PROBE_VERSION).
    db.executescript(
        """
        ALTER TABLE streams ADD COLUMN color_transfer TEXT;
        ALTER TABLE files ADD COLUMN probe_version INTEGER NOT NULL DEFAULT 0;
        """
    )


def _m021_favourites(db: sqlite_utils.Database) -> None:
    # Each person's favourites.  Taking one back keeps the row (favourite = 0) with the time
    # of the change: per-person state is a last-writer-wins register per (person, item), and
    # a peer merging ours must tell "taken back at 20:15" from "never set".  Its own table,
    # not a column of progress: progress.updated_at times the resume point and the watched
    # mark, and a favourite changed on one device must not win or lose against those.
    db.executescript(
        """
        CREATE TABLE favourites (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            favourite INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (user_id, item_id)
        ) WITHOUT ROWID;
        CREATE INDEX favourites_recent ON favourites(user_id, favourite, updated_at);
        CREATE INDEX favourites_item ON favourites(item_id);
        """
    )


def _m022_search(db: sqlite_utils.Database) -> None:
    # Typo-tolerant titles, people with ids, and their indexes (db/search_index.py).
    migrate_search(db)


def _m023_sealed_totp(db: sqlite_utils.Database) -> None:
    # Two-factor secrets were kept in clear; they are sealed with the key in totp.key beside
    # the catalog (db/sealing.py), made here when missing: no catalog before 23 holds a
    # sealed value, so no key can be lost by making one.  A value already sealed (by hand,
    # or a run cut short) is left as it is.  secure_delete zeroes the clear values' old
    # bytes in the file rather than leaving them in free space.
    rows = db.execute(
        "SELECT id, totp_secret, totp_pending FROM users "
        "WHERE totp_secret IS NOT NULL OR totp_pending IS NOT NULL"
    ).fetchall()
    if not rows:
        return
    catalog = next((r[2] for r in db.execute("PRAGMA database_list") if r[1] == "main"), "")
    if not catalog:
        raise sqlite3.DatabaseError("two-factor secrets can only be sealed in a catalog file")
    try:
        sealer = sealing.load_sealer(Path(catalog).parent)
    except sealing.SealingError as exc:
        raise sqlite3.DatabaseError(str(exc)) from None
    was = int(db.execute("PRAGMA secure_delete").fetchone()[0])
    db.execute("PRAGMA secure_delete = ON")
    for user_id, secret, pending in rows:
        db.execute(
            "UPDATE users SET totp_secret = ?, totp_pending = ? WHERE id = ?",
            [
                sealer.seal(secret) if secret else secret,
                sealer.seal(pending) if pending else pending,
                user_id,
            ],
        )
    db.execute(f"PRAGMA secure_delete = {was}")


def _m024_outside_links(db: sqlite_utils.Database) -> None:
    # Whether a library's scan follows links (to folders or files) that lead outside its own
    # folders (library/links.py).  Off: such a link could show one library's films to the
    # members of another, or anything on the disk to anyone.
    db.executescript(
        """
        ALTER TABLE libraries ADD COLUMN follow_outside_links INTEGER NOT NULL DEFAULT 0;
        """
    )


def _m025_children_index(db: sqlite_utils.Database) -> None:
    # Only rows with a parent in the index of children: ANALYZE counts the NULLs of every
    # film as one value, so in a catalog of films and a few shows the full index looked
    # like 20,000 rows a parent, and the planner scanned all items once per show instead
    # (a member's search: 1 s, not 10 ms).  Nothing asks for parent_id IS NULL by index.
    db.executescript(
        """
        DROP INDEX IF EXISTS items_parent;
        CREATE INDEX items_parent ON items(parent_id, season_number, episode_number)
            WHERE parent_id IS NOT NULL;
        """
    )


Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: tuple[Migration, ...] = (
    _m001_catalog,
    _m002_keyframes,
    _m003_field_order,
    _m004_accounts,
    _m005_two_factor,
    _m006_access,
    _m007_preferences,
    _m008_progress,
    _m009_playback_events,
    _m010_rollups,
    _m011_activity_log,
    _m012_recommendations,
    _m013_start_offset,
    _m014_codec_formats,
    _m015_readable_length,
    _m016_own_posters,
    _m017_library_setup,
    _m018_profile_picker,
    _m019_cast,
    _m020_colour_transfer,
    _m021_favourites,
    _m022_search,
    _m023_sealed_totp,
    _m024_outside_links,
    _m025_children_index,
)
SCHEMA_VERSION = len(MIGRATIONS)


def check_version(path: Path) -> None:
    """Refuse a catalog from a newer Hearth without changing the file in any way."""
    if not path.exists():
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(_too_new(version))


def _too_new(version: int) -> str:
    return (
        f"the catalog has schema version {version}, newer than this Hearth "
        f"understands ({SCHEMA_VERSION}); upgrade Hearth or restore a backup"
    )


def migrate(conn: sqlite3.Connection, path: Path | None = None) -> int:
    """Bring the file at ``conn`` up to :data:`SCHEMA_VERSION`; returns the version it had."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(_too_new(version))
    if version == SCHEMA_VERSION:
        return version
    if version > 0 and path is not None:
        backup = sqlite3.connect(path.with_name(f"{path.name}.v{version}.bak"))
        with backup:
            conn.backup(backup)
        backup.close()
    db = sqlite_utils.Database(conn)
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number](db)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    # Into the file itself now, not only the journal: what a migration took out (clear
    # two-factor secrets, 23) must not sit in the file until a checkpoint comes round.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return version
