"""recipes/manifest.py: merge, provenance, minimal layers, patches, versions, validation."""

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recipes import manifest as mf
from recipes.baselines import FORECASTING, NEXT_BEST_ACTION, industry_manifest


def _layer(recipe: str, doc: dict, level: str = "baseline") -> mf.Layer:
    return mf.Layer(recipe=recipe, version="1.0.0", level=level, manifest=doc)


def test_objects_merge_key_by_key_arrays_replace_and_null_removes():
    base = {"a": {"x": 1, "y": 2}, "tags": [1, 2], "gone": {"k": 1}}
    merged = mf.merge(base, {"a": {"y": 3}, "tags": [9], "gone": None})
    assert merged == {"a": {"x": 1, "y": 3}, "tags": [9]}
    assert base["a"]["y"] == 2  # the parent is untouched


def test_provenance_names_the_layer_that_changed_each_leaf_and_what_it_overrode():
    child = {
        "evaluation": {
            "metrics": [{"name": "mae", "threshold": 20}, {"name": "rmse", "threshold": 5}]
        }
    }
    base = {
        "evaluation": {
            "metrics": [{"name": "mae", "threshold": 25}, {"name": "rmse", "threshold": 5}]
        },
        "k": 1,
    }
    result = mf.effective([_layer("base", base), _layer("child", child, "industry")])
    changed = result.provenance["/evaluation/metrics/0/threshold"]
    assert changed["recipe"] == "child" and changed["overrides"] is True
    assert changed["previous"] == {"recipe": "base", "version": "1.0.0", "value": 25}
    # Restated unchanged by the child's array: still the baseline's.
    assert result.provenance["/evaluation/metrics/1/threshold"]["recipe"] == "base"
    assert result.provenance["/k"] == {
        "recipe": "base",
        "version": "1.0.0",
        "level": "baseline",
        "overrides": False,
    }


def test_a_null_in_a_child_removes_the_leaf_and_records_who_removed_it():
    result = mf.effective(
        [_layer("base", {"a": {"b": 1, "c": 2}}), _layer("child", {"a": {"b": None}})]
    )
    assert result.manifest == {"a": {"c": 2}}
    assert result.removed == {"/a/b": {"recipe": "child", "version": "1.0.0", "level": "baseline"}}


json_leaf = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans())
json_doc = st.recursive(
    st.dictionaries(st.sampled_from("abcd"), json_leaf, max_size=3),
    lambda inner: st.dictionaries(
        st.sampled_from("abcd"), st.one_of(inner, st.lists(json_leaf, max_size=3)), max_size=3
    ),
    max_leaves=12,
)


@given(parent=json_doc, child=json_doc)
def test_the_minimal_layer_merged_over_the_parent_gives_the_child_back(parent, child):
    assert mf.merge(parent, mf.layer_between(parent, child)) == child


def test_the_baselines_and_the_industry_child_are_valid():
    assert mf.validate(FORECASTING) == []
    assert mf.validate(industry_manifest(FORECASTING)) == []


def test_schema_errors_name_json_pointers():
    doc = copy.deepcopy(FORECASTING)
    doc["evaluation"]["metrics"][0]["threshold"] = "low"
    del doc["requirements"]["label"]
    doc["surprise"] = 1
    paths = {p.path: p.message for p in mf.validate(doc)}
    assert paths["/evaluation/metrics/0/threshold"] == "'low' is not of type 'number'"
    assert paths["/requirements/label"] == "is required"
    assert paths["/surprise"] == "is not a field of the manifest"


def test_a_metric_of_another_task_is_refused_on_its_path():
    doc = copy.deepcopy(NEXT_BEST_ACTION)
    doc["evaluation"]["metrics"][0]["name"] = "mae"
    problems = mf.validate(doc)
    assert [p.path for p in problems] == ["/evaluation/metrics/0/name"]
    assert "not a multiclass classification metric" in problems[0].message


def test_patches_apply_in_order_and_a_failed_test_is_stale():
    doc = {"a": 1}
    assert mf.apply_patch(
        doc, [{"op": "test", "path": "/a", "value": 1}, {"op": "replace", "path": "/a", "value": 2}]
    ) == {"a": 2}
    with pytest.raises(mf.PatchRefused) as stale:
        mf.apply_patch(doc, [{"op": "test", "path": "/a", "value": 5}])
    assert stale.value.stale and stale.value.index == 0
    with pytest.raises(mf.PatchRefused) as bad:
        mf.apply_patch(
            doc, [{"op": "add", "path": "/a", "value": 1}, {"op": "remove", "path": "/nope"}]
        )
    assert not bad.value.stale and bad.value.index == 1


def test_versions_are_minor_by_default_and_major_when_asked():
    assert mf.next_version(None, major=False) == "1.0.0"
    assert mf.next_version("1.4.0", major=False) == "1.5.0"
    assert mf.next_version("1.4.0", major=True) == "2.0.0"


def test_the_content_hash_ignores_key_order():
    assert mf.content_hash({"a": 1, "b": [1, 2]}) == mf.content_hash({"b": [1, 2], "a": 1})
    assert mf.content_hash({"a": 1}) != mf.content_hash({"a": 2})
