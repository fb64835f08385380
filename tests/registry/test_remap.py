"""The deterministic remapper (registry/remap.py): pure functions, no database."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.remap import DroppedKey, KeyMove, coerce_number, normalise_key, remap, trace
from registry.schema import METADATA_SCHEMA, validate_metadata

VALID = {
    "name": "Churn",
    "version": "2.0",
    "task": "binary_classification",
    "features": [
        {"name": "tenure", "type": "integer", "minimum": 0, "maximum": 72},
        {"name": "plan", "type": "categorical", "categories": ["basic", "pro"]},
    ],
    "metrics": {"auc_roc": 0.91, "accuracy": 0.88},
    "charts": {
        "roc_curve": {"fpr": [0, 0.2, 1], "tpr": [0, 0.8, 1], "thresholds": [1.0, 0.5, 0.0]}
    },
    "training": {"rows": 1000, "framework": "scikit-learn 1.9", "params": {"max_depth": 3}},
    "reference": {"rows": 1000, "features": {"tenure": {"mean": 30.0, "std": 10.0}}},
}


def mapped(document: dict) -> dict:
    return remap(document, METADATA_SCHEMA).document


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("modelPerformance", "model_performance"),
        ("Model Performance", "model_performance"),
        ("model-performance", "model_performance"),
        ("ROCAuc", "roc_auc"),
        ("AUC-ROC", "auc_roc"),
        (" F1 Score ", "f1_score"),
        ("trainedAt", "trained_at"),
    ],
)
def test_keys_are_normalised_from_camel_case_kebab_case_and_spaces(key, expected):
    assert normalise_key(key) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.91", 0.91), (" 12 ", 12), ("12,000", 12000), ("91%", 0.91), (3, 3), (0.5, 0.5)],
)
def test_numeric_strings_become_numbers(value, expected):
    assert coerce_number(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["n/a", "", True, None, [1], "nan", "inf"])
def test_what_is_not_a_number_stays_unconverted(value):
    assert coerce_number(value) is None


def test_model_performance_becomes_metrics_with_auc_renamed_to_auc_roc():
    result = remap({"model_performance": {"AUC": 0.91, "Accuracy": 0.88}}, METADATA_SCHEMA)

    assert result.document["metrics"] == {"auc_roc": 0.91, "accuracy": 0.88}
    assert KeyMove("model_performance", "metrics") in result.moves
    assert KeyMove("model_performance.AUC", "metrics.auc_roc") in result.moves


@pytest.mark.parametrize(
    "section", ["performance", "scores", "modelPerformance", "evaluation-metrics"]
)
def test_every_synonym_of_metrics_lands_in_metrics(section):
    assert mapped({section: {"roc_auc": 0.8}})["metrics"] == {"auc_roc": 0.8}


@pytest.mark.parametrize("section", ["inputs", "columns", "input_features", "featureList"])
def test_every_synonym_of_features_lands_in_features(section):
    document = mapped({section: [{"name": "age", "dtype": "float64"}]})

    assert document["features"] == [{"name": "age", "type": "numeric"}]


def test_features_given_as_an_object_keyed_by_name_become_a_list():
    document = mapped(
        {"columns": {"age": {"dtype": "int", "min": 18, "max": 99}, "city": "string"}}
    )

    assert document["features"] == [
        {"name": "age", "type": "integer", "minimum": 18, "maximum": 99},
        {"name": "city", "type": "categorical"},
    ]


def test_features_given_as_a_list_of_names_become_feature_objects():
    assert mapped({"inputs": ["age", "income"]})["features"] == [
        {"name": "age"},
        {"name": "income"},
    ]


def test_numeric_strings_are_coerced_where_the_schema_wants_numbers_and_the_move_says_so():
    result = remap({"metrics": {"auc": "0.91"}, "training": {"rows": "12,000"}}, METADATA_SCHEMA)

    assert result.document["metrics"]["auc_roc"] == 0.91
    assert result.document["training"]["rows"] == 12000
    assert KeyMove("metrics.auc", "metrics.auc_roc", "'0.91' read as 0.91") in result.moves


def test_split_prefixes_and_score_suffixes_are_ignored_when_matching_a_metric():
    assert mapped({"metrics": {"test_accuracy": 0.9, "val_f1_score": 0.7, "holdout_roc_auc": 0.8}})[
        "metrics"
    ] == {
        "accuracy": 0.9,
        "auc_roc": 0.8,
        "f1": 0.7,
    }


def test_an_exact_name_wins_over_a_synonym_and_the_synonym_is_reported_as_dropped():
    result = remap({"metrics": {"auc": 0.5, "auc_roc": 0.9}}, METADATA_SCHEMA)

    assert result.document["metrics"] == {"auc_roc": 0.9}
    assert [d.source for d in result.dropped] == ["metrics.auc"]
    assert "duplicate" in result.dropped[0].reason


def test_keys_with_no_place_in_the_schema_are_reported_as_dropped_with_a_reason():
    result = remap(
        {"metrics": {"accuracy": 0.9}, "author": "ada", "git_sha": "abc123"}, METADATA_SCHEMA
    )

    assert "author" not in result.document
    assert {d.source for d in result.dropped} == {"author", "git_sha"}
    assert all("no field" in d.reason for d in result.dropped)


def test_a_field_one_level_too_high_is_moved_into_its_section():
    result = remap(
        {"accuracy": 0.9, "framework": "xgboost", "roc_curve": {"fpr": [0, 1], "tpr": [0, 1]}},
        METADATA_SCHEMA,
    )

    assert result.document["metrics"] == {"accuracy": 0.9}
    assert result.document["training"] == {"framework": "xgboost"}
    assert result.document["charts"]["roc_curve"] == {"fpr": [0, 1], "tpr": [0, 1]}
    assert KeyMove("accuracy", "metrics.accuracy", "moved into metrics") in result.moves


def test_sections_inside_an_unknown_wrapper_are_found_by_nested_search():
    document = mapped(
        {
            "model": {"name": "Churn", "version": "3"},
            "evaluation": {"holdout": {"performance": {"auc": 0.77}}},
        }
    )

    assert document["name"] == "Churn"
    assert document["version"] == "3"
    assert document["metrics"] == {"auc_roc": 0.77}


def test_a_wrapper_with_nothing_the_schema_knows_is_dropped_whole():
    result = remap(
        {"metrics": {"accuracy": 0.9}, "git": {"sha": "abc", "branch": "main"}}, METADATA_SCHEMA
    )

    assert [d.source for d in result.dropped] == ["git"]


def test_the_task_and_feature_types_are_read_from_common_spellings():
    document = mapped({"problemType": "Binary", "columns": [{"name": "x", "dtype": "bool"}]})

    assert document["task"] == "binary_classification"
    assert document["features"][0]["type"] == "boolean"


def test_a_version_given_as_a_number_becomes_a_label():
    assert mapped({"version": 1.3})["version"] == "1.3"


def test_a_training_date_becomes_an_rfc3339_date_time():
    assert (
        mapped({"training": {"trained_at": "2025-03-01"}})["training"]["trained_at"]
        == "2025-03-01T00:00:00Z"
    )


def test_curves_given_as_a_list_of_points_become_columns():
    document = mapped(
        {
            "charts": {
                "roc": [{"fpr": 0, "tpr": 0, "threshold": 1}, {"fpr": 1, "tpr": 1, "threshold": 0}]
            }
        }
    )

    assert document["charts"]["roc_curve"] == {"fpr": [0, 1], "tpr": [0, 1], "thresholds": [1, 0]}


def test_a_confusion_matrix_given_as_a_bare_list_becomes_its_matrix():
    document = mapped({"charts": {"confusion_matrix": [[5, 1], [2, 7]]}})

    assert document["charts"]["confusion_matrix"] == {"matrix": [[5, 1], [2, 7]]}


def test_feature_importance_given_as_name_to_number_becomes_two_lists():
    document = mapped({"feature_importances": {"income": 0.6, "age": "0.4"}})

    assert document["charts"]["feature_importance"] == {
        "features": ["income", "age"],
        "importances": [0.6, 0.4],
    }


def test_metrics_given_as_name_value_pairs_become_an_object():
    assert mapped({"scores": [{"metric": "AUC", "value": 0.8}, {"metric": "f1", "value": 0.6}]})[
        "metrics"
    ] == {
        "auc_roc": 0.8,
        "f1": 0.6,
    }


def test_reference_summaries_keep_feature_names_and_read_quantile_spellings():
    document = mapped(
        {
            "baseline": {
                "income": {
                    "avg": 50_000,
                    "stddev": 9_000,
                    "percentiles": {"50%": 48_000, "0.9": 70_000},
                }
            }
        }
    )

    assert document["reference"] == {
        "features": {
            "income": {"mean": 50_000, "std": 9_000, "quantiles": {"p50": 48_000, "p90": 70_000}}
        }
    }


def test_feature_names_and_metric_names_outside_the_table_keep_their_spelling():
    document = mapped(
        {
            "metrics": {"accuracy": 0.9, "KS stat": 0.4},
            "reference": {"features": {"debtRatio": {"mean": 0.3}}},
        }
    )

    assert document["metrics"]["ks_stat"] == 0.4
    assert "debtRatio" in document["reference"]["features"]


def test_the_renamed_keys_document_maps_to_a_valid_document():
    document = mapped(
        {
            "modelName": "Churn",
            "model_performance": {"AUC": "0.91", "accuracy": 0.88, "F1 Score": 0.7},
            "inputs": {"tenure": "int64", "plan": {"dtype": "category", "levels": ["a", "b"]}},
            "training_info": {
                "library": "xgboost",
                "n_rows": "1,000",
                "hyperparameters": {"eta": 0.1},
            },
        }
    )

    assert validate_metadata(document) == []


def test_a_document_that_follows_the_schema_maps_to_itself_with_nothing_dropped():
    result = remap(copy.deepcopy(VALID), METADATA_SCHEMA)

    assert result.document == VALID
    assert result.dropped == []


def test_the_input_document_is_not_modified():
    source = {"model_performance": {"auc": "0.9"}, "columns": {"a": "float"}}
    before = copy.deepcopy(source)

    remap(source, METADATA_SCHEMA)

    assert source == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
known_keys = st.sampled_from(
    [
        "metrics",
        "model_performance",
        "features",
        "columns",
        "auc",
        "charts",
        "roc_curve",
        "training",
        "rows",
        "reference",
        "name",
        "version",
        "task",
        "inputs",
        "scores",
        "fpr",
        "tpr",
        "matrix",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        known_keys | st.text(alphabet="abcXYZ_- 19", max_size=12), json_values, max_size=6
    )
)
def test_the_remapper_never_raises_and_every_top_level_key_is_moved_or_dropped(document):
    result = remap(document, METADATA_SCHEMA)

    assert isinstance(result.document, dict)
    accounted = {m.source.split(".")[0].split("[")[0] for m in result.moves} | {
        d.source.split(".")[0].split("[")[0] for d in result.dropped
    }
    assert {str(k) or '""' for k in document} <= accounted


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["accuracy", "auc_roc", "f1", "precision", "recall"]),
        st.floats(min_value=0, max_value=1),
        min_size=1,
    )
)
def test_valid_metrics_are_never_changed_by_the_remapper(metrics):
    document = {"features": [{"name": "x"}], "metrics": metrics}

    assert remap(copy.deepcopy(document), METADATA_SCHEMA).document == document


def test_trace_finds_where_an_llm_put_each_value_and_flags_what_it_added():
    source = {"model_performance": {"AUC": "0.91"}, "columns": {"tenure": "int"}, "author": "ada"}
    answer = {
        "metrics": {"auc_roc": 0.91, "accuracy": 0.5},
        "features": [{"name": "tenure", "type": "integer"}],
    }

    moves, dropped, added = trace(source, answer)

    assert KeyMove("model_performance.AUC", "metrics.auc_roc") in moves
    assert any(m.source == "columns.tenure" and m.target == "features[].name" for m in moves)
    assert KeyMove("columns.tenure", "features[].type") in moves
    assert DroppedKey("author", "not found in the mapped document") in dropped
    assert added == ["metrics.accuracy"]


def test_a_value_outside_an_enum_is_dropped_with_the_allowed_values_named():
    result = remap(
        {"columns": [{"name": "x", "dtype": "tensor"}], "task": "astrology"}, METADATA_SCHEMA
    )

    assert result.document["features"] == [{"name": "x"}]
    assert "task" not in result.document
    reasons = {d.source: d.reason for d in result.dropped}
    assert reasons["columns[].dtype"] == (
        "it matches features[].type, but 'tensor' is not one of numeric, integer, categorical, boolean, text"
    )
    assert reasons["task"].startswith(
        "it matches task, but 'astrology' is not one of binary_classification"
    )


def test_free_form_training_params_are_kept_verbatim_without_a_row_per_parameter():
    result = remap(
        {"training": {"hyperparameters": {"maxDepth": "6", "eta": 0.1}}}, METADATA_SCHEMA
    )

    assert result.document["training"]["params"] == {"maxDepth": "6", "eta": 0.1}
    assert [m.target for m in result.moves] == ["training", "training.params"]


def test_a_section_row_comes_before_the_rows_of_its_fields():
    result = remap(
        {"roc": {"false_positive_rate": [0, 1], "tpr": [0, 1]}, "performance": {"auc": 0.7}},
        METADATA_SCHEMA,
    )

    targets = [m.target for m in result.moves]
    assert targets.index("metrics") < targets.index("metrics.auc_roc")
    assert targets.index("charts.roc_curve") < targets.index("charts.roc_curve.fpr")


def test_a_model_card_with_wrappers_and_a_type_maps_to_a_valid_document():
    document = mapped(
        {
            "Model Details": {"Name": "Churn", "Version": "0.3", "Type": "Binary Classifier"},
            "Evaluation": {
                "Metrics": [{"name": "AUC", "value": "0.8"}, {"name": "Accuracy", "value": "81%"}]
            },
            "Input Features": ["tenure", "monthly_charges"],
            "Training Data": {"Dataset": "churn.csv", "Size": 5000},
        }
    )

    assert validate_metadata(document) == []
    assert document["task"] == "binary_classification"
    assert document["metrics"] == {"accuracy": 0.81, "auc_roc": 0.8}
    assert document["training"] == {"dataset": "churn.csv", "rows": 5000}
