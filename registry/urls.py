from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.model_list, name="model_list"),
    path("import/", views.model_list, name="model_import"),
    path("upload/", views.model_list, name="version_upload"),
    path("<slug:slug>/", views.model_list, name="model_detail"),
    path("<slug:slug>/versions/<str:version>/", views.model_list, name="version_detail"),
]
