from django.db.models import QuerySet

from providers.models import Provider, ProviderKind


def active_provider() -> Provider | None:
    """The first active provider with a key (the registry importer's default)."""
    return Provider.objects.filter(is_active=True).exclude(api_key_encrypted="").first()


def providers_for_display(*, active_only: bool = False) -> QuerySet[Provider]:
    providers = Provider.objects.order_by("-is_active", "name")
    return providers.filter(is_active=True) if active_only else providers


def fine_tuning_by_kind() -> list[dict]:
    """For every kind of provider: can the hub fine-tune through it, and why (not)."""
    return [
        {
            "kind": ProviderKind.OPENAI.label,
            "supported": True,
            "detail": "Yes: training jobs upload a JSONL file and run OpenAI's fine-tuning API.",
        },
        {
            "kind": ProviderKind.ANTHROPIC.label,
            "supported": False,
            "detail": "No: Anthropic offers no fine-tuning through its public API.",
        },
        {
            "kind": ProviderKind.GEMINI.label,
            "supported": False,
            "detail": "No: the Gemini API offers no fine-tuning through its public API.",
        },
        {
            "kind": ProviderKind.OPENAI_COMPATIBLE.label,
            "supported": False,
            "detail": "No: each server fine-tunes (or not) in its own way; the hub does not drive it.",
        },
    ]
