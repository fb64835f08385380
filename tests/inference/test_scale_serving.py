"""Serving at scale: group commit (one writer per process, no 200 without a committed row),
micro-batched scoring (identical answers), and the lean predict endpoint."""

import threading
import uuid

import pytest
from django.db import OperationalError, connection
from django.test.utils import override_settings

from groups.selectors import routing_table
from groups.services import group_delete, group_promote
from inference import serving
from inference.group_commit import GroupCommitWriter
from inference.serving import DatabaseUnavailable, PredictRequest, log_rows, score, validate
from inference.serving.jobs import Job, Pending
from registry.predictors import PredictionInputError, SklearnPredictor
from tests.inference.serving_factories import (
    credit_rows,
    log_model,
    post,
    routing_key_for,
    serving_group,
)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="group commit runs on PostgreSQL"
)


@pytest.fixture
def writer_settings(settings):
    """A window long enough that concurrent calls surely meet in one batch."""
    settings.HUB_GROUP_COMMIT = True
    settings.HUB_GROUP_COMMIT_WINDOW_MS = 300.0
    serving.group_commit_reset()
    yield settings
    serving.group_commit_reset()


def _concurrently(calls: list) -> list:
    """Run the calls at once in threads; each one's result or exception, in order."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(n: int) -> None:
        from django.db import connection as own

        barrier.wait()
        try:
            results[n] = calls[n]()
        except Exception as exc:
            results[n] = exc
        finally:
            own.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def live_setup(transactional_db):
    setup = serving_group(name="Group Commit Scoring", shadow=True)
    yield setup
    serving.group_commit_reset()
    group_delete(group=setup.group, actor=None)


def _predict(slug: str, inputs: dict, **kwargs):
    return lambda: serving.predict_one(slug=slug, inputs=inputs, **kwargs)


# --- group commit ---------------------------------------------------------------------------


@postgres_only
def test_concurrent_requests_share_one_commit_and_each_answer_has_its_committed_row(
    live_setup, writer_settings, monkeypatch
):
    commits: list[int] = []
    real = log_rows.commit_rows
    monkeypatch.setattr(
        log_rows, "commit_rows", lambda by_table: commits.append(1) or real(by_table)
    )
    rows = credit_rows(8)

    answers = _concurrently([_predict(live_setup.group.slug, row) for row in rows])

    assert all(isinstance(a, dict) for a in answers), answers
    logged = log_model(live_setup.group).objects
    ids = [uuid.UUID(a["request_id"]) for a in answers]
    assert logged.filter(request_id__in=ids).exclude(role="shadow").count() == 8
    assert len(commits) < 8  # shared: one commit for several requests
    # Shadows joined the batches, committed before the answers: one row per request.
    assert logged.filter(role="shadow").count() == 8
    assert {a["role"] for a in answers} <= {"champion", "challenger"}


@postgres_only
def test_a_failed_commit_fails_exactly_the_requests_of_its_batch_with_503(
    live_setup, writer_settings, monkeypatch
):
    real = log_rows.commit_rows
    failing = {"first": True}

    def commit_once_failing(by_table):
        if failing.pop("first", False):
            raise OperationalError("the server closed the connection unexpectedly")
        return real(by_table)

    monkeypatch.setattr(log_rows, "commit_rows", commit_once_failing)
    rows = credit_rows(8)
    first = _concurrently([_predict(live_setup.group.slug, row) for row in rows[:4]])
    second = _concurrently([_predict(live_setup.group.slug, row) for row in rows[4:]])

    assert all(isinstance(r, DatabaseUnavailable) and r.status == 503 for r in first), first
    assert all(isinstance(r, dict) for r in second), second
    logged = set(
        log_model(live_setup.group)
        .objects.exclude(role="shadow")
        .values_list("request_id", flat=True)
    )
    assert logged == {uuid.UUID(r["request_id"]) for r in second}


@postgres_only
def test_a_failed_commit_is_a_503_json_error_through_the_api(live_setup, client, monkeypatch):
    def unreachable(by_table):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(log_rows, "commit_rows", unreachable)
    response = post(client, live_setup.predict_url, {"inputs": credit_rows(1)[0]}, live_setup.key)

    assert response.status_code == 503
    assert "database" in response.json()["errors"]
    assert not log_model(live_setup.group).objects.exists()


@postgres_only
def test_a_client_request_id_retried_concurrently_is_logged_once(live_setup, writer_settings):
    row = credit_rows(1)[0]
    request_id = uuid.uuid4()
    settings = writer_settings
    settings.HUB_GROUP_COMMIT_WINDOW_MS = 0.0  # separate batches, racing on one id

    answers = _concurrently(
        [_predict(live_setup.group.slug, row, request_id=request_id) for _ in range(6)]
    )

    assert all(isinstance(a, dict) for a in answers), answers
    assert len({a["request_id"] for a in answers}) == 1
    assert len({a["score"] for a in answers}) == 1  # all answered with the one logged row
    logged = log_model(live_setup.group).objects.filter(request_id=request_id)
    assert logged.count() == 1


def test_feedback_sent_right_after_the_answer_labels_the_primary_and_shadow_rows(
    live_setup, client, settings
):
    settings.HUB_GROUP_COMMIT = True  # the default: the writer's path on PostgreSQL
    setup = live_setup
    rows = credit_rows(5, seed=11)
    for n, row in enumerate(rows):
        answer = post(client, setup.predict_url, {"inputs": row}, setup.key).json()
        feedback = post(
            client,
            setup.feedback_url,
            {"request_id": answer["request_id"], "outcome": n % 2},
            setup.key,
        )
        assert feedback.status_code == 200, feedback.json()
        assert feedback.json()["status"] == "recorded"
        request_id = uuid.UUID(answer["request_id"])
        shadow_id = serving.shadow_request_id(request_id, setup.shadow.pk)
        logged = log_model(setup.group).objects.filter(request_id__in=[request_id, shadow_id])
        assert sorted(logged.values_list("role", "outcome")) == sorted(
            [(answer["role"], n % 2), ("shadow", n % 2)]
        )


@pytest.mark.django_db
def test_inside_a_transaction_the_request_commits_its_own_row(client, monkeypatch):
    # Tests and the demo run in a transaction: the writer's connection could not see it.
    setup = serving_group(name="Direct Scoring")
    monkeypatch.setattr(GroupCommitWriter, "submit", lambda *a, **k: pytest.fail("used the writer"))

    response = post(client, setup.predict_url, {"inputs": credit_rows(1)[0]}, setup.key)

    assert response.status_code == 200
    assert log_model(setup.group).objects.count() == 1


# --- micro-batched scoring ------------------------------------------------------------------


@postgres_only
def test_concurrent_requests_for_one_version_are_scored_in_one_call(
    live_setup, writer_settings, monkeypatch
):
    sizes: list[int] = []
    real = SklearnPredictor.predict

    def spy(self, rows):
        sizes.append(len(rows))
        return real(self, rows)

    monkeypatch.setattr(SklearnPredictor, "predict", spy)
    champion_key = routing_key_for(live_setup.group, live_setup.champion)
    rows = credit_rows(6)

    answers = _concurrently(
        [_predict(live_setup.group.slug, row, routing_key=champion_key) for row in rows]
    )

    assert all(a["model"]["id"] == live_setup.champion.pk for a in answers)
    assert max(sizes) > 1  # several requests' rows in one predict call
    # Each row once by the champion, and once by the shadow, before the answers.
    assert sum(sizes) == 6 + 6


@pytest.mark.django_db
@pytest.mark.parametrize("member", ["champion", "challenger", "shadow"])
def test_batched_answers_equal_single_row_scoring_to_1e_12(member):
    setup = serving_group(name="Batched Scoring", shadow=True)
    version = getattr(setup, member)
    rows = credit_rows(16, seed=5)
    table = routing_table(setup.group.slug)
    champion = next(m for m in table.members if m.role == "champion")
    routed = next(m for m in table.members if m.version_id == version.pk)

    def scored(batch: list[dict]) -> list[Pending]:
        job = Job(table, champion, [], 0.0)
        job.items = [
            Pending(i, PredictRequest(inputs=r), uuid.uuid4(), routed) for i, r in enumerate(batch)
        ]
        score.predict_jobs([job])
        return job.items

    together = scored(rows)
    alone = [scored([row])[0] for row in rows]

    for one, many in zip(alone, together, strict=True):
        assert one.prediction.label == many.prediction.label
        assert one.prediction.score == pytest.approx(many.prediction.score, abs=1e-12)
        assert one.explanation.base_value == pytest.approx(many.explanation.base_value, abs=1e-12)
        for name, value in one.explanation.values.items():
            assert value == pytest.approx(many.explanation.values[name], abs=1e-12)


@pytest.mark.django_db
def test_one_requests_bad_row_never_fails_another_request_scored_in_the_same_call(monkeypatch):
    setup = serving_group(name="Batched Scoring")
    table = routing_table(setup.group.slug)
    champion = next(m for m in table.members if m.role == "champion")
    good, bad = credit_rows(2)
    bad = {**bad, "income": -1.0}
    real = SklearnPredictor.predict

    def refuses_negative_income(self, rows):
        if any(r["income"] < 0 for r in rows):
            raise PredictionInputError("income must not be negative")
        return real(self, rows)

    monkeypatch.setattr(SklearnPredictor, "predict", refuses_negative_income)
    jobs = [
        Job(table, champion, [Pending(0, PredictRequest(inputs=r), uuid.uuid4(), champion)], 0.0)
        for r in (good, bad)
    ]

    score.predict_jobs(jobs)

    assert jobs[0].error is None and jobs[0].items[0].prediction is not None
    assert jobs[1].error is not None and jobs[1].error.status == 400


# --- the lean endpoint ----------------------------------------------------------------------


@pytest.mark.django_db
def test_predict_with_an_api_key_skips_the_pages_middleware(client, monkeypatch):
    from django.contrib.sessions.middleware import SessionMiddleware

    setup = serving_group(name="Lean Scoring")
    sessions: list[str] = []
    real = SessionMiddleware.process_request
    monkeypatch.setattr(
        SessionMiddleware,
        "process_request",
        lambda self, request: sessions.append(request.path) or real(self, request),
    )

    response = post(client, setup.predict_url, {"inputs": credit_rows(1)[0]}, setup.key)
    page = client.get("/login/")

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response  # a JSON answer is no page
    assert response["X-Content-Type-Options"] == "nosniff"  # the security middleware ran
    assert sessions == ["/login/"]
    assert "Content-Security-Policy" in page


@pytest.mark.django_db
def test_predict_answers_json_whatever_the_accept_header(client):
    setup = serving_group(name="Lean Scoring")
    response = client.post(
        setup.predict_url,
        data=f'{{"inputs": {__import__("json").dumps(credit_rows(1)[0])}}}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {setup.key}", "Accept": "text/html"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_a_body_that_is_not_json_content_is_415(client):
    setup = serving_group(name="Lean Scoring")
    response = client.post(
        setup.predict_url,
        data="inputs=1",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {setup.key}"},
    )
    assert response.status_code == 415
    assert "content_type" in response.json()["errors"]


@pytest.mark.django_db
def test_the_input_check_is_built_once_per_routing_generation(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    setup = serving_group(name="Lean Scoring")
    built: list[int] = []
    real = validate.compile_validator
    monkeypatch.setattr(
        validate, "compile_validator", lambda features: built.append(1) or real(features)
    )
    row = credit_rows(1)[0]
    for _ in range(3):
        assert post(client, setup.predict_url, {"inputs": row}, setup.key).status_code == 200
    assert len(built) == 1

    with django_capture_on_commit_callbacks(execute=True):
        group_promote(group=setup.group, model_version=setup.challenger, actor=None)
    response = post(client, setup.predict_url, {"inputs": row}, setup.key)

    assert response.status_code == 200
    assert len(built) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"routing_key": "k" * 201}, "routing_key", "no more than 200 characters"),
        ({"request_id": "not-a-uuid"}, "request_id", "valid UUID"),
        ({"explain": "maybe"}, "explain", "valid boolean"),
        ({"inputs": "x"}, "inputs", "dictionary"),
    ],
)
def test_a_body_the_fast_path_does_not_take_gets_the_serializers_field_error(
    client, body, field, message
):
    setup = serving_group(name="Lean Scoring")
    response = post(client, setup.predict_url, {"inputs": credit_rows(1)[0], **body}, setup.key)

    assert response.status_code == 400
    assert message in response.json()["errors"][field][0]


@pytest.mark.django_db
def test_the_fast_path_takes_a_body_as_the_serializer_would(client):
    setup = serving_group(name="Lean Scoring")
    row = credit_rows(1)[0]
    answer = post(
        client,
        setup.predict_url,
        {"inputs": row, "routing_key": "  applicant-3 ", "explain": False, "request_id": None},
        setup.key,
    ).json()

    logged = log_model(setup.group).objects.get(request_id=answer["request_id"])
    assert logged.routing_key == "applicant-3"  # trimmed, as CharField does
    assert answer["explanation"] is None


@pytest.mark.django_db
def test_an_api_key_over_the_rate_is_429_on_predict(client, monkeypatch):
    from core.throttling import PrincipalRateThrottle

    monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"principal": "2/min"})
    setup = serving_group(name="Lean Scoring")
    row = credit_rows(1)[0]
    statuses = [
        post(client, setup.predict_url, {"inputs": row}, setup.key).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


@override_settings(HUB_GROUP_COMMIT=False)
@pytest.mark.django_db(transaction=True)
def test_with_group_commit_off_each_request_commits_its_own_row(client):
    setup = serving_group(name="Direct Scoring")
    try:
        response = post(client, setup.predict_url, {"inputs": credit_rows(1)[0]}, setup.key)
        assert response.status_code == 200
        assert log_model(setup.group).objects.count() == 1
    finally:
        group_delete(group=setup.group, actor=None)
