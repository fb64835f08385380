"""“New recipe with the assistant” (issue 18 item 4) against the fake OpenAI-compatible
server: a valid first manifest becomes a child of the family's baseline with a draft; an
invalid one, after the retries, creates nothing; a Viewer may not ask."""

import pytest
from rest_framework.test import APIClient

from core.throttling import throttle_counts_clear
from recipes.models import Conversation, Proposal, Recipe, RecipeVersion

NEW = "/api/v1/recipes/assistant/new"
BASELINE = "forecasting-baseline"
THRESHOLD = "/evaluation/metrics/0/threshold"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    throttle_counts_clear()
    yield
    throttle_counts_clear()


@pytest.fixture
def provider(make_provider):
    return make_provider(kind="openai_compatible", name="Local vLLM")


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _answer(value) -> dict:
    patch = [{"op": "replace", "path": THRESHOLD, "value": value}]
    return {
        "message": "A weekly forecast for a bakery.",
        "proposals": [{"summary": "Bakery MAE", "rationale": "Small volumes.", "patch": patch}],
    }


def _ask(user, provider, **extra):
    body = {
        "family": "forecasting",
        "goal": "Weekly bread demand for a bakery chain",
        "name": "Bakery forecast",
        "provider": provider.name,
        **extra,
    }
    return _client(user).post(NEW, body, format="json")


def _baseline_effective() -> dict:
    return RecipeVersion.objects.filter(recipe__slug=BASELINE).order_by("-id").first().effective


def test_a_valid_first_manifest_makes_a_child_with_a_draft(
    seeded, operator, provider, fake_provider_server
):
    fake_provider_server.structured_answers.append(_answer(7.5))

    response = _ask(operator, provider)

    assert response.status_code == 201, response.json()
    body = response.json()
    child = Recipe.objects.get(slug="bakery-forecast")
    assert body["recipe"]["slug"] == child.slug
    assert child.parent.slug == BASELINE and child.level == "client"
    assert child.team == operator.teams.get()
    version = child.versions.order_by("-id").first()
    assert body["version"]["version"] == version.version and version.status == "draft"
    expected = _baseline_effective()
    expected["metadata"]["title"] = "Bakery forecast"
    expected["evaluation"]["metrics"][0]["threshold"] = 7.5
    assert version.effective == expected  # the proposed value, the rest inherited
    assert body["proposal"]["status"] == "applied"
    conversation = Conversation.objects.get(recipe=child)
    for named in (f"conversation #{conversation.pk}", f"Local vLLM / {provider.default_model}"):
        assert named in version.change_note
    sent = fake_provider_server.requests_to("/chat/completions")[0].json
    context = sent["messages"][1]["content"]
    assert '"provenance"' in context and "MANIFEST JSON SCHEMA" in context
    assert "Weekly bread demand for a bakery chain" in context


def test_an_invalid_first_manifest_is_retried_then_creates_nothing(
    seeded, operator, provider, fake_provider_server
):
    fake_provider_server.structured_answers.extend([_answer("very low")] * 3)
    recipes, versions = Recipe.objects.count(), RecipeVersion.objects.count()

    response = _ask(operator, provider)

    assert response.status_code == 400
    body = response.json()
    assert "nothing was created" in body["message"]
    assert f"proposals[0].{THRESHOLD}" in body["errors"]
    assert len(fake_provider_server.requests_to("/chat/completions")) == 3
    assert (Recipe.objects.count(), RecipeVersion.objects.count()) == (recipes, versions)
    assert not Conversation.objects.exists() and not Proposal.objects.exists()


def test_a_viewer_may_not_ask(seeded, viewer, provider, fake_provider_server):
    response = _ask(viewer, provider)

    assert response.status_code == 403
    assert fake_provider_server.requests_to("/chat/completions") == []
    assert not Recipe.objects.filter(slug="bakery-forecast").exists()


def test_the_library_form_makes_the_recipe_and_opens_its_draft(
    client, seeded, operator, provider, fake_provider_server
):
    fake_provider_server.structured_answers.append(_answer(7.5))
    client.force_login(operator)
    assert "New recipe with the assistant" in client.get("/library/").content.decode()

    made = client.post(
        "/library/assistant/new",
        {
            "name": "Bakery forecast",
            "family": "forecasting",
            "level": "client",
            "goal": "Weekly bread demand",
            "provider": provider.pk,
        },
    )

    version = RecipeVersion.objects.filter(recipe__slug="bakery-forecast").order_by("-id").first()
    assert made.status_code == 302 and made["Location"] == version.get_absolute_url()
    page = client.get(made["Location"]).content.decode()
    assert "the assistant&#x27;s first manifest is draft version" in page
    assert version.effective["evaluation"]["metrics"][0]["threshold"] == 7.5


def test_a_viewer_sees_no_form_and_may_not_post(client, seeded, viewer, provider):
    client.force_login(viewer)

    assert "New recipe with the assistant" not in client.get("/library/").content.decode()
    refused = client.post(
        "/library/assistant/new",
        {"name": "X", "family": "forecasting", "goal": "y", "provider": provider.pk},
    )
    assert refused.status_code == 403
