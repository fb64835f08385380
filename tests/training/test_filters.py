"""One job filter for the page and the API: status, trainer, group, model and search."""

import pytest

from tests.registry.factories import RegisteredModelFactory
from tests.training.factories import FineTuneJobFactory, credit_group
from training.models import BaseKind, Dataset, DatasetSource, JobStatus

JOBS = "/api/v1/training/jobs/"


@pytest.fixture
def jobs(db):
    group, champion = credit_group()
    from_log = Dataset.objects.create(
        name="Live decision log", source=DatasetSource.DECISION_LOG, group=group
    )
    other_model = RegisteredModelFactory(name="Churn")
    return {
        "log": FineTuneJobFactory(model=champion.model, dataset=from_log, status=JobStatus.RUNNING),
        "churn": FineTuneJobFactory(
            model=other_model, status=JobStatus.FAILED, error="Out of memory"
        ),
        "external": FineTuneJobFactory(base_kind=BaseKind.EXTERNAL, preset=""),
        "group": group,
        "model": champion.model,
    }


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {job["id"] for job in response.json()["results"]}


def test_the_api_filters_by_each_parameter(user_client, jobs):
    assert _ids(user_client.get(JOBS, {"status": "failed"})) == {jobs["churn"].pk}
    assert _ids(user_client.get(JOBS, {"kind": "external"})) == {jobs["external"].pk}
    assert _ids(user_client.get(JOBS, {"group": jobs["group"].slug})) == {jobs["log"].pk}
    assert _ids(user_client.get(JOBS, {"model": jobs["model"].slug})) == {jobs["log"].pk}
    assert _ids(user_client.get(JOBS, {"q": "memory"})) == {jobs["churn"].pk}
    assert _ids(user_client.get(JOBS, {"q": f"#{jobs['external'].pk}"})) == {jobs["external"].pk}


def test_a_bad_filter_value_is_a_400_naming_the_parameter(user_client, jobs):
    response = user_client.get(JOBS, {"kind": "quantum"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["kind"]


def test_the_page_uses_the_same_filter(user_client, jobs):
    response = user_client.get("/training/", {"kind": "external"})

    assert [j.pk for j in response.context["page"].object_list] == [jobs["external"].pk]


def test_the_schema_lists_the_filters_and_a_paginated_page(user_client, db):
    schema = user_client.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"][JOBS]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"status", "kind", "group", "model", "q", "page"} <= names
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("PaginatedJobOutputList")
