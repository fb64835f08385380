"""POST /api/v1/models/import and /api/v1/models/import/confirm."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import MappingMethod, ModelVersion, RegisteredModel
from tests.registry.test_import import llm_answer, renamed_document, valid_document

IMPORT = "/api/v1/models/import"
CONFIRM = "/api/v1/models/import/confirm"


def post_json(client, url, body):
    return client.post(
        url,
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
    )


@pytest.mark.django_db
def test_the_import_api_needs_a_login(client):
    response = post_json(client, IMPORT, {"document": valid_document()})

    assert response.status_code == 401
    assert "message" in response.json()


@pytest.mark.django_db
def test_import_returns_a_preview_with_a_token_and_saves_nothing(user_client):
    response = post_json(user_client, IMPORT, {"document": renamed_document()})

    assert response.status_code == 200
    body = response.json()
    assert body["token"]
    assert body["ready_count"] == 1
    item = body["items"][0]
    assert item["method"] == MappingMethod.HEURISTIC
    assert item["document"]["metrics"]["auc_roc"] == 0.91
    assert {"source": "model_performance", "target": "metrics", "detail": ""} in item["moves"]
    assert ModelVersion.objects.count() == 0


@pytest.mark.django_db
def test_confirm_saves_once_and_a_second_confirm_saves_nothing(user_client):
    token = post_json(user_client, IMPORT, {"document": renamed_document()}).json()["token"]

    first = post_json(user_client, CONFIRM, {"token": token})
    second = post_json(user_client, CONFIRM, {"token": token})

    assert first.status_code == 201
    assert first.json()["items"][0]["status"] == "saved"
    assert first.json()["items"][0]["url"] == "/models/churn-predictor/"
    assert second.status_code == 200
    assert second.json()["already_confirmed"] is True
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_the_renamed_keys_document_imports_through_the_llm_over_the_api(
    user_client, fake_provider_server, make_provider
):
    make_provider()
    fake_provider_server.structured_answers.append(llm_answer())

    body = post_json(user_client, IMPORT, {"document": renamed_document()}).json()
    post_json(user_client, CONFIRM, {"token": body["token"]})

    assert body["items"][0]["method"] == MappingMethod.LLM
    version = ModelVersion.objects.get()
    assert version.mapping_method == MappingMethod.LLM
    assert version.metadata["metrics"] == {"auc_roc": 0.91, "accuracy": 0.88, "f1": 0.71}


@pytest.mark.django_db
def test_an_unmappable_document_is_a_400_that_lists_what_is_missing(user_client):
    response = post_json(user_client, IMPORT, {"document": {"owner": "ada"}})

    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Nothing in this upload can be imported; nothing was saved."
    assert "features: is required" in body["errors"]["document"]
    assert "metrics: is required" in body["errors"]["document"]
    assert RegisteredModel.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json at all", "The document is not valid JSON"),
        ({"document": 42}, "this is a number"),
        ({"document": "{not json"}, "The document is not valid JSON"),
        ({}, "Paste a JSON document or choose at least one file."),
        ("42", "this is a number"),
    ],
)
def test_garbage_is_a_400_with_a_clear_message_and_nothing_saved(user_client, body, message):
    response = post_json(user_client, IMPORT, body)

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert ModelVersion.objects.count() == 0


@pytest.mark.django_db
def test_ten_megabytes_of_nesting_is_a_400_not_a_crash(user_client):
    response = post_json(user_client, IMPORT, '{"document": ' + "[" * (10 * 1024 * 1024))

    assert response.status_code == 400
    assert "larger than the 5 MB limit" in response.json()["message"]


@pytest.mark.django_db
def test_deep_nesting_under_the_size_limit_is_a_400_not_a_crash(user_client):
    response = post_json(user_client, IMPORT, '{"document": ' + "[" * 100_000 + "]" * 100_000 + "}")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]


@pytest.mark.django_db
def test_a_json_array_is_a_batch_with_a_result_per_item(user_client):
    body = post_json(user_client, IMPORT, {"document": [valid_document(), {"x": 1}]}).json()
    outcome = post_json(user_client, CONFIRM, {"token": body["token"]}).json()

    assert [i["status"] for i in body["items"]] == ["ready", "invalid"]
    assert [i["status"] for i in outcome["items"]] == ["saved", "skipped"]
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_several_files_upload_as_a_batch_with_options(user_client):
    files = [
        SimpleUploadedFile(
            "a.json", json.dumps(valid_document()).encode(), content_type="application/json"
        ),
        SimpleUploadedFile(
            "b.json", json.dumps(renamed_document()).encode(), content_type="application/json"
        ),
    ]

    response = user_client.post(
        IMPORT, {"files": files, "model_name": "Risk", "task": "binary_classification"}
    )

    body = response.json()
    assert response.status_code == 200, body
    assert [i["label"] for i in body["items"]] == ["a.json", "b.json"]
    assert [i["identity"]["name"] for i in body["items"]] == ["Risk", "Risk"]
    assert [i["identity"]["version"] for i in body["items"]] == ["1.0", "2.1"]


@pytest.mark.django_db
def test_confirm_with_an_unknown_token_is_a_400_naming_the_token(user_client):
    response = post_json(user_client, CONFIRM, {"token": "nope"})

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "token": ["This import preview has expired or does not exist; import the document again."]
    }


@pytest.mark.django_db
def test_a_bad_task_option_is_a_400_naming_the_field(user_client):
    response = post_json(user_client, IMPORT, {"document": valid_document(), "task": "astrology"})

    assert response.status_code == 400
    assert "task" in response.json()["errors"]


@pytest.mark.django_db
def test_the_document_itself_can_be_the_body_with_options_in_the_query_string(user_client):
    response = post_json(user_client, IMPORT + "?model_name=Risk&version=3.0", renamed_document())

    body = response.json()
    assert response.status_code == 200, body
    assert body["items"][0]["identity"]["name"] == "Risk"
    assert body["items"][0]["identity"]["version"] == "3.0"
    assert body["items"][0]["document"]["metrics"]["auc_roc"] == 0.91


@pytest.mark.django_db
def test_a_bare_json_array_body_is_a_batch(user_client):
    response = post_json(
        user_client, IMPORT, [valid_document(version="1.0"), valid_document(version="1.1")]
    )

    assert response.status_code == 200
    assert response.json()["ready_count"] == 2
