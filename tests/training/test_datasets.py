import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from inference.tables import inference_log_model
from registry.demo import CREDIT_FEATURES
from tests.training.factories import credit_group, log_decisions
from training.datasets import (
    DatasetError,
    FeatureSpec,
    check_trainable,
    read_snapshot,
    rows_from_decision_log,
    rows_from_file,
    snapshot_bytes,
)

FEATURES = [FeatureSpec("income"), FeatureSpec("age", "integer"), FeatureSpec("member", "boolean")]


def _csv(text: str, **kwargs):
    return rows_from_file(
        io.BytesIO(text.encode()),
        file_format="csv",
        features=FEATURES,
        label_column="default",
        binary_label=True,
        **kwargs,
    )


def test_a_clean_csv_becomes_typed_rows_in_the_base_models_feature_order():
    rows = _csv("age,member,income,default,extra\n30,yes,52000,0,x\n41,0,61000.5,1,y\n")

    assert rows.columns == ["income", "age", "member", "default"]
    assert rows.frame.to_dict(orient="records") == [
        {"income": 52000.0, "age": 30, "member": 1, "default": 0},
        {"income": 61000.5, "age": 41, "member": 0, "default": 1},
    ]


def test_a_csv_missing_a_feature_names_the_missing_column_and_the_expected_features():
    with pytest.raises(DatasetError) as caught:
        _csv("income,member,default\n52000,1,0\n")

    assert caught.value.errors == {
        "file": ["Column 'age' is missing: the base model's features are income, age, member."]
    }


def test_a_csv_missing_the_label_column_says_which_column_holds_the_outcome():
    with pytest.raises(DatasetError) as caught:
        _csv("income,age,member\n52000,30,1\n")

    assert caught.value.errors["file"] == [
        "The label column 'default' is missing (the column with the true outcome)."
    ]


def test_bad_values_are_reported_by_row_and_column_all_at_once():
    with pytest.raises(DatasetError) as caught:
        _csv("income,age,member,default\n52000,30,1,0\nlots,30.5,1,0\n61000,,maybe,2\n")

    assert caught.value.errors["file"] == [
        "Row 2, column 'income': 'lots' is not a number.",
        "Row 2, column 'age': '30.5' is not a whole number.",
        "Row 3, column 'age': is empty.",
        "Row 3, column 'member': 'maybe' is not true/false or 1/0.",
        "Row 3, label column 'default': '2' is not a binary label (0 or 1).",
    ]


def test_a_long_list_of_problems_is_cut_with_a_count_of_the_rest():
    body = "".join("x,1,1,0\n" for _ in range(30))
    with pytest.raises(DatasetError) as caught:
        _csv("income,age,member,default\n" + body)

    messages = caught.value.errors["file"]
    assert len(messages) == 21 and messages[-1] == "…and 10 more problems."


def test_jsonl_lines_that_are_not_objects_are_named_by_line():
    text = '{"income": 1, "age": 2, "member": 1, "default": 0}\nnot json\n[1, 2]\n'
    with pytest.raises(DatasetError) as caught:
        rows_from_file(
            io.BytesIO(text.encode()),
            file_format="jsonl",
            features=FEATURES,
            label_column="default",
            binary_label=True,
        )

    assert caught.value.errors["file"] == [
        "Line 2: not valid JSON (Expecting value at column 1).",
        "Line 3: must be a JSON object with one key per column.",
    ]


def test_jsonl_rows_are_checked_like_csv_rows():
    lines = [
        {"income": 52000, "age": 30, "member": True, "default": 1},
        {"income": "n/a", "age": 3, "member": 0, "default": 0},
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    with pytest.raises(DatasetError) as caught:
        rows_from_file(
            io.BytesIO(text.encode()),
            file_format="jsonl",
            features=FEATURES,
            label_column="default",
            binary_label=True,
        )

    assert caught.value.errors["file"] == ["Line 2, column 'income': 'n/a' is not a number."]


def test_a_snapshot_round_trips_and_its_hash_changes_with_the_content():
    rows = _csv("income,age,member,default\n52000,30,1,0\n61000,41,0,1\n")
    content, sha256 = snapshot_bytes(rows)
    frame = read_snapshot(io.BytesIO(content), features=FEATURES, label_column="default")

    assert frame.to_dict(orient="records") == rows.frame.to_dict(orient="records")
    other = _csv("income,age,member,default\n52000,30,1,0\n61000,42,0,1\n")
    assert snapshot_bytes(other)[1] != sha256 and len(sha256) == 64


def test_a_dataset_with_one_class_cannot_train():
    rows = _csv("income,age,member,default\n" + "".join(f"{i},30,1,0\n" for i in range(25)))

    with pytest.raises(DatasetError) as caught:
        check_trainable(rows, binary_label=True)

    assert caught.value.errors["dataset"] == [
        "The label 'default' needs both classes (0 and 1), each at least twice; found 0: 25 rows."
    ]


@pytest.mark.django_db
def test_the_decision_log_keeps_rows_with_an_outcome_inside_the_window():
    group, champion = credit_group()
    now = timezone.now()
    log_decisions(group, champion, rows=40, created_at=now - timedelta(days=3))
    log_decisions(group, champion, rows=30, seed=8, created_at=now - timedelta(hours=2))
    log_decisions(
        group, champion, rows=20, seed=9, with_outcome=False, created_at=now - timedelta(hours=1)
    )

    rows = rows_from_decision_log(
        log_model=inference_log_model(group.table_name),
        group_name=group.name,
        features=[FeatureSpec(n) for n in CREDIT_FEATURES],
        start=now - timedelta(days=1),
        end=None,
        binary_label=True,
    )

    assert rows.row_count == 30
    assert rows.columns == [*CREDIT_FEATURES, "outcome"]


@pytest.mark.django_db
def test_the_decision_log_can_be_narrowed_to_one_role():
    group, champion = credit_group()
    log_decisions(group, champion, rows=25)
    log_decisions(group, champion, rows=15, seed=8, role="shadow")

    rows = rows_from_decision_log(
        log_model=inference_log_model(group.table_name),
        group_name=group.name,
        features=[FeatureSpec(n) for n in CREDIT_FEATURES],
        start=None,
        end=None,
        role="shadow",
        binary_label=True,
    )

    assert rows.row_count == 15


@pytest.mark.django_db
def test_an_empty_decision_log_says_how_to_get_outcomes():
    group, champion = credit_group()
    log_decisions(group, champion, rows=10, with_outcome=False)

    with pytest.raises(DatasetError) as caught:
        rows_from_decision_log(
            log_model=inference_log_model(group.table_name),
            group_name=group.name,
            features=[FeatureSpec(n) for n in CREDIT_FEATURES],
            start=None,
            end=None,
            binary_label=True,
        )

    assert caught.value.errors["dataset"] == [
        "The decision log of 'Live Credit Scoring' has no predictions with a recorded outcome. "
        "Record outcomes through the feedback API, or widen the time window."
    ]
