"""UTC hours, and how a comparison window splits between hourly roll-ups and the raw log.

A roll-up hour h holds the rows with h <= created_at < h + 1 hour. A window [since, until]
(both ends included, as the comparison reads it) takes from the roll-ups every hour it
covers whole that is rolled up and clean, and reads everything else raw: its partial first
hour, the dirty hours (changed since they were rolled up), and from the end of the rolled
hours to `until`. The two parts never overlap and together hold exactly the window's rows.
Pure Python, no Django.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    start = floor_hour(moment)
    return start if start == moment else start + HOUR


@dataclass(frozen=True)
class Span:
    """Rows with start <= created_at < end (<= end when end_included); no start: from the first."""

    start: datetime | None
    end: datetime
    end_included: bool = False


def hour_spans(hours: Iterable[datetime]) -> list[Span]:
    """Hours as spans, consecutive ones joined: fewer ranges for the database to scan."""
    spans: list[Span] = []
    for hour in sorted(set(hours)):
        if spans and spans[-1].end == hour:
            spans[-1] = Span(spans[-1].start, hour + HOUR)
        else:
            spans.append(Span(hour, hour + HOUR))
    return spans


def chunked(start: datetime, end: datetime, step: timedelta) -> list[Span]:
    """[start, end) in spans of at most `step` (a first roll-up of a big log, a day per statement)."""
    spans = []
    while start < end:
        spans.append(Span(start, min(start + step, end)))
        start += step
    return spans


@dataclass(frozen=True)
class WindowSplit:
    """Roll-up hours h with rolled_from <= h < rolled_to (no rolled_from: all before
    rolled_to), except `skipped` (dirty); `raw` holds the rest of the window."""

    rolled_from: datetime | None
    rolled_to: datetime | None  # None: nothing comes from roll-ups
    skipped: tuple[datetime, ...]
    raw: tuple[Span, ...]


def window_split(
    since: datetime | None,
    until: datetime,
    rolled_until: datetime | None,
    dirty: Iterable[datetime],
) -> WindowSplit:
    everything_raw = WindowSplit(None, None, (), (Span(since, until, end_included=True),))
    if rolled_until is None:
        return everything_raw
    first = ceil_hour(since) if since is not None else None
    last = min(rolled_until, floor_hour(until))
    if first is not None and first >= last:
        return everything_raw
    skipped = _dirty_within(dirty, first, last)
    raw = []
    if since is not None and since < first:
        raw.append(Span(since, first))
    raw.extend(hour_spans(skipped))
    raw.append(Span(last, until, end_included=True))
    return WindowSplit(first, last, skipped, _joined(raw))


def _dirty_within(
    dirty: Iterable[datetime], first: datetime | None, last: datetime
) -> tuple[datetime, ...]:
    return tuple(sorted({h for h in dirty if (first is None or h >= first) and h < last}))


def _joined(spans: list[Span]) -> tuple[Span, ...]:
    joined: list[Span] = []
    for span in spans:  # a dirty first or last hour meets the span next to it
        if joined and joined[-1].end == span.start and not joined[-1].end_included:
            joined[-1] = Span(joined[-1].start, span.end, span.end_included)
        else:
            joined.append(span)
    return tuple(joined)
