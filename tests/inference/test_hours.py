"""A window splits into rolled-up hours and raw spans that hold every row of the window
exactly once."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from inference.hours import HOUR, Span, ceil_hour, chunked, floor_hour, hour_spans, window_split

BASE = datetime(2026, 3, 2, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=72 * 60)


def _at(minute: int, second: int = 0) -> datetime:
    return BASE + timedelta(minutes=minute, seconds=second)


def _in(span: Span, moment: datetime) -> bool:
    after_start = span.start is None or moment >= span.start
    before_end = moment <= span.end if span.end_included else moment < span.end
    return after_start and before_end


@settings(max_examples=400, deadline=None)
@given(
    since=st.one_of(st.none(), minutes),
    length=st.integers(min_value=0, max_value=40 * 60),
    seconds=st.integers(min_value=0, max_value=59),
    rolled=st.one_of(st.none(), minutes),
    dirty=st.sets(st.integers(min_value=0, max_value=72), max_size=12),
)
def test_every_moment_of_the_window_is_read_exactly_once(since, length, seconds, rolled, dirty):
    start = _at(since, seconds) if since is not None else None
    until = (start or BASE) + timedelta(minutes=length, seconds=seconds)
    rolled_until = floor_hour(_at(rolled)) if rolled is not None else None
    split = window_split(start, until, rolled_until, [BASE + h * HOUR for h in dirty])

    def rolled_up(moment: datetime) -> bool:
        hour = floor_hour(moment)
        if split.rolled_to is None or hour >= split.rolled_to or hour in split.skipped:
            return False
        return split.rolled_from is None or hour >= split.rolled_from

    # Every second boundary and a few moments around the window's ends and the hours.
    probes = {start, until} - {None}
    probes |= {_at(m, s) for m in range(-90, 72 * 60 + 90, 7) for s in (0, 59)}
    probes |= {until - timedelta(microseconds=1), until + timedelta(microseconds=1)}
    for moment in probes:
        inside = (start is None or moment >= start) and moment <= until
        reads = int(rolled_up(moment)) + sum(_in(span, moment) for span in split.raw)
        assert reads == int(inside), (moment, split)


def test_without_roll_ups_the_whole_window_is_read_raw():
    split = window_split(_at(30), _at(600), None, [])
    assert split.rolled_to is None
    assert split.raw == (Span(_at(30), _at(600), end_included=True),)


def test_clean_rolled_hours_come_from_roll_ups_and_the_edges_raw():
    split = window_split(_at(30), _at(10 * 60 + 5), _at(8 * 60), [_at(3 * 60)])
    assert (split.rolled_from, split.rolled_to, split.skipped) == (
        _at(60),
        _at(8 * 60),
        (_at(180),),
    )
    assert split.raw == (
        Span(_at(30), _at(60)),
        Span(_at(180), _at(240)),
        Span(_at(8 * 60), _at(10 * 60 + 5), end_included=True),
    )


def test_hours_are_utc_hours_whatever_the_zone():
    india = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 3, 2, 10, 45, tzinfo=india)  # 05:15 UTC
    assert floor_hour(moment) == datetime(2026, 3, 2, 5, tzinfo=UTC)
    assert ceil_hour(moment) == datetime(2026, 3, 2, 6, tzinfo=UTC)
    assert ceil_hour(floor_hour(moment)) == floor_hour(moment)


def test_consecutive_hours_join_into_one_span_and_chunks_cover_a_range():
    assert hour_spans([_at(120), _at(60), _at(240)]) == [
        Span(_at(60), _at(180)),
        Span(_at(240), _at(300)),
    ]
    assert chunked(_at(0), _at(150), timedelta(hours=1)) == [
        Span(_at(0), _at(60)),
        Span(_at(60), _at(120)),
        Span(_at(120), _at(150)),
    ]
