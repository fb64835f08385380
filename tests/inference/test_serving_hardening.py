"""Serving after the access-control review: a reused request_id, the external batch cap,
version and provider changes on the next request, a database that cannot be reached, and
the two request shapes of predict and feedback in the schema."""

import uuid

import pytest
from django.db import OperationalError, connection

from groups.services import MemberSpec, group_create
from providers.services import provider_set_key
from registry.services import model_version_register
from tests.inference.serving_factories import (
    api_key_create,
    credit_rows,
    log_rows,
    post,
    serving_group,
)
from tests.registry.factories import RegisteredModelFactory, minimal_metadata

pytestmark = pytest.mark.django_db

LLM_INPUTS = {"income": 1, "debt_ratio": 0.5}


@pytest.fixture
def setup():
    return serving_group()


@pytest.fixture
def row():
    return credit_rows(1)[0]


@pytest.fixture
def llm(make_provider, fake_provider_server):
    """A group served by an external LLM version through the fake provider server."""
    provider = make_provider(kind="openai", api_key="sk-first-key-0001")
    version = model_version_register(
        model=RegisteredModelFactory(name="LLM Scoring"),
        version="1.0",
        flavor="external",
        metadata=minimal_metadata(["income", "debt_ratio"]),
        status="production",
        provider=provider,
        provider_model="gpt-test",
        prompt_template="Applicant earning {income} with debt ratio {debt_ratio}: default?",
        response_parser={"type": "json"},
    )
    group = group_create(name="LLM Group", members=[MemberSpec(version, "champion", 100)])
    _, key = api_key_create(name="llm workflow", groups=[group])
    fake_provider_server.text_answers = ['{"label": 1, "score": 0.8}'] * 10
    return provider, version, group, key


def _predict_llm(client, group, key, inputs=LLM_INPUTS):
    return post(client, f"/api/v1/groups/{group.slug}/predict", {"inputs": inputs}, key)


def _chat_requests(server) -> list:
    return [r for r in server.requests if "/chat/completions" in r.path]


# --- request_id --------------------------------------------------------------------------


def test_a_reused_request_id_with_other_inputs_is_409_naming_it(client, setup, row):
    request_id = str(uuid.uuid4())
    assert (
        post(
            client, setup.predict_url, {"inputs": row, "request_id": request_id}, setup.key
        ).status_code
        == 200
    )
    changed = {**row, "income": row["income"] + 1000}

    response = post(
        client, setup.predict_url, {"inputs": changed, "request_id": request_id}, setup.key
    )

    assert response.status_code == 409
    assert "request_id" in response.json()["errors"]
    assert len(log_rows(setup.group)) == 1


def test_a_reused_request_id_with_the_same_inputs_returns_the_logged_answer(client, setup, row):
    body = {"inputs": row, "request_id": str(uuid.uuid4())}
    first = post(client, setup.predict_url, body, setup.key).json()
    again = post(client, setup.predict_url, body, setup.key)
    assert again.status_code == 200
    assert again.json() == first
    assert len(log_rows(setup.group)) == 1


def test_a_reused_request_id_in_a_batch_names_its_instance(client, setup):
    rows = credit_rows(2, seed=5)
    request_id = str(uuid.uuid4())
    post(client, setup.predict_url, {"inputs": rows[0], "request_id": request_id}, setup.key)
    batch = {"instances": [{"inputs": rows[0]}, {"inputs": rows[1], "request_id": request_id}]}
    response = post(client, setup.predict_url, batch, setup.key)
    assert response.status_code == 409
    assert "instances[1].request_id" in response.json()["errors"]


# --- the external batch cap --------------------------------------------------------------


def test_a_batch_above_the_external_cap_is_400_naming_instances(client, llm, settings):
    _, _, group, key = llm
    settings.HUB_PREDICT_BATCH_MAX_EXTERNAL = 3
    url = f"/api/v1/groups/{group.slug}/predict"
    response = post(client, url, {"instances": [{"inputs": LLM_INPUTS}] * 4}, key)
    assert response.status_code == 400
    assert "instances" in response.json()["errors"]
    assert log_rows(group) == []
    assert post(client, url, {"instances": [{"inputs": LLM_INPUTS}] * 3}, key).status_code == 200


def test_the_external_cap_does_not_apply_to_scikit_learn_groups(client, setup, settings):
    settings.HUB_PREDICT_BATCH_MAX_EXTERNAL = 3
    instances = [{"inputs": r} for r in credit_rows(5, seed=8)]
    assert post(client, setup.predict_url, {"instances": instances}, setup.key).status_code == 200


# --- version and provider changes take effect on the next request ------------------------


def test_a_new_provider_key_is_used_on_the_next_request(client, llm, fake_provider_server):
    provider, _, group, key = llm
    assert _predict_llm(client, group, key).status_code == 200
    assert (
        _chat_requests(fake_provider_server)[-1].headers["Authorization"]
        == "Bearer sk-first-key-0001"
    )

    provider_set_key(provider=provider, api_key="sk-second-key-0002")
    assert _predict_llm(client, group, key).status_code == 200

    assert (
        _chat_requests(fake_provider_server)[-1].headers["Authorization"]
        == "Bearer sk-second-key-0002"
    )


def test_a_deactivated_provider_is_not_called_on_the_next_request(
    client, llm, fake_provider_server
):
    provider, _, group, key = llm
    assert _predict_llm(client, group, key).status_code == 200
    calls = len(_chat_requests(fake_provider_server))

    provider.is_active = False
    provider.save()
    response = _predict_llm(client, group, key)

    assert response.status_code == 503
    assert "not active" in response.json()["message"]
    assert len(_chat_requests(fake_provider_server)) == calls


def test_an_edited_prompt_template_is_used_on_the_next_request(client, llm, fake_provider_server):
    _, version, group, key = llm
    assert _predict_llm(client, group, key).status_code == 200

    version.prompt_template = "NEW TEMPLATE: income {income}, ratio {debt_ratio}"
    version.save()
    assert _predict_llm(client, group, key).status_code == 200

    assert "NEW TEMPLATE" in str(_chat_requests(fake_provider_server)[-1].json)


# --- errors are JSON ---------------------------------------------------------------------


def test_an_unreachable_database_is_503_json(client, setup, row):
    post(client, setup.predict_url, {"inputs": row}, setup.key)  # warm: key and routing cached

    def unreachable(execute, sql, params, many, context):
        raise OperationalError("could not connect to server: Connection refused")

    with connection.execute_wrapper(unreachable):
        response = post(client, setup.predict_url, {"inputs": row}, setup.key)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "database" in response.json()["errors"]


def test_feedback_errors_are_json_naming_the_field(client, setup, row):
    answer = post(client, setup.predict_url, {"inputs": row}, setup.key).json()
    response = post(
        client,
        setup.feedback_url,
        {"request_id": answer["request_id"], "outcome": "maybe"},
        setup.key,
    )
    assert response.status_code == 400
    assert "outcome" in response.json()["errors"]
    response = post(
        client, setup.feedback_url, {"request_id": str(uuid.uuid4()), "outcome": 1}, setup.key
    )
    assert response.status_code == 404
    assert "request_id" in response.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "inputs"),
        ({"routing_key": "a"}, "inputs"),
        ({"inputs": {"a": 1}, "instances": [{"inputs": {"a": 1}}]}, "inputs"),
        ({"instances": []}, "instances"),
        ({"inputs": [1, 2]}, "inputs"),
    ],
)
def test_a_predict_body_of_neither_shape_is_400_naming_the_field(client, setup, body, field):
    response = post(client, setup.predict_url, body, setup.key)
    assert response.status_code == 400
    assert field in response.json()["errors"]


# --- the schema documents both request shapes ---------------------------------------------


@pytest.fixture
def schema(staff_client):
    return staff_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def _request_schema(schema: dict, path: str) -> dict:
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[1]
    return schema["components"]["schemas"][name]


def _required(schema: dict, ref: str) -> list[str]:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]].get("required", [])


def test_the_schema_offers_predict_one_or_a_batch_and_requires_one_of_them(schema):
    shapes = _request_schema(schema, "/api/v1/groups/{slug}/predict")["oneOf"]
    assert sorted(_required(schema, s) for s in shapes) == [["inputs"], ["instances"]]


def test_the_schema_offers_feedback_one_or_a_batch(schema):
    shapes = _request_schema(schema, "/api/v1/groups/{slug}/feedback")["oneOf"]
    assert sorted(_required(schema, s) for s in shapes) == [["items"], ["outcome", "request_id"]]


def test_the_schema_lists_the_inference_filters_and_pages_with_a_cursor(schema):
    operation = schema["paths"]["/api/v1/groups/{slug}/inferences"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"window", "since", "until", "role", "version", "score_min", "score_max"} <= names
    assert {"has_outcome", "outcome", "q", "input", "cursor", "page_size"} <= names
    score = next(p for p in operation["parameters"] if p["name"] == "score_min")
    assert score["schema"]["type"] == "number"
