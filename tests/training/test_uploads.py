"""Uploaded training files: refused by size before they are read, parsed as a stream,
and every refusal is a 400 that names the field."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import ServiceError
from registry.models import RegisteredModel
from tests.training.factories import credit_csv, credit_group
from training.datasets import FeatureSpec, rows_from_file
from training.models import FineTuneJob

JOBS = "/api/v1/training/jobs/"


class CountingFile(io.BytesIO):
    """Records how many bytes were asked for at most in one read."""

    largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest_read = max(
            self.largest_read, len(self.getvalue()) if size in (None, -1) else size
        )
        return super().read(size)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer) -> int:
        self.largest_read = max(self.largest_read, len(buffer))
        return super().readinto(buffer)


@pytest.fixture
def model_slug(db):
    _, champion = credit_group()
    return champion.model.slug


def _upload(client, model_slug, file, **fields):
    return client.post(
        JOBS,
        {
            "preset": "logistic_regression",
            "model": model_slug,
            "source": "upload",
            "file": file,
            "label_column": "default",
            **fields,
        },
    )


def test_a_file_over_the_limit_is_a_400_naming_the_file_field(user_client, model_slug, settings):
    settings.TRAINING_UPLOAD_MAX_BYTES = 1000
    big = credit_csv(rows=200)

    response = _upload(user_client, model_slug, big)

    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == ["file"]
    assert "limited to" in body["errors"]["file"][0]
    assert FineTuneJob.objects.count() == 0


def test_the_size_is_checked_before_any_byte_is_read(model_slug, settings, user):
    from training.services import DatasetSpec, job_create

    settings.TRAINING_UPLOAD_MAX_BYTES = 10
    file = SimpleUploadedFile("rows.csv", b"x" * 100)
    file.file = CountingFile(b"x" * 100)

    with pytest.raises(ServiceError) as caught:
        job_create(
            preset="logistic_regression",
            model=RegisteredModel.objects.get(slug=model_slug),
            dataset=DatasetSpec(source="upload", upload=file, label_column="default"),
            created_by=user,
        )

    assert caught.value.errors == {
        "file": ["The file is 100 bytes; uploads are limited to 10 bytes."]
    }
    assert file.file.largest_read == 0 and file.file.tell() == 0


def test_too_many_rows_is_a_400_naming_the_file(user_client, model_slug, settings):
    settings.TRAINING_UPLOAD_MAX_ROWS = 50

    response = _upload(user_client, model_slug, credit_csv(rows=120))

    assert response.status_code == 400
    assert response.json()["errors"]["file"] == ["More than 50 rows: split the file."]


def test_a_csv_is_parsed_in_chunks_not_read_whole():
    header = "a,b,default\n"
    body = "".join(f"{i},{i * 2},{i % 2}\n" for i in range(50_000))
    handle = CountingFile((header + body).encode())

    rows = rows_from_file(
        handle,
        file_format="csv",
        features=[FeatureSpec("a"), FeatureSpec("b")],
        label_column="default",
        binary_label=True,
    )

    assert rows.row_count == 50_000
    assert handle.largest_read < len(handle.getvalue()) / 10


def test_a_file_that_is_not_utf8_names_the_file_field(user_client, model_slug):
    bad = SimpleUploadedFile("rows.csv", "income;default\n\xe9\xe8;1\n".encode("latin-1"))

    response = _upload(user_client, model_slug, bad)

    assert response.status_code == 400
    assert response.json()["errors"]["file"] == ["The file is not UTF-8 text."]
