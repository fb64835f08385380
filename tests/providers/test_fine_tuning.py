import pytest

from providers import clients
from providers.clients import ProviderError

JSONL = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "1"}]}\n'
)


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PROVIDER_MAX_RETRIES = 0


@pytest.fixture
def openai_provider(make_provider):
    return make_provider(kind="openai")


def _start_job(provider, **kwargs):
    file_id = clients.fine_tune_upload(provider, jsonl=JSONL, filename="train.jsonl")
    return clients.fine_tune_create(
        provider,
        training_file=file_id,
        model="gpt-4o-mini-2024-07-18",
        hyperparameters={"n_epochs": 3},
        **kwargs,
    )


def test_upload_sends_the_jsonl_for_fine_tuning(openai_provider, fake_provider_server):
    file_id = clients.fine_tune_upload(openai_provider, jsonl=JSONL, filename="train.jsonl")

    stored = fake_provider_server.files[file_id]
    assert stored == {"filename": "train.jsonl", "purpose": "fine-tune", "content": JSONL}


def test_create_starts_a_job_with_the_hyperparameters(openai_provider, fake_provider_server):
    job = _start_job(openai_provider, suffix="credit")

    assert job["id"].startswith("ftjob-")
    assert job["status"] == "validating_files"
    assert job["error"] is None
    sent = fake_provider_server.requests_to("/fine_tuning/jobs")[-1].json
    assert sent["method"]["supervised"]["hyperparameters"] == {"n_epochs": 3}
    assert sent["suffix"] == "credit"
    assert job["hyperparameters"]["n_epochs"] == 3


def test_retrieve_walks_the_job_to_success(openai_provider):
    job = _start_job(openai_provider, suffix="credit")

    statuses = [clients.fine_tune_retrieve(openai_provider, job["id"])["status"] for _ in range(4)]

    assert statuses == ["queued", "running", "succeeded", "succeeded"]
    final = clients.fine_tune_retrieve(openai_provider, job["id"])
    assert final["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:fake-org:credit:")
    assert final["error"] is None


def test_a_failed_job_reports_its_error(openai_provider, fake_provider_server):
    fake_provider_server.fine_tune_outcome = "failed"
    job = _start_job(openai_provider)

    for _ in range(3):
        result = clients.fine_tune_retrieve(openai_provider, job["id"])

    assert result["status"] == "failed"
    assert result["fine_tuned_model"] is None
    assert result["error"]["code"] == "invalid_training_file"
    assert "too few examples" in result["error"]["message"]


def test_events_come_oldest_first(openai_provider):
    job = _start_job(openai_provider)
    for _ in range(3):
        clients.fine_tune_retrieve(openai_provider, job["id"])

    events = clients.fine_tune_events(openai_provider, job["id"])

    assert events[0]["message"].startswith("Created fine-tuning job")
    assert events[-1]["message"] == "The job has successfully completed"
    assert [e["created_at"] for e in events] == sorted(e["created_at"] for e in events)
    metrics = [e for e in events if e["data"]]
    assert metrics[0]["data"]["train_loss"] == 1.25
    assert set(events[0]) == {"id", "created_at", "level", "message", "data"}


def test_cancel_stops_a_running_job(openai_provider):
    job = _start_job(openai_provider)

    cancelled = clients.fine_tune_cancel(openai_provider, job["id"])

    assert cancelled["status"] == "cancelled"
    assert clients.fine_tune_retrieve(openai_provider, job["id"])["status"] == "cancelled"


def test_an_unknown_job_is_a_404_provider_error(openai_provider):
    with pytest.raises(ProviderError) as raised:
        clients.fine_tune_retrieve(openai_provider, "ftjob-missing")

    assert raised.value.status == 404


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_kinds_without_public_fine_tuning_say_so(kind, make_provider, fake_provider_server):
    provider = make_provider(kind=kind)

    with pytest.raises(ProviderError, match="offers no fine-tuning through its public API"):
        clients.fine_tune_upload(provider, jsonl=JSONL, filename="train.jsonl")
    assert fake_provider_server.requests == []
