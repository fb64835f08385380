"""The comparison's SQL aggregates equal a Python reference on the same rows (run on
SQLite and on PostgreSQL)."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from sklearn import metrics as skm

from groups.models import Role
from inference import aggregates, comparison, latency_sketch
from tests.inference.analytics_rows import fill_rows, make_group

pytestmark = pytest.mark.django_db(transaction=False)

LATENCY_REL = latency_sketch.RELATIVE_ACCURACY * (1 + 1e-9)  # 1%, and float rounding


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def filled(now):
    group, versions = make_group()
    rows = fill_rows(group, versions, n=800, now=now)
    return group, versions, rows


def _in_window(rows, version, now, days):
    return [
        r
        for r in rows
        if r.model_version_id == version.pk and r.created_at >= now - timedelta(days=days)
    ]


def test_sql_counts_and_means_equal_the_python_reference(filled, now):
    group, versions, rows = filled
    result = comparison.group_comparison(group=group, window="7d", now=now)
    served_total = len([r for r in rows if r.created_at >= now - timedelta(days=7)])
    for member, version in zip(result.members, versions, strict=True):
        mine = _in_window(rows, version, now, 7)
        scores = np.array([r.score for r in mine])
        t = member.totals
        assert t.requests == len(mine)
        assert member.traffic_share == pytest.approx(len(mine) / served_total, abs=1e-12)
        assert t.mean_score == pytest.approx(scores.mean(), abs=1e-9)
        assert t.score_variance == pytest.approx(scores.var(ddof=1), rel=1e-9)
        assert t.positives == sum(r.prediction == 1 for r in mine)
        assert t.fallbacks == sum(r.fallback for r in mine)
        # Latency percentiles come from 1% histogram buckets: within 1% of numpy's.
        for q, value in zip((50, 95, 99), t.latency, strict=True):
            assert value == pytest.approx(
                np.percentile([r.latency_ms for r in mine], q), rel=LATENCY_REL
            )


def test_sql_confusion_counts_give_scikit_learns_metrics(filled, now):
    group, versions, rows = filled
    result = comparison.group_comparison(group=group, window="7d", now=now)
    for member, version in zip(result.members, versions, strict=True):
        labelled = [r for r in _in_window(rows, version, now, 7) if r.outcome is not None]
        y = [r.outcome for r in labelled]
        predicted = [r.prediction for r in labelled]
        scores = [r.score for r in labelled]
        assert member.totals.labelled == len(labelled)
        m = member.metrics
        assert m["accuracy"].value == pytest.approx(skm.accuracy_score(y, predicted), abs=1e-9)
        assert m["precision"].value == pytest.approx(
            skm.precision_score(y, predicted, zero_division=0), abs=1e-9
        )
        assert m["recall"].value == pytest.approx(
            skm.recall_score(y, predicted, zero_division=0), abs=1e-9
        )
        assert m["f1"].value == pytest.approx(skm.f1_score(y, predicted, zero_division=0), abs=1e-9)
        assert m["auc"].value == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-9)
        assert m["log_loss"].value == pytest.approx(
            skm.log_loss(y, scores, labels=[0, 1]), abs=1e-9
        )
        assert m["brier"].value == pytest.approx(skm.brier_score_loss(y, scores), abs=1e-9)
        assert m["accuracy"].interval.low < m["accuracy"].value < m["accuracy"].interval.high


def test_each_window_counts_only_its_rows(filled, now):
    group, versions, rows = filled
    for window, days in (("24h", 1), ("7d", 7), ("30d", 30), ("all", 10_000)):
        result = comparison.group_comparison(group=group, window=window, now=now)
        expected = [r for r in rows if r.created_at >= now - timedelta(days=days)]
        assert result.total_requests == len(expected)


def test_challenger_gets_a_delta_and_a_verdict_per_metric(filled, now):
    group, _, _ = filled
    result = comparison.group_comparison(group=group, window="all", now=now)
    champion, (challenger,) = result.champion, result.challengers
    assert champion.role == Role.CHAMPION
    accuracy = challenger.metrics["accuracy"]
    assert accuracy.delta == pytest.approx(accuracy.value - champion.metrics["accuracy"].value)
    for key in ("accuracy", "auc", "mean_score"):
        assert challenger.metrics[key].verdict.text
    assert champion.metrics["auc"].verdict is None


def test_a_clearly_better_challenger_is_called_better(now):
    group, versions = make_group(name="Clear Winner")
    fill_rows(
        group, versions, n=3000, now=now, skill=(0.3, 3.0), shares=(0.5, 0.5), labelled_share=1.0
    )
    result = comparison.group_comparison(group=group, window="all", now=now)
    verdict = result.challengers[0].metrics["auc"].verdict
    assert verdict.kind == "better"
    assert verdict.text.startswith("challenger better, p ")


def test_time_series_sum_to_the_window_totals(filled, now):
    group, _, _ = filled
    result = comparison.group_comparison(group=group, window="30d", now=now)
    assert result.series["requests"]["kind"] == "timeseries"  # the charts contract
    requests = result.series["requests"]["datasets"]
    for dataset, member in zip(requests, result.members, strict=True):
        assert sum(v or 0 for v in dataset["data"]) == member.totals.requests
    assert set(result.series) == {"requests", "mean_score", "accuracy", "auc"}


def test_scored_rows_are_capped_at_the_latest(filled, now):
    group, versions, rows = filled
    from inference.tables import inference_log_model

    model = inference_log_model(group.table_name)
    scored = aggregates.scored_rows(model, versions[0].pk, None, now, cap=50)
    assert scored.truncated and len(scored.y) == 50
    assert scored.times == sorted(scored.times, reverse=True)


def test_a_group_without_traffic_has_members_but_no_numbers(now):
    group, _ = make_group(name="Quiet Group")
    result = comparison.group_comparison(group=group, window="7d", now=now)
    assert result.total_requests == 0
    assert [m.totals.requests for m in result.members] == [0, 0]
    assert result.challengers[0].metrics["accuracy"].verdict.kind == "not_enough"


def test_unknown_window_is_refused(filled):
    with pytest.raises(comparison.InvalidWindow, match="Unknown window"):
        comparison.group_comparison(group=filled[0], window="1y")


def test_live_metrics_of_a_version_come_from_each_group_it_serves(filled, now):
    group, versions, _ = filled
    live = comparison.version_live_metrics(version_id=versions[1].pk, window="all")
    assert [(g.pk, m.version_id) for g, m in live] == [(group.pk, versions[1].pk)]


def test_shadow_rows_pair_with_the_champions_for_paired_tests(now):
    import uuid

    from inference import stats
    from inference.serving import shadow_request_id
    from inference.tables import inference_log_model

    group, (champion, shadow) = make_group(
        name="Shadowed", roles=(("champion", 100), ("shadow", 0))
    )
    model = inference_log_model(group.table_name)
    rng = np.random.default_rng(11)
    rows, y, a, b = [], [], [], []
    for i in range(400):
        label = int(rng.random() < 0.4)
        score_a = float(np.round(1 / (1 + np.exp(-(label * 2 - 1) * 0.8 - rng.normal(0, 1))), 3))
        score_b = float(np.round(1 / (1 + np.exp(-(label * 2 - 1) * 1.6 - rng.normal(0, 1))), 3))
        request_id = uuid.uuid4()
        created = now - timedelta(minutes=i)
        common = {
            "inputs": {"income": i},
            "created_at": created,
            "outcome": label,
            "latency_ms": 1.0,
        }
        rows.append(
            model(
                request_id=request_id,
                model_version_id=champion.pk,
                role="champion",
                prediction=int(score_a >= 0.5),
                score=score_a,
                **common,
            )
        )
        rows.append(
            model(
                request_id=shadow_request_id(request_id, shadow.pk),
                model_version_id=shadow.pk,
                role="shadow",
                prediction=int(score_b >= 0.5),
                score=score_b,
                **common,
            )
        )
        y.append(label)
        a.append(score_a)
        b.append(score_b)
    model.objects.bulk_create(rows)
    result = comparison.group_comparison(group=group, window="7d", now=now)
    assert result.paired
    champion_stats, shadow_stats = result.members
    assert shadow_stats.traffic_share == 0  # shadows answer nobody
    expected = stats.delong_paired(y, a, b)
    assert shadow_stats.metrics["auc"].verdict.p_value == pytest.approx(expected.p_value, abs=1e-12)
    only_a = sum((sa >= 0.5) == t and (sb >= 0.5) != t for t, sa, sb in zip(y, a, b, strict=True))
    only_b = sum((sb >= 0.5) == t and (sa >= 0.5) != t for t, sa, sb in zip(y, a, b, strict=True))
    assert shadow_stats.metrics["accuracy"].verdict.p_value == pytest.approx(
        stats.mcnemar(only_a, only_b).p_value, abs=1e-12
    )


def test_auc_series_per_day_equals_scikit_learn_on_that_days_rows(filled, now):
    from datetime import UTC

    group, versions, rows = filled
    result = comparison.group_comparison(group=group, window="30d", now=now)
    chart = result.series["auc"]
    checked = 0
    for dataset, version in zip(chart["datasets"], versions, strict=True):
        for label, value in zip(chart["labels"], dataset["data"], strict=True):
            day = [
                r
                for r in rows
                if r.model_version_id == version.pk
                and r.outcome is not None
                and r.created_at.astimezone(UTC).strftime("%b %d") == label
            ]
            if len({r.outcome for r in day}) == 2:
                expected = skm.roc_auc_score([r.outcome for r in day], [r.score for r in day])
                assert value == pytest.approx(expected, abs=1e-6)
                checked += 1
            else:
                assert value is None
    assert checked > 5
