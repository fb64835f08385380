from django.urls import path, re_path

from groups import api

SLUG = r"(?P<slug>[-a-zA-Z0-9_]+)"

# The issue writes the actions without a trailing slash; both spellings work.
urlpatterns = [
    path("groups/", api.GroupListCreateApi.as_view(), name="api-group-list"),
    path("groups/<slug:slug>/", api.GroupDetailApi.as_view(), name="api-group-detail"),
    re_path(rf"^groups/{SLUG}/promote/?$", api.GroupPromoteApi.as_view(), name="api-group-promote"),
    re_path(rf"^groups/{SLUG}/traffic/?$", api.GroupTrafficApi.as_view(), name="api-group-traffic"),
    re_path(
        rf"^groups/{SLUG}/rollback/?$", api.GroupRollbackApi.as_view(), name="api-group-rollback"
    ),
    path(
        "groups/<slug:slug>/pending-changes/",
        api.PendingChangeListApi.as_view(),
        name="api-group-pending-changes",
    ),
    re_path(
        rf"^groups/{SLUG}/pending-changes/(?P<id>[0-9]+)/approve/?$",
        api.PendingChangeApproveApi.as_view(),
        name="api-group-pending-approve",
    ),
    re_path(
        rf"^groups/{SLUG}/pending-changes/(?P<id>[0-9]+)/reject/?$",
        api.PendingChangeRejectApi.as_view(),
        name="api-group-pending-reject",
    ),
]
