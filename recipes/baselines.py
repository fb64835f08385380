"""The four baseline recipes (one per family) and an inheritance example under the
forecasting baseline: a retail industry child and a client child of it.

`recipes_seed()` is idempotent: a recipe that exists is left as it is. Seeded versions are
approved by the seed itself (no person), which the version's change note says.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction
from django.utils import timezone

from recipes import manifest as mf
from recipes.models import Family, Level, Recipe, RecipeStatus, RecipeVersion
from recipes.services import recipe_create

SEED_NOTE = "Seeded by seed_demo (approved by the seed, not by a person)."


def _metric(name: str, threshold: float, direction: str = "lower_is_better") -> dict:
    return {"name": name, "threshold": threshold, "direction": direction}


FORECASTING: dict[str, Any] = {
    "metadata": {
        "title": "Forecasting baseline",
        "family": "forecasting",
        "description": "Daily unit sales per store from lagged sales, rolling means, calendar, "
        "price and promotions; gradient boosting; rolling-origin backtest.",
        "owner": "Model Library",
        "tags": ["daily", "retail", "demand"],
    },
    "requirements": {
        "task": "regression",
        "label": "sales",
        "grain": ["store_id", "date"],
        "time_column": "date",
        "feature_sets": [
            {"name": "store", "features": ["store_id", "promo", "price"]},
            {"name": "calendar", "features": ["day_of_week", "month", "is_weekend"]},
            {"name": "history", "features": ["lag_1", "lag_7", "lag_14", "rolling_mean_7"]},
        ],
        "min_history_days": 56,
        "min_rows": 200,
    },
    "pipeline": {
        "quality": {"max_missing_fraction": 0.05, "drop_duplicates": True},
        "feature_prep": {
            "group_by": "store_id",
            "lags": [1, 7, 14],
            "rolling_means": [7],
            "calendar": ["day_of_week", "month", "is_weekend"],
        },
        "training": {
            "algorithm": "gradient_boosting",
            "hyperparameters": {"n_estimators": 80, "max_depth": 3, "learning_rate": 0.1},
        },
        "evaluation": {"gate": "all_metrics"},
        "deployment": {"register_status": "staging"},
    },
    "evaluation": {
        "metrics": [_metric("mae", 25.0), _metric("smape", 15.0), _metric("mase", 1.0)],
        "validation": {"strategy": "rolling_origin", "folds": 3, "horizon": 14, "seasonality": 7},
    },
    "lineage": {"source_system": "synthetic", "datasets": ["daily_store_sales"]},
    "deployment": {"mode": "batch", "schedule": "0 4 * * *"},
    "monitoring": {"drift": {"method": "psi"}, "alerts": {"psi": 0.2, "mae_increase_pct": 15}},
    "example": {"generator": "daily_store_sales", "rows": 1800, "seed": 7},
}

PRICING: dict[str, Any] = {
    "metadata": {
        "title": "Pricing baseline",
        "family": "pricing",
        "description": "Demand response to price relative to the competitor, season and promotions.",
        "owner": "Model Library",
        "tags": ["elasticity", "demand"],
    },
    "requirements": {
        "task": "regression",
        "label": "units_sold",
        "feature_sets": [
            {"name": "price", "features": ["price", "competitor_price", "relative_price"]},
            {"name": "context", "features": ["month", "promo", "inventory"]},
        ],
        "min_rows": 200,
    },
    "pipeline": {
        "quality": {"max_missing_fraction": 0.02},
        "training": {
            "algorithm": "gradient_boosting",
            "hyperparameters": {"n_estimators": 120, "max_depth": 3, "learning_rate": 0.1},
        },
        "evaluation": {"gate": "all_metrics"},
    },
    "evaluation": {
        "metrics": [_metric("rmse", 120.0), _metric("mae", 70.0)],
        "validation": {"strategy": "k_fold", "folds": 4},
    },
    "deployment": {"mode": "realtime"},
    "monitoring": {"drift": {"method": "ks"}, "alerts": {"rmse_increase_pct": 20}},
    "example": {"generator": "price_response", "rows": 1500, "seed": 11},
}

NEXT_BEST_ACTION: dict[str, Any] = {
    "metadata": {
        "title": "Next best action baseline",
        "family": "next_best_action",
        "description": "The offer a customer is most likely to accept, over five offers.",
        "owner": "Model Library",
        "tags": ["marketing", "offers"],
    },
    "requirements": {
        "task": "multiclass_classification",
        "label": "offer",
        "feature_sets": [
            {"name": "profile", "features": ["age", "tenure_months", "balance"]},
            {"name": "behaviour", "features": ["travel_spend", "debt_ratio", "visits_30d"]},
        ],
        "min_rows": 300,
    },
    "pipeline": {
        "training": {
            "algorithm": "gradient_boosting",
            "hyperparameters": {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.1},
        },
        "evaluation": {"gate": "all_metrics"},
    },
    "evaluation": {
        "metrics": [
            _metric("accuracy", 0.45, "higher_is_better"),
            _metric("f1_macro", 0.35, "higher_is_better"),
            _metric("top_3_accuracy", 0.75, "higher_is_better"),
        ],
        "validation": {"strategy": "holdout", "test_size": 0.25},
    },
    "deployment": {"mode": "realtime"},
    "monitoring": {"drift": {"method": "psi"}},
    "example": {"generator": "offer_choice", "rows": 2000, "seed": 5},
}

LOCATION_SCORING: dict[str, Any] = {
    "metadata": {
        "title": "Location scoring baseline",
        "family": "location_scoring",
        "description": "Ranks candidate sites by their expected revenue index.",
        "owner": "Model Library",
        "tags": ["sites", "ranking"],
    },
    "requirements": {
        "task": "regression",
        "label": "site_score",
        "feature_sets": [
            {"name": "area", "features": ["population_density", "median_income", "transit_score"]},
            {"name": "site", "features": ["foot_traffic", "competitors_nearby", "parking_spaces"]},
        ],
        "min_rows": 200,
    },
    "pipeline": {
        "training": {
            "algorithm": "random_forest",
            "hyperparameters": {"n_estimators": 60, "max_depth": 8, "min_samples_leaf": 3},
        },
        "evaluation": {"gate": "all_metrics"},
    },
    "evaluation": {
        "metrics": [
            _metric("ndcg_at_10", 0.8, "higher_is_better"),
            _metric("spearman", 0.7, "higher_is_better"),
            _metric("rmse", 15.0),
        ],
        "validation": {"strategy": "holdout", "test_size": 0.25},
    },
    "deployment": {"mode": "batch", "schedule": "0 6 * * 1"},
    "example": {"generator": "site_scores", "rows": 1200, "seed": 3},
}

BASELINES: dict[str, tuple[str, dict]] = {
    Family.FORECASTING: ("Forecasting baseline", FORECASTING),
    Family.PRICING: ("Pricing baseline", PRICING),
    Family.NEXT_BEST_ACTION: ("Next best action baseline", NEXT_BEST_ACTION),
    Family.LOCATION_SCORING: ("Location scoring baseline", LOCATION_SCORING),
}
INDUSTRY_NAME = "Forecasting: grocery retail"
CLIENT_NAME = "Forecasting: Northwind Grocers"


def industry_manifest(base: dict) -> dict:
    """Grocery retail: fresh produce sells fast, so the MAE threshold is tighter."""
    doc = mf.merge(base, {"metadata": {"title": INDUSTRY_NAME, "tags": ["daily", "grocery"]}})
    doc["evaluation"]["metrics"][0]["threshold"] = 22.0
    return doc


def client_manifest(base: dict) -> dict:
    """One grocer: weekly batch on Mondays, and deeper trees."""
    doc = mf.merge(
        base,
        {
            "metadata": {"title": CLIENT_NAME},
            "deployment": {"schedule": "0 5 * * 1"},
            "pipeline": {"training": {"hyperparameters": {"max_depth": 4}}},
        },
    )
    return copy.deepcopy(doc)


def _seed_approve(version: RecipeVersion) -> None:
    RecipeVersion.objects.filter(pk=version.pk).update(
        status=RecipeStatus.APPROVED, approved_at=timezone.now(), change_note=SEED_NOTE
    )


def _ensure(name: str, family: str, manifest: dict, *, level=Level.BASELINE, parent=None) -> Recipe:
    recipe = Recipe.objects.filter(name=name).first()
    if recipe is None:
        recipe = recipe_create(
            name=name, family=family, level=level, parent=parent, manifest=manifest, actor=None
        )
        _seed_approve(recipe.versions.get())
    return recipe


@transaction.atomic
def recipes_seed() -> list[Recipe]:
    """The four baselines, the grocery retail industry child and one client under it."""
    seeded = [_ensure(name, family, doc) for family, (name, doc) in BASELINES.items()]
    forecasting = seeded[0]
    base = forecasting.versions.filter(status=RecipeStatus.APPROVED).order_by("-id").first()
    industry = _ensure(
        INDUSTRY_NAME,
        Family.FORECASTING,
        industry_manifest(base.effective),
        level=Level.INDUSTRY,
        parent=forecasting,
    )
    industry_version = industry.versions.order_by("-id").first()
    client = _ensure(
        CLIENT_NAME,
        Family.FORECASTING,
        client_manifest(industry_version.effective),
        level=Level.CLIENT,
        parent=industry,
    )
    return [*seeded, industry, client]
