"""The inference browser's filters (InferenceFilterSet), cursor pagination and CSV export."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.http import QueryDict
from django.test import RequestFactory
from django.utils import timezone

from core.errors import ServiceError
from inference import browser
from inference.csv_stream import csv_cell
from inference.tables import inference_log_model
from tests.inference.analytics_rows import fill_rows, make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled():
    group, versions = make_group()
    rows = fill_rows(group, versions, n=300, seed=4)
    return group, versions, rows


def _filters(group, query: str):
    return browser.filtered_rows(group, QueryDict(query))


def _page(rows, url="/rows"):
    return browser.inference_page(RequestFactory().get(url), rows)


def _all_pages(group, rows, size=37):
    seen, url = [], f"/rows?page_size={size}"
    while url:
        page = _page(rows, url)
        seen += page.rows
        url = page.next_url
    return seen


def test_pages_cover_every_row_once_newest_first(filled):
    group, _, rows = filled
    seen = _all_pages(group, _filters(group, ""))
    assert len(seen) == len(rows)
    assert len({r.request_id for r in seen}) == len(rows)
    keys = [(r.created_at, r.id) for r in seen]
    assert keys == sorted(keys, reverse=True)


def test_rows_arriving_while_paging_do_not_shift_the_next_page(filled):
    group, versions, _ = filled
    rows = _filters(group, "")
    first = _page(rows, "/rows?page_size=20")
    expected_second = _page(rows, first.next_url)
    fill_rows(group, versions, n=30, seed=99, span=timedelta(seconds=1))  # new, newest rows
    second = _page(_filters(group, ""), first.next_url)
    assert [r.id for r in second.rows] == [r.id for r in expected_second.rows]


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("role=challenger", lambda r: r.role == "challenger"),
        ("score_min=0.2&score_max=0.6", lambda r: 0.2 <= r.score <= 0.6),
        ("has_outcome=yes", lambda r: r.outcome is not None),
        ("has_outcome=no", lambda r: r.outcome is None),
        ("outcome=1", lambda r: r.outcome == 1),
        ("outcome=0", lambda r: r.outcome == 0),
        ("input=income+>+50000", lambda r: r.inputs["income"] > 50000),
        ("input=age<=30", lambda r: r.inputs["age"] <= 30),
        ("input=age+!%3D+40", lambda r: r.inputs["age"] != 40),
        ("window=24h", lambda r: r.created_at >= timezone.now() - timedelta(hours=24)),
    ],
)
def test_each_filter_keeps_exactly_the_matching_rows(filled, query, keep):
    group, _, rows = filled
    seen = _all_pages(group, _filters(group, query), size=500)
    assert {r.request_id for r in seen} == {r.request_id for r in rows if keep(r)}
    assert seen  # the demo rows cover every filter


def test_version_filter_and_routing_key_search(filled):
    group, versions, rows = filled
    seen = _all_pages(group, _filters(group, f"version={versions[1].pk}"), size=500)
    assert {r.request_id for r in seen} == {
        r.request_id for r in rows if r.model_version_id == versions[1].pk
    }
    key = rows[0].routing_key
    seen = _all_pages(group, _filters(group, f"q={key}"), size=500)
    assert {r.request_id for r in seen} == {r.request_id for r in rows if r.routing_key == key}


def test_search_by_request_id_finds_one_row(filled):
    group, _, rows = filled
    seen = _all_pages(group, _filters(group, f"q={rows[5].request_id}"))
    assert [r.request_id for r in seen] == [rows[5].request_id]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("input=salary+>+3", "input", "Unknown feature 'salary'"),
        ("input=income+>+lots", "input", "> needs a number"),
        ("input=income;+DROP+TABLE+x", "input", "Write one condition"),
        ("input=income+>+inf", "input", "finite number"),
        ("score_min=high", "score_min", "Enter a number"),
        ("score_min=nan", "score_min", "Enter a number"),
        ("score_max=-Infinity", "score_max", "Enter a number"),
        ("score_max=3", "score_max", "less than or equal to 1"),
        ("version=1e999", "version", "Enter a whole number"),
        ("role=king", "role", "Select a valid choice"),
        ("window=1y", "window", "Select a valid choice"),
        ("since=yesterday", "since", "Enter a valid date/time"),
        ("q=a%00b", "q", "Null characters are not allowed"),
        ("input=income+>+1%00", "input", "Null characters are not allowed"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(filled, query, field, message):
    group, _, _ = filled
    with pytest.raises(ServiceError) as caught:
        _filters(group, query)
    assert caught.value.status == 400
    assert message in " ".join(caught.value.errors[field])


def test_a_forged_cursor_is_a_400_naming_it(filled):
    group, _, _ = filled
    with pytest.raises(ServiceError) as caught:
        _page(_filters(group, ""), "/rows?cursor=bz1ub3QtYS1udW1iZXI")  # "o=not-a-number"
    assert "cursor" in caught.value.errors


def test_csv_export_has_the_filtered_rows_and_one_column_per_feature(filled):
    group, _, rows = filled
    filtered = _filters(group, "role=champion&has_outcome=yes")
    text = "".join(browser.csv_lines(group=group, rows=filtered, chunk_size=50))
    records = list(csv.DictReader(io.StringIO(text)))
    expected = [r for r in rows if r.role == "champion" and r.outcome is not None]
    assert len(records) == len(expected)
    by_id = {str(r.request_id): r for r in expected}
    for record in records[:20]:
        row = by_id[record["request_id"]]
        assert float(record["income"]) == row.inputs["income"]
        assert float(record["score"]) == row.score
        assert record["outcome"] == str(row.outcome)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_written_as_text(start):
    assert csv_cell(f'{start}HYPERLINK("http://x")') == f'\'{start}HYPERLINK("http://x")'
    assert csv_cell("plain") == "plain"
    assert csv_cell(-3.5) == -3.5  # a number is a number, not a formula


def test_csv_export_neutralises_a_formula_logged_as_a_routing_key(filled):
    group, versions, rows = filled
    log = inference_log_model(group.table_name)
    log.objects.filter(request_id=rows[0].request_id).update(routing_key="=cmd|' /C calc'!A0")
    text = "".join(browser.csv_lines(group=group, rows=_filters(group, f"q={rows[0].request_id}")))
    [record] = list(csv.DictReader(io.StringIO(text)))
    assert record["routing_key"] == "'=cmd|' /C calc'!A0"


def test_waterfall_adds_up_from_base_value_to_output(filled):
    group, _, rows = filled
    row = inference_log_model(group.table_name).objects.get(request_id=rows[0].request_id)
    waterfall = browser.waterfall(row)
    assert waterfall["output"] == pytest.approx(row.base_value + sum(row.explanation.values()))
    running = row.base_value
    for step in waterfall["steps"]:  # each push starts where the last ended
        running += step["push"]
        assert step["after"] == pytest.approx(running)
    chart = waterfall["chart"]
    assert chart["kind"] == "bars"
    assert len(chart["labels"]) == len(waterfall["steps"]) + 2
    reference, up, down = chart["datasets"]
    assert reference["data"][0] == row.base_value
    assert reference["data"][-1] == pytest.approx(waterfall["output"])
    pushes = [
        u if u is not None else d for u, d in zip(up["data"][1:-1], down["data"][1:-1], strict=True)
    ]
    assert pushes == [step["push"] for step in waterfall["steps"]]
    assert all(p > 0 for p in up["data"] if p is not None)


def test_detail_lookup_ignores_garbage_ids(filled):
    group, _, _ = filled
    assert browser.inference_detail(group=group, request_id="'; drop table x; --") is None
    assert browser.inference_detail(group=group, request_id=str(uuid.uuid4())) is None
