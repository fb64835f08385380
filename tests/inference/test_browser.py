"""The inference browser's filters, keyset pagination and CSV export."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from inference import browser
from inference.tables import inference_log_model
from tests.inference.analytics_rows import fill_rows, make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled():
    group, versions = make_group()
    rows = fill_rows(group, versions, n=300, seed=4)
    return group, versions, rows


def _filters(group, query: str):
    return browser.parse_filters(QueryDict(query), group=group)


def _all_pages(group, filters, size=37):
    seen, cursor = [], None
    while True:
        page = browser.inference_page(group=group, filters=filters, cursor=cursor, size=size)
        seen += page.rows
        cursor = page.next_cursor
        if cursor is None:
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
    filters = _filters(group, "")
    first = browser.inference_page(group=group, filters=filters, size=20)
    expected_second = browser.inference_page(group=group, filters=filters, cursor=first.next_cursor, size=20)
    fill_rows(group, versions, n=30, seed=99, span=timedelta(seconds=1))  # new, newest rows
    second = browser.inference_page(group=group, filters=filters, cursor=first.next_cursor, size=20)
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
    assert {r.request_id for r in seen} == {r.request_id for r in rows if r.model_version_id == versions[1].pk}
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
        ("score_min=high", "score_min", "is not a number"),
        ("score_max=3", "score_max", "between"),
        ("role=king", "role", "Use one of"),
        ("window=1y", "window", "Use one of"),
        ("since=yesterday", "since", "is not a date"),
    ],
)
def test_bad_filters_name_the_field(filled, query, field, message):
    group, _, _ = filled
    with pytest.raises(browser.FilterError) as caught:
        _filters(group, query)
    assert message in " ".join(caught.value.errors[field])


def test_a_forged_cursor_is_refused(filled):
    group, _, _ = filled
    with pytest.raises(browser.FilterError, match="cursor"):
        browser.inference_page(group=group, filters=_filters(group, ""), cursor="bm90IGEgY3Vyc29y")


def test_csv_export_has_the_filtered_rows_and_one_column_per_feature(filled):
    group, _, rows = filled
    filters = _filters(group, "role=champion&has_outcome=yes")
    text = "".join(browser.csv_lines(group=group, filters=filters, chunk_size=50))
    records = list(csv.DictReader(io.StringIO(text)))
    expected = [r for r in rows if r.role == "champion" and r.outcome is not None]
    assert len(records) == len(expected)
    by_id = {str(r.request_id): r for r in expected}
    for record in records[:20]:
        row = by_id[record["request_id"]]
        assert float(record["income"]) == row.inputs["income"]
        assert float(record["score"]) == row.score
        assert record["outcome"] == str(row.outcome)


def test_waterfall_adds_up_from_base_value_to_output(filled):
    group, _, rows = filled
    row = inference_log_model(group.table_name).objects.get(request_id=rows[0].request_id)
    chart = browser.waterfall(row)
    assert chart["output"] == pytest.approx(row.base_value + sum(row.explanation.values()))
    bars = chart["config"]["data"]["datasets"][0]["data"]
    assert bars[0] == [0, row.base_value]
    assert bars[-1][1] == pytest.approx(chart["output"])
    for previous, current in zip(bars[1:-2], bars[2:-1], strict=True):
        assert current[0] == pytest.approx(previous[1])  # each push starts where the last ended


def test_detail_lookup_ignores_garbage_ids(filled):
    group, _, _ = filled
    assert browser.inference_detail(group=group, request_id="'; drop table x; --") is None
    assert browser.inference_detail(group=group, request_id=str(uuid.uuid4())) is None
