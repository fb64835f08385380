"""Batch prediction's addresses: the pages (included by inference/urls.py, in the
`inference` namespace) and the API (included by inference/api_urls.py under /api/v1/)."""

from django.urls import path

from inference import batch_api, batch_views

page_urlpatterns: list = [
    path("batches/", batch_views.batch_list, name="batch_list"),
    path("groups/<slug:slug>/batches/new/", batch_views.group_batch_create, name="batch_create"),
    path("batches/<uuid:pk>/", batch_views.batch_detail, name="batch_detail"),
    path("batches/<uuid:pk>/cancel/", batch_views.batch_cancel, name="batch_cancel"),
    path("batches/<uuid:pk>/result/", batch_views.batch_result, name="batch_result"),
]

api_urlpatterns: list = [
    path(
        "groups/<slug:slug>/batches/",
        batch_api.GroupBatchesApi.as_view(),
        name="group-batches",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/batches/",
        batch_api.VersionBatchesApi.as_view(),
        name="version-batches",
    ),
    path("batches/", batch_api.BatchListApi.as_view(), name="batch-list"),
    path("batches/<uuid:pk>/", batch_api.BatchApi.as_view(), name="batch-detail"),
    path("batches/<uuid:pk>/cancel", batch_api.BatchCancelApi.as_view(), name="batch-cancel"),
    path("batches/<uuid:pk>/result", batch_api.BatchResultApi.as_view(), name="batch-result"),
]
