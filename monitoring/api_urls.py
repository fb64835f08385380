from django.urls import path, re_path

from monitoring import api

# The issue writes `monitoring/run` without a trailing slash; both spellings work.
urlpatterns = [
    path(
        "models/<slug:slug>/versions/<str:version>/reference",
        api.VersionReferenceApi.as_view(),
        name="monitoring-version-reference",
    ),
    re_path(
        r"^groups/(?P<slug>[-a-zA-Z0-9_]+)/monitoring/?$",
        api.GroupMonitoringApi.as_view(),
        name="monitoring-group",
    ),
    re_path(
        r"^groups/(?P<slug>[-a-zA-Z0-9_]+)/monitoring/run/?$",
        api.GroupMonitoringRunApi.as_view(),
        name="monitoring-group-run",
    ),
    re_path(
        r"^groups/(?P<slug>[-a-zA-Z0-9_]+)/monitoring/reference/?$",
        api.GroupReferenceFromWindowApi.as_view(),
        name="monitoring-group-reference",
    ),
    path("monitoring/rules/", api.AlertRuleListCreateApi.as_view(), name="monitoring-rule-list"),
    path("monitoring/alerts/", api.AlertListApi.as_view(), name="monitoring-alert-list"),
    path(
        "monitoring/alerts/<int:pk>/acknowledge",
        api.AlertAcknowledgeApi.as_view(),
        name="monitoring-alert-acknowledge",
    ),
    path(
        "monitoring/webhooks/", api.WebhookListCreateApi.as_view(), name="monitoring-webhook-list"
    ),
]
