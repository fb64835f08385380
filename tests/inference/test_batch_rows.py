"""Batch prediction: the vectorised routing meets the member live routing meets, a CSV line
with the wrong number of fields is a row error in its place, a stalled job is resumed by
beat, `keep_columns` from the pages, the batch list page and the admin."""

import io
import random
import uuid
from datetime import timedelta

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.roles import roles_sync
from groups.routing import RouteMember, choose
from hub.celery import app as celery_app
from inference.batch import services
from inference.batch.scoring import ChunkSpec, RouteTable, route_rows, row_request_id
from inference.models import BatchJob, BatchStatus
from registry.demo import CREDIT_FEATURES
from tests.factories import role_user
from tests.inference.serving_factories import api_key_create, credit_rows, log_model, serving_group

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(db):
    from django.contrib.auth.models import Group, Permission

    roles_sync(Group, Permission)


@pytest.fixture
def setup():
    return serving_group(name="Batch Rows Credit", shadow=True)


@pytest.fixture
def key(setup):
    _, key = api_key_create(
        name="batch rows", groups=[setup.group], scopes=("manage", "read", "predict")
    )
    return key


def _frame(rows: int, seed: int = 11) -> pd.DataFrame:
    frame = pd.DataFrame(credit_rows(rows, seed=seed))
    frame.insert(0, "applicant", [f"applicant-{i}" for i in range(rows)])
    return frame


def _start(client, setup, key, content: bytes, name: str = "rows.csv", **fields) -> str:
    response = client.post(
        f"/api/v1/groups/{setup.group.slug}/batches/",
        {"file": SimpleUploadedFile(name, content), **fields},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _result(job: BatchJob) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(b"".join(services.result_stream(job))))


# --- routing ------------------------------------------------------------------------------

SPLITS = [
    [RouteMember(7, "champion", 50), RouteMember(3, "challenger", 50)],
    [
        RouteMember(12, "champion", 33),
        RouteMember(4, "challenger", 33),
        RouteMember(9, "challenger", 34),
        RouteMember(2, "shadow", 0),
    ],
    [RouteMember(5, "champion", 1), RouteMember(6, "challenger", 99)],
    [RouteMember(5, "champion", 100), RouteMember(6, "challenger", 0)],
    [RouteMember(8, "champion", 0), RouteMember(1, "shadow", 0)],  # none eligible: champion
]


@pytest.mark.parametrize("members", SPLITS)
def test_vectorised_routing_meets_the_member_choose_meets_for_every_key(members):
    rng = random.Random(5)
    keys = [f"applicant-{i}" for i in range(5000)]
    keys += [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(5000)]
    keys += ["", " ", "é-ü", "x" * 300]
    keys = [k for k in keys if k]
    routed = RouteTable.of(members).route([k.encode() for k in keys], len(keys))
    expected = [choose(members, routing_key=k).version_id for k in keys]
    assert routed.tolist() == expected


def test_rows_without_a_key_route_as_choose_does_on_the_job_and_row():
    members = SPLITS[1]
    spec = ChunkSpec(job_id=uuid.uuid4(), first_row=10_000, features={}, members=members)
    for keys in (["", "applicant-1", ""] * 1000, [""] * 3000):
        routed = route_rows(spec, keys)
        expected = [
            choose(members, routing_key=key or f"{spec.job_id}:{10_000 + i}").version_id
            for i, key in enumerate(keys)
        ]
        assert routed.tolist() == expected


# --- CSV rows with the wrong number of fields ------------------------------------------------


def test_a_csv_line_with_the_wrong_number_of_fields_is_a_row_error_in_its_place(
    client, setup, key, settings
):
    settings.HUB_BATCH_CHUNK_ROWS = 4  # the broken lines fall inside and across chunks
    lines = _frame(12).to_csv(index=False).splitlines()
    lines[3] = lines[3] + ",1,2"  # data row 2: two fields too many
    lines[8] = "applicant-7,1.5"  # data row 7: too few
    lines[12] = "applicant-11"  # the last row: too few
    content = ("\n".join(lines) + "\n").encode()

    job_id = _start(client, setup, key, content, key_column="applicant")
    job = BatchJob.objects.get(pk=job_id)
    services.batch_run_inline(job=job)
    job.refresh_from_db()
    assert job.status == BatchStatus.SUCCEEDED, job.error
    assert (job.rows_total, job.rows_ok, job.rows_failed) == (12, 9, 3)
    assert [e["row"] for e in job.first_errors] == [2, 7, 11]

    _assert_broken_lines_in_place(_result(job))


def _assert_broken_lines_in_place(result: pd.DataFrame) -> None:
    assert result["row"].tolist() == list(range(12))
    failed = result[result["error"].notna()]
    assert failed.index.tolist() == [2, 7, 11]
    width = len(CREDIT_FEATURES) + 1
    assert failed.loc[2, "error"] == (
        f"the line has {width + 2} field(s) where the header has {width}"
    )
    assert failed.loc[7, "error"] == f"the line has 2 field(s) where the header has {width}"
    assert failed["score"].isna().all()
    assert failed["applicant"].isna().all()
    ok = result.drop(index=[2, 7, 11])
    assert ok["applicant"].tolist() == [f"applicant-{i}" for i in ok.index]
    assert ok["score"].between(0, 1).all()


# --- resuming without a person ---------------------------------------------------------------


@pytest.fixture
def eager():
    # The beat task queues chunk tasks: run them here, as a worker would.
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_a_stalled_job_is_resumed_by_beat_and_finishes_with_every_row_once(
    client, setup, key, settings, eager
):
    settings.HUB_BATCH_CHUNK_ROWS = 10
    settings.HUB_BATCH_RESUME_AFTER_SECONDS = 600
    job_id = _start(client, setup, key, _frame(40).to_csv(index=False).encode())
    # A worker cut the file and committed one chunk, then died; nothing else is queued.
    services.batch_prepare(job_id=job_id)
    services.batch_chunk_run(job_id=job_id, index=0)
    assert BatchJob.objects.get(pk=job_id).rows_done == 10

    assert services.batch_resume_stalled() == []  # it made progress a moment ago
    later = timezone.now() + timedelta(seconds=601)
    assert services.batch_resume_stalled(now=later) == [uuid.UUID(job_id)]

    job = BatchJob.objects.get(pk=job_id)
    assert job.status == BatchStatus.SUCCEEDED and (job.rows_done, job.rows_ok) == (40, 40)
    routed = log_model(setup.group).all_rows.filter(batch_id=job.pk).exclude(role="shadow")
    assert sorted(routed.values_list("request_id", flat=True)) == sorted(
        row_request_id(job.pk, i) for i in range(40)
    )
    assert _result(job)["row"].tolist() == list(range(40))
    assert services.batch_resume_stalled(now=later + timedelta(hours=1)) == []


def test_a_resumed_job_is_not_resumed_again_before_another_quiet_period(
    client, setup, key, settings
):
    settings.HUB_BATCH_CHUNK_ROWS = 10
    job_id = _start(client, setup, key, _frame(30).to_csv(index=False).encode())
    services.batch_prepare(job_id=job_id)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    BatchJob.objects.filter(pk=job_id).update(created_at=an_hour_ago, started_at=an_hour_ago)
    job = BatchJob.objects.get(pk=job_id)
    assert services.batch_jobs_stalled() == [job]
    services.files.resumed_mark(job.pk)  # as batch_resume_stalled does; its worker is down
    assert services.batch_jobs_stalled() == []
    quiet = timedelta(seconds=settings.HUB_BATCH_RESUME_AFTER_SECONDS + 1)
    assert services.batch_jobs_stalled(now=timezone.now() + quiet) == [job]


def test_beat_schedules_the_stalled_job_resume():
    entry = celery_app.conf.beat_schedule["inference-batch-resume-stalled"]
    assert entry["task"] == "inference.batch_resume_stalled"


# --- keep_columns from the pages ------------------------------------------------------------


def test_the_new_batch_page_keeps_only_the_named_input_columns(user_client, setup):
    frame = _frame(5)
    frame["region"] = "north"
    page = user_client.get(f"/groups/{setup.group.slug}/batches/new/").content.decode()
    assert 'name="keep_columns"' in page
    response = user_client.post(
        f"/groups/{setup.group.slug}/batches/new/",
        {
            "file": SimpleUploadedFile("keep.csv", frame.to_csv(index=False).encode()),
            "keep_columns": "applicant, region",
            "explain": "on",
        },
    )
    job = BatchJob.objects.get()
    assert response.status_code == 302 and job.keep_columns == ["applicant", "region"]
    services.batch_run_inline(job=job)
    job.refresh_from_db()
    result = _result(job)
    assert list(result.columns[:3]) == ["applicant", "region", "row"]
    assert not set(CREDIT_FEATURES) & set(result.columns)


def test_the_group_page_form_offers_keep_columns_and_refuses_an_unknown_one(user_client, setup):
    page = user_client.get(f"/groups/{setup.group.slug}/").content.decode()
    assert 'name="keep_columns"' in page
    response = user_client.post(
        f"/groups/{setup.group.slug}/batches/new/",
        {
            "file": SimpleUploadedFile("keep.csv", _frame(3).to_csv(index=False).encode()),
            "keep_columns": "applicant, postcode",
        },
    )
    assert response.status_code == 200
    assert "No column(s) postcode in the file." in response.content.decode()
    assert not BatchJob.objects.exists()


# --- the batch list page and the API's list --------------------------------------------------


def test_the_batch_list_is_empty_with_how_to_start_one(user_client):
    page = user_client.get("/batches/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "No batch predictions yet" in html and "/api/v1/groups/&lt;slug&gt;/batches/" in html


def test_the_batch_list_page_and_api_filter_alike_and_the_page_paginates(
    client, user_client, setup, key
):
    content = _frame(3).to_csv(index=False).encode()
    ids = [_start(client, setup, key, content, f"f{i}.csv") for i in range(27)]
    BatchJob.objects.filter(pk=ids[0]).update(status=BatchStatus.SUCCEEDED)

    html = user_client.get("/batches/", {"status": "succeeded"}).content.decode()
    assert "f0.csv" in html and "f1.csv" not in html
    api = client.get(
        "/api/v1/batches/", {"status": "succeeded"}, headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert [job["id"] for job in api["results"]] == [ids[0]]

    first = user_client.get("/batches/").content.decode()
    assert "Page 1 of 2" in first and "page=2" in first
    second = user_client.get("/batches/", {"page": 2}).content.decode()
    assert second.count('href="/batches/') == 2  # 27 jobs, 25 a page

    bad = user_client.get("/batches/", {"status": "exploded"})
    assert bad.status_code == 400 and "exploded" in bad.content.decode()


def test_the_batch_list_needs_the_view_permission(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    assert client.get("/batches/").status_code == 403


# --- the admin ------------------------------------------------------------------------------


def test_the_admin_lists_jobs_and_shows_one_read_only(client, setup, key, staff_user):
    job_id = _start(client, setup, key, _frame(3).to_csv(index=False).encode())
    client.force_login(staff_user)
    listing = client.get("/admin/inference/batchjob/", {"status__exact": "queued"})
    assert listing.status_code == 200 and "rows.csv" in listing.content.decode()
    detail = client.get(f"/admin/inference/batchjob/{job_id}/change/").content.decode()
    assert "Open the progress page" in detail and 'name="_save"' not in detail


def test_the_admin_cancel_action_checks_each_job_with_the_service(client, setup, key, other_team):
    content = _frame(3).to_csv(index=False).encode()
    ours = _start(client, setup, key, content, "ours.csv")
    theirs = _start(client, setup, key, content, "theirs.csv")
    BatchJob.objects.filter(pk=theirs).update(team=other_team)
    operator = role_user("Operator")
    operator.is_staff = True
    operator.save()
    client.force_login(operator)
    response = client.post(
        "/admin/inference/batchjob/",
        {"action": "cancel_jobs", "_selected_action": [ours, theirs]},
        follow=True,
    )
    html = response.content.decode()
    assert "1 batch job(s) cancelled." in html and "another team" in html
    assert BatchJob.objects.get(pk=ours).status == BatchStatus.CANCELLED
    assert BatchJob.objects.get(pk=theirs).status == BatchStatus.QUEUED


def test_a_logged_batch_row_carries_its_inputs_score_and_explanation(client, setup, key):
    frame = _frame(6)
    job_id = _start(client, setup, key, frame.to_csv(index=False).encode(), key_column="applicant")
    job = BatchJob.objects.get(pk=job_id)
    services.batch_run_inline(job=job)
    job.refresh_from_db()
    result = _result(job)

    logged = log_model(setup.group).all_rows.get(request_id=row_request_id(job.pk, 4))
    assert logged.routing_key == "applicant-4" and logged.role == result.loc[4, "role"]
    assert logged.inputs == {name: float(frame.loc[4, name]) for name in CREDIT_FEATURES}
    assert logged.score == pytest.approx(result.loc[4, "score"], abs=1e-12)
    shap = {name: result.loc[4, f"shap_{name}"] for name in CREDIT_FEATURES}
    assert logged.explanation == pytest.approx(shap, abs=1e-12)
