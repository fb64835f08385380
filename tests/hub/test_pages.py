import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from groups.models import ModelGroup
from inference.tables import inference_log_model
from registry.models import RegisteredModel
from training.models import FineTuneJob, JobStatus


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/models/", "/groups/", "/training/", "/providers/"])
def test_pages_send_anonymous_visitors_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_admin_refuses_a_user_who_is_not_staff(user_client):
    response = user_client.get("/admin/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_login_with_the_right_password_lands_on_the_dashboard(client, user):
    response = client.post(
        "/login/", {"username": user.username, "password": "correct-horse-battery"}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/"
    assert b"Dashboard" in response.content


@pytest.mark.django_db
def test_empty_dashboard_says_to_import_a_model_first(user_client):
    response = user_client.get("/")

    assert response.status_code == 200
    assert response.context["counts"] == {
        "models": 0,
        "groups": 0,
        "predictions_24h": 0,
        "running_jobs": 0,
    }
    assert b"No models yet" in response.content


@pytest.mark.django_db
def test_dashboard_counts_what_is_in_the_database(user_client):
    RegisteredModel.objects.create(name="Credit Scoring", slug="credit-scoring")
    RegisteredModel.objects.create(name="Churn", slug="churn")
    with transaction.atomic():
        group = ModelGroup.objects.create(name="Live", slug="live")
    log = inference_log_model(group.table_name)
    now = timezone.now()
    for created_at in (now, now - timedelta(hours=3), now - timedelta(days=2)):
        log.objects.create(
            request_id=uuid.uuid4(),
            model_version_id=1,
            role="champion",
            inputs={},
            created_at=created_at,
        )
    FineTuneJob.objects.create(status=JobStatus.RUNNING)
    FineTuneJob.objects.create(status=JobStatus.SUCCEEDED)

    response = user_client.get("/")

    assert response.context["counts"] == {
        "models": 2,
        "groups": 1,
        "predictions_24h": 2,
        "running_jobs": 1,
    }


@pytest.mark.django_db
def test_dashboard_says_when_no_worker_has_reported(user_client):
    html = user_client.get("/").content.decode()

    assert "No Celery worker has reported yet" in html


@pytest.mark.django_db
def test_dashboard_shows_the_worker_that_reported_last(user_client):
    from hub.services import worker_heartbeat_record

    worker_heartbeat_record(hostname="celery@box-1")

    html = user_client.get("/").content.decode()

    assert "celery@box-1" in html
    assert "No Celery worker has reported yet" not in html
