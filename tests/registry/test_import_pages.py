"""The import page: upload or paste -> preview -> confirm, with htmx and without JavaScript."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import ModelVersion, RegisteredModel
from tests.registry.test_import import llm_answer, renamed_document, valid_document

PAGE = "/models/import/"
CONFIRM = "/models/import/confirm/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def model_json(document=None) -> SimpleUploadedFile:
    content = json.dumps(renamed_document() if document is None else document).encode()
    return SimpleUploadedFile("model.json", content, content_type="application/json")


@pytest.mark.django_db
def test_the_import_page_needs_a_login(client):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_import_page_offers_paste_upload_and_the_optional_fields(user_client):
    response = user_client.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="document"' in html
    assert 'type="file"' in html and "multiple" in html
    assert 'name="model_name"' in html and 'name="version"' in html and 'name="task"' in html
    assert 'hx-post="/models/import/"' in html
    assert 'action="/models/import/"' in html


@pytest.mark.django_db
def test_uploading_model_json_previews_the_mapping_without_saving(user_client):
    response = user_client.post(PAGE, {"files": [model_json()]})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Import a model</h1>" in html  # the whole page, without JS
    assert "remapped by the heuristic remapper" in html
    assert "<code>model_performance</code></td><td><code>metrics</code>" in html
    assert "<code>model_performance.AUC</code></td><td><code>metrics.auc_roc</code>" in html
    assert "&quot;auc_roc&quot;: 0.91" in html
    assert "<code>author</code>: no field at the top level matches it" in html
    assert "Confirm and save 1 version" in html
    assert ModelVersion.objects.count() == 0


@pytest.mark.django_db
def test_an_htmx_preview_returns_only_the_preview_fragment(user_client):
    response = user_client.post(PAGE, {"document": json.dumps(renamed_document())}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>" not in html
    assert 'id="import-preview"' in html
    assert 'hx-post="/models/import/confirm/"' in html


@pytest.mark.django_db
def test_confirm_without_js_saves_and_lands_on_the_model_page_with_the_new_version_and_its_metrics(
    user_client,
):
    preview = user_client.post(PAGE, {"files": [model_json()]})
    token = preview.context["preview"].token

    response = user_client.post(CONFIRM, {"token": token}, follow=True)

    assert response.redirect_chain[-1][0] == "/models/churn-predictor/"
    html = response.content.decode()
    assert "Saved Churn Predictor 2.1" in html
    assert ">2.1</a>" in html
    assert "0.910" in html  # AUC-ROC in the versions table
    assert ModelVersion.objects.get().metadata["metrics"]["auc_roc"] == 0.91


@pytest.mark.django_db
def test_confirm_with_htmx_redirects_the_browser_to_the_model_page(user_client):
    token = (
        user_client.post(PAGE, {"document": json.dumps(renamed_document())}, **HTMX)
        .context["preview"]
        .token
    )

    response = user_client.post(CONFIRM, {"token": token}, **HTMX)

    assert response["HX-Redirect"] == "/models/churn-predictor/"
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_confirming_twice_from_the_page_saves_once(user_client):
    token = (
        user_client.post(PAGE, {"document": json.dumps(renamed_document())})
        .context["preview"]
        .token
    )

    user_client.post(CONFIRM, {"token": token})
    again = user_client.post(CONFIRM, {"token": token})

    assert "Already confirmed" in again.content.decode()
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_the_llm_path_shows_the_provider_on_the_preview(
    user_client, fake_provider_server, make_provider
):
    provider = make_provider()
    fake_provider_server.structured_answers.append(llm_answer())

    html = user_client.post(PAGE, {"files": [model_json()]}).content.decode()

    assert f"remapped by the LLM ({provider.name}, gpt-4o-mini)" in html
    assert "<code>model_performance.AUC</code></td><td><code>metrics.auc_roc</code>" in html


@pytest.mark.django_db
def test_a_document_that_cannot_be_mapped_lists_what_is_missing_and_offers_no_confirm(user_client):
    response = user_client.post(PAGE, {"document": json.dumps({"owner": "ada"})})

    html = response.content.decode()
    assert "Cannot be imported: missing features, metrics, name, task." in html
    assert "Confirm and save" not in html
    assert RegisteredModel.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "The document is not valid JSON"),
        ("42", "this is a number"),
        ("", "Paste a JSON document"),
    ],
)
def test_garbage_shows_a_clear_error_and_saves_nothing(user_client, document, message):
    response = user_client.post(PAGE, {"document": document})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert "Nothing was imported" in response.content.decode()
    assert ModelVersion.objects.count() == 0


@pytest.mark.django_db
def test_ten_megabytes_of_nesting_uploaded_as_a_file_gets_a_clear_error(user_client):
    nested = SimpleUploadedFile(
        "deep.json", b"[" * (10 * 1024 * 1024), content_type="application/json"
    )

    response = user_client.post(PAGE, {"files": [nested]})

    assert response.status_code == 400
    assert "deep.json is 10.0 MB; the limit is 5 MB." in response.content.decode()


@pytest.mark.django_db
def test_several_files_preview_and_confirm_as_a_batch(user_client):
    files = [model_json(valid_document(version="1.0")), model_json(valid_document(version="1.1"))]

    token = user_client.post(PAGE, {"files": files}).context["preview"].token
    response = user_client.post(CONFIRM, {"token": token})

    html = response.content.decode()
    assert "2 saved, 0 not saved." in html
    assert sorted(ModelVersion.objects.values_list("version", flat=True)) == ["1.0", "1.1"]


@pytest.mark.django_db
def test_an_expired_token_says_so_and_sends_back_to_the_import_page(user_client):
    response = user_client.post(CONFIRM, {"token": "gone"}, follow=True)

    assert response.redirect_chain[-1][0] == PAGE
    assert "expired or does not exist" in response.content.decode()


@pytest.mark.django_db
def test_garbage_sent_with_htmx_comes_back_as_a_swappable_error_fragment(user_client):
    response = user_client.post(PAGE, {"document": "not json"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert "<h1>" not in html
    assert 'role="alert"' in html
    assert "The document is not valid JSON" in html
    assert ModelVersion.objects.count() == 0


@pytest.mark.django_db
def test_a_name_with_no_letter_or_digit_is_refused_in_the_preview(user_client):
    response = user_client.post(PAGE, {"document": json.dumps(valid_document(name="!!!"))})

    html = response.content.decode()
    assert "needs at least one letter or digit" in html
    assert "Confirm and save" not in html
