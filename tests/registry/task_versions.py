"""Servable regression and multiclass versions, registered through the real service with the
metadata the hold-out evaluation writes (as a training job does)."""

from functools import cache

from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.model_selection import train_test_split

from registry.artifacts import artifact_dump
from registry.evaluation import evaluate_for_task, feature_specs
from registry.models import Flavor, ModelVersion, Task, VersionSource, VersionStatus
from registry.services import model_version_register
from tests.registry.factories import RegisteredModelFactory
from tests.training.task_factories import NBA_FEATURES, PRICING_FEATURES, nba_rows, pricing_rows


@cache
def fitted(task: str):
    """(estimator, X_train, X_test, y_test, metadata fragment), fitted once per process."""
    if task == Task.REGRESSION:
        frame, features, label = pricing_rows(rows=700), PRICING_FEATURES, "price"
        estimator = GradientBoostingRegressor(n_estimators=30, max_depth=2, random_state=0)
        stratify = None
    else:
        frame, features, label = nba_rows(rows=500), NBA_FEATURES, "offer"
        estimator = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0)
        stratify = frame[label]
    X_train, X_test, y_train, y_test = train_test_split(
        frame[features], frame[label], test_size=0.3, random_state=0, stratify=stratify
    )
    estimator.fit(X_train, y_train)
    evaluation = evaluate_for_task(
        task, estimator, X_train=X_train, X_test=X_test, y_test=y_test, feature_names=features
    )
    return estimator, X_train, X_test, y_test, {"features": feature_specs(X_train), **evaluation}


def task_version(task: str, *, name: str = "", version: str = "1.0") -> ModelVersion:
    estimator, *_, metadata = fitted(task)
    model = RegisteredModelFactory(
        name=name or ("Dynamic Pricing" if task == Task.REGRESSION else "Next Best Action"),
        task=task,
    )
    return model_version_register(
        model=model,
        version=version,
        flavor=Flavor.SKLEARN,
        metadata=metadata,
        artifact=artifact_dump(estimator),
        status=VersionStatus.PRODUCTION,
        source=VersionSource.UPLOAD,
    )
