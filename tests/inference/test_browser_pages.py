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
        reverse("inference:group_inferences", args=[group.slug]) + "?q=nobody", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "No prediction matches these filters" in html
    assert html.lstrip().startswith('<section class="card" id="results">')


def test_detail_page_shows_inputs_outcome_and_the_waterfall(user_client, filled):
    group, _, rows = filled
    row = rows[0]
    html = user_client.get(reverse("inference:inference_detail", args=[group.slug, row.request_id])).content.decode()
    assert str(row.inputs["income"]) in html
    assert 'data-chart="waterfall-config"' in html
    assert 'id="waterfall-config"' in html


def test_detail_of_an_unknown_request_is_404(user_client, filled):
    group, _, _ = filled
    url = reverse("inference:inference_detail", args=[group.slug, "00000000-0000-0000-0000-000000000000"])
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
