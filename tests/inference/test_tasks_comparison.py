"""The live comparison per task, on the demo's regression and multiclass groups (the same
construction as seed_demo: real versions, the real serving and feedback paths, roll-ups):
`GET /api/v1/groups/<slug>/comparison` reports each member's numbers equal to
scikit-learn's on the logged rows, and each test equal to scipy.stats' on them, by name."""

import uuid

import numpy as np
import pytest
from django.urls import reverse
from scipy import stats as sps
from sklearn import metrics as skm

from groups.models import ModelGroup, Role
from inference import aggregates, demo_tasks, tables
from inference.metrics import counts
from inference.rollup import rollup_refresh
from inference.serving import shadow_request_id

pytestmark = pytest.mark.django_db
TOL = {"rel": 1e-9, "abs": 1e-9}
REQUESTS = 300


@pytest.fixture
def pricing(admin_user) -> ModelGroup:
    demo_tasks.demo_task_traffic_seed(demo_tasks.PRICING, requests=REQUESTS, actor=admin_user)
    return ModelGroup.objects.get(name="Dynamic Pricing")


@pytest.fixture
def offers(admin_user) -> ModelGroup:
    demo = demo_tasks.NEXT_BEST_ACTION
    demo_tasks.demo_task_traffic_seed(demo, requests=REQUESTS, actor=admin_user)
    return ModelGroup.objects.get(name="Next Best Action")


def _comparison(client, group: ModelGroup, window: str = "7d") -> dict:
    response = client.get(
        reverse("group-comparison", args=[group.slug]),
        {"window": window},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def _labelled(group: ModelGroup, version_id: int) -> list:
    """Every labelled row of a member: (request id, prediction, score, outcome, probabilities)."""
    log = tables.inference_log_model(group.table_name)
    return list(
        log.objects.filter(model_version_id=version_id, outcome__isnull=False).values_list(
            "request_id", "prediction", "score", "outcome", "probabilities"
        )
    )


def _members(body: dict) -> dict[str, dict]:
    return {m["role"]: m for m in body["members"]}


# --- regression ---------------------------------------------------------------------------


def test_regression_comparison_reports_mae_and_rmse_equal_to_scikit_learn(user_client, pricing):
    body = _comparison(user_client, pricing)
    assert body["task"] == "regression"
    assert body["paired"] is True  # the gradient boosting shadow scored the same requests
    for member in body["members"]:
        rows = _labelled(pricing, member["model_version"])
        actual = [float(r[3]) for r in rows]
        predicted = [float(r[2]) for r in rows]
        metrics = member["metrics"]
        assert member["labelled"] == len(rows) > 100
        assert metrics["mae"]["value"] == pytest.approx(
            skm.mean_absolute_error(actual, predicted), **TOL
        )
        assert metrics["rmse"]["value"] == pytest.approx(
            skm.root_mean_squared_error(actual, predicted), **TOL
        )
        assert metrics["r2"]["value"] == pytest.approx(skm.r2_score(actual, predicted), **TOL)
        assert metrics["median_absolute_error"]["value"] == pytest.approx(
            skm.median_absolute_error(actual, predicted), **TOL
        )
        assert metrics["mean_error"]["value"] == pytest.approx(
            float(np.mean(np.subtract(predicted, actual))), **TOL
        )
        low, high = metrics["mae"]["ci95"]
        assert low < metrics["mae"]["value"] < high


def test_regression_shadow_is_tested_by_paired_t_and_wilcoxon_on_absolute_errors(
    user_client, pricing
):
    body = _comparison(user_client, pricing)
    members = _members(body)
    champion, shadow = members[Role.CHAMPION], members[Role.SHADOW]
    ours = {r[0]: (float(r[2]), float(r[3])) for r in _labelled(pricing, champion["model_version"])}
    theirs = {r[0]: (float(r[2]), float(r[3])) for r in _labelled(pricing, shadow["model_version"])}
    a, b = [], []
    for request_id, (predicted, actual) in ours.items():
        twin = theirs.get(shadow_request_id(uuid.UUID(str(request_id)), shadow["model_version"]))
        if twin is not None:
            a.append(abs(predicted - actual))
            b.append(abs(twin[0] - actual))
    assert len(a) == champion["labelled"]
    mae = shadow["metrics"]["mae"]
    assert mae["test"] == "paired t-test"
    assert mae["p_value"] == pytest.approx(sps.ttest_rel(b, a).pvalue, **TOL)
    [wilcoxon] = mae["other_tests"]
    assert wilcoxon["name"] == "Wilcoxon signed-rank test"
    assert wilcoxon["p_value"] == pytest.approx(sps.wilcoxon(b, a).pvalue, **TOL)
    low, high = mae["difference_ci95"]
    assert low < float(np.mean(b) - np.mean(a)) < high
    assert mae["verdict_kind"] in ("better", "worse", "no_difference")


def test_regression_numbers_are_the_same_from_roll_ups_and_from_the_raw_log(pricing):
    log = tables.inference_log_model(pricing.table_name)
    rollup_refresh(group=pricing)
    since = log.objects.order_by("created_at").first().created_at
    until = log.objects.order_by("-created_at").first().created_at
    rolled, _ = aggregates.member_totals(
        log, since, until, "day", group_id=pricing.pk, task=pricing.task
    )
    raw, _ = aggregates.member_totals(log, since, until, "day", task=pricing.task)
    assert rolled.keys() == raw.keys()
    for version_id, totals in raw.items():
        assert totals.error_sums.error_rows == rolled[version_id].error_sums.error_rows > 0
        assert rolled[version_id].error_sums.mae == pytest.approx(totals.error_sums.mae, **TOL)
        assert rolled[version_id].error_sums.r2 == pytest.approx(totals.error_sums.r2, **TOL)


# --- multiclass ---------------------------------------------------------------------------


def test_multiclass_comparison_reports_accuracy_and_macro_f1_equal_to_scikit_learn(
    user_client, offers
):
    body = _comparison(user_client, offers)
    assert body["task"] == "multiclass_classification"
    for member in body["members"]:
        rows = _labelled(offers, member["model_version"])
        actual = [r[3] for r in rows]
        predicted = [r[1] for r in rows]
        metrics = member["metrics"]
        assert member["labelled"] == len(rows) > 20
        assert metrics["accuracy"]["value"] == pytest.approx(
            skm.accuracy_score(actual, predicted), **TOL
        )
        assert metrics["f1_macro"]["value"] == pytest.approx(
            skm.f1_score(actual, predicted, average="macro", zero_division=0), **TOL
        )
        assert metrics["f1_weighted"]["value"] == pytest.approx(
            skm.f1_score(actual, predicted, average="weighted", zero_division=0), **TOL
        )
        classes = sorted(rows[0][4])
        proba = [[r[4][c] for c in classes] for r in rows]
        assert metrics["log_loss"]["value"] == pytest.approx(
            skm.log_loss(actual, proba, labels=classes), **TOL
        )
        assert metrics["top_2_accuracy"]["value"] == pytest.approx(
            skm.top_k_accuracy_score(actual, proba, k=2, labels=classes), **TOL
        )
        labels = member["confusion"]["labels"]
        assert member["confusion"]["matrix"] == (
            skm.confusion_matrix(actual, predicted, labels=labels).tolist()
        )


def test_multiclass_challenger_gets_a_two_proportion_z_test_and_the_shadow_mcnemars(
    user_client, offers
):
    members = _members(_comparison(user_client, offers))
    champion = members[Role.CHAMPION]
    ours = {r[0]: r for r in _labelled(offers, champion["model_version"])}

    challenger = members[Role.CHALLENGER]
    theirs = _labelled(offers, challenger["model_version"])
    right_a = sum(r[1] == r[3] for r in ours.values())
    right_b = sum(r[1] == r[3] for r in theirs)
    table = [[right_a, len(ours) - right_a], [right_b, len(theirs) - right_b]]
    accuracy = challenger["metrics"]["accuracy"]
    assert accuracy["test"] == "two-proportion z-test"
    expected = sps.chi2_contingency(table, correction=False).pvalue
    assert accuracy["p_value"] == pytest.approx(expected, **TOL)

    shadow = members[Role.SHADOW]
    shadow_rows = {r[0]: r for r in _labelled(offers, shadow["model_version"])}
    only_a = only_b = 0
    for request_id, row in ours.items():
        twin = shadow_rows[shadow_request_id(uuid.UUID(str(request_id)), shadow["model_version"])]
        a_right, b_right = row[1] == row[3], twin[1] == twin[3]
        only_a += a_right and not b_right
        only_b += b_right and not a_right
    accuracy = shadow["metrics"]["accuracy"]
    assert accuracy["test"] == "McNemar's test"
    discordant = only_a + only_b
    if discordant < 25:
        expected = sps.binomtest(only_b, discordant, 0.5).pvalue
    else:
        expected = sps.chi2.sf((abs(only_b - only_a) - 1) ** 2 / discordant, 1)
    assert accuracy["p_value"] == pytest.approx(expected, **TOL)
    log_loss = shadow["metrics"]["log_loss"]
    assert log_loss["test"] == "paired t-test"
    assert log_loss["difference_ci95"] is not None
    assert accuracy["more_rows"] is None or accuracy["more_rows"] >= 0


def test_multiclass_confusion_counts_come_from_the_roll_ups(offers):
    """Every hour of the demo week is rolled up: the per-class counts the comparison reads
    are the roll-ups' (predicted, actual) rows, equal to the raw log's."""
    log = tables.inference_log_model(offers.table_name)
    since = log.objects.order_by("created_at").first().created_at
    until = log.objects.order_by("-created_at").first().created_at
    rolled, _ = aggregates.member_totals(log, since, until, "day", group_id=offers.pk)
    raw, _ = aggregates.member_totals(log, since, until, "day")
    for version_id, totals in raw.items():
        assert rolled[version_id].cells == totals.cells
        assert counts.multiclass_from_counts(totals.cells)["accuracy"] > 0.5


def test_compare_pages_name_the_tests_of_each_task(user_client, pricing, offers):
    html = user_client.get(reverse("inference:group_compare", args=[pricing.slug])).content.decode()
    assert "paired t-test" in html and "Wilcoxon signed-rank test" in html
    assert 'data-metric="mae"' in html and "MAPE leaves out the rows" in html
    assert 'data-chart="series-mae"' in html
    html = user_client.get(reverse("inference:group_compare", args=[offers.slug])).content.decode()
    assert "two-proportion z-test" in html and "McNemar&#x27;s test" in html
    assert 'data-metric="f1_macro"' in html and "data-class-scores" in html
    assert 'data-chart="series-accuracy"' in html
