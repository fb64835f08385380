from django.core.exceptions import ValidationError
from django.db import models


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Google Gemini"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (vLLM, Ollama, gateways)"


class Provider(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    base_url = models.URLField(
        blank=True, help_text="Leave blank for the vendor's default endpoint."
    )
    organization = models.CharField(
        max_length=200, blank=True, help_text="Organisation or project id, if any."
    )
    default_model = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # Fernet ciphertext only (providers/crypto.py); the plaintext key is never stored.
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    health_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    health_ok = models.BooleanField(null=True, editable=False)
    health_latency_ms = models.FloatField(null=True, blank=True, editable=False)
    health_message = models.TextField(blank=True, editable=False)
    # Model ids the provider listed at the last successful health check.
    health_models = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == ProviderKind.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError(
                {
                    "base_url": "An OpenAI-compatible provider needs the base URL of its server "
                    "(for example http://ollama:11434/v1)."
                }
            )

    @property
    def has_key(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def supports_fine_tuning(self) -> bool:
        # Anthropic and Gemini offer no fine-tuning through their public APIs.
        return self.kind == ProviderKind.OPENAI

    @property
    def health_label(self) -> str:
        if self.health_ok is None:
            return "not checked"
        return "healthy" if self.health_ok else "failing"
