from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from core.permissions import require
from providers.models import Provider
from providers.services import provider_check_health, provider_save


def key_status(provider: Provider) -> str:
    return f"key set (…{provider.api_key_last4})" if provider.has_key else "no key"


class ProviderAdminForm(forms.ModelForm):
    # Write-only: the stored key is never sent back to the browser, not even masked.
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "organization", "default_model", "is_active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.has_key:
            self.fields[
                "api_key"
            ].help_text = "Leave blank to keep the stored key; type a new key to replace it."
        else:
            self.fields[
                "api_key"
            ].help_text = "Stored encrypted. OpenAI-compatible servers without authentication can leave it blank."


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderAdminForm
    change_form_template = "providers/admin/provider_change_form.html"
    list_display = ["name", "kind", "default_model", "is_active", "health", "last_checked", "key"]
    list_filter = ["kind", "is_active", "health_ok"]
    search_fields = ["name", "default_model", "base_url", "organization"]
    actions = ["test_connection"]
    readonly_fields = [
        "key",
        "health",
        "last_checked",
        "health_message",
        "models_seen",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_active"]}),
        ("Connection", {"fields": ["base_url", "organization", "default_model", "api_key", "key"]}),
        (
            "Last health check",
            {"fields": ["health", "last_checked", "health_message", "models_seen"]},
        ),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="Stored key")
    def key(self, provider: Provider) -> str:
        return key_status(provider)

    @admin.display(description="Health", ordering="health_ok")
    def health(self, provider: Provider) -> str:
        if provider.health_ok is None:
            return "not checked"
        if provider.health_ok:
            return format_html(
                '<span style="color:#137a3e">ok</span> · {} ms', f"{provider.health_latency_ms:.0f}"
            )
        return format_html('<span style="color:{}">failing</span>', "#b42318")

    @admin.display(description="Last checked", ordering="health_checked_at")
    def last_checked(self, provider: Provider) -> str:
        if provider.health_checked_at is None:
            return "never"
        return date_format(timezone.localtime(provider.health_checked_at), "DATETIME_FORMAT")

    @admin.display(description="Models seen")
    def models_seen(self, provider: Provider) -> str:
        if not provider.health_models:
            return "–"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}</li>", ((m,) for m in provider.health_models)),
        )

    # Every role reads providers; only Admins write them (core/roles.py), through rules.
    def has_view_permission(self, request: HttpRequest, obj: Provider | None = None) -> bool:
        return request.user.has_perm("providers.view_provider", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("providers.add_provider")

    def has_change_permission(self, request: HttpRequest, obj: Provider | None = None) -> bool:
        return request.user.has_perm("providers.change_provider", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Provider | None = None) -> bool:
        return request.user.has_perm("providers.delete_provider", obj)

    def save_model(
        self, request: HttpRequest, obj: Provider, form: ProviderAdminForm, change: bool
    ) -> None:
        saved = provider_save(provider=obj, api_key=form.cleaned_data.get("api_key") or "")
        if saved.key_cleared_by:
            changed = " and ".join(
                str(Provider._meta.get_field(name).verbose_name) for name in saved.key_cleared_by
            )
            messages.warning(
                request,
                f"The stored API key of {obj.name} was cleared because its {changed} changed: "
                "a key is never sent to an endpoint it was not entered for. Enter the key again.",
            )

    @admin.action(description="Test connection (list models)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            require(request.user, "providers.change_provider", provider)
            self._report_health(request, provider_check_health(provider=provider))

    def get_urls(self) -> list:
        urls = [
            path(
                "<int:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="providers_provider_test_connection",
            ),
        ]
        return urls + super().get_urls()

    @method_decorator(require_POST)
    def test_connection_view(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        provider = get_object_or_404(Provider, pk=object_id)
        require(request.user, "providers.change_provider", provider)
        self._report_health(request, provider_check_health(provider=provider))
        return HttpResponseRedirect(reverse("admin:providers_provider_change", args=[provider.pk]))

    def _report_health(self, request: HttpRequest, provider: Provider) -> None:
        if provider.health_ok:
            messages.success(
                request,
                f"{provider.name}: connection ok in "
                f"{provider.health_latency_ms:.0f} ms. {provider.health_message}",
            )
        else:
            messages.error(
                request, f"{provider.name}: connection failed. {provider.health_message}"
            )
