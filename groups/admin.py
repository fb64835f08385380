"""The operations console for groups: roles and weights, promotion, rollback, pending
changes (four-eyes), API keys.

Every write goes through groups.services; the forms run the services' rules in clean()
so mistakes show inline, on the page, before anything is saved. Every permission goes
through `request.user.has_perm(perm, obj)` (roles and team ownership, core/permissions.py)
and every action checks each object it acts on.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from core.errors import ServiceError
from core.models import Team
from core.permissions import actable, can, require, visible
from groups.forms import (
    ApiKeyAdminForm,
    GroupAdminForm,
    MembershipInlineFormSet,
    add_service_errors,
)
from groups.models import (
    ApiKey,
    Membership,
    ModelGroup,
    PendingChange,
    PendingStatus,
    Role,
    RoleChange,
)
from groups.selectors import role_order
from groups.services import (
    api_key_create,
    api_key_revoke,
    api_key_scope_set,
    group_create,
    group_delete,
    group_promote,
    group_rollback,
    group_slug,
    group_update,
    pending_change_approve,
    pending_change_reject,
)
from registry.models import ModelVersion


class ObjectPermissionAdmin(admin.ModelAdmin):
    """has_*_permission through `has_perm(perm, obj)`: the role, and the object's team."""

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("view"), obj) or self.has_change_permission(
            request, obj
        )

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return request.user.has_perm(self._perm("add"))

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("change"), obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("delete"), obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ["model_version", "role", "weight"]
    extra = 1

    def get_extra(self, request: HttpRequest, obj: ModelGroup | None = None, **kwargs) -> int:
        return 2 if obj is None else 1

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).order_by(role_order(), "-weight", "model_version_id")

    # Members are edited with their group: the group's permissions decide.
    def has_view_permission(self, request: HttpRequest, obj: ModelGroup | None = None) -> bool:
        return request.user.has_perm("groups.view_modelgroup", obj)

    def has_add_permission(self, request: HttpRequest, obj: ModelGroup | None = None) -> bool:
        perm = "groups.change_modelgroup" if obj is not None else "groups.add_modelgroup"
        return request.user.has_perm(perm, obj)

    def has_change_permission(self, request: HttpRequest, obj: ModelGroup | None = None) -> bool:
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ModelGroup | None = None) -> bool:
        return obj is not None and request.user.has_perm("groups.change_modelgroup", obj)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "model_version":
            kwargs["queryset"] = ModelVersion.objects.select_related("model")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class AdminPromoteForm(forms.Form):
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(), label="New champion"
    )
    former_champion_role = forms.ChoiceField(
        choices=[(Role.CHALLENGER, "Challenger at 0%"), (Role.SHADOW, "Shadow")],
        initial=Role.CHALLENGER,
        label="The former champion stays as",
    )
    reason = forms.CharField(
        max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60})
    )

    def __init__(self, *args, group: ModelGroup, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = (
            ModelVersion.objects.filter(memberships__group=group)
            .exclude(memberships__group=group, memberships__role=Role.CHAMPION)
            .select_related("model")
        )


@admin.register(ModelGroup)
class ModelGroupAdmin(ObjectPermissionAdmin):
    form = GroupAdminForm
    inlines = [MembershipInline]
    list_display = [
        "name",
        "slug",
        "team",
        "champion",
        "split",
        "routing_mode",
        "requires_approval",
        "is_active",
        "table_name",
    ]
    list_filter = [
        "is_active",
        "requires_approval",
        "team",
        "routing_mode",
        "deletion_policy",
        "task",
    ]
    search_fields = ["name", "slug", "description"]
    actions = ["promote_to_champion", "roll_back_to_previous_champion"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelGroup]:
        groups = super().get_queryset(request).select_related("team")
        return visible(request.user, groups.prefetch_related("memberships__model_version__model"))

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "team":
            kwargs["queryset"] = actable(request.user, Team.objects.all(), team_field="pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not request.user.has_perm("groups.promote_modelgroup"):
            actions.pop("promote_to_champion", None)
            actions.pop("roll_back_to_previous_champion", None)
        return actions

    def get_readonly_fields(self, request: HttpRequest, obj: ModelGroup | None = None) -> list[str]:
        if obj is None:
            return []
        return ["slug", "team", "table_name", "created_by", "created_at", "updated_at"]

    def get_form(self, request: HttpRequest, obj: ModelGroup | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            form.base_fields["features"].help_text = "Leave empty to take the champion's features."
        return form

    @admin.display(description="Champion")
    def champion(self, group: ModelGroup) -> str:
        champion = next((m for m in group.memberships.all() if m.role == Role.CHAMPION), None)
        return str(champion.model_version) if champion else "—"

    @admin.display(description="Split")
    def split(self, group: ModelGroup) -> str:
        return " / ".join(
            f"{m.model_version.version}: {m.weight}%"
            for m in group.memberships.all()
            if m.role != Role.SHADOW
        )

    # Saving: the service writes the group and its members together, in the admin's transaction.
    def save_model(self, request: HttpRequest, obj: ModelGroup, form, change: bool) -> None:
        pass  # done in save_related, once the inline's members are known

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        inline = next(fs for fs in formsets if isinstance(fs, MembershipInlineFormSet))
        data = form.cleaned_data
        obj = form.instance
        if change:
            group_update(
                group=obj,
                actor=request.user,
                name=data["name"],
                description=data["description"],
                routing_mode=data["routing_mode"],
                deletion_policy=data["deletion_policy"],
                is_active=data["is_active"],
                task=data["task"],
                features=data["features"],
                requires_approval=data["requires_approval"],
                members=inline.members(),
                reason="Edited in the admin.",
            )
            return
        require(
            request.user,
            "groups.add_modelgroup",
            ModelGroup(team=data["team"], slug=group_slug(data["name"])),
        )
        group = group_create(
            name=data["name"],
            description=data["description"],
            task=data["task"],
            routing_mode=data["routing_mode"],
            deletion_policy=data["deletion_policy"],
            members=inline.members(),
            features=data["features"] or None,
            team=data["team"],
            requires_approval=data["requires_approval"],
            created_by=request.user,
        )
        # The admin goes on with the instance it built (history entry, redirect).
        obj.pk, obj.slug, obj.table_name = group.pk, group.slug, group.table_name
        obj._state.adding = False

    def construct_change_message(self, request: HttpRequest, form, formsets, add: bool = False):
        # The inline formset was never save()d (the service wrote the members).
        return super().construct_change_message(request, form, [], add)

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The audit trail cannot be deleted on its own, but it goes with its group.
        perms_needed.discard(RoleChange._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: ModelGroup) -> None:
        group_delete(group=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelGroup]) -> None:
        for group in queryset:
            group_delete(group=group, actor=request.user)

    @admin.action(description="Promote a member to champion…")
    def promote_to_champion(self, request: HttpRequest, queryset: QuerySet[ModelGroup]):
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one group to promote a member of.", messages.ERROR
            )
            return None
        group = queryset.get()
        require(request.user, "groups.promote_modelgroup", group)
        applying = "apply" in request.POST
        form = AdminPromoteForm(request.POST if applying else None, group=group)
        if applying and form.is_valid():
            try:
                change = group_promote(
                    group=group,
                    model_version=form.cleaned_data["model_version"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    former_champion_role=form.cleaned_data["former_champion_role"],
                )
            except ServiceError as error:
                add_service_errors(form, error)
            else:
                self.message_user(request, _change_message(group, change), messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Promote a member of {group.name} to champion",
            "opts": self.model._meta,
            "group": group,
            "members": group.memberships.select_related("model_version__model"),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "groups/admin/promote.html", context)

    @admin.action(description="Roll back to previous champion")
    def roll_back_to_previous_champion(
        self, request: HttpRequest, queryset: QuerySet[ModelGroup]
    ) -> None:
        for group in queryset:
            require(request.user, "groups.promote_modelgroup", group)
            try:
                change = group_rollback(
                    group=group, actor=request.user, reason="Rolled back in the admin."
                )
            except ServiceError as error:
                self.message_user(request, f"{group.name}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, _change_message(group, change), messages.SUCCESS)


def _change_message(group: ModelGroup, change: RoleChange | PendingChange) -> str:
    if isinstance(change, PendingChange):
        return f"{group.name} requires approval: the change waits until another person approves it."
    if change.action == "rollback":
        return f"{group.name}: {change.to_version} is champion again."
    return f"{change.to_version} is now the champion of {group.name} with 100% of the traffic."


@admin.register(RoleChange)
class RoleChangeAdmin(ObjectPermissionAdmin):
    list_display = [
        "created_at",
        "group",
        "action",
        "from_version",
        "to_version",
        "actor",
        "api_key",
        "approved_by",
        "reason",
    ]
    list_filter = ["action", "group"]
    search_fields = ["group__name", "reason"]
    date_hierarchy = "created_at"
    list_select_related = [
        "group",
        "actor",
        "api_key",
        "approved_by",
        "from_version__model",
        "to_version__model",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoleChange]:
        return visible(request.user, super().get_queryset(request), team_field="group__team")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RoleChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RoleChange | None = None) -> bool:
        return False


@admin.register(PendingChange)
class PendingChangeAdmin(ObjectPermissionAdmin):
    list_display = [
        "created_at",
        "group",
        "action",
        "payload",
        "author_label",
        "status",
        "decided_by",
    ]
    list_filter = ["status", "action", "group"]
    search_fields = ["group__name", "reason"]
    list_select_related = ["group", "author", "author_key", "decided_by"]
    actions = ["approve", "reject"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingChange]:
        return visible(request.user, super().get_queryset(request), team_field="group__team")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by promotions, rollbacks and traffic changes

    def has_change_permission(self, request: HttpRequest, obj: PendingChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PendingChange | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not request.user.has_perm("groups.approve_pendingchange"):
            actions.pop("approve", None)
            actions.pop("reject", None)
        return actions

    def _decide(self, request: HttpRequest, queryset: QuerySet[PendingChange], decide) -> None:
        for pending in queryset.filter(status=PendingStatus.PENDING):
            if not can(request.user, "groups.approve_pendingchange", pending):
                self.message_user(request, f"{pending}: not yours to decide.", messages.ERROR)
                continue
            try:
                decide(pending=pending, approver=request.user)
            except ServiceError as error:
                self.message_user(request, f"{pending}: {error.message}", messages.ERROR)
            else:
                pending.refresh_from_db()
                self.message_user(request, str(pending), messages.SUCCESS)

    @admin.action(description="Approve and apply the selected changes")
    def approve(self, request: HttpRequest, queryset: QuerySet[PendingChange]) -> None:
        self._decide(request, queryset, pending_change_approve)

    @admin.action(description="Reject the selected changes")
    def reject(self, request: HttpRequest, queryset: QuerySet[PendingChange]) -> None:
        self._decide(request, queryset, pending_change_reject)


@admin.register(ApiKey)
class ApiKeyAdmin(ObjectPermissionAdmin):
    form = ApiKeyAdminForm
    list_display = [
        "name",
        "prefix",
        "team",
        "scope_list",
        "group_list",
        "expires_at",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["team", "all_groups", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    filter_horizontal = ["groups"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="Scopes")
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes) or "—"

    @admin.display(description="Groups")
    def group_list(self, api_key: ApiKey) -> str:
        if api_key.all_groups:
            return "All the team's groups"
        return ", ".join(g.slug for g in api_key.groups.all()) or "No group"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        keys = super().get_queryset(request).select_related("created_by", "team")
        return keys.prefetch_related("groups")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [*self.readonly_fields, "team"] if obj else list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the record says who had access until when

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not request.user.has_perm("groups.change_apikey"):
            actions.pop("revoke", None)
        return actions

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "team" in form.base_fields:
            form.base_fields.pop("team")
        return form

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            api_key_scope_set(
                api_key=obj,
                groups=data["groups"],
                all_groups=data["all_groups"],
                scopes=data["scopes"],
                name=data["name"],
                expires_at=data.get("expires_at"),
            )
            return
        api_key, plaintext = api_key_create(
            name=data["name"],
            team=data["team"],
            scopes=data["scopes"],
            groups=data["groups"],
            all_groups=data["all_groups"],
            expires_at=data.get("expires_at"),
            created_by=request.user,
        )
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = (
            api_key.pk,
            api_key.prefix,
            api_key.key_hash,
            api_key.created_at,
        )
        obj._state.adding = False
        # Kept on this instance only, for the one response that shows it.
        obj._plaintext = plaintext

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        pass  # the services set the groups

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        plaintext = getattr(obj, "_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": self.model._meta,
            "api_key": obj,
            "plaintext": plaintext,
        }
        response = TemplateResponse(request, "groups/admin/apikey_created.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            require(request.user, "groups.change_apikey", api_key)
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
