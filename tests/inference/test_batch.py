"""Batch prediction in one process: checks before queueing, the result file, per-row
errors, logging marked as batch rows, permissions (inference/batch/)."""

import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core.roles import roles_sync
from inference import tables
from inference.batch import services
from inference.models import BatchJob, BatchStatus
from registry.demo import CREDIT_FEATURES
from tests.inference.serving_factories import api_key_create, credit_rows, log_model, serving_group

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(db):
    from django.contrib.auth.models import Group, Permission

    roles_sync(Group, Permission)


@pytest.fixture
def setup():
    return serving_group(name="Batch Credit", shadow=True)


@pytest.fixture
def key(setup):
    _, key = api_key_create(
        name="batch workflow", groups=[setup.group], scopes=("manage", "read", "predict")
    )
    return key


def _frame(rows: int = 30, seed: int = 5) -> pd.DataFrame:
    frame = pd.DataFrame(credit_rows(rows, seed=seed))
    frame.insert(0, "applicant", [f"applicant-{i}" for i in range(rows)])
    return frame


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _start(client, url, key, content: bytes, name: str, **fields):
    upload = SimpleUploadedFile(name, content)
    return client.post(url, {"file": upload, **fields}, headers={"Authorization": f"Bearer {key}"})


def _run(job_id) -> BatchJob:
    job = BatchJob.objects.get(pk=job_id)
    services.batch_run_inline(job=job)
    job.refresh_from_db()
    return job


def _result(client, key, job_id) -> bytes:
    response = client.get(
        f"/api/v1/batches/{job_id}/result", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response
    return b"".join(response.streaming_content)


def test_a_file_without_a_feature_is_refused_at_once_naming_the_missing_columns(client, setup, key):
    frame = _frame().drop(columns=[CREDIT_FEATURES[0], CREDIT_FEATURES[2]])
    response = _start(
        client, f"/api/v1/groups/{setup.group.slug}/batches/", key, _csv(frame), "a.csv"
    )
    assert response.status_code == 400
    message = response.json()["errors"]["file"][0]
    assert CREDIT_FEATURES[0] in message and CREDIT_FEATURES[2] in message
    assert not BatchJob.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(client, setup, key, settings):
    settings.HUB_BATCH_MAX_BYTES = 100
    response = _start(
        client, f"/api/v1/groups/{setup.group.slug}/batches/", key, _csv(_frame()), "a.csv"
    )
    assert response.status_code == 400
    assert "at most 100 are accepted" in response.json()["errors"]["file"][0]


def _assert_three_failed_rows_and_scored_rest(result: pd.DataFrame) -> None:
    assert "'abc' is not a number" in result.loc[3, "error"]
    assert result.loc[3, "error"].startswith(CREDIT_FEATURES[1])
    assert result.loc[7, "error"] == f"{CREDIT_FEATURES[0]}: missing"
    assert result.loc[9, "error"] == f"{CREDIT_FEATURES[2]}: must be a finite number"
    assert result.loc[[3, 7, 9], "score"].isna().all()
    ok = result.drop(index=[3, 7, 9])
    assert ok["error"].isna().all() and ok["score"].between(0, 1).all()
    assert set(ok["role"]) <= {"champion", "challenger"}
    shap = ok[[f"shap_{name}" for name in CREDIT_FEATURES]].sum(axis=1) + ok["base_value"]
    assert shap.notna().all()


def test_a_csv_comes_back_in_input_order_with_kept_columns_scores_shap_and_row_errors(
    client, setup, key, django_capture_on_commit_callbacks
):
    frame = _frame(30)
    for name in CREDIT_FEATURES[:3]:
        frame[name] = frame[name].astype(object)
    frame.loc[3, CREDIT_FEATURES[1]] = "abc"
    frame.loc[7, CREDIT_FEATURES[0]] = None
    frame.loc[9, CREDIT_FEATURES[2]] = float("inf")
    response = _start(
        client, f"/api/v1/groups/{setup.group.slug}/batches/", key, _csv(frame), "loans.csv",
        key_column="applicant",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["group"] == setup.group.slug

    job = _run(body["id"])
    assert (job.status, job.rows_total, job.rows_ok, job.rows_failed) == ("succeeded", 30, 27, 3)
    result = pd.read_csv(io.BytesIO(_result(client, key, job.pk)))
    assert result["row"].tolist() == list(range(30))
    assert result["applicant"].tolist() == frame["applicant"].tolist()
    _assert_three_failed_rows_and_scored_rest(result)


def test_the_api_reports_progress_and_a_version_job_needs_no_group(client, setup, key):
    _, manager = api_key_create(name="all", all_groups=True, scopes=("manage", "read"))
    url = f"/api/v1/models/{setup.champion.model.slug}/versions/{setup.champion.version}/batches/"
    response = _start(client, url, manager, _csv(_frame(12)), "v.csv", output_format="jsonl")
    assert response.status_code == 201, response.json()
    job = _run(response.json()["id"])
    detail = client.get(
        f"/api/v1/batches/{job.pk}/", headers={"Authorization": f"Bearer {manager}"}
    )
    data = detail.json()
    assert (data["status"], data["rows_done"], data["rows_total"], data["percent"]) == (
        "succeeded", 12, 12, 100,
    )  # fmt: skip
    assert data["rows_ok"] == 12 and data["rows_failed"] == 0 and data["rows_per_second"] > 0
    lines = [json.loads(line) for line in _result(client, manager, job.pk).splitlines()]
    assert [line["row"] for line in lines] == list(range(12))
    assert {line["model_version"] for line in lines} == {setup.champion.version}
    assert not job.log  # no group: nowhere to log


def test_parquet_output_keeps_types_and_csv_neutralises_formulas(client, setup, key):
    frame = _frame(10)
    frame["note"] = ["=HYPERLINK(1)"] + ["fine"] * 9
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    url = f"/api/v1/groups/{setup.group.slug}/batches/"
    job = _run(_start(client, url, key, sink.getvalue(), "p.parquet").json()["id"])
    table = pq.read_table(io.BytesIO(_result(client, key, job.pk)))
    assert table.schema.field("row").type == pa.int64()
    assert table.schema.field("score").type == pa.float64()
    assert table.schema.field(CREDIT_FEATURES[0]).type == pa.array(frame[CREDIT_FEATURES[0]]).type
    assert table.column("note").to_pylist()[0] == "=HYPERLINK(1)"  # Parquet: the value as is

    job = _run(_start(client, url, key, _csv(frame), "c.csv", log="false").json()["id"])
    text = _result(client, key, job.pk).decode()
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text


def test_a_file_where_every_row_fails_is_a_failed_job_with_the_first_reasons(client, setup, key):
    frame = _frame(5)
    frame[CREDIT_FEATURES[0]] = "x"
    job = _run(
        _start(
            client, f"/api/v1/groups/{setup.group.slug}/batches/", key, _csv(frame), "b.csv"
        ).json()["id"]
    )
    assert job.status == BatchStatus.FAILED and job.rows_failed == 5
    assert job.error.startswith("Every row failed. The first reasons: row 0: ")
    assert f"{CREDIT_FEATURES[0]}: 'x' is not a number" in job.error


def test_logged_batch_rows_are_marked_left_out_of_live_reads_and_selectable_in_the_browser(
    client, setup, key, user_client
):
    url = f"/api/v1/groups/{setup.group.slug}/batches/"
    job = _run(
        _start(client, url, key, _csv(_frame(8)), "l.csv", key_column="applicant").json()["id"]
    )
    model = log_model(setup.group)
    rows = list(model.all_rows.filter(batch_id=job.pk).values("role", "routing_key"))
    assert len(rows) == 16  # each row by its routed member, and by the shadow
    assert sum(r["role"] == "shadow" for r in rows) == 8
    assert model.objects.count() == 0  # the comparison, roll-ups and monitoring read these

    api = f"/api/v1/groups/{setup.group.slug}/inferences"
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get(api, headers=headers).json()["results"] == []
    batch_rows = client.get(api, {"source": "batch"}, headers=headers).json()["results"]
    assert len(batch_rows) == 16
    page = user_client.get(f"/groups/{setup.group.slug}/inferences/", {"batch": str(job.pk)})
    assert page.status_code == 200 and "applicant-0" in page.content.decode()


def test_a_viewer_reads_a_batch_but_cannot_start_or_cancel_one(client, setup, key, viewer):
    url = f"/api/v1/groups/{setup.group.slug}/batches/"
    job_id = _start(client, url, key, _csv(_frame(3)), "v.csv").json()["id"]
    _, reader = api_key_create(name="reader", groups=[setup.group], scopes=("read",))
    assert _start(client, url, reader, _csv(_frame(3)), "v.csv").status_code == 403
    headers = {"Authorization": f"Bearer {reader}"}
    assert client.get(f"/api/v1/batches/{job_id}/", headers=headers).status_code == 200
    assert client.post(f"/api/v1/batches/{job_id}/cancel", headers=headers).status_code == 403

    client.force_login(viewer)
    page = client.get(f"/batches/{job_id}/")
    assert page.status_code == 200 and "<progress" in page.content.decode()
    assert "Cancel</button>" not in page.content.decode()
    assert client.post(f"/batches/{job_id}/cancel/").status_code == 403


def test_an_operator_cancels_from_the_page_and_a_cancelled_job_runs_no_chunk(
    client, setup, key, user_client
):
    url = f"/api/v1/groups/{setup.group.slug}/batches/"
    job_id = _start(client, url, key, _csv(_frame(3)), "v.csv").json()["id"]
    page = user_client.get(f"/batches/{job_id}/")
    assert "Cancel</button>" in page.content.decode()
    assert user_client.post(f"/batches/{job_id}/cancel/").status_code == 302
    job = _run(job_id)
    assert job.status == BatchStatus.CANCELLED and job.rows_done == 0
    cancel_again = client.post(
        f"/api/v1/batches/{job_id}/cancel", headers={"Authorization": f"Bearer {key}"}
    )
    assert cancel_again.status_code == 409


def test_the_group_page_upload_form_starts_a_job(user_client, setup):
    page = user_client.get(f"/groups/{setup.group.slug}/")
    assert f"/groups/{setup.group.slug}/batches/new/" in page.content.decode()
    upload = SimpleUploadedFile("form.csv", _csv(_frame(4)))
    response = user_client.post(
        f"/groups/{setup.group.slug}/batches/new/", {"file": upload, "explain": "on", "log": "on"}
    )
    job = BatchJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{job.pk}/"
    assert job.explain and job.log and job.created_by is not None


def _editor():
    # As inference/tables.py drives it: usable inside the test's transaction on SQLite too.
    editor = connection.schema_editor(atomic=False)
    editor.deferred_sql = []
    return editor


def test_the_migration_adds_the_batch_column_to_an_existing_table(setup):
    model = log_model(setup.group)
    _editor().remove_field(model, model._meta.get_field("batch_id"))
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, setup.group.table_name)
    assert "batch_id" not in {c.name for c in columns}
    table = setup.group.table_name
    assert tables.inference_table_add_missing_columns(table, _editor()) == ["batch_id"]
    assert tables.inference_table_add_missing_columns(table, _editor()) == []
