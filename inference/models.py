from django.db import models


class ArchivedInferenceTable(models.Model):
    """A group's inference table kept after the group was deleted (deletion policy 'archive')."""

    table_name = models.CharField(max_length=63, unique=True)
    original_table_name = models.CharField(max_length=63)
    group_name = models.CharField(max_length=200)
    group_slug = models.CharField(max_length=200)
    row_count = models.BigIntegerField(default=0)
    archived_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-archived_at"]

    def __str__(self) -> str:
        return self.table_name
