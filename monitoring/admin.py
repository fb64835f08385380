from django.contrib import admin

from core.permissions import require, visible
from monitoring import alerts
from monitoring.models import (
    Alert,
    AlertRule,
    AlertStatus,
    MonitorConfig,
    Reference,
    Snapshot,
    Webhook,
    WebhookDelivery,
)


class HubAdmin(admin.ModelAdmin):
    """Every permission through has_perm (object-aware via django-rules); lists through visible()."""

    team_field = "group__team"
    group_field: str | None = "group__slug"

    def _perm(self, request, action: str, obj=None) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}", obj)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._perm(request, "view", obj) or self._perm(request, "change", obj)

    def has_add_permission(self, request) -> bool:
        return self._perm(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return self._perm(request, "change", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._perm(request, "delete", obj)

    def get_queryset(self, request):
        return visible(
            request.user,
            super().get_queryset(request),
            team_field=self.team_field,
            group_field=self.group_field,
        )


@admin.register(AlertRule)
class AlertRuleAdmin(HubAdmin):
    list_display = [
        "name",
        "group",
        "metric",
        "operator",
        "threshold",
        "windows",
        "period",
        "severity",
        "is_active",
    ]
    list_filter = ["severity", "period", "is_active"]
    search_fields = ["name", "metric", "group__name"]


@admin.register(Alert)
class AlertAdmin(HubAdmin):
    list_display = ["title", "group", "severity", "status", "opened_at", "resolved_at"]
    list_filter = ["status", "severity"]
    search_fields = ["title", "source", "group__name"]
    readonly_fields = [
        "group",
        "model_version",
        "rule",
        "source",
        "title",
        "severity",
        "status",
        "evidence",
        "opened_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
    ]
    actions = ["acknowledge"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("monitoring.acknowledge_alert", obj)

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request, queryset) -> None:
        done = 0
        for alert in queryset.exclude(status=AlertStatus.RESOLVED):
            require(request.user, "monitoring.acknowledge_alert", alert)
            alerts.alert_acknowledge(
                alert=alert, actor=request.user, note="Acknowledged in the admin."
            )
            done += 1
        self.message_user(request, f"{done} alert(s) acknowledged.")


@admin.register(MonitorConfig)
class MonitorConfigAdmin(HubAdmin):
    list_display = ["group", "use_psi", "dataset_drift_share"]

    def _perm(self, request, action: str, obj=None) -> bool:
        return request.user.has_perm(
            "groups.change_modelgroup" if action != "view" else "groups.view_modelgroup", obj
        )


@admin.register(Reference)
class ReferenceAdmin(HubAdmin):
    list_display = ["model_version", "source", "rows", "created_at"]
    exclude = ["sample", "sample_scores"]
    readonly_fields = [
        "model_version",
        "source",
        "description",
        "rows",
        "features",
        "summaries",
        "score_summary",
        "shap_share",
        "created_by",
    ]
    team_field = "model_version__model__team"
    group_field = None

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Snapshot)
class SnapshotAdmin(HubAdmin):
    list_display = ["group", "model_version", "role", "period", "window_end"]
    list_filter = ["period"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(HubAdmin):
    list_display = ["url", "team", "events", "is_active", "created_at"]
    fields = ["team", "url", "events", "is_active"]  # never the secret: made through the API
    team_field = "team"
    group_field = None

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(HubAdmin):
    list_display = [
        "event",
        "webhook",
        "status",
        "attempts",
        "response_code",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "event"]
    readonly_fields = [
        "webhook",
        "alert",
        "event",
        "body",
        "status",
        "attempts",
        "response_code",
        "error",
        "delivered_at",
    ]
    team_field = "webhook__team"
    group_field = None

    def has_add_permission(self, request) -> bool:
        return False
