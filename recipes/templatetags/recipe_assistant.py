"""The assistant panel on a recipe's page: what the signed-in user may see and do there."""

from typing import Any

from django import template

from core.permissions import can
from recipes import assistant
from recipes.models import Conversation, Family, Level, Recipe

register = template.Library()


def _selected(recipe: Recipe, wanted: Any) -> Conversation | None:
    conversations = recipe.conversations.order_by("-updated_at", "-id")
    if str(wanted or "").isdigit():
        return conversations.filter(pk=int(wanted)).first()
    return None


@register.simple_tag(takes_context=True)
def assistant_panel(context: dict, recipe: Recipe) -> dict:
    request = context["request"]
    probe = Conversation(recipe=recipe)
    can_view = can(request.user, assistant.VIEW_CONVERSATION, probe)
    conversation = _selected(recipe, request.GET.get("conversation")) if can_view else None
    messages = []
    if conversation is not None:
        for message in conversation.messages.prefetch_related("proposals").select_related("author"):
            proposals = [(p, assistant.proposal_rows(p)) for p in message.proposals.all()]
            messages.append((message, proposals))
    return {
        "can_use": can(request.user, assistant.USE_ASSISTANT, probe),
        "can_view": can_view,
        "can_apply": can(request.user, "recipes.add_recipeversion", probe),
        "providers": assistant.providers_connected(),
        "conversation": conversation,
        "messages": messages,
        "conversations": list(recipe.conversations.order_by("-updated_at", "-id")[:10])
        if can_view
        else [],
        "max_chars": assistant.max_message_chars(),
    }


@register.simple_tag(takes_context=True)
def assistant_new_panel(context: dict) -> dict:
    """The “New recipe with the assistant” form on the Model Library page (Operators)."""
    user = context["request"].user
    return {
        "can_use": can(user, assistant.ADD_RECIPE),
        "providers": assistant.providers_connected(),
        "families": [f for f in Family.choices if f[0] != Family.CUSTOM],
        "levels": [(Level.CLIENT, Level.CLIENT.label), (Level.INDUSTRY, Level.INDUSTRY.label)],
        "max_chars": assistant.max_message_chars(),
    }
