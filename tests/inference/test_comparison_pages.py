"""The Comparative View page, its htmx refresh, the comparison API and the live fragment."""

import pytest
from django.urls import reverse

from groups.models import RoleChange
from groups.services import group_promote
from tests.inference.analytics_rows import fill_rows, make_group
from tests.inference.serving_factories import api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled():
    group, versions = make_group()
    fill_rows(group, versions, n=400, seed=2)
    return group, versions


def test_compare_page_shows_both_members_with_numbers_and_verdicts(user_client, filled):
    group, versions = filled
    response = user_client.get(reverse("inference:group_compare", args=[group.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    for version in versions:
        assert f'data-member="{version.pk}"' in html
    assert "95% CI" in html
    assert "vs champion" in html
    assert "Promote to Champion" in html
    assert "DeLong" in html and "Welch" in html and "z-test" in html
    # Polls every 10 s, skipped by hub/static/hub/ui.js while hidden or a <details> is open.
    assert (
        'hx-trigger="every 10s" data-poll-when-visible data-poll-pause-while="details[open]"'
        in html
    )
    assert 'data-chart="series-requests"' in html


def test_htmx_refresh_returns_only_the_panel(user_client, filled):
    group, _ = filled
    response = user_client.get(
        reverse("inference:group_compare", args=[group.slug]) + "?window=24h",
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="compare-panel" data-window="24h"')
    assert "<html" not in html


def test_promote_form_posts_to_the_groups_view_and_comes_back(user_client, filled):
    group, versions = filled
    compare_url = reverse("inference:group_compare", args=[group.slug])
    html = user_client.get(compare_url).content.decode()
    assert f'action="{reverse("groups:group_promote", args=[group.slug])}"' in html
    response = user_client.post(
        reverse("groups:group_promote", args=[group.slug]),
        {
            "model_version": versions[1].pk,
            "next": compare_url + "?window=7d",
            "confirm": "1",
            "reason": "better AUC",
        },
    )
    assert response.status_code == 302 and response["Location"].startswith(compare_url)
    html = user_client.get(compare_url).content.decode()
    assert "Latest change:" in html and "better AUC" in html
    assert RoleChange.objects.filter(group=group, to_version=versions[1]).exists()


def test_the_page_shows_roles_after_a_promotion(user_client, filled, user):
    group, versions = filled
    group_promote(group=group, model_version=versions[1], actor=user)
    html = user_client.get(reverse("inference:group_compare", args=[group.slug])).content.decode()
    champion_card = html.split(f'data-member="{versions[1].pk}"')[1][:40]
    assert 'data-role="champion"' in champion_card


def test_a_group_without_traffic_says_how_to_send_some(user_client):
    group, _ = make_group(name="Silent")
    html = user_client.get(reverse("inference:group_compare", args=[group.slug])).content.decode()
    assert 'id="no-traffic"' in html
    assert f"/api/v1/groups/{group.slug}/predict" in html


def test_the_no_traffic_curl_example_fills_in_every_feature_of_the_group(user_client):
    group, _ = make_group(name="Quiet")
    group.features = [*group.features, "loan_amount", "employment_years"]
    group.save(update_fields=["features"])
    html = user_client.get(reverse("inference:group_compare", args=[group.slug])).content.decode()

    assert group.features
    for feature in group.features:
        assert f"&quot;{feature}&quot;:" in html


def test_a_challenger_without_outcomes_shows_the_feedback_example(user_client):
    group, versions = make_group(name="Unlabelled")
    fill_rows(group, versions, n=100, labelled_share=0.0, shares=(0.5, 0.5))
    html = user_client.get(reverse("inference:group_compare", args=[group.slug])).content.decode()
    assert 'data-empty="no-labels"' in html
    assert f"/api/v1/groups/{group.slug}/feedback" in html
    assert "not enough labelled rows yet" in html


def test_comparison_api_gives_the_same_numbers(user_client, filled):
    group, versions = filled
    response = user_client.get(f"/api/v1/groups/{group.slug}/comparison?window=30d")
    assert response.status_code == 200
    body = response.json()
    assert body["window"] == "30d"
    members = {m["model_version"]: m for m in body["members"]}
    assert set(members) == {v.pk for v in versions}
    challenger = members[versions[1].pk]
    assert challenger["role"] == "challenger"
    auc = challenger["metrics"]["auc"]
    assert 0 <= auc["ci95"][0] <= auc["value"] <= auc["ci95"][1] <= 1
    assert auc["verdict"]
    assert sum(m["requests"] for m in body["members"]) == body["total_requests"]


def test_comparison_api_refuses_an_unknown_window(user_client, filled):
    group, _ = filled
    response = user_client.get(f"/api/v1/groups/{group.slug}/comparison?window=1y")
    assert response.status_code == 400
    assert "window" in response.json()["errors"]


def test_comparison_api_respects_api_key_scope(client, filled):
    group, _ = filled
    other, _ = make_group(name="Other Group")
    _, scoped = api_key_create(name="reader", groups=[other], scopes=("read",))
    response = client.get(
        f"/api/v1/groups/{group.slug}/comparison", HTTP_AUTHORIZATION=f"Bearer {scoped}"
    )
    assert response.status_code == 403
    _, allowed = api_key_create(name="all", all_groups=True, scopes=("read",))
    response = client.get(
        f"/api/v1/groups/{group.slug}/comparison", HTTP_AUTHORIZATION=f"Bearer {allowed}"
    )
    assert response.status_code == 200
    assert client.get(f"/api/v1/groups/{group.slug}/comparison").status_code in (401, 403)


def test_live_fragment_shows_the_version_in_its_groups(user_client, filled):
    group, versions = filled
    html = user_client.get(
        reverse("inference:version_live", args=[versions[1].pk])
    ).content.decode()
    assert f'data-group="{group.slug}"' in html
    assert "AUC-ROC" in html and "Accuracy" in html
    assert "<html" not in html


def test_live_fragment_of_a_version_in_no_group_says_what_to_do(user_client, filled):
    from registry.models import ModelVersion

    lonely = ModelVersion.objects.create(model=filled[1][0].model, version="9.9")
    html = user_client.get(reverse("inference:version_live", args=[lonely.pk])).content.decode()
    assert "serves in no group yet" in html


def test_a_promotion_shows_at_once_although_the_numbers_are_cached(
    user_client, filled, user, django_capture_on_commit_callbacks
):
    group, versions = filled
    url = reverse("inference:group_compare", args=[group.slug])
    before = user_client.get(url).content.decode()
    assert f'data-member="{versions[1].pk}" data-role="challenger"' in before
    with django_capture_on_commit_callbacks(execute=True):  # the promotion commits
        group_promote(group=group, model_version=versions[1], actor=user)
    after = user_client.get(url).content.decode()
    assert f'data-member="{versions[1].pk}" data-role="champion"' in after


def test_live_numbers_are_computed_once_per_polling_interval(filled):
    from inference import comparison

    group, versions = filled
    first = comparison.group_comparison(group=group, window="all")
    fill_rows(group, versions, n=10, seed=77)
    assert (
        comparison.group_comparison(group=group, window="all").total_requests
        == first.total_requests
    )
    fresh = comparison.group_comparison(group=group, window="all", use_cache=False)
    assert fresh.total_requests == first.total_requests + 10


def test_the_promote_button_is_absent_for_a_viewer_and_present_for_an_operator(
    client, viewer, operator, filled
):
    group, _ = filled
    url = f"/groups/{group.slug}/compare/"
    client.force_login(viewer)
    assert "data-promote=" not in client.get(url).content.decode()
    client.force_login(operator)
    assert "data-promote=" in client.get(url).content.decode()


def test_the_comparison_charts_use_the_chart_component(user_client, filled):
    group, _ = filled
    html = user_client.get(f"/groups/{group.slug}/compare/?window=all").content.decode()
    assert 'data-chart-kind="timeseries"' in html
    assert "borderColor" not in html and "#2f5bea" not in html
