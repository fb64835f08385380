from django.urls import path, re_path

from training import api

urlpatterns = [
    path("training/jobs/", api.JobListCreateApi.as_view(), name="api-training-job-list"),
    path("training/jobs/<int:pk>/", api.JobDetailApi.as_view(), name="api-training-job-detail"),
    # The issue writes the action without a trailing slash; both spellings work.
    re_path(
        r"^training/jobs/(?P<pk>[0-9]+)/cancel/?$",
        api.JobCancelApi.as_view(),
        name="api-training-job-cancel",
    ),
]
