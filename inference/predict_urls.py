"""The URL configuration of predict's own middleware chain (inference/middleware.py): the
one route, so a prediction does not walk every app's patterns to find its view. The
route is the same as in inference/api_urls.py (which the schema and reverse() use)."""

from django.urls import path

from inference.api import PredictApi

urlpatterns = [
    path("api/v1/groups/<slug:slug>/predict", PredictApi.as_view(), name="group-predict"),
]
