"""Trainers, one interface (trainers/base.py), chosen by the job's base kind."""

from training.models import BaseKind
from training.trainers.base import Trainer
from training.trainers.hyperparameters import (
    OPENAI_SPECS,
    PRESET_SPECS,
    RETRAIN_SPECS,
    HyperParameter,
)


def trainer_for(base_kind: str) -> Trainer:
    if base_kind == BaseKind.EXTERNAL:
        from training.trainers.openai import OpenAITrainer

        return OpenAITrainer()
    from training.trainers.local import LocalTrainer

    return LocalTrainer()


def trainer_for_job(job) -> Trainer:
    """A recipe run follows its recipe's pipeline; any other job its base kind's trainer."""
    if job.recipe_version_id is not None:
        from training.trainers.recipe import RecipeTrainer

        return RecipeTrainer()
    return trainer_for(job.base_kind)


def hyperparameter_specs(base_kind: str, preset: str = "") -> tuple[HyperParameter, ...]:
    """The specs a job of this base takes (for forms and validation, before a job exists)."""
    if base_kind == BaseKind.PRESET:
        return PRESET_SPECS[preset]
    if base_kind == BaseKind.EXTERNAL:
        return OPENAI_SPECS
    return RETRAIN_SPECS
