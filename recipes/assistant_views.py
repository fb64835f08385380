"""The assistant's page actions (the panel is templates/recipes/_assistant.html on the
recipe's page): send a message, apply a proposal, ask for an explanation. Each checks
permission first, calls one function of recipes.assistant and redirects back."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import ServiceError
from core.permissions import require
from recipes import assistant, selectors
from recipes.assistant_api import AssistantRateThrottle
from recipes.models import Conversation, Level, RecipeVersion


def _back(slug: str, conversation_id: int | str | None = None) -> HttpResponse:
    query = f"?conversation={conversation_id}" if conversation_id else ""
    return redirect(reverse("recipes:recipe_detail", args=[slug]) + query + "#assistant")


def _throttled(request: HttpRequest) -> bool:
    return not AssistantRateThrottle().allow_request(request, None)


@require_POST
def assistant_message(request: HttpRequest, slug: str) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    require(request.user, assistant.USE_ASSISTANT, Conversation(recipe=recipe))
    conversation_id = request.POST.get("conversation") or None
    if _throttled(request):
        messages.error(request, "Too many assistant messages: wait a minute and try again.")
        return _back(slug, conversation_id)
    try:
        answer = assistant.assistant_message_send(
            recipe=recipe,
            message=request.POST.get("message", ""),
            provider=assistant.provider_pick(request.POST.get("provider")),
            actor=request.user,
            conversation_id=conversation_id,
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return _back(slug, conversation_id)
    return _back(slug, answer.conversation_id)


@require_POST
def assistant_apply(request: HttpRequest, slug: str, proposal: int) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    require(request.user, "recipes.add_recipeversion", RecipeVersion(recipe=recipe))
    found = assistant.proposal_get(recipe=recipe, proposal_id=proposal, actor=request.user)
    try:
        version = assistant.proposal_apply(proposal=found, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
        return _back(slug, found.message.conversation_id)
    messages.success(
        request, f"Proposal #{found.pk} saved as draft version {version.version}: approve it."
    )
    return redirect(version)


@require_POST
def assistant_explain(request: HttpRequest, slug: str, proposal: int) -> HttpResponse:
    recipe = selectors.recipe_get(slug=slug, user=request.user)
    require(request.user, assistant.USE_ASSISTANT, Conversation(recipe=recipe))
    found = assistant.proposal_get(recipe=recipe, proposal_id=proposal, actor=request.user)
    conversation_id = found.message.conversation_id
    if _throttled(request):
        messages.error(request, "Too many assistant messages: wait a minute and try again.")
        return _back(slug, conversation_id)
    try:
        assistant.proposal_explain(
            proposal=found,
            provider=assistant.provider_pick(request.POST.get("provider")),
            actor=request.user,
        )
    except ServiceError as error:
        messages.error(request, error.message)
    return _back(slug, conversation_id)


@require_POST
def assistant_new(request: HttpRequest) -> HttpResponse:
    """“New recipe with the assistant” from the Model Library page."""
    require(request.user, assistant.ADD_RECIPE)
    if _throttled(request):
        messages.error(request, "Too many assistant messages: wait a minute and try again.")
        return redirect(reverse("recipes:library") + "#assistant-new")
    try:
        made = assistant.assistant_recipe_new(
            family=request.POST.get("family", ""),
            goal=request.POST.get("goal", ""),
            name=request.POST.get("name", ""),
            level=request.POST.get("level") or Level.CLIENT,
            team=request.POST.get("team", ""),
            provider=assistant.provider_pick(request.POST.get("provider")),
            actor=request.user,
        )
    except ServiceError as error:
        reasons = "; ".join(f"{path}: {' '.join(m)}" for path, m in error.errors.items())
        messages.error(request, f"{error.message} {reasons}".strip())
        return redirect(reverse("recipes:library") + "#assistant-new")
    messages.success(
        request,
        f"{made.recipe.name} inherits from {made.recipe.parent.name}; the assistant's first "
        f"manifest is draft version {made.version.version}: review it, then an Approver approves.",
    )
    return redirect(made.version)
