"""The champion and its challengers side by side, read from a group's inference table.

Each member's numbers over a window (what SQL aggregates in inference/aggregates.py, from
the hourly roll-ups and the raw log, plus the score-based metrics on its latest labelled
rows), every challenger tested against the champion, and the time-series charts. Latency
percentiles are within 1% of the exact value (inference/latency_sketch.py); every other
number is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Model
from django.utils import timezone

from groups.models import Membership, ModelGroup, Role
from groups.routing import by_role
from groups.selectors import routing_generation
from inference import aggregates
from inference.aggregates import Scored, Totals
from inference.comparison.numbers import MemberStats, member_metrics, paired_rows
from inference.comparison.presentation import method_notes, series_charts
from inference.comparison.tasks import (
    DETAILS,
    KPIS,
    MEMBER_METRICS,
    task_challenger_judge,
    task_pairs,
)
from inference.comparison.verdicts import challenger_judge
from inference.tables import inference_log_model
from inference.windows import DEFAULT_WINDOW, WINDOW_LABELS, window_start
from registry.models import Task

CACHE_SECONDS = 10  # the page's polling interval
BUCKETS = {"24h": "hour", "7d": "day", "30d": "day", "all": "day"}


@dataclass
class Comparison:
    group: ModelGroup
    window: str
    since: datetime | None
    now: datetime
    members: list[MemberStats]
    total_requests: int
    paired: bool
    series: dict[str, dict[str, Any]]

    @property
    def champion(self) -> MemberStats | None:
        return next(
            (m for m in self.members if m.is_champion), self.members[0] if self.members else None
        )

    @property
    def challengers(self) -> list[MemberStats]:
        champion = self.champion
        return [m for m in self.members if m is not champion]

    @property
    def window_label(self) -> str:
        return WINDOW_LABELS[self.window]

    @property
    def task(self) -> str:
        return self.group.task

    @property
    def method_notes(self) -> dict[str, str]:
        return method_notes(self.group.task)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group.slug,
            "task": self.group.task,
            "window": self.window,
            "since": self.since.isoformat() if self.since else None,
            "until": self.now.isoformat(),
            "total_requests": self.total_requests,
            "paired": self.paired,
            "members": [m.as_dict() for m in self.members],
            "method": self.method_notes,
        }


def _memberships(group: ModelGroup, version_ids: Iterable[int] | None) -> list[Membership]:
    members = by_role(group.memberships.select_related("model_version__model"))
    if version_ids is None:
        return members
    wanted = set(version_ids) | {m.model_version_id for m in members if m.role == Role.CHAMPION}
    return [m for m in members if m.model_version_id in wanted]


def group_comparison(
    *,
    group: ModelGroup,
    window: str = DEFAULT_WINDOW,
    now: datetime | None = None,
    version_ids: Iterable[int] | None = None,
    with_series: bool = True,
    use_cache: bool = True,
) -> Comparison:
    """Every member's numbers in the window, each challenger tested against the champion.

    A live comparison (no `now` given) is kept CACHE_SECONDS in Django's cache: the page
    polls every 10 s, and any number of viewers then cost one computation per interval.
    The key carries the routing generation, which every role or weight change bumps, so
    a promotion shows at once; new rows and feedback show within CACHE_SECONDS (the page
    says when its numbers were computed).
    """
    window_start(window, timezone.now())  # refuse an unknown window before anything else
    key = None
    if use_cache and now is None and version_ids is None:
        key = f"inference:comparison:{group.pk}:{window}:{int(with_series)}:{routing_generation()}"
        cached = cache.get(key)
        if cached is not None:
            return cached
    with aggregates.analytics_reads() as concurrent:
        result = _group_comparison(group, window, now, version_ids, with_series, concurrent)
    if key is not None:
        cache.set(key, result, CACHE_SECONDS)
    return result


def _member(
    membership: Membership,
    model: type[Model],
    totals: dict[int, Totals],
    span: tuple,
    total_served: int,
    *,
    scored: dict[int, Scored],
    task: str = Task.BINARY,
) -> MemberStats:
    version = membership.model_version
    member_total = totals.get(version.pk, Totals())
    if task in MEMBER_METRICS:
        return _task_member(membership, model, member_total, span, total_served, task)
    member_scored = scored.get(version.pk, Scored())
    return MemberStats(
        version_id=version.pk,
        model_name=version.model.name,
        version_label=version.version,
        role=membership.role,
        weight=membership.weight,
        totals=member_total,
        scored=member_scored,
        metrics=member_metrics(member_total, member_scored, total_served),
        traffic_share=member_total.served / total_served if total_served else None,
    )


def _task_member(
    membership: Membership,
    model: type[Model],
    member_total: Totals,
    span: tuple,
    total_served: int,
    task: str,
) -> MemberStats:
    """A regression or multiclass member: its task's metrics from the totals and its
    latest labelled rows."""
    version = membership.model_version
    rows = (
        aggregates.task_rows(model, version.pk, *span, task=task)
        if member_total.labelled
        else aggregates.TaskRows()
    )
    return MemberStats(
        version_id=version.pk,
        model_name=version.model.name,
        version_label=version.version,
        role=membership.role,
        weight=membership.weight,
        totals=member_total,
        scored=Scored(),
        metrics=MEMBER_METRICS[task](member_total, rows, total_served),
        traffic_share=member_total.served / total_served if total_served else None,
        task=task,
        rows=rows,
        kpi_keys=KPIS[task],
        detail_keys=DETAILS[task],
    )


def _judge(comparison: Comparison) -> None:
    """Each challenger against the champion, paired where a shadow scored its requests."""
    from inference.serving import shadow_request_id  # the serving path's own rule

    champion = comparison.champion
    for challenger in comparison.challengers:
        if challenger.task in MEMBER_METRICS:
            task_paired = task_pairs(champion, challenger, shadow_request_id)
            task_challenger_judge(champion, challenger, task_paired)
            comparison.paired |= task_paired is not None
            continue
        pairs = paired_rows(champion, challenger, shadow_request_id)
        challenger_judge(champion, challenger, pairs)
        comparison.paired |= pairs is not None


def _scored_reading(
    memberships: list[Membership],
    model: type[Model],
    span: tuple,
    *,
    task: str,
    with_times: bool,
    concurrent: bool,
) -> AbstractContextManager[Callable[[Sequence[int]], dict[int, Scored]]]:
    """The labelled rows of the binary members (aggregates.scored_rows_reading): started
    before the totals, so that on PostgreSQL they are read side by side with them."""
    binary = [] if task in MEMBER_METRICS else [m.model_version_id for m in memberships]
    return aggregates.scored_rows_reading(
        model,
        binary,
        *span,
        concurrent=concurrent,
        with_times=with_times,
        # Shadow rows pair with the champion's by request id: ids only when there are shadows.
        with_ids=any(m.role == Role.SHADOW for m in memberships),
    )


def _labelled(memberships: list[Membership], totals: dict[int, Totals], task: str) -> list[int]:
    """The binary members with labelled rows: the others have no scored rows to read."""
    if task in MEMBER_METRICS:
        return []
    return [
        m.model_version_id for m in memberships if totals.get(m.model_version_id, Totals()).labelled
    ]


def _group_comparison(
    group: ModelGroup,
    window: str,
    now: datetime | None,
    version_ids: Iterable[int] | None,
    with_series: bool,
    concurrent: bool = False,
) -> Comparison:
    now = now or timezone.now()
    since = window_start(window, now)
    model = inference_log_model(group.table_name)
    kind = BUCKETS[window]
    task = group.task
    memberships = _memberships(group, version_ids)
    reading = _scored_reading(
        memberships, model, (since, now), task=task, with_times=with_series, concurrent=concurrent
    )
    with reading as scored_rows:
        totals, buckets = aggregates.member_totals(
            model, since, now, kind, group_id=group.pk, task=task
        )
        scored = scored_rows(_labelled(memberships, totals, task))
    total_served = sum(t.served for t in totals.values())
    members = [
        _member(m, model, totals, (since, now), total_served, scored=scored, task=task)
        for m in memberships
    ]
    comparison = Comparison(
        group=group,
        window=window,
        since=since,
        now=now,
        members=members,
        total_requests=sum(t.requests for t in totals.values()),
        paired=False,
        series={},
    )
    _judge(comparison)
    if with_series and members:
        comparison.series = series_charts(members, buckets, kind, task)
    return comparison


def version_live_metrics(
    *, version_id: int, window: str = DEFAULT_WINDOW, groups: Iterable[ModelGroup] | None = None
) -> list[tuple[ModelGroup, MemberStats]]:
    """The version's live numbers in every group it serves in (for the model page);
    `groups`: the groups to look in (those the viewer may see), all by default."""
    if groups is None:
        groups = ModelGroup.objects.all()
    result = []
    serving = (
        groups.filter(memberships__model_version_id=version_id).exclude(table_name="").distinct()
    )
    for group in serving:
        comparison = group_comparison(
            group=group, window=window, version_ids=[version_id], with_series=False
        )
        member = next((m for m in comparison.members if m.version_id == version_id), None)
        if member is not None:
            result.append((group, member))
    return result
