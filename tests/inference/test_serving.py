"""POST /api/v1/groups/<slug>/predict: answers, logs, errors, retries, shadows, fallback."""

import uuid

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.models import Membership
from groups.selectors import routing_cache_clear
from groups.services import MemberSpec, api_key_revoke, group_create, group_promote, group_update
from inference import serving
from inference.api import PredictApi
from inference.serving import respond
from registry.artifacts import artifact_load
from registry.demo import CREDIT_FEATURES
from registry.predictors import SklearnPredictor
from registry.services import model_version_register
from tests.inference.serving_factories import (
    api_key_create,
    break_artifact,
    credit_rows,
    log_rows,
    post,
    routing_key_for,
    serving_group,
)
from tests.registry.factories import RegisteredModelFactory, minimal_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    return serving_group()


@pytest.fixture
def row():
    return credit_rows(1)[0]


def _model_output(version, inputs: dict) -> float:
    """The model's output in the explainer's units: log-odds for both demo kinds."""
    return float(
        artifact_load(version).decision_function(pd.DataFrame([inputs])[CREDIT_FEATURES])[0]
    )


# --- the answer and its log row --------------------------------------------------------------


def test_prediction_answers_every_field_and_logs_one_row_with_the_same_values(client, setup, row):
    response = post(
        client, setup.predict_url, {"inputs": row, "routing_key": "applicant-1"}, setup.key
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) >= {
        "request_id",
        "group",
        "model",
        "role",
        "prediction",
        "score",
        "explanation",
        "base_value",
        "latency_ms",
    }
    assert body["group"] == setup.group.slug
    assert body["model"]["name"] == setup.champion.model.name
    assert body["model"]["id"] in (setup.champion.pk, setup.challenger.pk)
    assert body["model"]["version"] in ("1.2", "1.3")
    assert body["prediction"] in (0, 1)
    assert 0.0 <= body["score"] <= 1.0
    assert set(body["explanation"]) == set(CREDIT_FEATURES)

    [logged] = log_rows(setup.group)
    assert str(logged["request_id"]) == body["request_id"]
    assert logged["model_version_id"] == body["model"]["id"]
    assert logged["role"] == body["role"]
    assert logged["routing_key"] == "applicant-1"
    assert logged["inputs"] == row
    assert logged["prediction"] == body["prediction"]
    assert logged["score"] == body["score"]
    assert logged["explanation"] == body["explanation"]
    assert logged["base_value"] == body["base_value"]
    assert logged["latency_ms"] == body["latency_ms"]
    assert logged["fallback"] is False
    assert logged["created_at"] is not None


@pytest.mark.parametrize("member", ["champion", "challenger"])
def test_returned_and_logged_explanations_add_up_to_the_models_log_odds(client, setup, row, member):
    version = getattr(setup, member)
    key = routing_key_for(setup.group, version)

    body = post(client, setup.predict_url, {"inputs": row, "routing_key": key}, setup.key).json()

    assert body["model"]["id"] == version.pk
    assert body["role"] == member
    expected = _model_output(version, row)
    assert abs(body["base_value"] + sum(body["explanation"].values()) - expected) < 1e-6
    [logged] = log_rows(setup.group)
    assert abs(logged["base_value"] + sum(logged["explanation"].values()) - expected) < 1e-6


def test_score_is_the_probability_of_class_one(client, setup, row):
    key = routing_key_for(setup.group, setup.champion)
    body = post(client, setup.predict_url, {"inputs": row, "routing_key": key}, setup.key).json()
    proba = artifact_load(setup.champion).predict_proba(pd.DataFrame([row])[CREDIT_FEATURES])[0, 1]
    assert body["score"] == pytest.approx(proba, abs=1e-12)


def test_explain_false_answers_and_logs_without_shap_values(client, setup, row):
    body = post(client, setup.predict_url, {"inputs": row, "explain": False}, setup.key).json()
    assert body["explanation"] is None and body["base_value"] is None
    [logged] = log_rows(setup.group)
    assert logged["explanation"] is None


def test_a_batch_is_answered_in_order_and_logged_row_by_row(client, setup):
    rows = credit_rows(6)
    ids = [str(uuid.uuid4()) for _ in rows]
    instances = [
        {"inputs": r, "request_id": i, "routing_key": f"applicant-{n}"}
        for n, (r, i) in enumerate(zip(rows, ids, strict=True))
    ]

    response = post(client, setup.predict_url, {"instances": instances}, setup.key)

    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["request_id"] for r in results] == ids
    logged = {str(r["request_id"]): r for r in log_rows(setup.group)}
    assert set(logged) == set(ids)
    for result, inputs in zip(results, rows, strict=True):
        assert logged[result["request_id"]]["inputs"] == inputs
        assert logged[result["request_id"]]["explanation"] == result["explanation"]
        assert logged[result["request_id"]]["model_version_id"] == result["model"]["id"]


def test_a_batch_over_the_limit_is_refused_and_nothing_is_logged(client, setup, settings):
    settings.HUB_PREDICT_BATCH_MAX = 3
    instances = [{"inputs": r} for r in credit_rows(4)]
    response = post(client, setup.predict_url, {"instances": instances}, setup.key)
    assert response.status_code == 400
    assert "instances" in response.json()["errors"]
    assert log_rows(setup.group) == []


# --- errors: each with its status and a field-level message, nothing logged --------------------


def test_no_api_key_is_401(client, setup, row):
    response = post(client, setup.predict_url, {"inputs": row}, None)
    assert response.status_code == 401
    assert response.json()["message"]
    assert "authorization" in response.json()["errors"]
    assert log_rows(setup.group) == []


def test_an_invalid_or_revoked_key_is_401(client, setup, row):
    assert post(client, setup.predict_url, {"inputs": row}, "mh_not-a-key").status_code == 401
    api_key, plaintext = api_key_create(name="revoked", groups=[setup.group])
    api_key_revoke(api_key=api_key)
    assert post(client, setup.predict_url, {"inputs": row}, plaintext).status_code == 401
    assert log_rows(setup.group) == []


def test_a_key_scoped_to_other_groups_is_403(client, setup, row):
    other = serving_group(name="Other Scoring")
    _, other_key = api_key_create(name="other workflow", groups=[other.group])
    response = post(client, setup.predict_url, {"inputs": row}, other_key)
    assert response.status_code == 403
    assert setup.group.slug in response.json()["errors"]["permission"][0]
    assert log_rows(setup.group) == []
    # Every other slug too, existing or not: the key learns nothing about them.
    response = post(client, "/api/v1/groups/no-such-group/predict", {"inputs": row}, other_key)
    assert response.status_code == 403
    # A key with the right group but without the `predict` scope.
    _, reader = api_key_create(name="reader", groups=[setup.group], scopes=("read",))
    assert post(client, setup.predict_url, {"inputs": row}, reader).status_code == 403


def test_an_unknown_group_is_404(client, setup, row):
    _, key = api_key_create(name="everything", all_groups=True)
    response = post(client, "/api/v1/groups/no-such-group/predict", {"inputs": row}, key)
    assert response.status_code == 404
    assert "group" in response.json()["errors"]


def test_a_group_without_champion_is_409(client, setup, row):
    # Out of the services' reach (they refuse it): a group whose champion row was demoted.
    Membership.objects.filter(group=setup.group, role="champion").update(role="shadow", weight=0)
    routing_cache_clear()
    response = post(client, setup.predict_url, {"inputs": row}, setup.key)
    assert response.status_code == 409
    assert "champion" in response.json()["errors"]["group"][0]
    assert log_rows(setup.group) == []


def test_an_inactive_group_is_409(client, setup, row, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        group_update(group=setup.group, actor=None, is_active=False)
    response = post(client, setup.predict_url, {"inputs": row}, setup.key)
    assert response.status_code == 409
    assert "not active" in response.json()["message"]


def test_missing_unknown_and_mistyped_features_are_each_named_in_a_400(client, setup, row):
    inputs = dict(row)
    del inputs["income"]
    del inputs["age"]
    inputs["debt_ratio"] = "high"
    inputs["open_accounts"] = 2.5  # declared integer
    inputs["delinquencies"] = True
    inputs["favourite_colour"] = "blue"

    response = post(client, setup.predict_url, {"inputs": inputs}, setup.key)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {
        "inputs.income",
        "inputs.age",
        "inputs.debt_ratio",
        "inputs.open_accounts",
        "inputs.delinquencies",
        "inputs.favourite_colour",
    }
    assert "missing" in errors["inputs.income"][0]
    assert "number" in errors["inputs.debt_ratio"][0]
    assert "whole number" in errors["inputs.open_accounts"][0]
    assert "Unknown feature" in errors["inputs.favourite_colour"][0]
    assert "inputs.income" in response.json()["message"]
    assert log_rows(setup.group) == []


def test_one_bad_instance_refuses_the_whole_batch_naming_it(client, setup):
    rows = credit_rows(3)
    rows[1] = {**rows[1], "age": "forty"}
    response = post(
        client, setup.predict_url, {"instances": [{"inputs": r} for r in rows]}, setup.key
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["instances[1].inputs.age"]
    assert log_rows(setup.group) == []


def test_a_body_that_is_not_json_is_400(client, setup):
    response = client.post(
        setup.predict_url,
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {setup.key}"},
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["message"]
    assert log_rows(setup.group) == []


def test_a_malformed_body_is_400_naming_the_field(client, setup, row):
    response = post(
        client, setup.predict_url, {"inputs": row, "request_id": "not-a-uuid"}, setup.key
    )
    assert response.status_code == 400
    assert "request_id" in response.json()["errors"]
    response = post(client, setup.predict_url, {"routing_key": "a"}, setup.key)
    assert response.status_code == 400
    assert "inputs" in response.json()["errors"]
    assert log_rows(setup.group) == []


def test_a_champion_that_cannot_be_loaded_is_503_with_a_message(client, setup, row):
    break_artifact(setup.champion)
    key = routing_key_for(setup.group, setup.champion)
    response = post(client, setup.predict_url, {"inputs": row, "routing_key": key}, setup.key)
    assert response.status_code == 503
    assert "1.2" in response.json()["message"]
    assert "model" in response.json()["errors"]
    assert log_rows(setup.group) == []


# --- retries, shadows, fallback, overrides --------------------------------------------------------


def test_a_request_id_seen_before_returns_the_logged_answer_without_predicting_again(
    client, setup, row, monkeypatch
):
    body = {"inputs": row, "request_id": str(uuid.uuid4())}
    first = post(client, setup.predict_url, body, setup.key).json()

    def must_not_predict(self, rows):
        raise AssertionError("a retry predicted again")

    monkeypatch.setattr(SklearnPredictor, "predict", must_not_predict)
    retry = post(client, setup.predict_url, body, setup.key)

    assert retry.status_code == 200
    assert retry.json() == first
    assert len(log_rows(setup.group)) == 1


def test_a_retry_after_a_promotion_still_returns_what_was_answered(
    client, setup, row, django_capture_on_commit_callbacks
):
    key = routing_key_for(setup.group, setup.champion)
    body = {"inputs": row, "request_id": str(uuid.uuid4()), "routing_key": key}
    first = post(client, setup.predict_url, body, setup.key).json()
    with django_capture_on_commit_callbacks(execute=True):
        group_promote(group=setup.group, model_version=setup.challenger, actor=None)

    assert post(client, setup.predict_url, body, setup.key).json() == first
    fresh = post(
        client, setup.predict_url, {**body, "request_id": str(uuid.uuid4())}, setup.key
    ).json()
    assert fresh["model"]["id"] == setup.challenger.pk
    assert len(log_rows(setup.group)) == 2


def test_a_batch_repeating_a_request_id_is_400(client, setup):
    rid = str(uuid.uuid4())
    rows = credit_rows(2)
    body = {
        "instances": [
            {"inputs": rows[0], "request_id": rid},
            {"inputs": rows[1], "request_id": rid},
        ]
    }
    response = post(client, setup.predict_url, body, setup.key)
    assert response.status_code == 400
    assert "instances[1].request_id" in response.json()["errors"]


def test_shadows_are_logged_with_role_shadow_and_never_returned(client, row):
    setup = serving_group(shadow=True)
    body = post(client, setup.predict_url, {"inputs": row}, setup.key).json()

    assert body["role"] != "shadow"
    rows = log_rows(setup.group)
    assert len(rows) == 2
    [shadow] = [r for r in rows if r["role"] == "shadow"]
    assert shadow["model_version_id"] == setup.shadow.pk
    assert shadow["inputs"] == row
    assert shadow["request_id"] == serving.shadow_request_id(
        uuid.UUID(body["request_id"]), setup.shadow.pk
    )
    assert set(shadow["explanation"]) == set(CREDIT_FEATURES)


def test_a_failing_shadow_never_fails_the_request(client, row):
    setup = serving_group(shadow=True)
    break_artifact(setup.shadow)
    response = post(client, setup.predict_url, {"inputs": row}, setup.key)
    assert response.status_code == 200
    assert [r["role"] for r in log_rows(setup.group)] == [response.json()["role"]]


def test_a_challenger_that_cannot_load_falls_back_to_the_champion_and_says_so(client, setup, row):
    break_artifact(setup.challenger)
    key = routing_key_for(setup.group, setup.challenger)

    response = post(client, setup.predict_url, {"inputs": row, "routing_key": key}, setup.key)

    assert response.status_code == 200
    assert response.json()["model"]["id"] == setup.champion.pk
    assert response.json()["role"] == "champion"
    [logged] = log_rows(setup.group)
    assert logged["fallback"] is True
    assert logged["model_version_id"] == setup.champion.pk
    assert "1.3" in logged["error"]


def test_a_routing_override_forces_one_version(client, setup, settings):
    settings.HUB_ROUTING_OVERRIDES = {setup.group.slug: str(setup.challenger.pk)}
    for inputs in credit_rows(8):
        body = post(client, setup.predict_url, {"inputs": inputs}, setup.key).json()
        assert body["model"]["id"] == setup.challenger.pk
    assert {r["model_version_id"] for r in log_rows(setup.group)} == {setup.challenger.pk}


def test_the_same_routing_key_always_meets_the_same_model(client, setup):
    answers = [
        post(
            client, setup.predict_url, {"inputs": r, "routing_key": "applicant-42"}, setup.key
        ).json()
        for r in credit_rows(10)
    ]
    assert len({a["model"]["id"] for a in answers}) == 1


def test_after_a_promotion_every_call_goes_to_the_new_champion(
    client, setup, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        group_promote(group=setup.group, model_version=setup.challenger, actor=None)
    for n, inputs in enumerate(credit_rows(10)):
        body = post(
            client, setup.predict_url, {"inputs": inputs, "routing_key": f"k{n}"}, setup.key
        ).json()
        assert (body["model"]["id"], body["role"]) == (setup.challenger.pk, "champion")


def _statements(captured) -> list[str]:
    # Savepoints exist only because the test runs inside a transaction; a web request
    # runs in autocommit, where the INSERT is the whole round trip.
    return [q["sql"].split()[0] for q in captured if "SAVEPOINT" not in q["sql"]]


def _warm_up(client, setup, row) -> None:
    # Each member once: the first request for a version reads its row and loads it.
    for version in (setup.champion, setup.challenger):
        key = routing_key_for(setup.group, version)
        post(client, setup.predict_url, {"inputs": row, "routing_key": key}, setup.key)


def test_a_warm_prediction_makes_one_database_query_the_insert(client, setup, row):
    _warm_up(client, setup, row)

    with CaptureQueriesContext(connection) as captured:
        response = post(client, setup.predict_url, {"inputs": row}, setup.key)

    assert response.status_code == 200
    assert _statements(captured) == ["INSERT"]


def test_a_warm_prediction_makes_one_cache_read_for_its_key_and_the_routing_generation(
    client, setup, row, monkeypatch
):
    from django.core.cache import caches

    _warm_up(client, setup, row)
    backend = caches["default"]
    calls: list[str] = []
    depth = [0]  # local memory's get_many calls its own get: count the outer call only

    def spy(name, original):
        def call(*args, **kwargs):
            if not depth[0]:
                calls.append(name)
            depth[0] += 1
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1

        return call

    for name in ("get", "get_many", "set", "add", "incr", "delete", "has_key"):
        monkeypatch.setattr(backend, name, spy(name, getattr(backend, name)))
    # The rate throttle (core.throttling) makes its own cache calls: not this path's.
    monkeypatch.setattr(PredictApi, "throttle_classes", [])

    response = post(client, setup.predict_url, {"inputs": row}, setup.key)

    assert response.status_code == 200
    assert calls == ["get_many"]


def test_a_client_request_id_adds_indexed_lookups_before_predicting_and_at_the_commit(
    client, setup, row
):
    _warm_up(client, setup, row)

    with CaptureQueriesContext(connection) as captured:
        post(client, setup.predict_url, {"inputs": row, "request_id": str(uuid.uuid4())}, setup.key)

    # A retry is answered from the log before predicting; at the commit, the id is looked
    # up again under a transaction lock on it (PostgreSQL), so a concurrent retry logs once.
    lock = ["SELECT"] if connection.vendor == "postgresql" else []
    assert _statements(captured) == ["SELECT", *lock, "SELECT", "INSERT"]


def test_an_external_llm_version_answers_without_shap_values_and_says_so(
    client, make_provider, fake_provider_server
):
    provider = make_provider(kind="openai")
    version = model_version_register(
        model=RegisteredModelFactory(name="LLM Scoring"),
        version="1.0",
        flavor="external",
        metadata=minimal_metadata(["income", "debt_ratio"]),
        status="production",
        provider=provider,
        provider_model="gpt-test",
        prompt_template="Will an applicant earning {income} with debt ratio {debt_ratio} default?",
        response_parser={"type": "json"},
    )
    group = group_create(name="LLM Group", members=[MemberSpec(version, "champion", 100)])
    _, key = api_key_create(name="llm workflow", groups=[group])
    fake_provider_server.text_answers = ['{"label": 1, "score": 0.8}']

    response = post(
        client,
        f"/api/v1/groups/{group.slug}/predict",
        {"inputs": {"income": 1, "debt_ratio": 0.5}},
        key,
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["prediction"], body["score"]) == (1, 0.8)
    assert body["explanation"] is None and body["base_value"] is None
    assert "no SHAP" in body["explanation_note"]
    [logged] = log_rows(group)
    assert logged["explanation"] is None


def test_a_retry_racing_the_first_attempt_answers_with_the_row_that_won(
    client, setup, row, monkeypatch
):
    body = {"inputs": row, "request_id": str(uuid.uuid4()), "routing_key": "applicant-7"}
    first = post(client, setup.predict_url, body, setup.key).json()
    real = respond.logged_answers
    calls = []

    def not_yet_committed(table, instances, *, batch):
        # The retry looked before the first attempt's INSERT committed; its own INSERT collides.
        calls.append(1)
        return {} if len(calls) == 1 else real(table, instances, batch=batch)

    monkeypatch.setattr(respond, "logged_answers", not_yet_committed)
    retry = post(client, setup.predict_url, {**body, "explain": False}, setup.key)

    assert retry.status_code == 200
    assert retry.json() == first
    assert len(log_rows(setup.group)) == 1


def test_a_full_batch_at_the_limit_is_answered_and_logged(client, setup, settings):
    settings.HUB_PREDICT_BATCH_MAX = 1000
    rows = credit_rows(1000, seed=3)
    instances = [{"inputs": r, "routing_key": f"applicant-{n}"} for n, r in enumerate(rows)]

    response = post(client, setup.predict_url, {"instances": instances}, setup.key)

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(log_rows(setup.group)) == 1000
    shares = {
        v: sum(r["model"]["id"] == v for r in results) / 1000
        for v in (setup.champion.pk, setup.challenger.pk)
    }
    assert 0.85 < shares[setup.champion.pk] < 0.95


def test_an_override_to_a_missing_version_is_503_and_logs_nothing(client, setup, row, settings):
    settings.HUB_ROUTING_OVERRIDES = {setup.group.slug: "999999"}
    response = post(client, setup.predict_url, {"inputs": row}, setup.key)
    assert response.status_code == 503
    assert "999999" in response.json()["errors"]["model"][0]
    assert log_rows(setup.group) == []
