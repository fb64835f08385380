from django.urls import path, re_path

from groups import api

# The issue writes the actions without a trailing slash; both spellings work.
urlpatterns = [
    path("groups/", api.GroupListCreateApi.as_view(), name="api-group-list"),
    path("groups/<slug:slug>/", api.GroupDetailApi.as_view(), name="api-group-detail"),
    re_path(
        r"^groups/(?P<slug>[-a-zA-Z0-9_]+)/promote/?$",
        api.GroupPromoteApi.as_view(),
        name="api-group-promote",
    ),
    re_path(
        r"^groups/(?P<slug>[-a-zA-Z0-9_]+)/traffic/?$",
        api.GroupTrafficApi.as_view(),
        name="api-group-traffic",
    ),
    re_path(
        r"^groups/(?P<slug>[-a-zA-Z0-9_]+)/rollback/?$",
        api.GroupRollbackApi.as_view(),
        name="api-group-rollback",
    ),
]
