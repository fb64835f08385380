"""Who may do what with training jobs: Operators of the job's team start, cancel, retry
and join results to their groups; every role reads; the rest is 403 and absent."""

import pytest
from django.urls import reverse

from core import roles
from tests.factories import role_user
from tests.training.factories import FineTuneJobFactory, credit_group, log_decisions
from training.models import FineTuneJob, JobStatus

JOBS = "/api/v1/training/jobs/"


@pytest.fixture
def live_group(db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=120)
    return group, champion


def _start(client, group):
    return client.post(
        JOBS,
        {"preset": "gradient_boosting", "source": "decision_log", "group": group.slug},
        content_type="application/json",
    )


def test_a_viewer_reads_jobs_but_may_not_start_one(client, viewer, live_group):
    group, _ = live_group
    FineTuneJobFactory()
    client.force_login(viewer)

    listed = client.get(JOBS)
    started = _start(client, group)

    assert listed.status_code == 200 and listed.json()["count"] == 1
    assert started.status_code == 403
    assert "permission" in started.json()["errors"]
    assert FineTuneJob.objects.count() == 1


def test_an_operator_starts_a_job_for_their_teams_model(client, operator, live_group):
    group, champion = live_group
    client.force_login(operator)

    response = _start(client, group)

    assert response.status_code == 201, response.json()
    job = FineTuneJob.objects.get(pk=response.json()["id"])
    assert job.team_id == champion.model.team_id and job.created_by == operator


def test_an_operator_of_another_team_gets_403_starting_a_job_on_this_teams_model(
    client, other_team, live_group
):
    group, _ = live_group
    stranger = role_user(roles.OPERATOR, team=other_team)
    client.force_login(stranger)

    response = _start(client, group)

    assert response.status_code == 403
    assert FineTuneJob.objects.count() == 0


def test_cancel_is_403_for_a_viewer_and_for_another_teams_operator(client, viewer, other_team):
    job = FineTuneJobFactory(status=JobStatus.QUEUED)
    stranger = role_user(roles.OPERATOR, team=other_team)

    client.force_login(viewer)
    as_viewer = client.post(f"{JOBS}{job.pk}/cancel")
    client.force_login(stranger)
    as_stranger = client.post(f"{JOBS}{job.pk}/cancel")
    page_post = client.post(reverse("training:job_cancel", args=[job.pk]))

    assert (as_viewer.status_code, as_stranger.status_code, page_post.status_code) == (
        403,
        403,
        403,
    )
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_retry_and_join_pages_answer_403_to_a_viewer(client, viewer):
    job = FineTuneJobFactory(status=JobStatus.FAILED)
    client.force_login(viewer)

    retry = client.post(reverse("training:job_retry", args=[job.pk]))
    join = client.post(reverse("training:job_join_group", args=[job.pk]), {"weight": 10})
    new = client.get(reverse("training:job_new"))

    assert (retry.status_code, join.status_code, new.status_code) == (403, 403, 403)
    assert FineTuneJob.objects.count() == 1


def test_a_viewer_sees_no_start_cancel_or_retry_buttons(client, viewer):
    queued = FineTuneJobFactory(status=JobStatus.QUEUED)
    failed = FineTuneJobFactory(status=JobStatus.FAILED)
    client.force_login(viewer)

    listing = client.get("/training/").content.decode()
    queued_page = client.get(queued.get_absolute_url()).content.decode()
    failed_page = client.get(failed.get_absolute_url()).content.decode()

    assert reverse("training:job_new") not in listing
    assert reverse("training:job_cancel", args=[queued.pk]) not in queued_page
    assert reverse("training:job_retry", args=[failed.pk]) not in failed_page


def test_an_operator_of_the_team_sees_the_buttons(client, operator):
    queued = FineTuneJobFactory(status=JobStatus.QUEUED)
    client.force_login(operator)

    listing = client.get("/training/").content.decode()
    page = client.get(queued.get_absolute_url()).content.decode()

    assert reverse("training:job_new") in listing
    assert reverse("training:job_cancel", args=[queued.pk]) in page


def test_joining_a_group_of_another_team_is_403(client, operator, other_team):
    from groups.models import ModelGroup
    from tests.registry.factories import SklearnVersionFactory

    group, champion = credit_group(name="Their Group", model_name="Their Model")
    ModelGroup.objects.filter(pk=group.pk).update(team=other_team)
    trained = SklearnVersionFactory(model=champion.model, version="1.3")
    job = FineTuneJobFactory(status=JobStatus.SUCCEEDED, result_version=trained)
    client.force_login(operator)

    page = client.get(job.get_absolute_url()).content.decode()
    response = client.post(
        reverse("training:job_join_group", args=[job.pk]), {"group": group.pk, "weight": 0}
    )

    assert "Their Group" not in page  # not offered
    assert response.status_code == 403
    assert not group.memberships.filter(model_version=trained).exists()


def test_the_admin_hides_cancel_from_a_viewer_with_admin_access(client, db):
    staff_viewer = role_user(roles.VIEWER, is_staff=True)
    job = FineTuneJobFactory(status=JobStatus.QUEUED)
    client.force_login(staff_viewer)

    changelist = client.get(reverse("admin:training_finetunejob_changelist"))
    acted = client.post(
        reverse("admin:training_finetunejob_changelist"),
        {"action": "cancel_jobs", "_selected_action": [job.pk]},
    )

    assert changelist.status_code == 200
    assert "cancel_jobs" not in changelist.content.decode()
    job.refresh_from_db()
    assert acted.status_code in (200, 302) and job.status == JobStatus.QUEUED


def test_reads_are_limited_to_the_users_teams_under_read_isolation(
    client, viewer, other_team, settings
):
    settings.HUB_TEAM_READ_ISOLATION = True
    mine = FineTuneJobFactory()
    theirs = FineTuneJobFactory(team=other_team)
    client.force_login(viewer)

    listed = client.get(JOBS).json()
    hidden = client.get(f"{JOBS}{theirs.pk}/")

    assert [j["id"] for j in listed["results"]] == [mine.pk]
    assert hidden.status_code == 404
