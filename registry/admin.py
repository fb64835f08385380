"""The registry's operations console: models and versions, status actions, and the review
of artifact types outside the allowed list. Writes go through registry.services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

from core.errors import ServiceError
from core.permissions import require, visible
from registry.models import (
    INVENTORY_FIELDS,
    VALIDATION_FIELDS,
    ModelVersion,
    RegisteredModel,
    VersionStatus,
)
from registry.prompting import parser_problems
from registry.selectors import registering_teams
from registry.services import (
    RESERVED_SLUGS,
    TRUST_PERM,
    model_team_choose,
    model_version_inspect_types,
    model_version_transition,
    model_version_trust_types,
    registered_model_create,
)


class RulesPermissions:
    """Every has_*_permission through `user.has_perm(perm, obj)` (django-rules: role and
    owning team), and the changelist through `visible`."""

    team_field = "team"

    def _perm(self, request: HttpRequest, action: str, obj=None) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}", obj)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._perm(request, "view", obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._perm(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._perm(request, "delete", obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return visible(request.user, super().get_queryset(request), team_field=self.team_field)


class VersionInline(RulesPermissions, admin.TabularInline):
    model = ModelVersion
    team_field = "model__team"
    fields = ["version", "status", "flavor", "source", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # read-only rows: versions change on their own page

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RegisteredModelAdminForm(forms.ModelForm):
    class Meta:
        model = RegisteredModel
        fields = [
            "name",
            "task",
            "team",
            "description",
            "owner",
            "tags",
            *INVENTORY_FIELDS,
            *VALIDATION_FIELDS,
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "team" in self.fields:
            self.fields["team"].required = False
            self.fields["team"].help_text = "Default: your only team."

    def clean_name(self) -> str:
        # On add, the service's rules (slug free, not reserved) show inline instead of failing on save.
        name = self.cleaned_data["name"].strip()
        if self.instance.pk is None:
            slug = slugify(name)
            if (
                not slug
                or slug in RESERVED_SLUGS
                or RegisteredModel.objects.filter(slug=slug).exists()
            ):
                raise forms.ValidationError(
                    f"'{name}' cannot be used: its URL name is taken or reserved."
                )
        return name


@admin.register(RegisteredModel)
class RegisteredModelAdmin(RulesPermissions, admin.ModelAdmin):
    form = RegisteredModelAdminForm
    list_display = [
        "name",
        "task",
        "team",
        "owner",
        "tag_list",
        "risk_tier",
        "validation_status",
        "next_review_on",
        "updated_at",
    ]
    list_filter = ["task", "team", "risk_tier", "validation_status", "created_at"]
    search_fields = ["name", "slug", "description", "business_purpose"]
    fields = [
        "name",
        "slug",
        "task",
        "team",
        "description",
        "owner",
        "tags",
        *INVENTORY_FIELDS,
        *VALIDATION_FIELDS,
    ]
    # The slug is made from the name once and is in URLs; it never changes. The team is
    # chosen when the model is registered.
    readonly_fields = ["slug"]
    inlines = [VersionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._perm(request, "add")

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # The inventory entry is filled in once the model exists.
        if obj is None:
            return [f for f in self.fields if f not in (*INVENTORY_FIELDS, *VALIDATION_FIELDS)]
        return list(self.fields)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = ["slug", "team"] if obj is not None else ["slug"]
        # The validator and the validation are an Approver's (registry.validate_registeredmodel).
        if not request.user.has_perm("registry.validate_registeredmodel", obj):
            fields += VALIDATION_FIELDS
        return fields

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "team":
            kwargs["queryset"] = db_field.related_model.objects.filter(
                pk__in=[t.pk for t in registering_teams(request.user)]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Tags")
    def tag_list(self, obj: RegisteredModel) -> str:
        return ", ".join(obj.tags or [])

    def save_model(self, request: HttpRequest, obj: RegisteredModel, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            if obj.team_id is None:
                obj.team = model_team_choose(user=request.user)
            require(request.user, "registry.add_registeredmodel", obj)
            created = registered_model_create(
                name=obj.name,
                task=obj.task,
                description=obj.description,
                owner=obj.owner or request.user,
                tags=obj.tags or [],
                team=obj.team,
            )
        except ServiceError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk, obj.slug = created.pk, created.slug


class ModelVersionAdminForm(forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = ["description", "provider", "provider_model", "prompt_template", "response_parser"]

    def clean_response_parser(self) -> dict:
        parser = self.cleaned_data.get("response_parser") or {}
        problems = parser_problems(parser)
        if problems:
            raise forms.ValidationError(problems)
        return parser


class TrustTypesForm(forms.Form):
    types = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, label="Trust these types"
    )
    confirm = forms.BooleanField(
        label="I reviewed where these classes come from; loading them runs their code in the hub."
    )

    def __init__(self, *args, choices: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["types"].choices = [(t, t) for t in choices]


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "trusted types"
    parameter_name = "trusted"

    def lookups(self, request, model_admin):
        return [("yes", "Has trusted types"), ("no", "Allowed list only")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(trusted_types=[])
        if self.value() == "no":
            return queryset.filter(trusted_types=[])
        return queryset


@admin.register(ModelVersion)
class ModelVersionAdmin(RulesPermissions, admin.ModelAdmin):
    form = ModelVersionAdminForm
    team_field = "model__team"
    list_display = [
        "__str__",
        "status",
        "flavor",
        "source",
        "mapping_method",
        "trusted_summary",
        "created_at",
    ]
    list_filter = ["status", "flavor", "source", "mapping_method", "model__task", NeedsReviewFilter]
    search_fields = ["version", "model__name", "model__slug", "provider_model", "source_ref"]
    list_select_related = ["model"]
    readonly_fields = [
        "model",
        "version",
        "status",
        "flavor",
        "metadata",
        "raw_document",
        "mapping_method",
        "mapping_provider",
        "mapping_model",
        "mapping_report",
        "artifact",
        "artifact_sha256",
        "artifact_types",
        "trusted_types",
        "trusted_by",
        "trusted_at",
        "parent",
        "source",
        "source_ref",
        "created_by",
        "created_at",
        "updated_at",
    ]
    actions = ["move_to_staging", "move_to_production", "move_to_retired", "review_trusted_types"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Versions arrive through the upload and import pages, the API or training jobs.
        return False

    def has_trust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(TRUST_PERM)

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/trust/",
                self.admin_site.admin_view(self.trust_view),
                name="registry_modelversion_trust",
            )
        ]
        return custom + super().get_urls()

    @admin.display(description="Trusted types")
    def trusted_summary(self, obj: ModelVersion) -> str:
        return ", ".join(t.rsplit(".", 1)[-1] for t in obj.trusted_types or []) or "—"

    def _transition(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion], to_status: str
    ) -> None:
        moved = 0
        for version in queryset.select_related("model"):
            require(request.user, "registry.change_modelversion", version)
            try:
                model_version_transition(version=version, to_status=to_status, actor=request.user)
                moved += 1
            except ServiceError as exc:
                for message in exc.errors.get("status", [exc.message]):
                    self.message_user(request, message, messages.ERROR)
        if moved:
            self.message_user(
                request, f"{moved} version(s) moved to {to_status}.", messages.SUCCESS
            )

    @admin.action(description="Move selected versions to staging", permissions=["change"])
    def move_to_staging(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._transition(request, queryset, VersionStatus.STAGING)

    @admin.action(description="Move selected versions to production", permissions=["change"])
    def move_to_production(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._transition(request, queryset, VersionStatus.PRODUCTION)

    @admin.action(description="Retire selected versions", permissions=["change"])
    def move_to_retired(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._transition(request, queryset, VersionStatus.RETIRED)

    @admin.action(
        description="Review artifact types outside the allowed list", permissions=["trust"]
    )
    def review_trusted_types(self, request: HttpRequest, queryset: QuerySet[ModelVersion]):
        for version in queryset:
            require(request.user, TRUST_PERM, version)
        if queryset.count() != 1:
            self.message_user(request, "Review one version at a time.", messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:registry_modelversion_trust", args=[queryset.get().pk])
        )

    def _refused_types(self, version: ModelVersion) -> tuple[list[str], str]:
        if not version.artifact:
            return [], "This version has no artifact."
        try:
            model_version_inspect_types(version=version)
        except ServiceError as exc:
            return [], exc.message
        return version.untrusted_types or [], ""

    def trust_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(
            self.get_queryset(request).select_related("model", "trusted_by"), pk=pk
        )
        require(request.user, TRUST_PERM, version)
        refused, problem = self._refused_types(version)
        form = TrustTypesForm(request.POST or None, choices=refused)
        if request.method == "POST" and refused and form.is_valid():
            try:
                model_version_trust_types(
                    version=version, types=form.cleaned_data["types"], actor=request.user
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    f"Trusted {', '.join(form.cleaned_data['types'])} on {version}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:registry_modelversion_change", args=[version.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review artifact types of {version}",
            "opts": self.model._meta,
            "original": version,
            "version": version,
            "refused": refused,
            "problem": problem,
            "form": form,
        }
        return TemplateResponse(request, "registry/admin/trust_types.html", context)
