from django.urls import path

from recipes import assistant_views, views

app_name = "recipes"

urlpatterns = [
    path("", views.library, name="library"),
    path("assistant/new", assistant_views.assistant_new, name="assistant_new"),
    path("recipes/<slug:slug>/", views.recipe_detail, name="recipe_detail"),
    path("recipes/<slug:slug>/versions/new", views.version_new, name="version_new"),
    path("recipes/<slug:slug>/clone", views.recipe_clone, name="recipe_clone"),
    path(
        "recipes/<slug:slug>/versions/<str:version>/", views.version_detail, name="version_detail"
    ),
    path(
        "recipes/<slug:slug>/versions/<str:version>/approve",
        views.version_approve,
        name="version_approve",
    ),
    path(
        "recipes/<slug:slug>/versions/<str:version>/archive",
        views.version_archive,
        name="version_archive",
    ),
    path(
        "recipes/<slug:slug>/assistant/messages",
        assistant_views.assistant_message,
        name="assistant_message",
    ),
    path(
        "recipes/<slug:slug>/assistant/proposals/<int:proposal>/apply",
        assistant_views.assistant_apply,
        name="assistant_apply",
    ),
    path(
        "recipes/<slug:slug>/assistant/proposals/<int:proposal>/explain",
        assistant_views.assistant_explain,
        name="assistant_explain",
    ),
]
