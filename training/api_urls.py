from django.urls import path, re_path

from training import api, runs_api

urlpatterns = [
    path("training/jobs/", api.JobListCreateApi.as_view(), name="api-training-job-list"),
    path("training/jobs/<int:pk>/", api.JobDetailApi.as_view(), name="api-training-job-detail"),
    # The issue writes the action without a trailing slash; both spellings work.
    re_path(
        r"^training/jobs/(?P<pk>[0-9]+)/cancel/?$",
        api.JobCancelApi.as_view(),
        name="api-training-job-cancel",
    ),
    # Runs: the same table (every fine-tuning job is a train run), recipe runs started here.
    path("runs/", runs_api.RunListCreateApi.as_view(), name="api-run-list"),
    path("runs/<int:pk>/", runs_api.RunDetailApi.as_view(), name="api-run-detail"),
    # runs/<pk>/deploy starts a gated rollout: hub/urls.py (hub/deploy_views.py).
]
