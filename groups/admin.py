"""The operations console for groups: roles and weights, promotion, rollback, API keys.

Every write goes through groups.services / groups.auth; the forms run the services' rules
in clean() so mistakes show inline, on the page, before anything is saved.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, QuerySet, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from groups.auth import api_key_create, api_key_revoke, api_key_scope_set
from groups.forms import GroupAdminForm, MembershipInlineFormSet, add_service_errors
from groups.models import ApiKey, Membership, ModelGroup, Role, RoleChange
from groups.services import (
    GroupValidationError,
    group_create,
    group_delete,
    group_promote,
    group_rollback,
    group_update,
)
from registry.models import ModelVersion


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ["model_version", "role", "weight"]
    extra = 1

    def get_extra(self, request: HttpRequest, obj: ModelGroup | None = None, **kwargs) -> int:
        return 2 if obj is None else 1

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        champion_first = Case(
            When(role=Role.CHAMPION, then=0), When(role=Role.CHALLENGER, then=1), default=2
        )
        return super().get_queryset(request).order_by(champion_first, "-weight")

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
class ModelGroupAdmin(admin.ModelAdmin):
    form = GroupAdminForm
    inlines = [MembershipInline]
    list_display = ["name", "slug", "champion", "split", "routing_mode", "is_active", "table_name"]
    list_filter = ["is_active", "routing_mode", "deletion_policy", "task"]
    search_fields = ["name", "slug", "description"]
    actions = ["promote_to_champion", "roll_back_to_previous_champion"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelGroup]:
        return super().get_queryset(request).prefetch_related("memberships__model_version__model")

    def get_readonly_fields(self, request: HttpRequest, obj: ModelGroup | None = None) -> list[str]:
        return ["slug", "table_name", "created_by", "created_at", "updated_at"] if obj else []

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
                members=inline.members(),
                reason="Edited in the admin.",
            )
            return
        group = group_create(
            name=data["name"],
            description=data["description"],
            task=data["task"],
            routing_mode=data["routing_mode"],
            deletion_policy=data["deletion_policy"],
            members=inline.members(),
            features=data["features"] or None,
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
            except GroupValidationError as error:
                add_service_errors(form, error)
            else:
                self.message_user(
                    request,
                    f"{change.to_version} is now the champion of {group.name} with 100% of the traffic.",
                    messages.SUCCESS,
                )
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
            try:
                change = group_rollback(
                    group=group, actor=request.user, reason="Rolled back in the admin."
                )
            except GroupValidationError as error:
                self.message_user(request, f"{group.name}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{group.name}: {change.to_version} is champion again.",
                    messages.SUCCESS,
                )


@admin.register(RoleChange)
class RoleChangeAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "group",
        "action",
        "from_version",
        "to_version",
        "actor",
        "reason",
    ]
    list_filter = ["action", "group"]
    search_fields = ["group__name", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["group", "actor", "from_version__model", "to_version__model"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RoleChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RoleChange | None = None) -> bool:
        return False


class ApiKeyAdminForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "all_groups", "groups"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("all_groups") and not cleaned.get("groups"):
            self.add_error("groups", "Choose the groups this key may call, or allow all groups.")
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyAdminForm
    list_display = [
        "name",
        "prefix",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["all_groups", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    filter_horizontal = ["groups"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="Scope")
    def scope(self, api_key: ApiKey) -> str:
        if api_key.all_groups:
            return "All groups"
        return ", ".join(g.slug for g in api_key.groups.all()) or "No group"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return super().get_queryset(request).select_related("created_by").prefetch_related("groups")

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the record says who had access until when

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            api_key_scope_set(
                api_key=obj, groups=data["groups"], all_groups=data["all_groups"], name=data["name"]
            )
            return
        api_key, plaintext = api_key_create(
            name=data["name"],
            groups=data["groups"],
            all_groups=data["all_groups"],
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
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
