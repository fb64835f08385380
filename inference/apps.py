from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"

    def ready(self) -> None:
        from django.db.models.signals import post_save, pre_delete

        from groups.models import ModelGroup
        from inference import signals

        post_save.connect(
            signals.create_inference_table, sender=ModelGroup, dispatch_uid="inference_table_create"
        )
        pre_delete.connect(
            signals.retire_inference_table, sender=ModelGroup, dispatch_uid="inference_table_retire"
        )
