"""Registry factories, shared with the other apps' tests.

- RegisteredModelFactory, ModelVersionFactory: rows only (metadata valid, no artifact).
- SklearnVersionFactory: a real, servable version: a small scikit-learn classifier fitted on
  the demo credit data, stored as a skops artifact through model_version_register.
  `SklearnVersionFactory(estimator="tree")` gives a gradient-boosting one (SHAP TreeExplainer).
"""

import copy
from functools import cache

import factory
from django.utils.text import slugify

from registry.models import (
    Flavor,
    ModelVersion,
    RegisteredModel,
    Task,
    VersionSource,
    VersionStatus,
)


def minimal_metadata(features: list[str] | None = None, **metrics: float) -> dict:
    features = features or ["x1", "x2"]
    return {
        "features": [{"name": f, "type": "numeric"} for f in features],
        "metrics": metrics or {"accuracy": 0.8, "auc_roc": 0.85},
    }


class RegisteredModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegisteredModel
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Model {n}")
    slug = factory.LazyAttribute(lambda m: slugify(m.name))
    task = Task.BINARY
    description = "A test model."
    tags = factory.LazyFunction(lambda: ["test"])


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    model = factory.SubFactory(RegisteredModelFactory)
    version = factory.Sequence(lambda n: f"1.{n}")
    status = VersionStatus.DRAFT
    flavor = Flavor.SKLEARN
    metadata = factory.LazyFunction(minimal_metadata)
    source = VersionSource.UPLOAD


@cache
def fitted_estimator(kind: str = "logistic", rows: int = 400, seed: int = 0):
    """(estimator, X_train, X_test, y_test) fitted once per process on demo credit rows."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from registry.demo import CREDIT_FEATURES, LABEL, credit_dataset

    frame = credit_dataset(rows=rows, seed=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        frame[CREDIT_FEATURES],
        frame[LABEL],
        test_size=0.25,
        random_state=seed,
        stratify=frame[LABEL],
    )
    if kind == "tree":
        estimator = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=seed)
    else:
        estimator = Pipeline(
            [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=500))]
        )
    estimator.fit(X_train, y_train)
    return estimator, X_train, X_test, y_test


@cache
def fitted_artifact(kind: str, rows: int, seed: int) -> tuple[bytes, dict]:
    from registry.artifacts import artifact_dump
    from registry.demo import CREDIT_FEATURES
    from registry.evaluation import evaluate_classifier, feature_specs

    estimator, X_train, X_test, y_test = fitted_estimator(kind, rows, seed)
    metadata = {
        "features": feature_specs(X_train),
        **evaluate_classifier(
            estimator, X_train=X_train, X_test=X_test, y_test=y_test, feature_names=CREDIT_FEATURES
        ),
    }
    return artifact_dump(estimator), metadata


class SklearnVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    model = factory.SubFactory(RegisteredModelFactory)
    version = factory.Sequence(lambda n: f"2.{n}")
    status = VersionStatus.PRODUCTION
    estimator = "logistic"  # or "tree"

    @classmethod
    def _create(cls, model_class, *args, estimator: str = "logistic", **kwargs) -> ModelVersion:
        from registry.services import model_version_register

        artifact, metadata = fitted_artifact(estimator, 400, 0)
        kwargs.setdefault("metadata", copy.deepcopy(metadata))
        return model_version_register(
            flavor=Flavor.SKLEARN, artifact=artifact, source=VersionSource.UPLOAD, **kwargs
        )
