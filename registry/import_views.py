"""The import page: upload or paste -> preview -> confirm. Works with htmx partials and without JS."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.errors import ServiceError
from core.permissions import require
from registry.importing import (
    ImportOptions,
    ImportSource,
    import_confirm,
    import_preview,
    size_check,
)
from registry.models import Task
from registry.selectors import registering_teams

TEMPLATE = "registry/import.html"
PERM = "registry.add_modelversion"


class ImportForm(forms.Form):
    document = forms.CharField(
        label="Paste JSON",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 12, "placeholder": '{"name": "Credit Scoring", "metrics": {...}}'}
        ),
        help_text="One document, or a JSON array of documents.",
    )
    model_name = forms.CharField(
        label="Model name",
        required=False,
        max_length=200,
        help_text="Leave blank to use the name in the document; a name here wins.",
    )
    task = forms.ChoiceField(
        choices=[("", "From the document")] + list(Task.choices),
        required=False,
        help_text="Only for a new model: an existing model keeps its task.",
    )
    version = forms.CharField(
        label="Version label",
        required=False,
        max_length=32,
        help_text="Leave blank to use the document's label, or the next free one.",
    )
    team = forms.ChoiceField(
        label="Team", required=False, help_text="Only for a new model: the team that owns it."
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        teams = registering_teams(user)
        if len(teams) > 1:
            self.fields["team"].choices = [
                ("", "Choose a team…"),
                *((t.slug, t.name) for t in teams),
            ]
        else:
            del self.fields["team"]


def _sources(form: ImportForm, files: list) -> list[ImportSource]:
    text = form.cleaned_data["document"]
    sources = [ImportSource("pasted document", text=text)] if text.strip() else []
    for upload in files:
        size_check(upload.size, label=upload.name, field="files")  # before a byte is read
        sources.append(ImportSource(upload.name, text=upload.read()))
    return sources


def _preview(request: HttpRequest, form: ImportForm):
    options = ImportOptions(
        model_name=form.cleaned_data["model_name"],
        task=form.cleaned_data["task"],
        version=form.cleaned_data["version"],
        team=form.cleaned_data.get("team", ""),
    )
    try:
        sources = _sources(form, request.FILES.getlist("files"))
        return import_preview(sources=sources, options=options, user=request.user)
    except ServiceError as exc:
        field = next((f for f in exc.errors if f in ("task", "team")), "document")
        form.add_error(field, exc.message)
        return None


@require_http_methods(["GET", "POST"])
def model_import(request: HttpRequest) -> HttpResponse:
    require(request.user, PERM)
    form = ImportForm(request.POST if request.method == "POST" else None, user=request.user)
    preview = None
    if request.method == "POST" and form.is_valid():
        preview = _preview(request, form)
    if request.htmx and request.method == "POST":
        # htmx does not swap a 4xx answer into the page, so its fragment says "refused" in words.
        return render(request, f"{TEMPLATE}#preview", {"form": form, "preview": preview})
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, TEMPLATE, {"form": form, "preview": preview}, status=status)


@require_POST
def model_import_confirm(request: HttpRequest) -> HttpResponse:
    require(request.user, PERM)
    try:
        outcome = import_confirm(token=request.POST.get("token", ""), user=request.user)
    except ServiceError as exc:
        if request.htmx:
            return render(request, f"{TEMPLATE}#outcome", {"refusal": exc.message})
        messages.error(request, exc.message)
        return redirect("registry:model_import")
    saved = [item for item in outcome.items if item.status == "saved"]
    if len(outcome.items) == 1 and saved and not outcome.already_confirmed:
        # The usual case, one document saved: show the model with its new version.
        messages.success(request, saved[0].message)
        if request.htmx:
            return HttpResponseClientRedirect(saved[0].url)
        return redirect(saved[0].url)
    template = f"{TEMPLATE}#outcome" if request.htmx else TEMPLATE
    return render(request, template, {"form": ImportForm(user=request.user), "outcome": outcome})
