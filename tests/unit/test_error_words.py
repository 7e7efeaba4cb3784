"""Bad input answered in words: Litestar's and msgspec's validation messages become
"year: must be a whole number", keeping the field's name."""

from __future__ import annotations

import pytest

from mediaserver.api.errors import plain_problem


@pytest.mark.parametrize(
    ("key", "message", "choices", "said"),
    [
        ("year", "Expected `int | null`, got `str`", (), "year: must be a whole number"),
        ("limit", "Expected `int` <= 500", (), "limit: must be at most 500"),
        ("limit", "Expected `int` >= 1", (), "limit: must be at least 1"),
        ("ratio", "Expected `float`, got `str`", (), "ratio: must be a number"),
        ("flag", "Expected `bool`, got `str`", (), "flag: must be true or false"),
        ("ids", "Expected `array`, got `str`", (), "ids: must be a list"),
        ("data", "Expected `object`, got `array`", (), "the request body must be a JSON object"),
        ("name", "Expected `str` of length >= 1", (), "name: must not be empty"),
        ("name", "Expected `str` of length <= 64", (), "name: must have at most 64 characters"),
        ("tags", "Expected `array` of length <= 1", (), "tags: must have at most 1 entry"),
        (
            "code",
            "Expected `str` matching regex '^[a-z]+$'",
            (),
            "code: is not in the form expected here",
        ),
        ("data", "Object missing required field `username`", (), "username: is required"),
        ("data", "Object contains unknown field `admin`", (), "admin: is not a known field"),
        (None, "Missing required query parameter 'q' for path /x", (), "q: is required"),
        (
            "sort",
            "Invalid enum value 'x'",
            ("title", "year"),
            "sort: 'x' is not one of title, year",
        ),
        ("sort", "Invalid enum value 'x'", (), "sort: 'x' is not one of the choices"),
        (
            None,
            "JSON is malformed: invalid character (byte 4)",
            (),
            "the request body is not valid JSON",
        ),
        ("when", "Expected `datetime | int`, got `str`", (), "when: must be a valid value"),
        ("odd", "Expected `str` that is odd", (), "odd: is not a valid value"),
        ("kind", "pick one from the list", (), "kind: pick one from the list"),  # already words
    ],
)
def test_validation_messages_in_words(
    key: str | None, message: str, choices: tuple[str, ...], said: str
) -> None:
    assert plain_problem(key, message, choices) == said
