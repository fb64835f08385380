from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.permissions import visible
from recipes.models import Conversation, Message, Proposal, Recipe, RecipeVersion


class TeamOwnedAdmin(admin.ModelAdmin):
    """Permissions through rules (role + owning team), the changelist through `visible`."""

    team_field = "team"

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return visible(request.user, super().get_queryset(request), team_field=self.team_field)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("view"), obj)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        # Recipes and versions are made by the services (pages and API): validated, hashed.
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("delete"), obj)


@admin.register(Recipe)
class RecipeAdmin(TeamOwnedAdmin):
    list_display = ("name", "family", "level", "parent", "team", "model", "created_at")
    list_filter = ("family", "level", "team")
    search_fields = ("name", "slug", "description")
    list_select_related = ("parent", "team", "model")


@admin.register(RecipeVersion)
class RecipeVersionAdmin(TeamOwnedAdmin):
    team_field = "recipe__team"
    list_display = (
        "recipe",
        "version",
        "status",
        "author",
        "created_at",
        "approved_by",
        "approved_at",
    )
    list_filter = ("status", "recipe__family")
    search_fields = ("recipe__name", "version", "change_note", "content_hash")
    list_select_related = ("recipe", "approved_by")


class AssistantRecordAdmin(TeamOwnedAdmin):
    """The assistant's record (issue 18), read-only: who asked what, which provider and
    model answered, what was proposed and what became of it."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("recipes.view_conversation", obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(AssistantRecordAdmin):
    team_field = "recipe__team"
    list_display = ("id", "recipe", "started_by", "created_at", "updated_at")
    list_filter = ("recipe__family", "recipe__team", "created_at")
    search_fields = ("recipe__name", "started_by__username")
    list_select_related = ("recipe", "started_by")


@admin.register(Message)
class MessageAdmin(AssistantRecordAdmin):
    team_field = "conversation__recipe__team"
    list_display = (
        "id",
        "conversation",
        "role",
        "author",
        "provider_name",
        "model",
        "input_tokens",
        "output_tokens",
        "attempts",
        "created_at",
    )
    list_filter = ("role", "provider_name", "model", "created_at")
    search_fields = ("content", "conversation__recipe__name")
    list_select_related = ("conversation__recipe", "author")


@admin.register(Proposal)
class ProposalAdmin(AssistantRecordAdmin):
    team_field = "message__conversation__recipe__team"
    list_display = (
        "id",
        "summary",
        "status",
        "base_version",
        "applied_version",
        "applied_by",
        "created_at",
    )
    list_filter = ("status", "message__provider_name", "created_at")
    search_fields = ("summary", "rationale", "message__conversation__recipe__name")
    list_select_related = ("message__conversation__recipe", "applied_version__recipe", "applied_by")
