import json

import pytest
from django.urls import reverse

from groups.models import Membership
from registry.demo import CREDIT_FEATURES
from tests.training.factories import (
    FineTuneJobFactory,
    JobEventFactory,
    credit_csv,
    credit_group,
    decision_log,
    log_decisions,
)
from training.models import FineTuneJob, JobStatus
from training.services import job_create
from training.tasks import job_run


@pytest.fixture
def live_group(db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=300)
    return group, champion


def _form(group, **fields) -> dict:
    return {
        "base": "preset:gradient_boosting",
        "source": "decision_log",
        "group": group.pk,
        "hyperparameters_for": "preset:gradient_boosting",
        "hp_n_estimators": "20",
        **fields,
    }


def test_the_job_list_filters_by_status_and_paginates(user_client):
    FineTuneJobFactory.create_batch(22, status=JobStatus.SUCCEEDED)
    FineTuneJobFactory(status=JobStatus.FAILED, error="Boom: out of memory")

    first = user_client.get("/training/")
    failed = user_client.get("/training/?status=failed")
    second = user_client.get("/training/?page=2")

    assert first.status_code == 200 and len(first.context["page"].object_list) == 20
    assert "Page 1 of 2" in first.content.decode()
    assert [j.status for j in failed.context["page"].object_list] == ["failed"]
    assert "Boom: out of memory" in failed.content.decode()
    assert len(second.context["page"].object_list) == 3


def test_the_job_list_refreshes_itself_while_a_listed_job_runs(user_client):
    FineTuneJobFactory(status=JobStatus.SUCCEEDED)
    calm = user_client.get("/training/").content.decode()
    FineTuneJobFactory(status=JobStatus.RUNNING, progress=30)

    busy = user_client.get("/training/").content.decode()
    partial = user_client.get("/training/", headers={"HX-Request": "true"}).content.decode()

    assert "every 3s" not in calm and "every 3s" in busy
    assert partial.lstrip().startswith('<div id="job-table"') and "<html" not in partial


def test_an_empty_job_list_says_how_to_start_one(user_client):
    response = user_client.get("/training/")

    assert "No fine-tuning jobs yet." in response.content.decode()
    assert reverse("training:job_new") in response.content.decode()


def test_the_new_job_form_shows_defaults_with_help_and_says_who_offers_fine_tuning(
    user_client, live_group
):
    response = user_client.get("/training/new/")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="hp_n_estimators" value="100"' in page
    assert (
        "Boosting stages (trees); the loss is reported as they grow. Default: 100; ≥ 1, ≤ 2000."
        in page
    )
    assert "Anthropic and Gemini offer no fine-tuning through their public APIs" in page
    assert "Live Credit Scoring" in page


def test_changing_the_base_swaps_in_its_hyperparameters(user_client, live_group):
    response = user_client.get(
        "/training/new/?base=preset:logistic_regression", headers={"HX-Request": "true"}
    )

    page = response.content.decode()
    assert "<html" not in page
    assert 'name="hp_C" value="1.0"' in page and "hp_n_estimators" not in page


def test_submitting_the_form_queues_a_job_and_opens_its_page(user_client, live_group):
    group, champion = live_group

    response = user_client.post("/training/new/", _form(group))

    job = FineTuneJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.model == champion.model and job.hyperparameters["n_estimators"] == 20
    assert job.snapshot.row_count == 300


def test_bad_hyperparameters_come_back_on_their_field_and_no_job_is_made(user_client, live_group):
    group, _ = live_group

    response = user_client.post(
        "/training/new/", _form(group, hp_n_estimators="0", hp_learning_rate="2")
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["hp_n_estimators"] == ["must be at least 1, got 0."]
    assert form.errors["hp_learning_rate"] == ["must be at most 1, got 2."]
    assert FineTuneJob.objects.count() == 0


def test_an_uploaded_csv_missing_a_feature_is_named_on_the_file_field(user_client, live_group):
    group, champion = live_group

    response = user_client.post(
        "/training/new/",
        _form(
            group,
            source="upload",
            model=champion.model.pk,
            file=credit_csv(drop=("age",)),
            label_column="default",
        ),
    )

    assert response.status_code == 400
    assert response.context["form"].errors["file"][0].startswith("Column 'age' is missing")
    assert FineTuneJob.objects.count() == 0


def test_changing_the_base_without_javascript_shows_its_hyperparameters_first(
    user_client, live_group
):
    group, _ = live_group

    response = user_client.post("/training/new/", _form(group, base="preset:random_forest"))

    assert response.status_code == 400
    assert "The base changed" in response.context["form"].non_field_errors()[0]
    assert 'name="hp_min_samples_leaf"' in response.content.decode()


def test_a_running_job_page_polls_and_draws_the_loss_chart(user_client):
    job = FineTuneJobFactory(
        status=JobStatus.RUNNING, progress=40, stage="Stage 8/20: Trees 40/100"
    )
    JobEventFactory.create_batch(3, job=job)

    page = user_client.get(job.get_absolute_url()).content.decode()
    live = user_client.get(job.get_absolute_url(), headers={"HX-Request": "true"}).content.decode()

    assert 'hx-trigger="every 2s' in page and 'aria-valuenow="40"' in page
    assert "Stage 8/20: Trees 40/100" in page
    assert f'data-chart="loss-chart-{job.pk}"' in page
    chart = json.loads(
        page.split(f'id="loss-chart-{job.pk}" type="application/json">')[1].split("</script>")[0]
    )
    assert chart["kind"] == "timeseries"
    assert [d["label"] for d in chart["datasets"]] == ["Training loss", "Hold-out loss"]
    assert len(chart["labels"]) == 3
    assert "<html" not in live and 'id="job-live"' in live and "Set-up" not in live


def test_a_finished_job_page_stops_polling(user_client):
    job = FineTuneJobFactory(status=JobStatus.FAILED, error="No heartbeat.")

    page = user_client.get(job.get_absolute_url()).content.decode()

    assert "every 2s" not in page
    assert "No heartbeat." in page and ">Retry</button>" in page


def test_a_succeeded_job_links_its_version_and_adds_it_to_the_group_as_a_challenger(
    user_client, live_group
):
    group, champion = live_group
    job = job_create(
        preset="random_forest",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters={"n_estimators": 5},
    )
    job_run(job.pk)
    job.refresh_from_db()

    page = user_client.get(job.get_absolute_url()).content.decode()
    response = user_client.post(
        reverse("training:job_join_group", args=[job.pk]), {"group": group.pk, "weight": 15}
    )

    assert job.result_version.get_absolute_url() in page
    assert "Add to group as challenger" in page
    assert response.status_code == 302 and response["Location"] == group.get_absolute_url()
    membership = Membership.objects.get(group=group, model_version=job.result_version)
    assert (membership.role, membership.weight) == ("challenger", 15)


def test_the_cancel_and_retry_buttons_work(user_client, live_group):
    group, champion = live_group
    job = job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))

    user_client.post(reverse("training:job_cancel", args=[job.pk]))
    response = user_client.post(reverse("training:job_retry", args=[job.pk]))

    job.refresh_from_db()
    retry = FineTuneJob.objects.exclude(pk=job.pk).get()
    assert job.status == JobStatus.CANCELLED
    assert retry.retry_of == job and response["Location"] == retry.get_absolute_url()


def test_the_set_up_shows_the_snapshot_the_job_trains_on(user_client, live_group):
    group, champion = live_group
    job = job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))

    page = user_client.get(job.get_absolute_url()).content.decode()

    assert "300 rows" in page and ", ".join(CREDIT_FEATURES) in page
    assert job.snapshot.sha256[:12] in page


def test_a_link_with_a_group_opens_the_form_on_its_decision_log(user_client, live_group):
    group, _ = live_group

    response = user_client.get(f"/training/new/?group={group.slug}")

    assert response.context["form"].initial == {"group": group.pk, "source": "decision_log"}
    assert f'<option value="{group.pk}" selected>' in response.content.decode()
