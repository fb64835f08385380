"""A sticky group promises one applicant one model: a request without a routing key is
refused, naming the field, and nothing is logged."""

import pytest

from groups.services import group_update
from tests.inference.serving_factories import credit_rows, log_rows, post, serving_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def sticky():
    setup = serving_group()
    group_update(group=setup.group, actor=None, routing_mode="sticky")
    return setup


def test_a_sticky_group_refuses_a_prediction_without_a_routing_key(client, sticky):
    response = post(client, sticky.predict_url, {"inputs": credit_rows(1)[0]}, sticky.key)

    assert response.status_code == 400
    assert "routing_key" in response.json()["errors"]
    assert log_rows(sticky.group) == []


def test_a_sticky_group_names_the_instance_without_a_key_in_a_batch(client, sticky):
    rows = credit_rows(2)
    body = {"instances": [{"inputs": rows[0], "routing_key": "a-1"}, {"inputs": rows[1]}]}

    response = post(client, sticky.predict_url, body, sticky.key)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["instances[1].routing_key"]


def test_a_sticky_group_serves_a_request_with_a_routing_key(client, sticky):
    body = {"inputs": credit_rows(1)[0], "routing_key": "applicant-9"}

    response = post(client, sticky.predict_url, body, sticky.key)

    assert response.status_code == 200
    assert len(log_rows(sticky.group)) == 1
