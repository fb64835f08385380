"""The inference pages, mounted at the site's root by hub/urls.py before groups.urls:
a group's tabs live under the group (inference/group_urls.py); the pages' old addresses
under /inference/groups/ redirect there."""

from django.urls import include, path

from inference import batch_urls, group_urls, views

app_name = "inference"

urlpatterns: list = [
    path("groups/", include(group_urls)),
    *batch_urls.page_urlpatterns,
    path("inference/versions/<int:version_id>/live/", views.version_live, name="version_live"),
    # Before the tabs moved under the group (bookmarks, links in old messages).
    path(
        "inference/groups/<slug:slug>/<path:rest>", views.legacy_group_redirect, name="legacy_group"
    ),
]
