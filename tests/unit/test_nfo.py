"""read_nfo / find_nfo / find_show_nfo against real files in a temporary folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mediaserver.library.nfo import (
    MAX_NFO_BYTES,
    Actor,
    NfoData,
    find_nfo,
    find_show_nfo,
    read_nfo,
)

MOVIE_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<movie>
    <title>The Matrix</title>
    <originaltitle>The Matrix (orig)</originaltitle>
    <sorttitle>Matrix 1</sorttitle>
    <ratings>
        <rating name="imdb" max="10"><value>8.7</value><votes>2000000</votes></rating>
        <rating name="themoviedb" max="10" default="true"><value>8.2</value></rating>
    </ratings>
    <year>1999</year>
    <plot>  A hacker learns the truth.  </plot>
    <tagline>Free your mind.</tagline>
    <runtime>136</runtime>
    <mpaa>Rated R</mpaa>
    <uniqueid type="imdb" default="true">tt0133093</uniqueid>
    <uniqueid type="TMDB">603</uniqueid>
    <genre>Action</genre>
    <genre>Science Fiction</genre>
    <genre>Action</genre>
    <studio>Warner Bros.</studio>
    <tag>cyberpunk</tag>
    <director>Lana Wachowski</director>
    <director>Lilly Wachowski</director>
    <premiered>1999-03-31</premiered>
    <actor><name>Keanu Reeves</name><role>Neo</role></actor>
    <actor><name>Carrie-Anne Moss</name><role>Trinity</role></actor>
    <actor><role>nameless</role></actor>
</movie>
https://www.themoviedb.org/movie/603
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "movie.nfo") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def test_full_movie_nfo_with_trailing_url(tmp_path: Path) -> None:
    assert read_nfo(_write(tmp_path, MOVIE_NFO)) == NfoData(
        kind="movie",
        title="The Matrix",
        original_title="The Matrix (orig)",
        sort_title="Matrix 1",
        year=1999,
        plot="A hacker learns the truth.",
        tagline="Free your mind.",
        runtime_min=136,
        rating=8.2,
        content_rating="R",
        genres=("Action", "Science Fiction"),
        studios=("Warner Bros.",),
        tags=("cyberpunk",),
        directors=("Lana Wachowski", "Lilly Wachowski"),
        actors=(Actor("Keanu Reeves", "Neo"), Actor("Carrie-Anne Moss", "Trinity")),
        premiered="1999-03-31",
        uniqueids={"imdb": "tt0133093", "tmdb": "603"},
    )


def test_episode_nfo(tmp_path: Path) -> None:
    text = """<episodedetails>
        <title>Pilot</title><season>1</season><episode>2</episode>
        <aired>2008-01-20</aired><rating>9.0</rating>
        <uniqueid type="tvdb">349232</uniqueid>
    </episodedetails>"""
    assert read_nfo(_write(tmp_path, text, "Show.S01E02.nfo")) == NfoData(
        kind="episodedetails",
        title="Pilot",
        year=2008,
        rating=9.0,
        season=1,
        episode=2,
        premiered="2008-01-20",
        uniqueids={"tvdb": "349232"},
    )


def test_tvshow_nfo_unset_season_placeholder(tmp_path: Path) -> None:
    text = "<tvshow><title>Show</title><season>-1</season><episode>-1</episode></tvshow>"
    assert read_nfo(_write(tmp_path, text, "tvshow.nfo")) == NfoData(kind="tvshow", title="Show")


def test_multi_episode_nfo_reads_the_first_episode(tmp_path: Path) -> None:
    text = (
        "<episodedetails><title>One</title><episode>1</episode></episodedetails>\n"
        "<episodedetails><title>Two</title><episode>2</episode></episodedetails>\n"
    )
    assert read_nfo(_write(tmp_path, text)) == NfoData(
        kind="episodedetails", title="One", episode=1
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", NfoData(kind="movie")),
        ("<title>  </title><year></year><runtime>0</runtime><mpaa/>", NfoData(kind="movie")),
        ("<year>n/a</year><premiered>soon</premiered>", NfoData(kind="movie")),
        ("<runtime>120 min</runtime>", NfoData(kind="movie", runtime_min=120)),
        ("<premiered>2010-07-16</premiered>", NfoData("movie", year=2010, premiered="2010-07-16")),
        ("<genre>Action / Comedy</genre>", NfoData(kind="movie", genres=("Action", "Comedy"))),
        ("<mpaa>PG-13</mpaa>", NfoData(kind="movie", content_rating="PG-13")),
        ("<mpaa>Rated PG-13</mpaa>", NfoData(kind="movie", content_rating="PG-13")),
        ("<mpaa>US:PG-13</mpaa>", NfoData(kind="movie", content_rating="US:PG-13")),
        ("<title>Tom &amp; Jerry &#233;</title>", NfoData(kind="movie", title="Tom & Jerry é")),
        ("<imdbid>tt0133093</imdbid>", NfoData(kind="movie", uniqueids={"imdb": "tt0133093"})),
        ("<tmdbid>603</tmdbid>", NfoData(kind="movie", uniqueids={"tmdb": "603"})),
        ("<id>tt0133093</id>", NfoData(kind="movie", uniqueids={"imdb": "tt0133093"})),
        ("<id>603</id>", NfoData(kind="movie")),
        (
            '<uniqueid type="imdb">tt1</uniqueid><imdbid>tt2</imdbid><uniqueid>x</uniqueid>',
            NfoData(kind="movie", uniqueids={"imdb": "tt1"}),
        ),
    ],
)
def test_movie_fields(tmp_path: Path, body: str, expected: NfoData) -> None:
    assert read_nfo(_write(tmp_path, f"<movie>{body}</movie>")) == expected


@pytest.mark.parametrize(
    ("body", "rating"),
    [
        ("<rating>7.5</rating>", 7.5),
        ("<rating>7,5</rating>", 7.5),
        ("<rating>N/A</rating>", None),
        ("<rating>nan</rating>", None),
        ('<ratings><rating default="true"><value>6.4</value></rating></ratings>', 6.4),
        ('<ratings><rating name="a"><value>5</value></rating></ratings>', 5.0),
        (
            '<ratings><rating name="a"><value>5</value></rating>'
            '<rating name="b" default="true"><value>6</value></rating></ratings>',
            6.0,
        ),
        (
            '<rating>7.0</rating><ratings><rating default="true"><value>8</value></rating>'
            "</ratings>",
            8.0,
        ),
        ('<rating>7.0</rating><ratings><rating name="a"><value>8</value></rating></ratings>', 7.0),
        ('<ratings><rating max="100" default="true"><value>87</value></rating></ratings>', 8.7),
        ('<ratings><rating max="5" default="true"><value>4</value></rating></ratings>', 8.0),
        ('<ratings><rating default="true"><value/></rating></ratings><rating>3</rating>', 3.0),
    ],
)
def test_rating_forms(tmp_path: Path, body: str, rating: float | None) -> None:
    parsed = read_nfo(_write(tmp_path, f"<movie>{body}</movie>"))
    assert parsed is not None
    assert parsed.rating == rating


def test_unknown_root_reads_fields_without_kind(tmp_path: Path) -> None:
    text = "<musicvideo><title>Song</title></musicvideo>"
    assert read_nfo(_write(tmp_path, text)) == NfoData(kind=None, title="Song")


def test_declared_encoding_and_bom_are_honoured(tmp_path: Path) -> None:
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><movie><title>Amélie</title></movie>'
    assert read_nfo(_write(tmp_path, latin1.encode("latin-1"))) == NfoData("movie", "Amélie")
    bom = "\ufeff<movie><title>Amélie</title></movie>".encode()
    assert read_nfo(_write(tmp_path, bom, "bom.nfo")) == NfoData("movie", "Amélie")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE movie [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
]>
<movie><title>&g;</title></movie>
"""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(BILLION_LAUGHS, id="entity-bomb"),
        pytest.param(
            '<!DOCTYPE movie [<!ENTITY x SYSTEM "file:///etc/passwd">]><movie><title>&x;'
            "</title></movie>",
            id="external-entity",
        ),
        pytest.param('<!DOCTYPE movie SYSTEM "http://example.com/x.dtd"><movie/>', id="dtd"),
        pytest.param("<!DOCTYPE movie><movie><title>x</title></movie>", id="bare-doctype"),
        pytest.param("<movie><title>&undeclared;</title></movie>", id="undeclared-entity"),
    ],
)
def test_hostile_xml_is_refused_quickly(tmp_path: Path, text: str) -> None:
    started = time.monotonic()
    assert read_nfo(_write(tmp_path, text)) is None
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"https://www.imdb.com/title/tt0133093/\n", id="url-only"),
        pytest.param(b"<movie><title>unclosed</title>", id="truncated"),
        pytest.param(b"\x00\xff\xfe garbage \x89PNG", id="binary"),
        pytest.param(b'<?xml version="1.0" encoding="x-bogus"?><movie/>', id="unknown-encoding"),
        pytest.param(b'<?xml version="1.0" encoding="shift_jis"?><movie/>', id="multibyte-enc"),
        pytest.param(b"<movie><title>\xff\xfe</title></movie>", id="invalid-utf8"),
    ],
)
def test_not_xml_reads_as_none(tmp_path: Path, content: bytes) -> None:
    assert read_nfo(_write(tmp_path, content)) is None


def test_oversized_file_is_not_read(tmp_path: Path) -> None:
    padding = "<plot>" + "x" * MAX_NFO_BYTES + "</plot>"
    assert read_nfo(_write(tmp_path, f"<movie><title>Big</title>{padding}</movie>")) is None


@pytest.mark.timeout(10)
def test_missing_directory_and_fifo_read_as_none(tmp_path: Path) -> None:
    assert read_nfo(tmp_path / "absent.nfo") is None
    assert read_nfo(tmp_path) is None
    fifo = tmp_path / "pipe.nfo"
    os.mkfifo(fifo)  # no writer: a plain open() would block forever
    assert read_nfo(fifo) is None


@pytest.mark.parametrize(
    ("present", "video", "expected"),
    [
        (["Movie.2010.nfo", "movie.nfo"], "Movie.2010.mkv", "Movie.2010.nfo"),
        (["movie.nfo"], "Movie.2010.mkv", "movie.nfo"),
        (["Other.nfo"], "Movie.2010.mkv", None),
        ([], "Movie.2010.mkv", None),
    ],
)
def test_find_nfo(tmp_path: Path, present: list[str], video: str, expected: str | None) -> None:
    for name in [video, *present]:
        (tmp_path / name).touch()
    found = find_nfo(tmp_path / video)
    assert found == (tmp_path / expected if expected else None)


def test_find_nfo_for_episodes_ignores_movie_nfo(tmp_path: Path) -> None:
    (tmp_path / "movie.nfo").touch()
    assert find_nfo(tmp_path / "Show.S01E01.mkv", allow_movie_nfo=False) is None
    (tmp_path / "Show.S01E01.nfo").touch()
    found = find_nfo(tmp_path / "Show.S01E01.mkv", allow_movie_nfo=False)
    assert found == tmp_path / "Show.S01E01.nfo"


def test_find_nfo_skips_a_folder_named_like_an_nfo(tmp_path: Path) -> None:
    (tmp_path / "Movie.nfo").mkdir()
    assert find_nfo(tmp_path / "Movie.mkv") is None


def test_find_show_nfo(tmp_path: Path) -> None:
    assert find_show_nfo(tmp_path) is None
    (tmp_path / "tvshow.nfo").touch()
    assert find_show_nfo(tmp_path) == tmp_path / "tvshow.nfo"
    assert find_show_nfo(tmp_path / "missing") is None


TMM_ART = """<movie>
    <title>Arrival</title>
    <thumb aspect="clearlogo">https://assets.fanart.tv/logo.png</thumb>
    <thumb aspect="poster" preview="https://image.tmdb.org/t/p/w500/p1.jpg">https://image.tmdb.org/t/p/original/p1.jpg</thumb>
    <thumb aspect="poster">https://image.tmdb.org/t/p/original/p2.jpg</thumb>
    <thumb aspect="landscape">https://assets.fanart.tv/landscape.jpg</thumb>
    <fanart>
        <thumb preview="https://image.tmdb.org/t/p/w780/f1.jpg">https://image.tmdb.org/t/p/original/f1.jpg</thumb>
        <thumb>https://image.tmdb.org/t/p/original/f2.jpg</thumb>
    </fanart>
    <actor><name>Amy Adams</name><thumb>https://image.tmdb.org/t/p/h632/amy.jpg</thumb></actor>
</movie>"""


def test_artwork_urls_take_the_first_poster_and_the_first_fanart(tmp_path: Path) -> None:
    parsed = read_nfo(_write(tmp_path, TMM_ART))
    assert parsed is not None
    assert parsed.poster_url == "https://image.tmdb.org/t/p/original/p1.jpg"
    assert parsed.backdrop_url == "https://image.tmdb.org/t/p/original/f1.jpg"
    assert parsed.actors == (
        Actor("Amy Adams", photo_url="https://image.tmdb.org/t/p/h632/amy.jpg"),
    )


@pytest.mark.parametrize(
    ("body", "poster", "backdrop"),
    [
        ("<thumb>http://example.com/a.jpg</thumb>", "http://example.com/a.jpg", None),
        ("<thumb>  HTTPS://example.com/a.jpg\n</thumb>", "HTTPS://example.com/a.jpg", None),
        (  # an explicit poster beats an earlier thumb without an aspect
            '<thumb>https://e.com/plain.jpg</thumb><thumb aspect="Poster">https://e.com/p.jpg</thumb>',
            "https://e.com/p.jpg",
            None,
        ),
        ('<thumb aspect="fanart">https://e.com/f.jpg</thumb>', None, "https://e.com/f.jpg"),
        ('<thumb aspect="landscape">https://e.com/l.jpg</thumb>', None, "https://e.com/l.jpg"),
        (
            '<thumb aspect="landscape">https://e.com/l.jpg</thumb>'
            "<fanart><thumb>https://e.com/f.jpg</thumb></fanart>",
            None,
            "https://e.com/f.jpg",
        ),
        ('<thumb aspect="banner">https://e.com/b.jpg</thumb>', None, None),
        ('<thumb aspect="clearart">https://e.com/c.png</thumb>', None, None),
        # tvshow.nfo lists season posters too; they are not the show's poster
        (
            '<thumb aspect="poster" type="season" season="1">https://e.com/s1.jpg</thumb>'
            '<thumb aspect="poster">https://e.com/show.jpg</thumb>',
            "https://e.com/show.jpg",
            None,
        ),
        ("<thumb></thumb><thumb>   </thumb>", None, None),
    ],
)
def test_artwork_url_forms(
    tmp_path: Path, body: str, poster: str | None, backdrop: str | None
) -> None:
    parsed = read_nfo(_write(tmp_path, f"<movie>{body}</movie>"))
    assert parsed is not None
    assert (parsed.poster_url, parsed.backdrop_url) == (poster, backdrop)


@pytest.mark.parametrize(
    "value",
    [
        "file:///etc/passwd",
        "file://localhost/srv/media/poster.jpg",
        "ftp://example.com/poster.jpg",
        "special://profile/thumbnails/poster.jpg",
        "smb://nas/media/poster.jpg",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "/t/p/original/poster.jpg",  # old <fanart url="..."> entries are relative
        "poster.jpg",
        "../../../../etc/passwd",
        "C:\\Users\\me\\poster.jpg",
        "http:///no-host.jpg",
        "http://exa mple.com/a.jpg",
        "http://[::1/a.jpg",
        "https://example.com/" + "a" * 3000 + ".jpg",
    ],
)
def test_artwork_urls_that_are_not_web_addresses_are_ignored(tmp_path: Path, value: str) -> None:
    body = f"<thumb>{value}</thumb><thumb aspect='poster'>{value}</thumb>"
    body += f"<fanart><thumb>{value}</thumb></fanart>"
    parsed = read_nfo(_write(tmp_path, f"<movie>{body}</movie>"))
    assert parsed is not None
    assert (parsed.poster_url, parsed.backdrop_url) == (None, None)


def test_an_ignored_url_does_not_hide_a_later_good_one(tmp_path: Path) -> None:
    body = (
        "<thumb>file:///etc/passwd</thumb><thumb>https://e.com/p.jpg</thumb>"
        "<fanart><thumb>/relative.jpg</thumb><thumb>http://e.com/f.jpg</thumb></fanart>"
    )
    parsed = read_nfo(_write(tmp_path, f"<movie>{body}</movie>"))
    assert parsed is not None
    assert (parsed.poster_url, parsed.backdrop_url) == ("https://e.com/p.jpg", "http://e.com/f.jpg")


# --- the cast: characters, order, photos --------------------------------------------------

CAST_NFO = """<movie><title>Arrival</title>
  <actor><name>Jeremy Renner</name><role>Ian Donnelly</role><order>1</order>
    <thumb>https://image.tmdb.org/t/p/original/renner.jpg</thumb></actor>
  <actor><name>Amy Adams</name><role>Louise Banks</role><order>0</order>
    <thumb>.actors/Amy_Adams.jpg</thumb></actor>
  <actor><name>Forest Whitaker</name><role> Colonel Weber </role>
    <thumb>/srv/films/Arrival/Forest Whitaker.png</thumb></actor>
  <actor><name>Michael Stuhlbarg</name><order>2</order><thumb>file:///srv/films/Stuhlbarg%20M.jpg</thumb></actor>
  <actor><name>Amy Adams</name><role>Twice listed</role></actor>
  <actor><name>Mark O'Brien</name><role></role><order>3</order></actor>
</movie>"""


def test_actors_carry_their_character_photo_and_billing_order(tmp_path: Path) -> None:
    folder = tmp_path / "Arrival (2016)"
    folder.mkdir()
    parsed = read_nfo(_write(folder, CAST_NFO))
    assert parsed is not None
    assert parsed.actors == (
        Actor("Amy Adams", "Louise Banks", photo_path=folder / ".actors/Amy_Adams.jpg"),
        Actor("Jeremy Renner", "Ian Donnelly", "https://image.tmdb.org/t/p/original/renner.jpg"),
        Actor("Michael Stuhlbarg", photo_path=Path("/srv/films/Stuhlbarg M.jpg")),
        Actor("Mark O'Brien"),
        # No <order>: after those that have one, in the order written.
        Actor(
            "Forest Whitaker",
            "Colonel Weber",
            photo_path=Path("/srv/films/Arrival/Forest Whitaker.png"),
        ),
    )


@pytest.mark.parametrize(
    "thumb",
    [
        "smb://nas/share/actor.jpg",
        "special://profile/Thumbnails/a.jpg",
        "C:\\Users\\kodi\\actor.jpg",
        "\\\\nas\\actors\\actor.jpg",
        "file://nas/share/actor.jpg",
        "ftp://example.com/actor.jpg",
        "   ",
    ],
)
def test_actor_thumbs_that_name_nothing_here_are_ignored(tmp_path: Path, thumb: str) -> None:
    body = f"<movie><actor><name>Ada</name><thumb>{thumb}</thumb></actor></movie>"
    parsed = read_nfo(_write(tmp_path, body))
    assert parsed is not None and parsed.actors == (Actor("Ada"),)


def test_a_relative_actor_thumb_cannot_climb_out_unnoticed(tmp_path: Path) -> None:
    """``..`` is resolved here, so the library check later sees where it really points."""
    body = "<movie><actor><name>Ada</name><thumb>../../etc/ada.jpg</thumb></actor></movie>"
    parsed = read_nfo(_write(tmp_path, body))
    assert parsed is not None
    assert parsed.actors[0].photo_path == tmp_path.parent.parent / "etc/ada.jpg"
