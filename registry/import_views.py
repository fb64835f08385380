"""The import page: upload or paste -> preview -> confirm. Works with htmx partials and without JS."""

import json

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from registry.importer import (
    MAX_DOCUMENT_BYTES,
    ImportOptions,
    ImportRefused,
    ImportSource,
    import_confirm,
    import_preview,
)
from registry.models import Task

TEMPLATE = "registry/import.html"


class ImportForm(forms.Form):
    document = forms.CharField(
        label="Paste JSON",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "placeholder": '{"name": "Credit Scoring", "metrics": {...}}'}),
        help_text="One document, or a JSON array of documents.",
    )
    model_name = forms.CharField(
        label="Model name", required=False, max_length=200,
        help_text="Leave blank to use the name in the document; a name here wins.",
    )
    task = forms.ChoiceField(
        choices=[("", "From the document")] + list(Task.choices), required=False,
        help_text="Only for a new model: an existing model keeps its task.",
    )
    version = forms.CharField(
        label="Version label", required=False, max_length=32,
        help_text="Leave blank to use the document's label, or the next free one.",
    )


def _sources(form: ImportForm, files: list) -> list[ImportSource]:
    sources = [ImportSource("pasted document", text=form.cleaned_data["document"])] if form.cleaned_data["document"].strip() else []
    for upload in files:
        if upload.size > MAX_DOCUMENT_BYTES:
            raise ImportRefused(
                f"{upload.name} is {upload.size / 1024 / 1024:.1f} MB; the limit is "
                f"{MAX_DOCUMENT_BYTES // 1024 // 1024} MB."
            )
        sources.append(ImportSource(upload.name, text=upload.read()))
    return sources


def _with_pretty_documents(preview: dict) -> dict:
    for item in preview["items"]:
        item["document_json"] = json.dumps(item["document"], indent=2) if item["document"] is not None else ""
    return preview


@require_http_methods(["GET", "POST"])
def model_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST if request.method == "POST" else None)
    preview = None
    if request.method == "POST" and form.is_valid():
        options = ImportOptions(
            model_name=form.cleaned_data["model_name"],
            task=form.cleaned_data["task"],
            version=form.cleaned_data["version"],
        )
        try:
            sources = _sources(form, request.FILES.getlist("files"))
            preview = _with_pretty_documents(import_preview(sources=sources, options=options, user=request.user))
        except ImportRefused as exc:
            form.add_error("task" if "task" in exc.errors else "document", exc.message)
    if request.htmx and request.method == "POST":
        # htmx does not swap a 4xx answer into the page, so its fragment says "refused" in words.
        return render(request, f"{TEMPLATE}#preview", {"form": form, "preview": preview})
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, TEMPLATE, {"form": form, "preview": preview}, status=status)


@require_POST
def model_import_confirm(request: HttpRequest) -> HttpResponse:
    try:
        outcome = import_confirm(token=request.POST.get("token", ""), user=request.user)
    except ImportRefused as exc:
        if request.htmx:
            return render(request, f"{TEMPLATE}#outcome", {"refusal": exc.message})
        messages.error(request, exc.message)
        return redirect("registry:model_import")
    saved = [item for item in outcome["items"] if item["status"] == "saved"]
    if len(outcome["items"]) == 1 and saved and not outcome["already_confirmed"]:
        # The usual case, one document saved: show the model with its new version.
        messages.success(request, saved[0]["message"])
        if request.htmx:
            return HttpResponseClientRedirect(saved[0]["url"])
        return redirect(saved[0]["url"])
    template = f"{TEMPLATE}#outcome" if request.htmx else TEMPLATE
    return render(request, template, {"form": ImportForm(), "outcome": outcome})
