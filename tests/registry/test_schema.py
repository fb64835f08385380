from registry.schema import METADATA_SCHEMA, validate_metadata
from tests.registry.factories import minimal_metadata


def test_schema_file_is_draft_2020_12_with_the_five_sections():
    assert METADATA_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for section in ("features", "metrics", "charts", "training", "reference"):
        assert section in METADATA_SCHEMA["properties"]
    charts = METADATA_SCHEMA["properties"]["charts"]["properties"]
    assert set(charts) == {
        "roc_curve",
        "pr_curve",
        "confusion_matrix",
        "calibration",
        "feature_importance",
        # multiclass, regression and boosting charts (issue 13)
        "per_class",
        "top_k",
        "predicted_actual",
        "residual_histogram",
        "error_by_decile",
        "loss_curve",
    }
    assert charts["roc_curve"]["properties"].keys() == {"fpr", "tpr", "thresholds"}


def test_a_minimal_document_is_valid():
    assert validate_metadata(minimal_metadata()) == []


def test_a_renamed_metrics_key_names_both_fields():
    doc = {"features": [{"name": "x"}], "model_performance": {"auc": 0.8}}
    issues = {(i.path, i.message) for i in validate_metadata(doc)}
    assert ("metrics", "is required") in issues
    assert ("model_performance", "is not a field of the schema") in issues


def test_wrong_types_are_reported_with_their_path():
    doc = minimal_metadata()
    doc["metrics"]["auc_roc"] = "0.8"
    doc["metrics"]["accuracy"] = 1.7
    doc["features"][1] = {"type": "numeric"}
    paths = {i.path for i in validate_metadata(doc)}
    assert paths == {"metrics.auc_roc", "metrics.accuracy", "features[1].name"}


def test_a_non_object_document_is_refused():
    assert [i.path for i in validate_metadata([1, 2])] == ["(document)"]


def test_schema_is_served_verbatim_without_login(client):
    response = client.get("/api/v1/schema/model-metadata")
    assert response.status_code == 200
    assert response.json() == METADATA_SCHEMA
