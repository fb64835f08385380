"""POST /api/v1/groups/<slug>/feedback: the true outcome lands on the logged rows."""

import uuid

import pytest

from tests.inference.serving_factories import (
    api_key_create,
    credit_rows,
    log_rows,
    post,
    serving_group,
)

pytestmark = pytest.mark.django_db


def _predict(client, setup, count: int = 1) -> list[str]:
    instances = [{"inputs": r} for r in credit_rows(count)]
    results = post(client, setup.predict_url, {"instances": instances}, setup.key).json()["results"]
    return [r["request_id"] for r in results]


def test_feedback_records_the_outcome_and_its_time_and_changes_nothing_else(client):
    setup = serving_group()
    [request_id] = _predict(client, setup)
    [before] = log_rows(setup.group)

    response = post(client, setup.feedback_url, {"request_id": request_id, "outcome": 1}, setup.key)

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "recorded"
    [after] = log_rows(setup.group)
    assert after["outcome"] == 1
    assert after["outcome_at"] is not None
    unchanged = {k: v for k, v in after.items() if k not in ("outcome", "outcome_at")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("outcome", "outcome_at")}


def test_a_batch_records_known_ids_and_reports_unknown_ones_per_item(client):
    setup = serving_group()
    first, second = _predict(client, setup, 2)
    stranger = str(uuid.uuid4())

    response = post(
        client,
        setup.feedback_url,
        {
            "items": [
                {"request_id": first, "outcome": 0},
                {"request_id": stranger, "outcome": 1},
                {"request_id": second, "outcome": True},
            ]
        },
        setup.key,
    )

    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["recorded", "unknown", "recorded"]
    assert body["results"][1]["request_id"] == stranger
    assert body["results"][1]["message"]
    assert (body["recorded"], body["unknown"]) == (2, 1)
    outcomes = {str(r["request_id"]): r["outcome"] for r in log_rows(setup.group)}
    assert outcomes == {first: 0, second: 1}


def test_feedback_for_an_unknown_request_id_alone_is_404(client):
    setup = serving_group()
    response = post(
        client, setup.feedback_url, {"request_id": str(uuid.uuid4()), "outcome": 1}, setup.key
    )
    assert response.status_code == 404
    assert "request_id" in response.json()["errors"]


def test_an_invalid_outcome_is_400_and_nothing_changes(client):
    setup = serving_group()
    first, second = _predict(client, setup, 2)
    response = post(
        client,
        setup.feedback_url,
        {
            "items": [
                {"request_id": first, "outcome": 1},
                {"request_id": second, "outcome": "maybe"},
            ]
        },
        setup.key,
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["items[1].outcome"]
    assert all(r["outcome"] is None for r in log_rows(setup.group))


def test_feedback_needs_a_request_id_and_an_outcome(client):
    setup = serving_group()
    response = post(client, setup.feedback_url, {"request_id": str(uuid.uuid4())}, setup.key)
    assert response.status_code == 400
    assert "outcome" in response.json()["errors"]


def test_feedback_reaches_the_shadow_rows_of_the_same_request(client):
    setup = serving_group(shadow=True)
    [request_id] = _predict(client, setup)
    post(client, setup.feedback_url, {"request_id": request_id, "outcome": 1}, setup.key)
    rows = log_rows(setup.group)
    assert {r["role"] for r in rows} >= {"shadow"}
    assert [r["outcome"] for r in rows] == [1, 1]


def test_feedback_is_authenticated_and_scoped_like_predictions(client):
    setup = serving_group()
    body = {"request_id": str(uuid.uuid4()), "outcome": 1}
    assert post(client, setup.feedback_url, body, None).status_code == 401
    other_group = serving_group(name="Other Scoring")
    _, other = api_key_create(name="elsewhere", groups=[other_group.group])
    assert post(client, setup.feedback_url, body, other).status_code == 403
    assert (
        post(client, "/api/v1/groups/nope/feedback", body, other).status_code == 403
    )  # before any 404
    _, reader = api_key_create(name="reader", groups=[setup.group], scopes=("read",))
    assert post(client, setup.feedback_url, body, reader).status_code == 403  # needs `predict`
    _, everything = api_key_create(name="everything", all_groups=True)
    assert post(client, "/api/v1/groups/nope/feedback", body, everything).status_code == 404
