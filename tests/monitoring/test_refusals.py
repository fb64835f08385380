"""Instances the predict endpoint refuses at validation reach monitoring's data quality:
`quality.refused`, per reason, in the API and on the Monitoring tab."""

import uuid

import pytest

from inference.models import RefusalCount
from tests.inference.serving_factories import credit_rows, log_rows, post, serving_group

pytestmark = pytest.mark.django_db


def _refuse(client, setup) -> None:
    """Four bad requests: a missing feature, a mistyped one, a batch with two bad rows
    (one missing a feature and sending an unknown one, one with two mistyped features)
    and a batch repeating a request_id."""
    good = credit_rows(4)
    missing = {k: v for k, v in good[0].items() if k != "income"}
    bad = [
        {"inputs": missing},
        {"inputs": {**good[0], "income": "lots"}},
        {
            "instances": [
                {"inputs": good[1]},
                {"inputs": {**missing, "colour": "blue"}},
                {"inputs": {**good[2], "income": "x", "age": None}},
            ]
        },
        {
            "instances": [
                {"inputs": good[3], "request_id": str(uuid.UUID(int=7))},
                {"inputs": good[3], "request_id": str(uuid.UUID(int=7))},
            ]
        },
    ]
    for body in bad:
        response = post(client, setup.predict_url, body, setup.key)
        assert response.status_code == 400, response.content


EXPECTED = {"missing_field": 2, "wrong_type": 2, "unknown_field": 1, "repeated_request_id": 1}


def test_refused_predictions_are_counted_per_reason_in_every_members_quality(client, user_client):
    setup = serving_group()
    assert (
        post(client, setup.predict_url, {"inputs": credit_rows(1)[0]}, setup.key).status_code == 200
    )
    assert not RefusalCount.objects.exists()  # a valid request counts nothing

    _refuse(client, setup)

    assert len(log_rows(setup.group)) == 1  # nothing refused was logged
    run = user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")
    assert run.status_code == 200, run.content
    members = user_client.get(f"/api/v1/groups/{setup.group.slug}/monitoring?window=24h").json()[
        "members"
    ]
    assert {m["model_version"] for m in members} == {setup.champion.pk, setup.challenger.pk}
    for member in members:
        assert member["quality"]["refused"] == EXPECTED
        assert member["quality"]["refused_total"] == 6


def test_a_group_without_refusals_reports_none_refused(user_client):
    setup = serving_group()

    user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")

    members = user_client.get(f"/api/v1/groups/{setup.group.slug}/monitoring?window=24h").json()[
        "members"
    ]
    assert [m["quality"]["refused"] for m in members] == [{}, {}]


def test_the_monitoring_tab_shows_the_refusals_of_the_latest_window(client, user_client):
    setup = serving_group()
    _refuse(client, setup)
    user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")

    html = user_client.get(f"/groups/{setup.group.slug}/monitoring/").content.decode()

    shown = html.split(f'data-refused="{setup.champion.pk}"', 1)[1].split("</p>", 1)[0]
    for reason, count in EXPECTED.items():
        assert f"<code>{reason}</code> {count}" in shown
