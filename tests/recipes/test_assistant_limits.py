"""The recipe assistant's limits (recipes/assistant.py) against the fake OpenAI-compatible
server: an answer longer than ASSISTANT_MAX_ANSWER_CHARS is refused (the model is told why
and asked again; after the retries the user is told why, and nothing it proposed is kept),
and proposals past ASSISTANT_MAX_PROPOSALS are refused by name."""

import json

import pytest
from rest_framework.test import APIClient

from core.throttling import throttle_counts_clear
from recipes.models import Message, Proposal, Recipe, RecipeVersion

INDUSTRY = "forecasting-grocery-retail"
THRESHOLD = "/evaluation/metrics/0/threshold"
MESSAGES = f"/api/v1/recipes/{INDUSTRY}/assistant/messages"
NEW = "/api/v1/recipes/assistant/new"
LIMIT = 600


@pytest.fixture(autouse=True)
def _fresh_throttle():
    throttle_counts_clear()
    yield
    throttle_counts_clear()


@pytest.fixture
def provider(make_provider):
    return make_provider(kind="openai_compatible", name="Local vLLM")


@pytest.fixture
def short_answers(settings):
    settings.ASSISTANT_MAX_ANSWER_CHARS = LIMIT


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _proposal(value: float, summary: str = "Tighten the MAE threshold") -> dict:
    return {
        "summary": summary,
        "rationale": "Recent errors are lower.",
        "patch": [
            {"op": "test", "path": THRESHOLD, "value": 22.0},
            {"op": "replace", "path": THRESHOLD, "value": value},
        ],
    }


def _answer(*proposals, message: str = "Here is a change.") -> dict:
    return {"message": message, "proposals": list(proposals)}


def _long_answer() -> dict:
    return _answer(_proposal(18.5), message="Let me explain at length. " + "blah " * LIMIT)


def _send(user, provider, text: str = "Make MAE stricter"):
    return _client(user).post(MESSAGES, {"message": text, "provider": provider.name}, format="json")


def _calls(fake_provider_server) -> list:
    return fake_provider_server.requests_to("/chat/completions")


def test_an_over_long_answer_is_refused_with_the_reason_and_keeps_nothing_it_proposed(
    seeded, operator, provider, fake_provider_server, short_answers
):
    fake_provider_server.structured_answers.extend([_long_answer()] * 3)
    versions = RecipeVersion.objects.count()

    response = _send(operator, provider)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["attempts"] == 3 and len(_calls(fake_provider_server)) == 3
    assert body["proposals"] == []
    # The user reads why there is no answer rather than an empty message.
    assert f"longer than {LIMIT} chars" in body["message"]
    assert "blah" not in body["message"]
    stored = Message.objects.get(pk=body["id"])
    assert stored.content == body["message"]
    assert not Proposal.objects.exists()
    assert RecipeVersion.objects.count() == versions


def test_the_model_is_told_its_answer_was_too_long_and_a_shorter_one_is_kept(
    seeded, operator, provider, fake_provider_server, short_answers
):
    fake_provider_server.structured_answers.extend(
        [_long_answer(), _answer(_proposal(18.5), message="Shorter.")]
    )

    body = _send(operator, provider).json()

    assert body["attempts"] == 2
    assert body["message"] == "Shorter."
    assert [p["status"] for p in body["proposals"]] == ["valid"]
    retry = _calls(fake_provider_server)[1].json["messages"]
    assert retry[-1]["role"] == "user"
    assert f"The answer is longer than {LIMIT} chars." in retry[-1]["content"]


def test_an_answer_at_the_limit_is_accepted_whole(
    seeded, operator, provider, fake_provider_server, settings
):
    answer = _answer(_proposal(18.5))
    settings.ASSISTANT_MAX_ANSWER_CHARS = len(json.dumps(answer))
    fake_provider_server.structured_answers.append(answer)

    body = _send(operator, provider).json()

    assert body["attempts"] == 1 and body["message"] == "Here is a change."
    assert [p["status"] for p in body["proposals"]] == ["valid"]


def test_proposals_past_the_limit_are_refused_by_name_and_cannot_be_applied(
    seeded, operator, provider, fake_provider_server, settings
):
    settings.ASSISTANT_MAX_PROPOSALS = 2
    three = _answer(_proposal(18.5, "First"), _proposal(19.0, "Second"), _proposal(19.5, "Third"))
    fake_provider_server.structured_answers.extend([three] * 3)

    body = _send(operator, provider).json()

    assert body["attempts"] == 3  # asked again each time to drop the extra one
    assert [(p["summary"], p["status"]) for p in body["proposals"]] == [
        ("First", "valid"),
        ("Second", "valid"),
        ("Third", "refused"),
    ]
    assert body["proposals"][2]["reasons"] == {"proposal": ["More than 2 proposals."]}
    retry = _calls(fake_provider_server)[1].json["messages"][-1]["content"]
    assert '"Third": proposal: More than 2 proposals.' in retry
    third = body["proposals"][2]["id"]
    applied = _client(operator).post(
        f"/api/v1/recipes/{INDUSTRY}/assistant/proposals/{third}/apply"
    )
    assert applied.status_code == 409


def test_an_answer_within_the_proposal_limit_on_retry_is_all_valid(
    seeded, operator, provider, fake_provider_server, settings
):
    settings.ASSISTANT_MAX_PROPOSALS = 2
    fake_provider_server.structured_answers.extend(
        [
            _answer(_proposal(18.5, "First"), _proposal(19.0, "Second"), _proposal(19.5, "Third")),
            _answer(_proposal(18.5, "First"), _proposal(19.0, "Second")),
        ]
    )

    body = _send(operator, provider).json()

    assert body["attempts"] == 2
    assert [(p["summary"], p["status"]) for p in body["proposals"]] == [
        ("First", "valid"),
        ("Second", "valid"),
    ]


def test_a_new_recipe_from_an_over_long_answer_is_refused_naming_the_limit(
    seeded, operator, provider, fake_provider_server, short_answers
):
    fake_provider_server.structured_answers.extend([_long_answer()] * 3)
    recipes = Recipe.objects.count()

    response = _client(operator).post(
        NEW,
        {
            "family": "forecasting",
            "goal": "Weekly bread demand for a bakery chain",
            "name": "Bakery forecast",
            "provider": provider.name,
        },
        format="json",
    )

    assert response.status_code == 400, response.json()
    body = response.json()
    assert "nothing was created" in body["message"]
    assert any(f"longer than {LIMIT} chars" in m for msgs in body["errors"].values() for m in msgs)
    assert Recipe.objects.count() == recipes
