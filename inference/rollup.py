"""Hourly roll-ups of a group's inference log, so the comparison reads a week in one small
query instead of scanning a quarter of a million rows.

Every closed hour of the log is summed once into HourlyRollup rows (per model version and
(prediction, outcome): the comparison's counts and sums) and HourlyLatency rows (a latency
histogram per model version), by Celery beat every minute (`inference.rollups_refresh`). The comparison adds these up for
the clean rolled hours of its window and reads the rest raw (inference/aggregates.py), so
its numbers are exactly those of the raw log, whether beat runs or not.

An hour is closed GRACE after it ends: a row's created_at is taken just before its INSERT
commits, so a request in flight across the hour boundary has committed by then.

Rows that change after their hour was rolled up make it dirty (RollupDirtyHour): feedback
(inference/feedback.py) and rows written with a backdated created_at (the demo's replay)
call `rollup_mark_written`, in their own transaction or after it commits. The next refresh
writes dirty hours again; until then the comparison reads them raw.

Why a mark never goes missing: a refresh first takes (in hour order, under row locks) and
deletes the group's marks, then reads the log. A write that commits before that read is in
the new roll-up; one that commits after it marks its hour again, since its mark is either
new or an upsert that waited for the refresh to commit. Marks cover every closed hour a
write touches, not only the hours before `rolled_until`: a refresh may be rolling that
hour up at the very moment, and the mark must outlive it.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from groups.models import ModelGroup
from inference import aggregates, latency_sketch, tables
from inference.aggregates import ADDITIVE, ERROR_FIELDS
from inference.hours import HOUR, Span, chunked, floor_hour, hour_spans
from inference.models import HourlyLatency, HourlyRollup, RollupDirtyHour, RollupState

logger = logging.getLogger(__name__)

GRACE = timedelta(minutes=2)
# A first roll-up of a long log reads it a day per statement: each GROUP BY stays in memory.
BUILD_CHUNK = timedelta(days=1)
INSERT_BATCH = 2000


@dataclass(frozen=True)
class RefreshResult:
    rolled_until: datetime | None
    hours_read: int = 0  # hours whose roll-up was (re)written, empty ones included
    dirty_hours: int = 0  # of those, hours written again because they were dirty
    rows_written: int = 0
    skipped: bool = False  # another refresh of the group was running


def rollup_mark_written(group_id: int, created_ats: Iterable[datetime]) -> None:
    """Mark dirty the closed hours of rows written (inserted backdated, or updated) at
    these created_at times. Call it in the write's own transaction or after it commits,
    never before: a refresh in between would clear the mark and miss the rows.

    The open hour needs no mark: it is rolled up GRACE after it ends, when its writes
    have committed."""
    open_hour = floor_hour(timezone.now())
    hours = sorted(hour for hour in {floor_hour(t) for t in created_ats} if hour < open_hour)
    if not hours:
        return
    now = timezone.now()
    # An upsert, in hour order: an existing mark is row-locked until this transaction
    # commits, so a refresh cannot delete it and read the log before these rows are in.
    RollupDirtyHour.objects.bulk_create(
        [RollupDirtyHour(group_id=group_id, hour=hour, marked_at=now) for hour in hours],
        update_conflicts=True,
        unique_fields=["group", "hour"],
        update_fields=["marked_at"],
    )


def _rollup_spans(group_id: int, model: type[Model], spans: list[Span], task: str) -> int:
    """Write the roll-ups of the spans' hours again, from one GROUP BY over all of them
    (and one for their latencies)."""
    hours = Q()
    for span in spans:
        hours |= Q(hour__gte=span.start, hour__lt=span.end)
    for written in (HourlyRollup, HourlyLatency):
        written.objects.filter(hours, group_id=group_id).delete()
    rollups = [
        HourlyRollup(
            group_id=group_id,
            hour=row["bucket"],
            model_version_id=row["model_version_id"],
            # A regression's rows are grouped by hour only, with its error sums.
            prediction=row.get("prediction"),
            outcome=row.get("outcome"),
            **{field: row.get(field) or 0 for field in (*ADDITIVE, *ERROR_FIELDS)},
        )
        for row in aggregates.bucket_totals_query(model, spans, "hour", task=task)
    ]
    histograms: dict[tuple[int, datetime], latency_sketch.Histogram] = defaultdict(dict)
    for version_id, index, hour, count in aggregates.latency_counts_query(
        model, spans, per_hour=True
    ):
        histograms[(version_id, hour)][latency_sketch.bucket_key(index)] = count
    HourlyRollup.objects.bulk_create(rollups, batch_size=INSERT_BATCH)
    HourlyLatency.objects.bulk_create(
        [
            HourlyLatency(
                group_id=group_id, hour=hour, model_version_id=version_id, histogram=histogram
            )
            for (version_id, hour), histogram in histograms.items()
        ],
        batch_size=INSERT_BATCH,
    )
    return len(rollups)


def _first_hour(model: type[Model]) -> datetime | None:
    first = model.objects.order_by("created_at").values_list("created_at", flat=True).first()
    return floor_hour(first) if first is not None else None


def _dirty_marks_take(group: ModelGroup, rolled_until: datetime | None) -> list[datetime]:
    """Delete the group's marks (in this transaction) and return the hours they name that
    are already rolled up: those from rolled_until on are read anyway, and past the closed
    hour they wait."""
    # The marks go first (see the module docstring), locked in the order feedback's
    # upserts lock theirs, so the two never wait on each other in a circle.
    marks = list(
        RollupDirtyHour.objects.select_for_update()
        .filter(group=group)
        .order_by("hour")
        .values_list("pk", "hour")
    )
    RollupDirtyHour.objects.filter(pk__in=[pk for pk, _ in marks]).delete()
    return [hour for _, hour in marks if rolled_until is not None and hour < rolled_until]


def _batches(dirty: list[datetime], start: datetime, closed: datetime) -> list[list[Span]]:
    # All dirty hours in one statement; the new hours a chunk at a time.
    batches = [hour_spans(dirty)] if dirty else []
    return batches + [[chunk] for chunk in chunked(start, closed, BUILD_CHUNK)]


def rollup_refresh(*, group: ModelGroup, now: datetime | None = None) -> RefreshResult:
    """Roll up the group's dirty hours and its closed hours not rolled up yet, in one
    transaction. A refresh of the same group already running is left to finish (skipped)."""
    closed = floor_hour((now or timezone.now()) - GRACE)
    model = tables.inference_log_model(group.table_name)
    RollupState.objects.get_or_create(group=group)
    with transaction.atomic():
        state = RollupState.objects.select_for_update(skip_locked=True).filter(group=group).first()
        if state is None:
            return RefreshResult(rolled_until=None, skipped=True)
        # The marks go first (see the module docstring), locked in the order feedback's
        # upserts lock theirs, so the two never wait on each other in a circle.
        rolled_until = state.rolled_until
        dirty = _dirty_marks_take(group, rolled_until)
        batches = _batches(dirty, rolled_until or _first_hour(model) or closed, closed)
        rows = sum(_rollup_spans(group.pk, model, spans, group.task) for spans in batches)

        state.rolled_until = max(closed, rolled_until) if rolled_until else closed
        state.refreshed_at = timezone.now()
        state.save(update_fields=["rolled_until", "refreshed_at"])
    return RefreshResult(
        state.rolled_until, hours_read=_hours(batches), dirty_hours=len(dirty), rows_written=rows
    )


def _hours(batches: list[list[Span]]) -> int:
    return sum((span.end - span.start) // HOUR for spans in batches for span in spans)


def rollups_refresh_all() -> int:
    """Refresh every group that logs to a table; one group's failure does not stop the
    others (it is logged, and retried on the next beat). Returns the groups refreshed."""
    refreshed = 0
    for group in ModelGroup.objects.exclude(table_name="").order_by("pk"):
        try:
            rollup_refresh(group=group)
            refreshed += 1
        except Exception:
            logger.exception("Rolling up the inference log of %s failed", group.slug)
    return refreshed


@transaction.atomic
def rollup_reset(*, group: ModelGroup) -> None:
    """Forget the group's roll-ups, marks and state: the next refresh builds them again
    from the whole log (after rows were loaded or removed behind the application's back),
    and a group being deleted leaves none behind (inference/signals.py)."""
    for written in (HourlyRollup, HourlyLatency, RollupDirtyHour, RollupState):
        written.objects.filter(group=group).delete()
