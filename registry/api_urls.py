from django.urls import path

from registry import api, import_api

urlpatterns: list = [
    path("schema/model-metadata", api.MetadataSchemaApi.as_view(), name="registry-metadata-schema"),
    path("models/", api.ModelListCreateApi.as_view(), name="registry-model-list"),
    # Import routes (models/import...) come before the slug routes below.
    path("models/import", import_api.ModelImportApi.as_view(), name="registry-model-import"),
    path(
        "models/import/confirm",
        import_api.ModelImportConfirmApi.as_view(),
        name="registry-model-import-confirm",
    ),
    path("models/<slug:slug>/", api.ModelDetailApi.as_view(), name="registry-model-detail"),
    path(
        "models/<slug:slug>/versions/",
        api.VersionUploadApi.as_view(),
        name="registry-version-upload",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/",
        api.VersionDetailApi.as_view(),
        name="registry-version-detail",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/status",
        api.VersionStatusApi.as_view(),
        name="registry-version-status",
    ),
]
