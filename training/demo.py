"""Demo runs for seed_demo: one queued train run per baseline recipe (the worker trains
them on the recipes' synthetic examples). Idempotent: a recipe version with a run is left."""

from recipes.baselines import recipes_seed
from recipes.models import Level, RecipeStatus
from training.models import FineTuneJob, RunKind
from training.services.runs import run_create


def demo_runs_seed() -> list[FineTuneJob]:
    queued = []
    for recipe in recipes_seed():
        if recipe.level != Level.BASELINE:
            continue
        version = recipe.versions.filter(status=RecipeStatus.APPROVED).order_by("-id").first()
        if version is None or FineTuneJob.objects.filter(recipe_version=version).exists():
            continue
        queued.append(run_create(recipe_version=version, kind=RunKind.TRAIN, actor=None))
    return queued
