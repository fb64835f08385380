"""Feedback per task (a finite number for a regression, a known class for a multiclass
model) and the live side's pages per task: the version's live charts and every class's
SHAP values of a multiclass prediction."""

import uuid

import pytest
from django.urls import reverse

from groups.models import ModelGroup, Role
from inference import demo_tasks, tables
from inference.feedback import FeedbackError, FeedbackItem, feedback_record
from inference.serving import PredictRequest, predict_batch
from tests.inference.serving_factories import api_key_create, post

pytestmark = pytest.mark.django_db


def _seed(demo, actor, requests: int = 120) -> ModelGroup:
    demo_tasks.demo_task_traffic_seed(demo, requests=requests, actor=actor)
    return ModelGroup.objects.get(name=demo.name)


@pytest.fixture
def pricing(admin_user) -> ModelGroup:
    return _seed(demo_tasks.PRICING, admin_user)


@pytest.fixture
def offers(admin_user) -> ModelGroup:
    return _seed(demo_tasks.NEXT_BEST_ACTION, admin_user)


def _predict(group: ModelGroup) -> uuid.UUID:
    row = demo_tasks.basket_frame(rows=1, seed=99)[demo_tasks.PRICING_FEATURES]
    inputs = {k: float(v) for k, v in row.iloc[0].items()}
    [answer] = predict_batch(slug=group.slug, instances=[PredictRequest(inputs=inputs)])
    return uuid.UUID(str(answer["request_id"]))


def _outcome(group: ModelGroup, request_id: uuid.UUID):
    log = tables.inference_log_model(group.table_name)
    return log.objects.get(request_id=request_id).outcome


def test_regression_feedback_takes_a_number_and_refuses_anything_else(client, pricing):
    _, key = api_key_create(name="pricing", groups=[pricing])
    request_id = _predict(pricing)
    url = reverse("group-feedback", args=[pricing.slug])
    refused = post(client, url, {"request_id": str(request_id), "outcome": "cheap"}, key)
    assert refused.status_code == 400
    assert "regression outcome is a number" in refused.json()["errors"]["outcome"][0]
    ok = post(client, url, {"request_id": str(request_id), "outcome": 42.5}, key)
    assert ok.status_code == 200 and ok.json()["status"] == "recorded"
    assert _outcome(pricing, request_id) == 42.5


def test_regression_feedback_refuses_an_infinite_number(pricing):
    request_id = _predict(pricing)
    with pytest.raises(FeedbackError) as error:
        feedback_record(group=pricing, items=[FeedbackItem(request_id, float("inf"))])
    assert "finite number" in error.value.errors["items[0].outcome"][0]
    assert _outcome(pricing, request_id) is None


def test_multiclass_feedback_names_an_unknown_class_and_lists_the_known_ones(client, offers):
    _, key = api_key_create(name="offers", groups=[offers])
    request_id = _predict(offers)
    url = reverse("group-feedback", args=[offers.slug])
    refused = post(client, url, {"request_id": str(request_id), "outcome": "voucher"}, key)
    assert refused.status_code == 400
    message = refused.json()["errors"]["outcome"][0]
    assert "'voucher' is not a class" in message
    assert "'bundle', 'discount', 'upgrade'" in message
    assert _outcome(offers, request_id) is None
    ok = post(client, url, {"request_id": str(request_id), "outcome": "upgrade"}, key)
    assert ok.status_code == 200
    assert _outcome(offers, request_id) == "upgrade"


def test_multiclass_feedback_batch_names_the_item_with_the_unknown_class(client, offers):
    _, key = api_key_create(name="offers", groups=[offers])
    first, second = _predict(offers), _predict(offers)
    body = {
        "items": [
            {"request_id": str(first), "outcome": "bundle"},
            {"request_id": str(second), "outcome": 7},
        ]
    }
    response = post(client, reverse("group-feedback", args=[offers.slug]), body, key)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["items[1].outcome"]
    assert _outcome(offers, first) is None  # nothing recorded


def test_version_live_section_charts_a_regression_from_its_labelled_rows(user_client, pricing):
    champion = pricing.memberships.get(role=Role.CHAMPION).model_version
    response = user_client.get(reverse("inference:version_live", args=[champion.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    for chart_id in ("predicted-actual", "residuals", "residual-histogram", "error-decile"):
        assert f'data-chart="live-dynamic-pricing-{chart_id}"' in html
    assert 'data-chart-kind="scatter"' in html and 'data-chart-kind="histogram"' in html
    assert "MAE" in html and "R²" in html


def test_version_live_section_charts_a_multiclass_model(user_client, offers):
    champion = offers.memberships.get(role=Role.CHAMPION).model_version
    html = user_client.get(reverse("inference:version_live", args=[champion.pk])).content.decode()
    for chart_id in ("confusion", "per-class", "top-k"):
        assert f'data-chart="live-next-best-action-{chart_id}"' in html
    assert 'data-chart-kind="confusion"' in html
    assert "Macro F1" in html


def test_inference_detail_shows_every_class_shap_values_of_a_multiclass_row(user_client, offers):
    log = tables.inference_log_model(offers.table_name)
    row = log.objects.filter(role=Role.CHAMPION).first()
    url = reverse("inference:inference_detail", args=[offers.slug, row.request_id])
    html = user_client.get(url).content.decode()
    assert 'id="class-shap"' in html
    for label in demo_tasks.OFFERS:
        assert f'data-class="{label}"' in html
    assert f"{row.prediction} (predicted)" in html


def test_inference_detail_of_a_regression_row_has_no_class_table(user_client, pricing):
    log = tables.inference_log_model(pricing.table_name)
    row = log.objects.filter(role=Role.CHAMPION, outcome__isnull=True).first()
    url = reverse("inference:inference_detail", args=[pricing.slug, row.request_id])
    html = user_client.get(url).content.decode()
    assert 'id="class-shap"' not in html
    assert "&quot;outcome&quot;: 12.5" in html or '"outcome": 12.5' in html  # a number
