"""A user-defined estimator: skops flags its type, and the hub refuses it until trusted."""

from sklearn.linear_model import LogisticRegression


class ClippedLogisticRegression(LogisticRegression):
    def predict_proba(self, X):
        return super().predict_proba(X).clip(0.01, 0.99)
