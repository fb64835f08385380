"""API-key rate limits (core/throttling.py): each key has its own bucket; over its rate a
key gets the one error shape with a 429 and Retry-After, while another key, and a person
signed in from the same client, are still served."""

import pytest

from core.throttling import PrincipalRateThrottle
from tests.groups.factories import make_api_key
from tests.inference.serving_factories import credit_rows, log_rows, post, serving_group

pytestmark = pytest.mark.django_db

# An hour's window: the bucket cannot empty between two requests of one test.
RATE = "2/hour"


@pytest.fixture(autouse=True)
def two_an_hour(monkeypatch):
    # DRF reads the rates at import: set this scope's rate on the class.
    monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"principal": RATE})


def _read_key(name: str) -> dict:
    _, plaintext = make_api_key(name=name, scopes=("read",), all_groups=True)
    return {"Authorization": f"Bearer {plaintext}"}


def _list(client, headers: dict):
    return client.get("/api/v1/models/", headers=headers)


def test_a_key_over_its_rate_gets_429_in_the_one_error_shape_with_retry_after(client):
    key = _read_key("nightly export")

    statuses = [_list(client, key).status_code for _ in range(2)]
    refused = _list(client, key)

    assert statuses == [200, 200]
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) == {"message", "errors"} and body["errors"] == {}
    assert "throttled" in body["message"].lower()
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert f"{refused['Retry-After']} seconds" in body["message"]


def test_another_key_keeps_its_own_full_bucket(client):
    busy, quiet = _read_key("busy workflow"), _read_key("quiet workflow")
    for _ in range(3):
        _list(client, busy)
    assert _list(client, busy).status_code == 429

    quiet_statuses = [_list(client, quiet).status_code for _ in range(3)]

    # Its own rate, no more: the third request of the quiet key is refused too.
    assert quiet_statuses == [200, 200, 429]
    assert _list(client, busy).status_code == 429


def test_a_throttled_key_does_not_throttle_the_person_on_the_same_client(client, user):
    key = _read_key("shared laptop")
    for _ in range(3):
        _list(client, key)
    client.force_login(user)

    assert _list(client, {}).status_code == 200
    assert _list(client, key).status_code == 429


def test_a_throttled_prediction_is_answered_429_and_not_logged(client):
    setup = serving_group(name="Throttled Scoring")
    row = credit_rows(1)[0]

    answered = [
        post(client, setup.predict_url, {"inputs": row}, setup.key).status_code for _ in range(2)
    ]
    refused = post(client, setup.predict_url, {"inputs": row}, setup.key)

    assert answered == [200, 200]
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "throttled" in refused.json()["message"].lower()
    assert len(log_rows(setup.group)) == 2
