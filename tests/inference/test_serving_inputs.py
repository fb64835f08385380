"""Input checks (pure): every missing, unknown and mistyped feature, named by field."""

from hypothesis import given
from hypothesis import strategies as st

from inference.inputs import input_errors

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
