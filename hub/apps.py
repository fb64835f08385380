from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Model Hub"

    def ready(self) -> None:
        from hub import checks  # noqa: F401  (registers the hub.* system checks)
