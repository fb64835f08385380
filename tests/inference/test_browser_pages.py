"""The inference browser page, one prediction's page, the CSV download and the API."""

import csv
import io

import pytest
from django.urls import reverse

from tests.inference.analytics_rows import fill_rows, make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled():
    group, versions = make_group()
    rows = fill_rows(group, versions, n=120, seed=5)
    return group, versions, rows


def test_browser_lists_the_newest_rows_and_links_to_each(user_client, filled):
    group, _, rows = filled
    response = user_client.get(reverse("inference:group_inferences", args=[group.slug]))
    html = response.content.decode()
    newest = max(rows, key=lambda r: r.created_at)
    assert html.index(str(newest.request_id)) > 0
    assert reverse("inference:inference_detail", args=[group.slug, newest.request_id]) in html
    assert 'rel="next"' in html


def test_browser_filter_errors_are_named(user_client, filled):
    group, _, _ = filled
    html = user_client.get(
        reverse("inference:group_inferences", args=[group.slug]) + "?input=salary>1"
    ).content.decode()
    assert "Unknown feature" in html and "<strong>input</strong>" in html


def test_browser_with_no_match_says_so(user_client, filled):
    group, _, _ = filled
    html = user_client.get(
        reverse("inference:group_inferences", args=[group.slug]) + "?q=nobody",
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "No prediction matches these filters" in html
    assert html.lstrip().startswith('<section class="card" id="results">')


def test_detail_page_shows_inputs_outcome_and_the_waterfall(user_client, filled):
    group, _, rows = filled
    row = rows[0]
    html = user_client.get(
        reverse("inference:inference_detail", args=[group.slug, row.request_id])
    ).content.decode()
    assert str(row.inputs["income"]) in html
    assert 'data-chart="waterfall"' in html and 'data-chart-kind="bars"' in html
    assert 'id="waterfall"' in html  # the chart's data, for charts.js
    assert "#b42318" not in html  # colours are charts.js's, not the view's


def test_detail_of_an_unknown_request_is_404(user_client, filled):
    group, _, _ = filled
    url = reverse(
        "inference:inference_detail", args=[group.slug, "00000000-0000-0000-0000-000000000000"]
    )
    assert user_client.get(url).status_code == 404


def test_csv_download_streams_the_filtered_rows(user_client, filled):
    group, _, rows = filled
    response = user_client.get(
        reverse("inference:group_inferences_export", args=[group.slug]) + "?role=challenger"
    )
    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    records = list(csv.DictReader(io.StringIO(text)))
    assert len(records) == sum(r.role == "challenger" for r in rows)
    assert {"income", "debt_ratio", "age", "score", "outcome"} <= set(records[0])


def test_inferences_api_pages_with_a_cursor(user_client, filled):
    group, _, rows = filled
    url = f"/api/v1/groups/{group.slug}/inferences?page_size=50&has_outcome=yes"
    seen = []
    while url:
        body = user_client.get(url).json()
        seen += [r["request_id"] for r in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(str(r.request_id) for r in rows if r.outcome is not None)


def test_inferences_api_names_a_bad_filter(user_client, filled):
    group, _, _ = filled
    response = user_client.get(f"/api/v1/groups/{group.slug}/inferences?score_min=x")
    assert response.status_code == 400
    assert "score_min" in response.json()["errors"]
    response = user_client.get(f"/api/v1/groups/{group.slug}/inferences?page_size=100000")
    assert "page_size" in response.json()["errors"]


def test_the_tabs_live_under_the_group(user_client, filled):
    group, _, rows = filled
    assert (
        reverse("inference:group_inferences", args=[group.slug])
        == f"/groups/{group.slug}/inferences/"
    )
    assert reverse("inference:group_compare", args=[group.slug]) == f"/groups/{group.slug}/compare/"
    detail = reverse("inference:inference_detail", args=[group.slug, rows[0].request_id])
    assert detail == f"/groups/{group.slug}/inferences/{rows[0].request_id}/"
    assert user_client.get(f"/groups/{group.slug}/inferences/").status_code == 200
    assert user_client.get(f"/groups/{group.slug}/").status_code == 200  # the group page itself


@pytest.mark.parametrize(
    "rest",
    ["compare/?window=24h", "inferences/?role=champion", "inferences/export.csv?role=shadow"],
)
def test_the_old_addresses_redirect_to_the_new_ones(user_client, filled, rest):
    group, _, _ = filled
    response = user_client.get(f"/inference/groups/{group.slug}/{rest}")
    assert response.status_code == 301
    assert response["Location"] == f"/groups/{group.slug}/{rest}"


def test_the_pages_need_a_login(client, filled):
    group, _, _ = filled
    response = client.get(f"/groups/{group.slug}/inferences/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_viewer_browses_and_exports(client, viewer, filled):
    group, _, _ = filled
    client.force_login(viewer)
    assert client.get(f"/groups/{group.slug}/inferences/").status_code == 200
    assert client.get(f"/groups/{group.slug}/inferences/export.csv").status_code == 200
    assert client.get(f"/groups/{group.slug}/compare/").status_code == 200


def test_a_user_without_a_role_gets_403(client, filled):
    from tests.factories import UserFactory

    group, _, _ = filled
    client.force_login(UserFactory())
    assert client.get(f"/groups/{group.slug}/inferences/").status_code == 403
    assert client.get(f"/groups/{group.slug}/compare/").status_code == 403
    assert client.get(f"/api/v1/groups/{group.slug}/inferences").status_code == 403


def test_team_read_isolation_hides_another_teams_group(client, settings, other_team, filled):
    from core import roles
    from tests.factories import role_user

    group, _, _ = filled
    settings.HUB_TEAM_READ_ISOLATION = True
    client.force_login(role_user(roles.VIEWER, team=other_team))
    assert client.get(f"/groups/{group.slug}/inferences/").status_code == 404
    assert client.get(f"/api/v1/groups/{group.slug}/inferences").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("score_min=NaN", "score_min"),
        ("score_max=inf", "score_max"),
        ("q=a%00b", "q"),
        ("version=nan", "version"),
    ],
)
def test_inferences_api_refuses_non_finite_numbers_and_nul_bytes(user_client, filled, query, field):
    group, _, _ = filled
    response = user_client.get(f"/api/v1/groups/{group.slug}/inferences?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_inferences_api_with_a_read_key(client, filled):
    from tests.inference.serving_factories import api_key_create

    group, _, rows = filled
    other, _ = make_group(name="Other Group")
    _, key = api_key_create(name="reader", groups=[group], scopes=("read",))
    headers = {"Authorization": f"Bearer {key}"}
    body = client.get(f"/api/v1/groups/{group.slug}/inferences?page_size=5", headers=headers).json()
    assert len(body["results"]) == 5 and body["next"]
    for slug in (other.slug, "no-such-group"):
        response = client.get(f"/api/v1/groups/{slug}/inferences", headers=headers)
        assert response.status_code == 403, slug
        response = client.get(f"/api/v1/groups/{slug}/comparison", headers=headers)
        assert response.status_code == 403, slug
    _, predict_only = api_key_create(name="predictor", groups=[group], scopes=("predict",))
    response = client.get(
        f"/api/v1/groups/{group.slug}/inferences",
        headers={"Authorization": f"Bearer {predict_only}"},
    )
    assert response.status_code == 403
