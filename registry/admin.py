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

from registry.artifacts import ArtifactError, artifact_read, artifact_untrusted_types
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.prompting import parser_problems
from registry.services import (
    RESERVED_SLUGS,
    RegistryValidationError,
    model_version_transition,
    model_version_trust_types,
    registered_model_create,
)


class VersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ["version", "status", "flavor", "source", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RegisteredModelAdminForm(forms.ModelForm):
    class Meta:
        model = RegisteredModel
        fields = ["name", "task", "description", "owner", "tags"]

    def clean_name(self) -> str:
        # On add, the service's rules (slug free, not reserved) show inline instead of failing on save.
        name = self.cleaned_data["name"].strip()
        if self.instance.pk is None:
            slug = slugify(name)
            if not slug or slug in RESERVED_SLUGS or RegisteredModel.objects.filter(slug=slug).exists():
                raise forms.ValidationError(f"'{name}' cannot be used: its URL name is taken or reserved.")
        return name


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    form = RegisteredModelAdminForm
    list_display = ["name", "task", "owner", "tag_list", "updated_at"]
    list_filter = ["task", "created_at"]
    search_fields = ["name", "slug", "description"]
    fields = ["name", "slug", "task", "description", "owner", "tags"]
    # The slug is made from the name once and is in URLs; it never changes.
    readonly_fields = ["slug"]
    inlines = [VersionInline]

    @admin.display(description="Tags")
    def tag_list(self, obj: RegisteredModel) -> str:
        return ", ".join(obj.tags or [])

    def save_model(self, request: HttpRequest, obj: RegisteredModel, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            created = registered_model_create(
                name=obj.name, task=obj.task, description=obj.description,
                owner=obj.owner or request.user, tags=obj.tags or [],
            )
        except RegistryValidationError as exc:
            raise PermissionDenied(str(exc)) from exc
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
    types = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Trust these types")
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
class ModelVersionAdmin(admin.ModelAdmin):
    form = ModelVersionAdminForm
    list_display = ["__str__", "status", "flavor", "source", "mapping_method", "trusted_summary", "created_at"]
    list_filter = ["status", "flavor", "source", "mapping_method", "model__task", NeedsReviewFilter]
    search_fields = ["version", "model__name", "model__slug", "provider_model", "source_ref"]
    list_select_related = ["model"]
    readonly_fields = [
        "model", "version", "status", "flavor", "metadata", "raw_document", "mapping_method",
        "mapping_provider", "mapping_model", "mapping_report", "artifact", "artifact_sha256",
        "trusted_types", "trusted_by", "trusted_at", "parent", "source", "source_ref",
        "created_by", "created_at", "updated_at",
    ]
    actions = ["move_to_staging", "move_to_production", "move_to_retired", "review_trusted_types"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Versions arrive through the upload and import pages, the API or training jobs.
        return False

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

    def _transition(self, request: HttpRequest, queryset: QuerySet[ModelVersion], to_status: str) -> None:
        moved = 0
        for version in queryset.select_related("model"):
            try:
                model_version_transition(version=version, to_status=to_status, actor=request.user)
                moved += 1
            except RegistryValidationError as exc:
                for message in exc.errors.get("status", [str(exc)]):
                    self.message_user(request, message, messages.ERROR)
        if moved:
            self.message_user(request, f"{moved} version(s) moved to {to_status}.", messages.SUCCESS)

    @admin.action(description="Move selected versions to staging")
    def move_to_staging(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._transition(request, queryset, VersionStatus.STAGING)

    @admin.action(description="Move selected versions to production")
    def move_to_production(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._transition(request, queryset, VersionStatus.PRODUCTION)

    @admin.action(description="Retire selected versions")
    def move_to_retired(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._transition(request, queryset, VersionStatus.RETIRED)

    @admin.action(description="Review artifact types outside the allowed list")
    def review_trusted_types(self, request: HttpRequest, queryset: QuerySet[ModelVersion]):
        if queryset.count() != 1:
            self.message_user(request, "Review one version at a time.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:registry_modelversion_trust", args=[queryset.get().pk]))

    def trust_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.is_staff or not self.has_change_permission(request):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion.objects.select_related("model", "trusted_by"), pk=pk)
        problem, refused = "", []
        if version.artifact:
            try:
                refused = [t for t in artifact_untrusted_types(artifact_read(version)) if t not in version.trusted_types]
            except ArtifactError as exc:
                problem = str(exc)
        else:
            problem = "This version has no artifact."
        form = TrustTypesForm(request.POST or None, choices=refused)
        if request.method == "POST" and refused and form.is_valid():
            try:
                model_version_trust_types(version=version, types=form.cleaned_data["types"], actor=request.user)
            except RegistryValidationError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request, f"Trusted {', '.join(form.cleaned_data['types'])} on {version}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:registry_modelversion_change", args=[version.pk]))
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
