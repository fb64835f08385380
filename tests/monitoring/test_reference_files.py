"""A version's reference uploaded as Parquet: the same reference as the CSV of the same rows,
and a file that is not Parquet, or too long, refused naming `file` with nothing stored."""

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from monitoring.models import Reference
from tests.inference.serving_factories import serving_group
from tests.monitoring.helpers import csv_upload, parquet_upload, reference_parquet

pytestmark = pytest.mark.django_db

STORED = ("rows", "features", "sample", "sample_scores", "summaries", "score_summary", "source")


def _put(client, version, upload: SimpleUploadedFile):
    url = f"/api/v1/models/{version.model.slug}/versions/{version.version}/reference"
    return client.generic(
        "PUT",
        url,
        data=encode_multipart(BOUNDARY, {"file": upload}),
        content_type=MULTIPART_CONTENT,
    )


def _stored(version) -> dict:
    reference = Reference.objects.get(model_version=version)
    return {name: getattr(reference, name) for name in STORED}


def test_a_parquet_reference_equals_the_csv_reference_of_the_same_rows(user_client):
    setup = serving_group()
    from_csv = _put(user_client, setup.champion, csv_upload(300))
    assert from_csv.status_code == 200, from_csv.content
    csv_reference = _stored(setup.champion)

    from_parquet = _put(user_client, setup.champion, parquet_upload(300))

    assert from_parquet.status_code == 200, from_parquet.content
    body = from_parquet.json()
    assert (body["rows"], body["features"]) == (
        from_csv.json()["rows"],
        from_csv.json()["features"],
    )
    assert body["rows"] == 300 and "income" in body["features"]
    assert body["description"] == "reference.parquet"
    assert _stored(setup.champion) == csv_reference
    assert len(csv_reference["sample_scores"]) == 300  # the version's own scores, both times


def test_a_parquet_file_is_recognised_by_its_magic_bytes_whatever_its_name(user_client):
    setup = serving_group()
    unnamed = SimpleUploadedFile("training-holdout", reference_parquet(120))

    response = _put(user_client, setup.champion, unnamed)

    assert response.status_code == 200, response.content
    assert Reference.objects.get(model_version=setup.champion).rows == 120


def _truncated_parquet() -> bytes:
    whole = reference_parquet(200)
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    "content",
    [b"age,income\n1,2\n", b"PAR1 not really parquet", _truncated_parquet()],
    ids=["csv-named-parquet", "magic-then-garbage", "truncated"],
)
def test_a_corrupt_parquet_file_is_refused_naming_file_and_nothing_is_stored(user_client, content):
    setup = serving_group()

    response = _put(user_client, setup.champion, SimpleUploadedFile("reference.parquet", content))

    assert response.status_code == 400, response.content
    assert "Not a readable Parquet file" in response.json()["errors"]["file"][0]
    assert not Reference.objects.filter(model_version=setup.champion).exists()


def test_a_parquet_file_over_the_row_cap_is_refused_before_its_rows_are_read(user_client, settings):
    settings.HUB_MONITORING_REFERENCE_MAX_ROWS = 100
    setup = serving_group()

    response = _put(user_client, setup.champion, parquet_upload(101))

    assert response.status_code == 400
    assert response.json()["errors"]["file"] == ["More than 100 rows: upload a sample."]
    assert not Reference.objects.filter(model_version=setup.champion).exists()


def test_a_parquet_file_lacking_a_feature_names_it_and_keeps_the_old_reference(user_client):
    setup = serving_group()
    assert _put(user_client, setup.champion, parquet_upload(50)).status_code == 200
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(pd.DataFrame({"age": [30, 40]})), buffer)

    response = _put(
        user_client, setup.champion, SimpleUploadedFile("partial.parquet", buffer.getvalue())
    )

    assert response.status_code == 400 and "income" in response.json()["message"]
    assert "file" in response.json()["errors"]
    assert Reference.objects.get(model_version=setup.champion).rows == 50
