"""Input checks (pure): every missing, unknown and mistyped feature, named by field."""

from hypothesis import given
from hypothesis import strategies as st

from inference import inputs as inputs_module
from inference.inputs import input_errors, refusal_reason
from inference.refusals import refusal_reasons

FEATURES = {
    "income": {"type": "numeric"},
    "open_accounts": {"type": "integer"},
    "employed": {"type": "boolean"},
    "region": {"type": "categorical", "categories": ["north", "south"]},
    "note": {"type": "text"},
    "legacy": {},  # no declared type: a number
}
VALID = {
    "income": 52000.5,
    "open_accounts": 3,
    "employed": True,
    "region": "north",
    "note": "ok",
    "legacy": 1,
}


def test_a_valid_row_has_no_errors():
    assert input_errors(VALID, FEATURES) == {}


def test_whole_floats_are_integers():
    assert input_errors({**VALID, "open_accounts": 3.0}, FEATURES) == {}


def test_each_problem_is_named_by_its_field():
    inputs = {
        **VALID,
        "income": "52k",
        "open_accounts": 1.5,
        "employed": 1,
        "region": "east",
        "note": 7,
    }
    del inputs["legacy"]
    inputs["colour"] = "blue"
    errors = input_errors(inputs, FEATURES)
    assert set(errors) == {
        "inputs.income",
        "inputs.open_accounts",
        "inputs.employed",
        "inputs.region",
        "inputs.note",
        "inputs.legacy",
        "inputs.colour",
    }
    assert "north, south" in errors["inputs.region"][0]
    assert "missing" in errors["inputs.legacy"][0]


def test_booleans_and_nulls_are_not_numbers():
    errors = input_errors({**VALID, "income": True, "legacy": None}, FEATURES)
    assert set(errors) == {"inputs.income", "inputs.legacy"}


def test_inputs_that_are_not_an_object_are_one_error():
    assert input_errors([1, 2], FEATURES, prefix="instances[2].inputs") == {
        "instances[2].inputs": ["Send the inputs as an object of feature names to values."]
    }


@given(income=st.floats(allow_nan=False, allow_infinity=False), accounts=st.integers())
def test_any_finite_number_is_accepted(income, accounts):
    assert input_errors({**VALID, "income": income, "open_accounts": accounts}, FEATURES) == {}


@given(value=st.one_of(st.text(), st.booleans(), st.none(), st.lists(st.integers())))
def test_anything_but_a_number_is_refused_for_a_numeric_feature(value):
    assert "inputs.income" in input_errors({**VALID, "income": value}, FEATURES)


def test_every_kind_of_problem_has_its_stable_reason_code():
    features = {**FEATURES, "rate": {"type": "numeric"}}
    inputs = {
        **VALID,
        "income": "52k",
        "open_accounts": 1.5,
        "region": "east",
        "employed": 1,
        "rate": float("inf"),
        "colour": "blue",
    }
    del inputs["legacy"]
    reasons = {
        field: refusal_reason(messages[0])
        for field, messages in input_errors(inputs, features).items()
    }
    assert reasons == {
        "inputs.income": inputs_module.WRONG_TYPE,
        "inputs.open_accounts": inputs_module.NOT_WHOLE_NUMBER,
        "inputs.region": inputs_module.UNKNOWN_CATEGORY,
        "inputs.employed": inputs_module.WRONG_TYPE,
        "inputs.rate": inputs_module.NOT_FINITE,
        "inputs.legacy": inputs_module.MISSING_FIELD,
        "inputs.colour": inputs_module.UNKNOWN_FIELD,
    }
    assert refusal_reason(input_errors([1], FEATURES)["inputs"][0]) == "not_an_object"
    assert refusal_reason("row 0: something else") == "invalid"


def test_a_refused_instance_counts_once_per_reason_and_other_fields_not_at_all():
    errors = {
        "instances[0].inputs.income": ["income must be a number, got '1'."],
        "instances[0].inputs.note": ["note must be a string, got 7."],
        "instances[0].inputs.legacy": ["This feature is missing."],
        "instances[2].inputs.legacy": ["This feature is missing."],
        "instances[2].routing_key": ["At most 200 characters."],
        "instances[3].request_id": ["Repeats the request_id of instances[1]."],
        "model": ["Model version 9 does not exist."],
    }
    assert refusal_reasons(errors) == {
        "wrong_type": 1,
        "missing_field": 2,
        "bad_routing_key": 1,
        "repeated_request_id": 1,
    }
    assert refusal_reasons({"inputs.income": ["This feature is missing."]}) == {"missing_field": 1}
