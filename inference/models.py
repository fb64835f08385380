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


class HourlyRollup(models.Model):
    """What one hour of a group's inference log adds to the comparison, per model version
    and (prediction, outcome): the counts and sums the comparison's GROUP BY computes.
    Written by inference/rollup.py only, an hour at a time: its rows are deleted and
    written again, never edited."""

    # The (group, hour) index leads with the group: a second index on it alone would only
    # cost writes.
    group = models.ForeignKey(
        # Deleted by the group's pre_delete signal (inference/signals.py), not listed one
        # by one on the admin's delete confirmation: a year is over 100,000 rows.
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
    )
    hour = models.DateTimeField()  # the UTC start of the hour
    # Not a foreign key, as in the log table: a version's history outlives the version.
    model_version_id = models.BigIntegerField()
    prediction = models.JSONField(null=True)
    outcome = models.JSONField(null=True)
    requests = models.IntegerField(default=0)
    served = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    score_sum = models.FloatField(default=0.0)
    score_squares = models.FloatField(default=0.0)
    fallbacks = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["group", "hour"], name="inference_rollup_group_hour")]

    def __str__(self) -> str:
        return f"{self.group_id} {self.hour:%Y-%m-%d %H:00} v{self.model_version_id}"


class HourlyLatency(models.Model):
    """The latency histogram (inference/latency_sketch.py) of one model version's hour,
    written with that hour's HourlyRollup rows.

    Kept per version, not per (prediction, outcome) row: the comparison only ever needs a
    member's histogram, and split by labels a week of them is 2,000 histograms and 1.1 MB
    of JSON to decode and add up (~75 ms, as much in SQL), against 340 and ~25 ms."""

    group = models.ForeignKey(
        # Deleted by the group's pre_delete signal (inference/signals.py), not listed one
        # by one on the admin's delete confirmation: a year is over 100,000 rows.
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
    )
    hour = models.DateTimeField()
    model_version_id = models.BigIntegerField()
    histogram = models.JSONField(default=dict)  # {bucket key: count}

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "hour", "model_version_id"], name="unique_latency_per_version_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.hour:%Y-%m-%d %H:00} v{self.model_version_id}"


class RollupState(models.Model):
    """How far a group's log is rolled up: every hour before `rolled_until` has its roll-up
    rows (none when it had no rows), except the hours marked dirty since."""

    # Deleted by the group's pre_delete signal with the roll-ups (inference/signals.py): a
    # cascade would put it on the admin's delete confirmation, where its admin, which
    # allows no deletes, would refuse the group's deletion.
    group = models.OneToOneField("groups.ModelGroup", on_delete=models.DO_NOTHING, related_name="+")
    rolled_until = models.DateTimeField(null=True)  # an hour boundary; null: nothing yet
    refreshed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.group_id} rolled until {self.rolled_until}"


class RollupDirtyHour(models.Model):
    """An hour whose rows changed (feedback, a backdated write) after it may have been
    rolled up: read raw until the next refresh writes its roll-up again."""

    group = models.ForeignKey(
        # Deleted by the group's pre_delete signal (inference/signals.py), not listed one
        # by one on the admin's delete confirmation: a year is over 100,000 rows.
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
    )
    hour = models.DateTimeField()
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "hour"], name="unique_dirty_hour_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.hour:%Y-%m-%d %H:00}"
