import factory

from providers.models import Provider, ProviderKind


class ProviderFactory(factory.django.DjangoModelFactory):
    """A provider without a key; give it one with providers.services.provider_set_key."""

    class Meta:
        model = Provider

    name = factory.Sequence(lambda n: f"Provider {n}")
    kind = ProviderKind.OPENAI
    default_model = "gpt-4o-mini"
    is_active = True
