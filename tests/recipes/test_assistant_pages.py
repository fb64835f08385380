"""The Assistant tab on a recipe's page: how to connect a provider when none is, the
conversation with its proposals as a diff, and the apply / explain buttons by role."""

import pytest

from core.throttling import throttle_counts_clear
from recipes.models import Proposal, RecipeVersion

INDUSTRY = "forecasting-grocery-retail"
PAGE = f"/library/recipes/{INDUSTRY}/"
THRESHOLD = "/evaluation/metrics/0/threshold"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    throttle_counts_clear()
    yield
    throttle_counts_clear()


def _answer(value) -> dict:
    patch = [
        {"op": "test", "path": THRESHOLD, "value": 22.0},
        {"op": "replace", "path": THRESHOLD, "value": value},
    ]
    return {
        "message": "Lower MAE is achievable.",
        "proposals": [{"summary": "Stricter MAE", "rationale": "Errors fell.", "patch": patch}],
    }


def test_without_a_connected_provider_the_tab_says_how_to_connect_one(client, seeded, operator):
    client.force_login(operator)

    page = client.get(PAGE).content.decode()

    assert "No LLM provider is connected, so the assistant cannot answer" in page
    assert "Providers → Add provider" in page
    assert 'name="message"' not in page


def test_a_conversation_shows_the_proposal_as_a_diff_and_apply_makes_a_draft(
    client, seeded, operator, make_provider, fake_provider_server
):
    provider = make_provider(kind="openai_compatible", name="Local vLLM")
    fake_provider_server.structured_answers.append(_answer(18.5))
    client.force_login(operator)
    assert 'name="message"' in client.get(PAGE).content.decode()

    sent = client.post(
        f"/library/recipes/{INDUSTRY}/assistant/messages",
        {"message": "Make MAE stricter", "provider": provider.pk},
    )

    assert sent.status_code == 302 and "#assistant" in sent["Location"]
    page = client.get(sent["Location"]).content.decode()
    proposal = Proposal.objects.get()
    assert "Lower MAE is achievable." in page and "Make MAE stricter" in page
    assert f"#{proposal.pk} Stricter MAE" in page
    assert "<code>/evaluation/metrics/0/threshold</code>" in page
    assert "<code>22.0</code>" in page and "<code>18.5</code>" in page
    assert "Apply as a new draft version" in page and ">Explain<" in page

    applied = client.post(f"/library/recipes/{INDUSTRY}/assistant/proposals/{proposal.pk}/apply")

    version = RecipeVersion.objects.filter(recipe__slug=INDUSTRY).order_by("-id").first()
    assert applied.status_code == 302 and applied["Location"] == version.get_absolute_url()
    assert version.effective["evaluation"]["metrics"][0]["threshold"] == 18.5
    assert version.status == "draft" and f"proposal #{proposal.pk}" in version.change_note


def test_a_viewer_reads_the_conversation_without_buttons(
    client, seeded, operator, viewer, make_provider, fake_provider_server
):
    provider = make_provider(kind="openai_compatible")
    fake_provider_server.structured_answers.append(_answer(18.5))
    client.force_login(operator)
    location = client.post(
        f"/library/recipes/{INDUSTRY}/assistant/messages",
        {"message": "Make MAE stricter", "provider": provider.pk},
    )["Location"]
    client.force_login(viewer)

    page = client.get(location).content.decode()

    assert "Lower MAE is achievable." in page
    for absent in ("Apply as a new draft version", ">Explain<", 'name="message"'):
        assert absent not in page
    proposal = Proposal.objects.get()
    refused = client.post(f"/library/recipes/{INDUSTRY}/assistant/proposals/{proposal.pk}/apply")
    assert refused.status_code == 403
