"""Hourly roll-ups: the comparison read from them equals the raw log, whatever happened
to the log between refreshes (feedback, backdated writes, late commits). Run on SQLite and
on PostgreSQL."""

import itertools
import json
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groups.models import Role
from groups.services import group_delete
from hub.celery import app
from inference import aggregates, comparison, latency_sketch
from inference.feedback import FeedbackItem, feedback_record
from inference.hours import HOUR, Span, floor_hour
from inference.models import HourlyLatency, HourlyRollup, RollupDirtyHour, RollupState
from inference.rollup import GRACE, rollup_mark_written, rollup_refresh, rollup_reset
from inference.serving import shadow_request_id
from inference.tables import inference_log_model
from inference.tasks import rollups_refresh
from tests.celery_worker import wait_for
from tests.inference.analytics_rows import fill_rows, make_group

pytestmark = pytest.mark.django_db

ROLES = (("champion", 80), ("challenger", 20), ("shadow", 0))
_names = itertools.count()


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def _log_rows(group, versions, rng, count, *, newest, span):
    """Rows with every kind of value the comparison distinguishes: labels of several JSON
    types, missing scores and outcomes, zero latencies, fallbacks, errors, shadows."""
    model = inference_log_model(group.table_name)
    rows = []
    for _ in range(count):
        i = int(rng.integers(len(versions)))
        created = newest - span * float(rng.random())
        rows.append(
            model(
                request_id=uuid.uuid4(),
                model_version_id=versions[i].pk,
                role=ROLES[i][0],
                inputs={"income": int(rng.integers(1000))},
                prediction=[0, 1, 1, True, "0", "maybe", None][int(rng.integers(7))],
                score=None if rng.random() < 0.1 else float(np.round(rng.random(), 3)),
                latency_ms=0.0 if rng.random() < 0.05 else float(np.round(rng.gamma(2.0, 3.0), 3)),
                fallback=bool(rng.random() < 0.1),
                error="timeout" if rng.random() < 0.05 else "",
                created_at=created,
                outcome=None if rng.random() < 0.6 else int(rng.random() < 0.4),
            )
        )
    model.objects.bulk_create(rows)
    return rows


def _assert_same_numbers(rolled, raw):
    (totals, buckets), (raw_totals, raw_buckets) = rolled, raw
    assert totals.keys() == raw_totals.keys()
    for version_id, total in totals.items():
        expected = raw_totals[version_id]
        for name in (
            "requests",
            "served",
            "scored",
            "positives",
            "fallbacks",
            "errors",
            "labelled",
            "confusion",
        ):
            assert getattr(total, name) == getattr(expected, name), name
        for name in ("mean_score", "score_variance"):  # None with too few scores
            value, wanted = getattr(total, name), getattr(expected, name)
            assert value == (
                wanted if wanted is None else pytest.approx(wanted, rel=1e-9, abs=1e-12)
            ), name
        assert total.latency == expected.latency  # the same histograms, bucketed by the same SQL
    assert buckets.keys() == raw_buckets.keys()
    for key, bucket in buckets.items():
        for name, value in bucket.items():
            assert value == pytest.approx(raw_buckets[key][name], rel=1e-9, abs=1e-9), (key, name)


def _both_ways(group, since, until, kind):
    model = inference_log_model(group.table_name)
    rolled = aggregates.member_totals(model, since, until, kind, group_id=group.pk)
    raw = aggregates.member_totals(model, since, until, kind)
    return rolled, raw


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    steps=st.lists(
        st.sampled_from(["refresh", "refresh_now", "feedback", "backdated", "recent"]), max_size=7
    ),
)
def test_totals_from_roll_ups_equal_the_raw_log_after_any_history(seed, steps):
    rng = np.random.default_rng(seed)
    group, versions = make_group(name=f"Rolled Case {next(_names)}", roles=ROLES)
    start = timezone.now()
    rows = _log_rows(group, versions, rng, 80, newest=start, span=timedelta(days=3))
    rollup_refresh(group=group, now=start - timedelta(hours=float(rng.uniform(0, 48))))
    for step in steps:
        now = timezone.now()
        if step == "refresh":  # a refresh some hours ago: later hours are still raw
            rollup_refresh(group=group, now=now - timedelta(hours=float(rng.uniform(0, 60))))
        elif step == "refresh_now":
            rollup_refresh(group=group)
        elif step == "feedback":  # outcomes, and corrections of outcomes, on old and new rows
            served = [r for r in rows if r.role != Role.SHADOW]
            chosen = rng.choice(len(served), size=min(15, len(served)), replace=False)
            feedback_record(
                group=group,
                items=[FeedbackItem(served[i].request_id, int(rng.random() < 0.5)) for i in chosen],
            )
        elif step == "backdated":  # a replay: rows logged into old hours, then marked
            new = _log_rows(
                group, versions, rng, 10, newest=now - timedelta(hours=1), span=timedelta(days=2)
            )
            rollup_mark_written(group.pk, [r.created_at for r in new])
            rows += new
        else:  # requests logged just now: within the grace, no mark needed
            rows += _log_rows(group, versions, rng, 5, newest=now, span=timedelta(seconds=50))

    until = timezone.now()
    for window, kind in (("24h", "hour"), ("7d", "day"), ("all", "day")):
        since = comparison.window_start(window, until)
        _assert_same_numbers(*_both_ways(group, since, until, kind))


def test_the_comparison_takes_rolled_up_hours_from_the_roll_ups(now):
    group, versions = make_group(name="Rolled Up")
    fill_rows(group, versions, n=300, now=now, span=timedelta(days=3))
    rollup_refresh(group=group, now=now)
    # Behind the application's back (nothing marked), the old rows leave the log: the
    # numbers still count them, so they were read from the roll-ups.
    model = inference_log_model(group.table_name)
    model.objects.filter(created_at__lt=now - timedelta(hours=6)).delete()
    (totals, _), (raw_totals, _) = _both_ways(group, None, now, "day")
    assert sum(t.requests for t in totals.values()) == 300
    assert sum(t.requests for t in raw_totals.values()) < 300


def test_feedback_on_a_rolled_up_hour_marks_it_dirty_and_moves_the_comparison():
    group, versions = make_group(name="Late Outcomes")
    rows = fill_rows(
        group,
        versions,
        n=200,
        now=timezone.now() - timedelta(hours=3),
        span=timedelta(hours=20),
        labelled_share=0.0,
    )
    rollup_refresh(group=group)
    target = rows[0]

    def labelled() -> int:
        result = comparison.group_comparison(group=group, window="7d", use_cache=False)
        return next(
            m for m in result.members if m.version_id == target.model_version_id
        ).totals.labelled

    assert labelled() == 0

    feedback_record(group=group, items=[FeedbackItem(target.request_id, 1)])

    hour = floor_hour(target.created_at)
    assert list(RollupDirtyHour.objects.filter(group=group).values_list("hour", flat=True)) == [
        hour
    ]
    assert labelled() == 1  # read raw until the next refresh
    result = rollup_refresh(group=group)
    assert result.dirty_hours == 1
    assert not RollupDirtyHour.objects.filter(group=group).exists()
    assert (
        HourlyRollup.objects.get(
            group=group, hour=hour, model_version_id=target.model_version_id, outcome=1
        ).requests
        == 1
    )
    assert labelled() == 1


def test_feedback_marks_the_hour_of_the_shadows_row_too():
    group, (champion, shadow) = make_group(
        name="Shadow Hours", roles=(("champion", 100), ("shadow", 0))
    )
    model = inference_log_model(group.table_name)
    hour = floor_hour(timezone.now()) - 5 * HOUR
    request_id = uuid.uuid4()
    common = {"inputs": {}, "prediction": 1, "score": 0.8, "latency_ms": 3.0}
    model.objects.bulk_create(
        [
            model(
                request_id=request_id,
                model_version_id=champion.pk,
                role="champion",
                created_at=hour - timedelta(milliseconds=5),
                **common,
            ),
            # the shadow answered a few milliseconds later, in the next hour
            model(
                request_id=shadow_request_id(request_id, shadow.pk),
                model_version_id=shadow.pk,
                role="shadow",
                created_at=hour + timedelta(milliseconds=5),
                **common,
            ),
        ]
    )
    rollup_refresh(group=group)

    feedback_record(group=group, items=[FeedbackItem(request_id, 0)])

    marked = set(RollupDirtyHour.objects.filter(group=group).values_list("hour", flat=True))
    assert marked == {hour - HOUR, hour}
    (totals, _), _ = _both_ways(group, None, timezone.now(), "day")
    assert totals[shadow.pk].labelled == 1


def test_backdated_rows_count_once_their_hours_are_marked(now):
    group, versions = make_group(name="Replayed")
    fill_rows(group, versions, n=100, now=now - timedelta(hours=2), span=timedelta(hours=10))
    rollup_refresh(group=group)
    backdated = fill_rows(
        group, versions, n=20, seed=5, now=now - timedelta(hours=2), span=timedelta(hours=10)
    )

    def total() -> int:
        return comparison.group_comparison(
            group=group, window="24h", use_cache=False
        ).total_requests

    assert total() == 100  # the writer must mark them: the roll-ups cannot know

    rollup_mark_written(group.pk, [r.created_at for r in backdated])

    assert total() == 120
    rollup_refresh(group=group)
    assert not RollupDirtyHour.objects.filter(group=group).exists()
    assert total() == 120


def test_writes_in_the_open_hour_need_no_mark():
    group, _ = make_group(name="Open Hour")
    now = timezone.now()
    rollup_mark_written(group.pk, [now])
    assert not RollupDirtyHour.objects.filter(group=group).exists()
    rollup_mark_written(group.pk, [now - 2 * HOUR, now - 2 * HOUR])
    assert list(RollupDirtyHour.objects.filter(group=group).values_list("hour", flat=True)) == [
        floor_hour(now - 2 * HOUR)
    ]


def test_an_hour_is_rolled_up_only_once_the_grace_after_it_has_passed():
    group, versions = make_group(name="Boundary")
    model = inference_log_model(group.table_name)
    hour = floor_hour(timezone.now()) - 3 * HOUR

    def log(created_at):
        model.objects.create(
            request_id=uuid.uuid4(),
            model_version_id=versions[0].pk,
            role="champion",
            inputs={},
            prediction=1,
            score=0.5,
            latency_ms=1.0,
            created_at=created_at,
        )

    log(hour + timedelta(minutes=30))
    # A minute after the hour, a request that took its time just before it may still be
    # on its way to the database: the hour is not closed yet.
    assert rollup_refresh(group=group, now=hour + HOUR + timedelta(minutes=1)).rolled_until == hour
    log(hour + HOUR - timedelta(milliseconds=1))
    assert rollup_refresh(group=group, now=hour + HOUR + GRACE).rolled_until == hour + HOUR
    assert HourlyRollup.objects.get(group=group, hour=hour).requests == 2


def _rollups(group):
    rows = HourlyRollup.objects.filter(group=group).values(
        "hour", "model_version_id", "prediction", "outcome", *aggregates.ADDITIVE
    )
    return sorted(
        rows,
        key=lambda r: (
            r["hour"],
            r["model_version_id"],
            json.dumps(r["prediction"]),
            json.dumps(r["outcome"]),
        ),
    )


def _histograms(group):
    return sorted(
        HourlyLatency.objects.filter(group=group).values_list(
            "hour", "model_version_id", "histogram"
        )
    )


def test_refreshing_again_or_from_scratch_writes_the_same_roll_ups(now):
    group, versions = make_group(name="Idempotent")
    fill_rows(group, versions, n=300, now=now, span=timedelta(days=3))
    first = rollup_refresh(group=group, now=now)
    rolled, histograms = _rollups(group), _histograms(group)
    assert first.hours_read >= 70 and len(rolled) > 70 and len(histograms) > 70

    again = rollup_refresh(group=group, now=now)

    assert (again.rolled_until, again.hours_read, again.rows_written) == (first.rolled_until, 0, 0)
    assert (_rollups(group), _histograms(group)) == (rolled, histograms)
    rollup_reset(group=group)
    rollup_refresh(group=group, now=now)
    assert _histograms(group) == histograms
    rebuilt = _rollups(group)
    assert len(rebuilt) == len(rolled)
    for a, b in zip(rebuilt, rolled, strict=True):
        sums = ("score_sum", "score_squares")  # added up in another order: equal up to rounding
        assert {k: v for k, v in a.items() if k not in sums} == {
            k: v for k, v in b.items() if k not in sums
        }
        assert [a[k] for k in sums] == pytest.approx([b[k] for k in sums], rel=1e-12)


def test_an_empty_log_is_rolled_up_to_the_last_closed_hour():
    group, _ = make_group(name="Empty Log")
    now = timezone.now()
    result = rollup_refresh(group=group, now=now)
    assert result.rolled_until == floor_hour(now - GRACE)
    assert not HourlyRollup.objects.filter(group=group).exists()


def test_deleting_a_group_deletes_its_roll_ups(now):
    group, versions = make_group(name="Short Lived")
    fill_rows(group, versions, n=100, now=now, span=timedelta(days=1))
    rollup_refresh(group=group, now=now)
    rollup_mark_written(group.pk, [now - 5 * HOUR])
    assert HourlyRollup.objects.filter(group=group).exists()

    group_delete(group=group, actor=None)

    assert not HourlyRollup.objects.filter(group_id=group.pk).exists()
    assert not HourlyLatency.objects.filter(group_id=group.pk).exists()
    assert not RollupState.objects.filter(group_id=group.pk).exists()
    assert not RollupDirtyHour.objects.filter(group_id=group.pk).exists()


def test_the_admin_delete_confirmation_does_not_list_roll_ups_and_deleting_removes_them(
    staff_client, now
):
    group, versions = make_group(name="Long Lived")
    fill_rows(group, versions, n=200, now=now, span=timedelta(days=3))
    rollup_refresh(group=group, now=now)
    assert HourlyRollup.objects.filter(group=group).count() > 20

    page = staff_client.get(reverse("admin:groups_modelgroup_delete", args=[group.pk]))
    assert page.status_code == 200
    assert "Hourly" not in page.content.decode()  # a year of hours would be 100,000 lines

    response = staff_client.post(
        reverse("admin:groups_modelgroup_delete", args=[group.pk]), {"post": "yes"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not HourlyRollup.objects.filter(group_id=group.pk).exists()
    assert not HourlyLatency.objects.filter(group_id=group.pk).exists()
    assert not RollupState.objects.filter(group_id=group.pk).exists()


def test_sql_puts_each_latency_in_the_bucket_python_computes():
    group, versions = make_group(name="Buckets")
    model = inference_log_model(group.table_name)
    latencies = [0.0, 0.001, 0.37, 1.0, 1.5, 9.99, 10.0, 250.0, 12345.678]
    model.objects.bulk_create(
        [
            model(
                request_id=uuid.uuid4(),
                model_version_id=versions[0].pk,
                role="champion",
                inputs={},
                latency_ms=value,
                created_at=timezone.now() - timedelta(minutes=i),
            )
            for i, value in enumerate(latencies)
        ]
    )
    rows = model.objects.annotate(b=aggregates.latency_bucket()).values_list("latency_ms", "b")
    assert {v: latency_sketch.bucket_key(b) for v, b in rows} == {
        v: latency_sketch.bucket_of(v) for v in latencies
    }


def test_the_raw_part_of_a_rolled_up_window_is_only_its_edges():
    group, versions = make_group(name="Edges")
    now = floor_hour(timezone.now()) - timedelta(minutes=30)  # a window starting mid-hour
    fill_rows(group, versions, n=50, now=now, span=timedelta(days=3))
    rollup_refresh(group=group, now=now)
    since = now - timedelta(days=2)
    split = aggregates.rolled_split(group.pk, since, now)
    assert split.raw == (
        Span(since, split.rolled_from),
        Span(floor_hour(now - GRACE), now, end_included=True),
    )


def test_beat_rolls_up_every_minute():
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["inference.rollups_refresh"] == 60.0
    assert rollups_refresh.name in app.tasks


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_rolls_up_every_group_on_a_real_worker(celery_worker):
    group, versions = make_group(name="Worker Rolled")
    fill_rows(
        group, versions, n=60, now=timezone.now() - timedelta(hours=2), span=timedelta(hours=6)
    )

    rollups_refresh.delay()

    wait_for(
        lambda: RollupState.objects.filter(group=group, rolled_until__isnull=False).exists(),
        timeout=60,
        message="the worker never rolled up the group:\n" + celery_worker.log(),
    )
    assert sum(HourlyRollup.objects.filter(group=group).values_list("requests", flat=True)) == 60
    histograms = HourlyLatency.objects.filter(group=group).values_list("histogram", flat=True)
    assert sum(sum(h.values()) for h in histograms) == 60


def test_ops_see_each_groups_roll_up_state_and_can_have_it_rebuilt(staff_client, now):
    group, versions = make_group(name="Ops Rolled")
    fill_rows(group, versions, n=50, now=now, span=timedelta(days=1))
    rollup_refresh(group=group, now=now)
    rollup_mark_written(group.pk, [now - 5 * HOUR])
    url = reverse("admin:inference_rollupstate_changelist")

    page = staff_client.get(url).content.decode()
    assert "Ops Rolled" in page and "Dirty hours" in page

    state = RollupState.objects.get(group=group)
    response = staff_client.post(
        url, {"action": "rebuild", "_selected_action": [state.pk]}, follow=True
    )

    assert "beat builds them again" in response.content.decode()
    assert not RollupState.objects.filter(group=group).exists()
    assert not HourlyRollup.objects.filter(group=group).exists()
    rollup_refresh(group=group, now=now)
    _assert_same_numbers(*_both_ways(group, None, now, "day"))


def test_a_prediction_served_with_a_past_time_counts_in_an_hour_already_rolled_up():
    from inference.serving import PredictRequest, predict_batch
    from tests.inference.serving_factories import credit_rows, serving_group

    setup = serving_group()
    past = timezone.now() - timedelta(hours=5)
    rows = credit_rows(6)
    predict_batch(
        slug=setup.group.slug,
        instances=[PredictRequest(inputs=r, logged_at=past) for r in rows[:3]],
    )
    rollup_refresh(group=setup.group)
    assert not RollupDirtyHour.objects.filter(group=setup.group).exists()

    # The demo's replay: serving marks the rolled-up hour it writes into.
    predict_batch(
        slug=setup.group.slug,
        instances=[PredictRequest(inputs=r, logged_at=past) for r in rows[3:]],
    )

    assert list(
        RollupDirtyHour.objects.filter(group=setup.group).values_list("hour", flat=True)
    ) == [floor_hour(past)]
    assert (
        comparison.group_comparison(group=setup.group, window="24h", use_cache=False).total_requests
        == 6
    )
