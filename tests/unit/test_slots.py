"""The slot queue's order and its estimate of when a slot frees (``streaming/slots.py``)."""

from __future__ import annotations

import pytest

from mediaserver.streaming.slots import FairQueue, busy_message, free_in, nth_free, retry_after


def test_people_are_served_in_the_order_they_came_one_place_each() -> None:
    queue = FairQueue()
    bea = queue.join("bea", "transcode")
    cal = queue.join("cal", "transcode")
    again = queue.join("bea", "transcode")  # Bea's second request keeps her place
    assert again is bea and queue.first("transcode") is bea
    assert (queue.ahead(bea), queue.ahead(cal)) == (0, 1)
    queue.leave(bea)  # one of her requests gave up: she still waits
    assert queue.first("transcode") is bea
    queue.leave(bea)
    assert queue.first("transcode") is cal and queue.ahead(cal) == 0
    assert queue.listing() == [{"person": "cal", "mode": "transcode", "requests": 1}]


def test_transcodes_and_remuxes_queue_apart() -> None:
    queue = FairQueue()
    queue.join("bea", "transcode")
    dan = queue.join("dan", "remux")
    assert queue.first("remux") is dan and queue.ahead(dan) == 0


def test_a_watching_viewer_keeps_the_slot_until_the_film_is_nearly_played() -> None:
    at = {"playout_s": 1800.0, "idle_timeout_s": 30.0, "active_within_s": 7.0}
    assert free_in(quiet_s=2.0, **at) == 1800.0
    # Quiet for 20 s: gone (or paused); the slot frees when the job is stopped as idle.
    assert free_in(quiet_s=20.0, **at) == 10.0
    assert free_in(quiet_s=45.0, **at) == 0.0


def test_each_freed_slot_lets_the_next_person_in() -> None:
    assert nth_free([600.0, 40.0], 0) == 40.0
    assert nth_free([600.0, 40.0], 1) == 600.0
    assert nth_free([600.0, 40.0], 5) == 600.0  # no better guess past the last slot
    assert nth_free([], 0) == 1.0
    assert retry_after(0.0) == 1 and retry_after(12.2) == 13


@pytest.mark.parametrize(
    ("mode", "limit", "seconds", "words"),
    [
        (
            "transcode",
            1,
            4,
            "The server's only transcoding slot is in use by another viewer; "
            "it should be free in a few seconds.",
        ),
        (
            "transcode",
            2,
            33,
            "All 2 transcoding slots are in use by other viewers; "
            "one should be free in about 35 seconds.",
        ),
        (
            "remux",
            16,
            61,
            "All 16 remuxing slots are in use by other viewers; "
            "one should be free in about 2 minutes.",
        ),
        (
            "transcode",
            1,
            5400,
            "The server's only transcoding slot is in use by another "
            "viewer; it should be free in about 1 hour 30 minutes.",
        ),
    ],
)
def test_busy_words(mode: str, limit: int, seconds: float, words: str) -> None:
    assert busy_message(mode, limit, seconds) == words
