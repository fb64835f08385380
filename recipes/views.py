"""The Model Library pages: the recipe list (tabs Recipes, Models, Runs, Monitoring) and a
recipe version's page (overview, effective manifest with provenance, the JSON editor,
versions with diffs, the synthetic example, approve / archive / clone / run).

Reads go through selectors; every action checks its permission first (the services check
it again on the object), and the templates leave out what the user may not do.
"""

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import get_nonce
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import ServiceError
from core.permissions import require
from recipes import selectors, services
from recipes.filters import RecipeFilterSet
from recipes.forms import CloneForm, ManifestForm
from recipes.models import Recipe, RecipeVersion


@require_GET
def library(request: HttpRequest) -> HttpResponse:
    require(request.user, "recipes.view_recipe")
    filterset = RecipeFilterSet(request.GET, queryset=selectors.recipes(user=request.user))
    page = selectors.recipe_list_page(
        queryset=filterset.filtered(), page_number=request.GET.get("page")
    )
    params = request.GET.copy()
    params.pop("page", None)
    rows = [
        (
            recipe,
            services.recipe_version_latest(recipe),
            services.recipe_version_latest_approved(recipe),
        )
        for recipe in page.object_list
    ]
    context = {"page": page, "rows": rows, "filterset": filterset, "query": params.urlencode()}
    return render(request, "recipes/library.html", context)


def _version_page(
    request: HttpRequest,
    recipe: Recipe,
    version: RecipeVersion,
    *,
    form: ManifestForm | None = None,
    clone_form: CloneForm | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    latest = services.recipe_version_latest(recipe)
    context = {
        "recipe": recipe,
        "version": version,
        "latest": latest,
        "is_latest": latest is not None and latest.pk == version.pk,
        # Four-eyes: the author sees no approve button (the service refuses them anyway).
        "is_author": bool(version.author) and version.author == services.principal(request.user),
        "versions": selectors.versions(recipe=recipe),
        "provenance": selectors.provenance_rows(version),
        "diff_rows": selectors.diff_rows(version),
        "example": selectors.synthetic_example(version),
        "children": selectors.recipes(user=request.user).filter(parent=recipe),
        "form": form
        or ManifestForm(
            initial={
                "manifest": json.dumps(latest.effective if latest else {}, indent=2),
                "base_version": latest.version if latest else "",
            }
        ),
        "clone_form": clone_form or CloneForm(),
        # Each error on its JSON Pointer (or field), listed under the editor.
        "schema_errors": sorted((errors or {}).items()),
        "uses_charts": False,
        # The editor's CodeMirror styles are <style> elements: this nonce lets them in
        # (SECURE_CSP's style-src); other pages send no nonce.
        "csp_nonce": get_nonce(request),
    }
    return render(request, "recipes/recipe_detail.html", context, status=status)


@require_GET
def recipe_detail(request: HttpRequest, slug: str) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    latest = services.recipe_version_latest(recipe)
    if latest is None:
        return render(request, "recipes/recipe_detail.html", {"recipe": recipe, "version": None})
    return _version_page(request, recipe, latest)


@require_GET
def version_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    found = selectors.version_get(recipe=recipe, version=version, user=request.user)
    return _version_page(request, recipe, found)


@require_POST
def version_new(request: HttpRequest, slug: str) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    require(request.user, "recipes.add_recipeversion", RecipeVersion(recipe=recipe))
    form = ManifestForm(request.POST)
    latest = services.recipe_version_latest(recipe)
    if form.is_valid():
        try:
            created = services.recipe_version_create(
                recipe=recipe,
                manifest=form.cleaned_data["manifest"],
                base_version=form.cleaned_data["base_version"],
                change_note=form.cleaned_data["change_note"],
                actor=request.user,
            )
        except ServiceError as error:
            form.add_error(None, error.message)
            return _version_page(
                request, recipe, latest, form=form, errors=error.errors, status=error.status
            )
        messages.success(request, f"Version {created.version} saved as a draft.")
        return redirect(created)
    return _version_page(request, recipe, latest, form=form, status=400)


@require_POST
def version_approve(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    found = selectors.version_get(recipe=recipe, version=version, user=request.user)
    require(request.user, "recipes.approve_recipeversion", found)
    try:
        services.recipe_version_approve(version=found, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{found} approved.")
    return redirect(found)


@require_POST
def version_archive(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    found = selectors.version_get(recipe=recipe, version=version, user=request.user)
    require(request.user, "recipes.change_recipeversion", found)
    try:
        services.recipe_version_archive(version=found, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{found} archived.")
    return redirect(found)


@require_POST
def recipe_clone(request: HttpRequest, slug: str) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    # Any Operator may build on a recipe they can read: the child is their own team's.
    require(request.user, "recipes.add_recipe")
    form = CloneForm(request.POST)
    if form.is_valid():
        try:
            child = services.recipe_clone(
                recipe=recipe,
                name=form.cleaned_data["name"],
                level=form.cleaned_data["level"],
                actor=request.user,
            )
        except ServiceError as error:
            for field, msgs in error.errors.items():
                form.add_error(field if field in form.fields else None, " ".join(msgs))
        else:
            messages.success(request, f"{child.name} inherits from {recipe.name}.")
            return redirect(child)
    latest = services.recipe_version_latest(recipe)
    return _version_page(request, recipe, latest, clone_form=form, status=400)
