"""Rollouts in the operations console: read-only. Rollouts are started, paused, resumed and
aborted through their services (page, API, command); decisions are records, never edited."""

from django.contrib import admin

from core.permissions import visible
from rollouts.models import Rollout, RolloutDecision

VIEW = "rollouts.view_rollout"


class RolloutDecisionInline(admin.TabularInline):
    model = RolloutDecision
    fields = ("at", "action", "step_index", "weight", "reason", "evidence", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(VIEW, obj)


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "group",
        "challenger",
        "champion",
        "state",
        "step_index",
        "started_at",
        "ended_at",
    )
    list_filter = ("state", "metric", "goal")
    search_fields = ("group__name", "group__slug", "challenger__model__name", "challenger__version")
    inlines = [RolloutDecisionInline]

    def get_queryset(self, request):
        queryset = (
            super()
            .get_queryset(request)
            .select_related("group", "challenger__model", "champion__model")
        )
        return visible(request.user, queryset, team_field="group__team", group_field="group__slug")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(VIEW, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
