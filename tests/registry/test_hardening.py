"""Uploads refused before they are read or unpacked, query parameters, and a version page
that never unpacks an artifact (issue 11)."""

import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.artifacts import ArtifactError, artifact_check_archive
from registry.models import ModelVersion, RegisteredModel
from registry.services import RegistryValidationError, model_version_register
from tests.registry.factories import RegisteredModelFactory, fitted_artifact
from tests.registry.test_views import _upload
from tests.registry.zipbomb import zip_bomb

pytestmark = pytest.mark.django_db


def test_a_zip_bomb_is_refused_from_its_directory_in_milliseconds():
    bomb = zip_bomb()
    assert len(bomb) < 1024 * 1024  # under a megabyte, declaring 3 GB

    started = time.perf_counter()
    with pytest.raises(ArtifactError) as refused:
        artifact_check_archive(bomb)

    assert time.perf_counter() - started < 0.5
    assert "compressed" in refused.value.message and "to 1" in refused.value.message
    assert refused.value.errors.keys() == {"artifact"}


def test_the_unpacked_size_is_limited_even_at_a_modest_ratio(settings):
    settings.HUB_ARTIFACT_MAX_RATIO = 10**9
    with pytest.raises(ArtifactError, match="unpacks to 640.0 MB"):
        artifact_check_archive(zip_bomb(entries=1, chunks=40))  # one entry of 640 MB > 512 MB
    with pytest.raises(ArtifactError, match="unpacks to 1,280.0 MB"):
        artifact_check_archive(zip_bomb(entries=4, chunks=20))  # four of 320 MB: 1.3 GB in all


def test_a_zip_bomb_uploaded_on_the_page_is_refused_naming_the_artifact_and_nothing_is_saved(
    user_client,
):
    fitted_artifact(
        "logistic", 400, 0
    )  # the metadata the helper sends, fitted before the clock starts
    started = time.perf_counter()
    response = _upload(user_client, artifact=SimpleUploadedFile("bomb.skops", zip_bomb()))

    assert time.perf_counter() - started < 2
    assert response.status_code == 400
    assert "artifact" in response.context["form"].errors
    assert "compressed" in " ".join(response.context["form"].errors["artifact"])
    assert not RegisteredModel.objects.filter(name="Uploaded Credit").exists()


def test_the_service_refuses_a_zip_bomb_naming_the_artifact():
    with pytest.raises(RegistryValidationError) as refused:
        model_version_register(
            model=RegisteredModelFactory(),
            version="1.0",
            flavor="sklearn",
            metadata={"features": [{"name": "a"}], "metrics": {}},
            artifact=zip_bomb(),
        )
    assert "compressed" in refused.value.errors["artifact"][0]


def test_an_artifact_over_the_size_limit_is_refused_before_it_is_read(user_client, settings):
    settings.HUB_ARTIFACT_MAX_BYTES = 1024
    response = _upload(user_client)

    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors["artifact"])
    assert "the limit is 0.0 MB" in errors or "limit" in errors
    assert not ModelVersion.objects.exists()


def test_a_metadata_file_over_the_size_limit_is_refused_naming_the_field(user_client, settings):
    settings.HUB_METADATA_MAX_BYTES = 100
    _, metadata = fitted_artifact("logistic", 400, 0)
    response = _upload(
        user_client,
        metadata_text="",
        metadata_file=SimpleUploadedFile("metadata.json", json.dumps(metadata).encode()),
    )

    assert response.status_code == 400
    assert "limit" in " ".join(response.context["form"].errors["metadata_file"])
    assert not ModelVersion.objects.exists()


def test_a_metadata_file_is_parsed_from_the_upload(user_client):
    _, metadata = fitted_artifact("logistic", 400, 0)
    response = _upload(
        user_client,
        metadata_text="",
        metadata_file=SimpleUploadedFile("metadata.json", json.dumps(metadata).encode()),
    )
    assert response.status_code == 302
    assert ModelVersion.objects.get().metadata["features"] == metadata["features"]


def test_an_import_file_over_the_limit_is_a_400_naming_files(user_client):
    big = SimpleUploadedFile(
        "big.json", b" " * (5 * 1024 * 1024 + 1), content_type="application/json"
    )
    response = user_client.post("/api/v1/models/import", {"files": [big]})

    assert response.status_code == 400
    assert "files" in response.json()["errors"]
    assert "big.json" in response.json()["message"]


def test_the_version_page_shows_untrusted_types_without_unpacking_the_artifact(user_client):
    from tests.registry.test_artifacts import CUSTOM_TYPE, _custom_version

    version = _custom_version()
    assert version.artifact_types == [CUSTOM_TYPE]  # recorded at upload
    # With the file gone from storage, only what was recorded can be shown.
    version.artifact.storage.delete(version.artifact.name)

    response = user_client.get(version.get_absolute_url())

    assert response.status_code == 200
    assert CUSTOM_TYPE in response.content.decode()


@pytest.mark.parametrize("url", ["/api/v1/models/?q=a%00b", "/api/v1/models/?tag=a%00"])
def test_a_nul_byte_in_an_api_query_parameter_is_a_400_json_naming_it(user_client, url):
    response = user_client.get(url)

    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) <= {"q", "tag"} and body["errors"]
    assert "NUL" in body["message"]


def test_a_nul_byte_in_the_model_list_page_query_is_a_400(user_client):
    response = user_client.get("/models/?q=a%00b")

    assert response.status_code == 400
    assert "'q'" in response.content.decode()


def test_an_unknown_filter_value_on_the_page_is_a_400_naming_it(user_client):
    response = user_client.get("/models/?status=shipped")

    assert response.status_code == 400
    assert "shipped" in response.content.decode()
