"""The import service (registry/importing/): preview, the three mapping paths, confirm, garbage, batches."""

import copy
import json

import pytest
from django.core.cache import cache

from core import roles
from registry.importing import (
    LLM_ATTEMPTS,
    ImportOptions,
    ImportRefused,
    ImportSource,
    as_data,
    import_preview_get,
)
from registry.importing import import_confirm as service_confirm
from registry.importing import import_preview as service_preview
from registry.models import MappingMethod, ModelVersion, RegisteredModel, VersionSource
from registry.schema import validate_metadata
from registry.services import model_version_register, registered_model_create
from tests.factories import UserFactory, role_user


def renamed_document() -> dict:
    """A model.json from another training environment: `model_performance` instead of
    `metrics`, `inputs` instead of `features`, camelCase, numbers as strings."""
    return {
        "modelName": "Churn Predictor",
        "version": "2.1",
        "problemType": "binary",
        "model_performance": {"AUC": "0.91", "accuracy": 0.88, "F1 Score": "0.71"},
        "inputs": {
            "tenure": {"dtype": "int64", "min": 0, "max": 72},
            "plan": {"dtype": "category", "levels": ["basic", "pro"]},
        },
        "training_info": {"library": "xgboost 2.0", "n_rows": "12,000"},
        "author": "ada",
    }


def llm_answer() -> dict:
    """What an LLM answers for `renamed_document()`: valid against the schema."""
    return {
        "name": "Churn Predictor",
        "version": "2.1",
        "task": "binary_classification",
        "features": [
            {"name": "tenure", "type": "integer", "minimum": 0, "maximum": 72},
            {"name": "plan", "type": "categorical", "categories": ["basic", "pro"]},
        ],
        "metrics": {"auc_roc": 0.91, "accuracy": 0.88, "f1": 0.71},
        "training": {"framework": "xgboost 2.0", "rows": 12000},
    }


def valid_document(**overrides) -> dict:
    return {
        "name": "Credit Scoring",
        "task": "binary_classification",
        "features": [{"name": "income", "type": "numeric"}, {"name": "age", "type": "integer"}],
        "metrics": {"auc_roc": 0.81, "accuracy": 0.77},
        **overrides,
    }


def import_preview(**kwargs) -> dict:
    """The preview as the API answers it (plain data), for assertions on its fields."""
    return as_data(service_preview(**kwargs))


def import_confirm(**kwargs) -> dict:
    return as_data(service_confirm(**kwargs))


def preview_of(document, *, user, **options) -> dict:
    text = document if isinstance(document, str | bytes) else json.dumps(document)
    return import_preview(
        sources=[ImportSource("model.json", text=text)], options=ImportOptions(**options), user=user
    )


@pytest.fixture
def importer(db):
    """An Operator of the default team: imports into it."""
    return role_user(roles.OPERATOR, username="importer")


# --- the three paths -------------------------------------------------------------------------


def test_a_document_that_follows_the_schema_is_previewed_as_is(importer):
    preview = preview_of(valid_document(version="1.2"), user=importer)

    item = preview["items"][0]
    assert item["status"] == "ready"
    assert item["method"] == MappingMethod.AS_IS
    assert item["document"]["metrics"] == {"auc_roc": 0.81, "accuracy": 0.77}
    assert item["identity"]["version"] == "1.2"
    assert preview["token"]


def test_renamed_keys_are_mapped_by_the_heuristic_when_no_provider_is_connected(importer):
    preview = preview_of(renamed_document(), user=importer)

    item = preview["items"][0]
    assert item["status"] == "ready", item["issues"]
    assert item["method"] == MappingMethod.HEURISTIC
    assert "No active LLM provider" in item["notes"][0]
    assert item["document"]["metrics"] == {"auc_roc": 0.91, "accuracy": 0.88, "f1": 0.71}
    assert {"source": "model_performance", "target": "metrics", "detail": ""} in item["moves"]
    assert any(
        m["source"] == "model_performance.AUC" and m["target"] == "metrics.auc_roc"
        for m in item["moves"]
    )
    assert item["dropped"] == [
        {"source": "author", "reason": "no field at the top level matches it"}
    ]
    assert {"path": "metrics.auc_roc", "status": "valid", "messages": []} in item["fields"]


def test_renamed_keys_are_mapped_by_the_llm_when_a_provider_is_connected(
    importer, fake_provider_server, make_provider
):
    provider = make_provider()
    fake_provider_server.structured_answers.append(llm_answer())

    preview = preview_of(renamed_document(), user=importer)

    item = preview["items"][0]
    assert item["status"] == "ready", item["issues"]
    assert item["method"] == MappingMethod.LLM
    assert item["provider_name"] == provider.name
    assert item["llm_model"] == "gpt-4o-mini"
    assert item["document"]["metrics"] == {"auc_roc": 0.91, "accuracy": 0.88, "f1": 0.71}
    assert {"source": "model_performance.AUC", "target": "metrics.auc_roc", "detail": ""} in item[
        "moves"
    ]
    assert {"source": "author", "reason": "not found in the mapped document"} in item["dropped"]
    assert len(fake_provider_server.requests_to("/chat/completions")) == 1


def test_the_llm_is_sent_the_document_and_the_schema_verbatim(
    importer, fake_provider_server, make_provider
):
    from registry.schema import METADATA_SCHEMA

    make_provider()
    fake_provider_server.structured_answers.append(llm_answer())

    preview_of(renamed_document(), user=importer)

    sent = fake_provider_server.requests_to("/chat/completions")[0].json
    assert sent["response_format"]["json_schema"]["schema"] == METADATA_SCHEMA
    assert json.loads(sent["messages"][-1]["content"]) == renamed_document()


def test_an_invalid_llm_answer_is_sent_back_with_its_errors_and_the_second_answer_is_used(
    importer, fake_provider_server, make_provider
):
    make_provider()
    wrong = llm_answer()
    wrong["metrics"] = {"auc_roc": "0.91"}
    fake_provider_server.structured_answers.extend([wrong, llm_answer()])

    item = preview_of(renamed_document(), user=importer)["items"][0]

    assert item["method"] == MappingMethod.LLM
    assert len(item["attempts"]) == 2
    retry = fake_provider_server.requests_to("/chat/completions")[1].json
    assert "metrics.auc_roc" in retry["messages"][0]["content"]
    assert "did not validate" in retry["messages"][0]["content"]


def test_three_invalid_llm_answers_end_in_a_clear_failure_and_nothing_is_saved(
    importer, fake_provider_server, make_provider
):
    make_provider()
    # Nothing in it tells a model name or any metric, so the heuristic cannot rescue it either.
    unmappable = {"owner": "ada", "notes": "trained on Tuesday"}
    fake_provider_server.structured_answers.extend([{"metrics": "none"}] * LLM_ATTEMPTS)

    preview = preview_of(unmappable, user=importer)

    item = preview["items"][0]
    assert item["status"] == "invalid"
    assert len(fake_provider_server.requests_to("/chat/completions")) == LLM_ATTEMPTS
    assert f"The LLM's {LLM_ATTEMPTS} answers were all invalid" in item["notes"][0]
    assert "fell back to the heuristic remapper" in item["notes"][0]
    assert item["message"].startswith("Cannot be imported: missing")
    assert {"features", "metrics", "name"} <= set(item["missing"])
    assert preview["token"] is None
    assert ModelVersion.objects.count() == 0
    assert RegisteredModel.objects.count() == 0


def test_three_invalid_llm_answers_fall_back_to_the_heuristic_which_may_still_map_it(
    importer, fake_provider_server, make_provider
):
    make_provider()
    fake_provider_server.structured_answers.extend([{"metrics": "none"}] * LLM_ATTEMPTS)

    item = preview_of(renamed_document(), user=importer)["items"][0]

    assert item["status"] == "ready"
    assert item["method"] == MappingMethod.HEURISTIC
    assert [a["attempt"] for a in item["attempts"]] == [1, 2, 3]


def test_a_provider_error_falls_back_to_the_heuristic_and_says_so(
    importer, fake_provider_server, make_provider
):
    make_provider()
    fake_provider_server.fail_next("/chat/completions", status=401)

    item = preview_of(renamed_document(), user=importer)["items"][0]

    assert item["status"] == "ready"
    assert item["method"] == MappingMethod.HEURISTIC
    assert item["notes"][0].startswith("The provider failed: ")
    assert "Invalid API key" in item["notes"][0]
    assert item["notes"][0].endswith("fell back to the heuristic remapper.")
    assert "sk-fake" not in json.dumps(item)


def test_a_valid_document_never_reaches_the_provider(importer, fake_provider_server, make_provider):
    make_provider()

    preview_of(valid_document(), user=importer)

    assert fake_provider_server.requests_to("/chat/completions") == []


# --- model, task, version ------------------------------------------------------------------


def test_a_new_model_gets_version_1_0_and_the_preview_says_where_each_value_came_from(importer):
    identity = preview_of(valid_document(), user=importer)["items"][0]["identity"]

    assert identity["name"] == "Credit Scoring"
    assert identity["exists"] is False
    assert identity["name_from"] == "the document"
    assert identity["task_from"] == "the document"
    assert (identity["version"], identity["version_from"]) == ("1.0", "the next free label")


def test_an_existing_model_gets_the_next_label_and_keeps_its_task(importer):
    model = registered_model_create(name="Credit Scoring", task="binary_classification")
    model_version_register(model=model, version="1.3", flavor="sklearn", metadata=valid_document())

    identity = preview_of(
        valid_document(task=None) | {"task": "binary_classification"}, user=importer
    )["items"][0]["identity"]

    assert identity["exists"] is True
    assert identity["version"] == "1.4"
    assert identity["task_from"] == "the existing model"


def test_the_form_wins_over_the_document_for_name_and_version(importer):
    identity = preview_of(
        valid_document(version="9"), user=importer, model_name="Risk", version="2.0"
    )["items"][0]["identity"]

    assert (identity["name"], identity["name_from"]) == ("Risk", "the form")
    assert (identity["version"], identity["version_from"]) == ("2.0", "the form")


def test_a_document_without_a_model_name_is_refused_unless_the_form_gives_one(importer):
    document = valid_document()
    del document["name"]

    refused = preview_of(document, user=importer)["items"][0]
    named = preview_of(document, user=importer, model_name="Credit Scoring")["items"][0]

    assert refused["status"] == "invalid"
    assert refused["missing"] == ["name"]
    assert named["status"] == "ready"


def test_the_task_of_a_new_model_is_inferred_from_regression_metrics(importer):
    document = {
        "name": "Prices",
        "features": [{"name": "sqft"}],
        "metrics": {"rmse": 12.5, "r2": 0.8},
    }

    identity = preview_of(document, user=importer)["items"][0]["identity"]

    assert identity["task"] == "regression"
    assert identity["task_from"] == "inferred from the metrics (rmse, r2)"


def test_a_version_label_the_model_already_has_is_refused_in_the_preview(importer):
    model = registered_model_create(name="Credit Scoring", task="binary_classification")
    model_version_register(model=model, version="1.2", flavor="sklearn", metadata=valid_document())

    item = preview_of(valid_document(version="1.2"), user=importer)["items"][0]

    assert item["status"] == "invalid"
    assert {"path": "version", "message": "Credit Scoring already has a version 1.2"} in item[
        "issues"
    ]


def test_a_document_whose_task_differs_from_the_existing_model_is_refused(importer):
    registered_model_create(name="Credit Scoring", task="regression")

    item = preview_of(valid_document(), user=importer)["items"][0]

    assert item["status"] == "invalid"
    assert any(i["path"] == "task" and "regression model" in i["message"] for i in item["issues"])


# --- confirm ---------------------------------------------------------------------------------


def test_nothing_is_saved_until_the_preview_is_confirmed(importer):
    preview_of(renamed_document(), user=importer)

    assert ModelVersion.objects.count() == 0
    assert RegisteredModel.objects.count() == 0


def test_confirm_saves_the_version_with_the_raw_document_and_the_mapping(importer):
    preview = preview_of(renamed_document(), user=importer)

    outcome = import_confirm(token=preview["token"], user=importer)

    assert outcome["saved_count"] == 1
    version = ModelVersion.objects.get()
    assert version.model.name == "Churn Predictor"
    assert version.model.owner == importer
    assert version.version == "2.1"
    assert version.metadata["metrics"] == {"auc_roc": 0.91, "accuracy": 0.88, "f1": 0.71}
    assert validate_metadata(version.metadata) == []
    assert version.raw_document == renamed_document()
    assert version.mapping_method == MappingMethod.HEURISTIC
    assert version.source == VersionSource.IMPORT
    assert version.created_by == importer
    assert {
        "source": "model_performance",
        "target": "metrics",
        "detail": "",
    } in version.mapping_report["moves"]


def test_confirm_of_an_llm_mapping_records_the_provider_and_its_model(
    importer, fake_provider_server, make_provider
):
    provider = make_provider()
    fake_provider_server.structured_answers.append(llm_answer())
    preview = preview_of(renamed_document(), user=importer)

    import_confirm(token=preview["token"], user=importer)

    version = ModelVersion.objects.get()
    assert version.mapping_method == MappingMethod.LLM
    assert version.mapping_provider == provider
    assert version.mapping_model == "gpt-4o-mini"
    assert version.raw_document == renamed_document()


def test_confirming_the_same_token_twice_saves_once(importer):
    preview = preview_of(renamed_document(), user=importer)

    first = import_confirm(token=preview["token"], user=importer)
    second = import_confirm(token=preview["token"], user=importer)

    assert ModelVersion.objects.count() == 1
    assert first["already_confirmed"] is False
    assert second["already_confirmed"] is True
    assert second["saved_count"] == first["saved_count"] == 1


def test_a_token_from_another_user_cannot_be_confirmed(importer):
    preview = preview_of(renamed_document(), user=importer)

    with pytest.raises(ImportRefused, match="expired or does not exist"):
        import_confirm(token=preview["token"], user=UserFactory())
    assert import_preview_get(token=preview["token"], user=UserFactory()) is None
    assert ModelVersion.objects.count() == 0


def test_an_expired_preview_cannot_be_confirmed(importer):
    preview = preview_of(renamed_document(), user=importer)
    cache.clear()

    with pytest.raises(ImportRefused) as refused:
        import_confirm(token=preview["token"], user=importer)
    assert refused.value.errors == {
        "token": ["This import preview has expired or does not exist; import the document again."]
    }
    assert ModelVersion.objects.count() == 0


def test_a_label_taken_between_preview_and_confirm_is_replaced_by_the_next_free_one(importer):
    model = registered_model_create(name="Credit Scoring", task="binary_classification")
    preview = preview_of(valid_document(), user=importer)
    assert preview["items"][0]["identity"]["version"] == "1.0"
    model_version_register(model=model, version="1.0", flavor="sklearn", metadata=valid_document())

    import_confirm(token=preview["token"], user=importer)

    assert sorted(model.versions.values_list("version", flat=True)) == ["1.0", "1.1"]


def test_an_explicit_label_taken_between_preview_and_confirm_is_refused_not_overwritten(importer):
    model = registered_model_create(name="Credit Scoring", task="binary_classification")
    preview = preview_of(valid_document(version="1.5"), user=importer)
    model_version_register(
        model=model, version="1.5", flavor="sklearn", metadata=valid_document(), description="first"
    )

    outcome = import_confirm(token=preview["token"], user=importer)

    assert outcome["items"][0]["status"] == "refused"
    assert "already has a version 1.5" in outcome["items"][0]["message"]
    assert model.versions.get().description == "first"


# --- garbage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is not json", "The document is not valid JSON"),
        ('{"metrics": ', "The document is not valid JSON"),
        ("42", "the document must be a JSON object (or an array of objects); this is a number"),
        ('"a string"', "this is a string"),
        ("null", "this is null"),
        ("", "The document is empty"),
        ("[]", "the array holds no documents"),
        ('{"metrics": {"auc_roc": NaN}}', "NaN is not a JSON number"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_garbage_gets_a_clear_error_and_nothing_is_saved(importer, text, message):
    with pytest.raises(ImportRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        preview_of(text, user=importer)

    assert ModelVersion.objects.count() == 0


def test_ten_megabytes_of_nesting_is_refused_without_a_crash(importer):
    with pytest.raises(ImportRefused, match="the limit is 5 MB"):
        preview_of("[" * 10_000_000, user=importer)


def test_deep_nesting_under_the_size_limit_is_refused_as_too_deep(importer):
    with pytest.raises(ImportRefused, match="nested too deeply"):
        preview_of("[" * 200_000 + "]" * 200_000, user=importer)
    with pytest.raises(ImportRefused, match="nested more than 32 levels"):
        preview_of({"metrics": json.loads("[" * 40 + "]" * 40)}, user=importer)


# --- batches ---------------------------------------------------------------------------------


def test_a_json_array_gives_one_result_per_item_each_saved_or_refused_on_its_own(importer):
    batch = [valid_document(version="1.0"), {"nothing": "useful"}, 7, valid_document(version="1.1")]

    preview = preview_of(batch, user=importer)

    assert [i["status"] for i in preview["items"]] == ["ready", "invalid", "refused", "ready"]
    assert [i["label"] for i in preview["items"]][:2] == [
        "model.json, item 1",
        "model.json, item 2",
    ]
    assert (
        preview["items"][2]["message"] == "This item is a number, not a JSON object; it is skipped."
    )
    outcome = import_confirm(token=preview["token"], user=importer)
    assert [i["status"] for i in outcome["items"]] == ["saved", "skipped", "skipped", "saved"]
    assert sorted(ModelVersion.objects.values_list("version", flat=True)) == ["1.0", "1.1"]


def test_several_files_in_a_batch_get_successive_version_labels(importer):
    sources = [ImportSource(f"v{i}.json", text=json.dumps(valid_document())) for i in range(3)]

    preview = import_preview(sources=sources, user=importer)

    assert [i["identity"]["version"] for i in preview["items"]] == ["1.0", "1.1", "1.2"]
    import_confirm(token=preview["token"], user=importer)
    assert RegisteredModel.objects.count() == 1
    assert ModelVersion.objects.count() == 3


def test_two_documents_of_a_batch_with_the_same_label_refuse_the_second(importer):
    preview = preview_of(
        [valid_document(version="1.0"), valid_document(version="1.0")], user=importer
    )

    assert [i["status"] for i in preview["items"]] == ["ready", "invalid"]
    assert "another document of this upload" in preview["items"][1]["issues"][0]["message"]


def test_a_garbage_file_in_a_batch_of_files_names_the_file(importer):
    sources = [
        ImportSource("good.json", text=json.dumps(valid_document())),
        ImportSource("bad.json", text="{"),
    ]

    with pytest.raises(ImportRefused, match="^bad.json: The document is not valid JSON"):
        import_preview(sources=sources, user=importer)


def test_the_preview_does_not_modify_the_raw_document_it_keeps(importer):
    document = renamed_document()
    before = copy.deepcopy(document)

    preview = preview_of(document, user=importer)
    import_confirm(token=preview["token"], user=importer)

    assert document == before
    assert ModelVersion.objects.get().raw_document == before
