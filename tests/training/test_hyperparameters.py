import pytest

from training.trainers.hyperparameters import (
    OPENAI_SPECS,
    PRESET_SPECS,
    HyperparameterError,
    defaults,
    validate_hyperparameters,
)


def test_missing_hyperparameters_take_the_defaults_shown_on_the_form():
    cleaned = validate_hyperparameters(PRESET_SPECS["gradient_boosting"], {"n_estimators": "50"})

    assert cleaned == {**defaults(PRESET_SPECS["gradient_boosting"]), "n_estimators": 50}
    assert cleaned["learning_rate"] == 0.1 and cleaned["validation_split"] == 0.2


def test_every_bad_hyperparameter_is_named_with_what_is_wrong():
    with pytest.raises(HyperparameterError) as caught:
        validate_hyperparameters(
            PRESET_SPECS["gradient_boosting"],
            {"n_estimators": "many", "learning_rate": 0, "max_depth": 2.5, "validation_split": 0.9},
        )

    errors = caught.value.errors
    assert errors["n_estimators"] == ["must be a whole number, got 'many'."]
    assert errors["learning_rate"] == ["must be greater than 0, got 0."]
    assert errors["max_depth"] == ["must be a whole number, got 2.5."]
    assert errors["validation_split"] == ["must be at most 0.5, got 0.9."]


def test_an_unknown_hyperparameter_is_refused_with_the_known_ones():
    with pytest.raises(HyperparameterError) as caught:
        validate_hyperparameters(PRESET_SPECS["logistic_regression"], {"n_estimators": 10})

    assert (
        "known: C, max_iter, random_state, validation_split"
        in caught.value.errors["n_estimators"][0]
    )


def test_openai_hyperparameters_left_empty_let_the_provider_choose():
    cleaned = validate_hyperparameters(
        OPENAI_SPECS, {"n_epochs": "", "batch_size": 4, "suffix": " credit "}
    )

    assert cleaned == {
        "n_epochs": None,
        "batch_size": 4,
        "learning_rate_multiplier": None,
        "suffix": "credit",
    }


def test_an_openai_suffix_longer_than_the_provider_allows_is_refused():
    with pytest.raises(HyperparameterError) as caught:
        validate_hyperparameters(OPENAI_SPECS, {"suffix": "x" * 19})

    assert caught.value.errors == {"suffix": ["must be at most 18 characters."]}


def test_booleans_are_not_numbers():
    with pytest.raises(HyperparameterError) as caught:
        validate_hyperparameters(PRESET_SPECS["random_forest"], {"n_estimators": True})

    assert "n_estimators" in caught.value.errors
