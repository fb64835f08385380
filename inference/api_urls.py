from django.urls import path

from inference import analytics_api, api, batch_urls

urlpatterns: list = [
    path("groups/<slug:slug>/predict", api.PredictApi.as_view(), name="group-predict"),
    path("groups/<slug:slug>/feedback", api.FeedbackApi.as_view(), name="group-feedback"),
    path(
        "groups/<slug:slug>/comparison",
        analytics_api.GroupComparisonApi.as_view(),
        name="group-comparison",
    ),
    path(
        "groups/<slug:slug>/inferences",
        analytics_api.GroupInferencesApi.as_view(),
        name="group-inferences",
    ),
    *batch_urls.api_urlpatterns,
]
