"""Instances a group's predict endpoint refused at input validation, counted per UTC hour
and reason (inference.models.RefusalCount); monitoring reports them as `quality.refused`.

A refused instance counts once under each kind of problem it has (two missing features:
one `missing_field`); the reasons are `inference.inputs`' codes, `bad_routing_key` and
`repeated_request_id`. Counted on the failure path only, one UPDATE per reason (an INSERT
for an hour's first): a valid request never writes here. Counting is best effort: a
database error is logged and the client still gets its 400.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ServiceError
from inference.hours import floor_hour
from inference.inputs import refusal_reason
from inference.models import RefusalCount

logger = logging.getLogger(__name__)

BAD_ROUTING_KEY = "bad_routing_key"
REPEATED_REQUEST_ID = "repeated_request_id"

# `inputs.income`, `instances[3].inputs`, `instances[3].routing_key`...: which instance, and
# which part of it. Any other field (`model`, `group`) is not an input refused.
_FIELD = re.compile(r"^(?:instances\[(?P<row>\d+)\]\.)?(?P<part>inputs|routing_key|request_id)\b")


def _reason(part: str, message: str) -> str:
    if part == "routing_key":
        return BAD_ROUTING_KEY
    if part == "request_id":
        return REPEATED_REQUEST_ID
    return refusal_reason(message)


def refusal_reasons(errors: Mapping[str, list[str]]) -> Counter[str]:
    """Refused instances per reason, from a validation error's fields (each instance once
    per reason)."""
    seen: set[tuple[int, str]] = set()
    for field, messages in errors.items():
        match = _FIELD.match(field)
        if match is None:
            continue
        row = int(match["row"] or 0)
        seen.update((row, _reason(match["part"], message)) for message in messages)
    return Counter(reason for _, reason in seen)


def count_refusal(
    *, group_id: int, reason: str, count: int = 1, at: datetime | None = None
) -> None:
    """Add `count` to the group's counter for `reason` in the hour of `at` (now).

    An UPDATE ... SET count = count + n; on a miss, an INSERT in a savepoint, and if another
    request inserted the row meanwhile (unique group, hour, reason), the UPDATE again: no
    increment is lost on PostgreSQL (the second INSERT waits for the first to commit) nor on
    SQLite (one writer at a time)."""
    hour = floor_hour(at or timezone.now())
    counter = RefusalCount.objects.filter(group_id=group_id, hour=hour, reason=reason)
    with transaction.atomic():
        if counter.update(count=F("count") + count):
            return
        try:
            with transaction.atomic():
                RefusalCount.objects.create(
                    group_id=group_id, hour=hour, reason=reason, count=count
                )
        except IntegrityError:
            counter.update(count=F("count") + count)


def refusals_count(*, group_id: int, errors: Mapping[str, list[str]]) -> None:
    try:
        for reason, count in sorted(refusal_reasons(errors).items()):
            count_refusal(group_id=group_id, reason=reason, count=count)
    except DatabaseError:
        logger.warning("refusals of group %s not counted", group_id, exc_info=True)


@contextmanager
def refusals_counted(group_id: int) -> Iterator[None]:
    """Count the instances a validation error raised inside refuses, and let it go on."""
    try:
        yield
    except ServiceError as exc:
        refusals_count(group_id=group_id, errors=exc.errors)
        raise
