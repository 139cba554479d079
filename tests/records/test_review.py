"""The review queries' own rules: cursors, and what counts as a rating."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from voicebot.errors import ReviewQueryError
from voicebot.records.review import _rating, decode_cursor, encode_cursor


def test_a_cursor_round_trips_and_a_naive_time_is_utc() -> None:
    moment = datetime(2026, 11, 23, 9, 30, 1, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, "call_x|y")) == (moment, "call_x|y")
    naive = encode_cursor(moment.replace(tzinfo=None), "call_x")
    assert decode_cursor(naive) == (moment, "call_x")


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IG91cnM", "bm90fGRhdGU"])
def test_a_cursor_that_is_not_ours_is_refused(cursor: str) -> None:
    with pytest.raises(ReviewQueryError, match="not a cursor"):
        decode_cursor(cursor)


@pytest.mark.parametrize(
    ("stored", "rating"),
    [
        *[(1, 1), (5, 5), (4.0, 4), ("3", 3), (" 2 ", 2)],
        *[(0, None), (6, None), (4.5, None), (True, None), ("four", None), (None, None)],
        ([4], None),
    ],
)
def test_only_a_whole_1_to_5_is_a_rating(stored: object, rating: int | None) -> None:
    assert _rating(stored) == rating
