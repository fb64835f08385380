"""Alert rules and alerts: rules checked after each run of snapshots, alerts opened after
a rule holds for its consecutive windows and resolved when it stops holding, acknowledged
with a note. Other apps (rollouts) open and resolve their own alerts with
`alert_open` / `alert_resolve`; notifications go out after the commit (monitoring/notify.py).
"""

from __future__ import annotations

import operator as op
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from core.permissions import is_api_key
from groups.models import ModelGroup
from monitoring.models import (
    Alert,
    AlertRule,
    AlertStatus,
    MonitorConfig,
    Operator,
    Period,
    Severity,
    Snapshot,
    WebhookEvent,
)
from registry.models import ModelVersion

COMPARE = {Operator.GT: op.gt, Operator.GE: op.ge, Operator.LT: op.lt, Operator.LE: op.le}
METRIC_PREFIXES = ("drift.", "prediction_drift.", "quality.", "health.", "performance.")
DEFAULT_RULES = (
    # (name, metric, operator, threshold, windows, severity)
    ("Dataset drift", "drift.share", Operator.GE, 0.5, 2, Severity.WARNING),
    ("Error rate above 5%", "health.error_rate", Operator.GT, 0.05, 1, Severity.CRITICAL),
)


class AlertRuleInvalid(ServiceError):
    status = 400


def metric_value(snapshot: Snapshot, metric: str) -> float | None:
    """The number a rule compares, read from a snapshot (None: not measured)."""
    section, _, name = metric.partition(".")
    if section == "drift":
        return _drift_value(snapshot.drift, name)
    if section == "prediction_drift":
        block = snapshot.prediction_drift or {}
        value = block.get(name)
    else:
        value = (
            (getattr(snapshot, section, None) or {}).get(name)
            if section in ("quality", "health", "performance")
            else None
        )
    return float(value) if isinstance(value, int | float) else None


def _drift_value(block: dict | None, name: str) -> float | None:
    if not block:
        return None
    if name.startswith("feature:"):
        feature = name.split(":", 1)[1]
        found = [f for f in block.get("features", []) if f["name"] == feature]
        return float(found[0]["drifted"]) if found else None
    value = {
        "share": block.get("share_drifted"),
        "dataset": block.get("dataset_drifted"),
        "weighted": block.get("weighted"),
    }.get(name)
    return float(value) if isinstance(value, int | float) else None


def metric_errors(metric: str) -> list[str]:
    if not metric.startswith(METRIC_PREFIXES) or metric.endswith(".") or metric == "drift.feature:":
        return [
            "Use drift.share, drift.dataset, drift.weighted, drift.feature:<name>, prediction_drift.drifted, "
            "quality.<measure>, health.<measure> or performance.<metric>."
        ]
    return []


def _holds(rule: AlertRule, snapshot: Snapshot) -> bool:
    value = metric_value(snapshot, rule.metric)
    return value is not None and COMPARE[rule.operator](value, rule.threshold)


def _recent(rule: AlertRule, snapshot: Snapshot) -> list[Snapshot]:
    return list(
        Snapshot.objects.filter(
            group_id=snapshot.group_id,
            model_version_id=snapshot.model_version_id,
            period=rule.period,
            window_end__lte=snapshot.window_end,
        ).order_by("-window_end")[: rule.windows]
    )


def _applies(rule: AlertRule, snapshot: Snapshot) -> bool:
    if rule.model_version_id and rule.model_version_id != snapshot.model_version_id:
        return False
    if rule.role and rule.role != snapshot.role:
        return False
    return rule.period == snapshot.period


def _rule_source(rule: AlertRule) -> str:
    return f"rule:{rule.pk}"


def _evidence(rule: AlertRule, recent: list[Snapshot]) -> dict:
    return {
        "rule": rule.pk,
        "metric": rule.metric,
        "operator": rule.operator,
        "threshold": rule.threshold,
        "windows": [
            {"window_end": s.window_end.isoformat(), "value": metric_value(s, rule.metric)}
            for s in recent
        ],
    }


@transaction.atomic
def rule_check(rule: AlertRule, snapshot: Snapshot) -> Alert | None:
    """Open (or keep open) the rule's alert for the snapshot's member, or resolve it."""
    recent = _recent(rule, snapshot)
    holding = len(recent) >= rule.windows and all(_holds(rule, s) for s in recent)
    version = snapshot.model_version
    if holding:
        return alert_open(
            group=snapshot.group,
            title=f"{rule.name}: {version} {rule.metric} {rule.operator} {rule.threshold:g}",
            severity=rule.severity,
            source=_rule_source(rule),
            evidence=_evidence(rule, recent),
            member=version,
            rule=rule,
        )
    if not _holds(rule, snapshot):
        _resolve(
            Alert.objects.filter(
                group=snapshot.group, source=_rule_source(rule), model_version=version
            )
        )
    return None


def rules_evaluate(*, group: ModelGroup, snapshots: Iterable[Snapshot]) -> list[Alert]:
    rules = list(AlertRule.objects.filter(group=group, is_active=True))
    opened = []
    for snapshot in snapshots:
        for rule in rules:
            if _applies(rule, snapshot):
                alert = rule_check(rule, snapshot)
                if alert is not None:
                    opened.append(alert)
    return opened


@transaction.atomic
def default_rules_ensure(*, group: ModelGroup, config: MonitorConfig | None = None) -> int:
    """A group's default rules (dataset drift, error rate), made once, lazily: by its first
    monitoring run or the first visit of its Monitoring tab (no signal needed)."""
    config = config or MonitorConfig.objects.get_or_create(group=group)[0]
    config = MonitorConfig.objects.select_for_update().get(pk=config.pk)
    if config.defaults_created:
        return 0
    for name, metric, operator, threshold, windows, severity in DEFAULT_RULES:
        AlertRule.objects.create(
            group=group,
            name=name,
            metric=metric,
            operator=operator,
            threshold=threshold,
            windows=windows,
            period=Period.DAY,
            severity=severity,
        )
    config.defaults_created = True
    config.save(update_fields=["defaults_created"])
    return len(DEFAULT_RULES)


@transaction.atomic
def alert_rule_create(
    *,
    group: ModelGroup,
    name: str,
    metric: str,
    operator: str,
    threshold: float,
    windows: int = 1,
    period: str = Period.DAY,
    severity: str = Severity.WARNING,
    model_version: ModelVersion | None = None,
    role: str = "",
) -> AlertRule:
    errors = {}
    if metric_errors(metric):
        errors["metric"] = metric_errors(metric)
    if (
        model_version is not None
        and not group.memberships.filter(model_version=model_version).exists()
    ):
        errors["model_version"] = [f"{model_version} is not a member of {group}."]
    if windows < 1:
        errors["windows"] = ["At least 1."]
    if errors:
        raise AlertRuleInvalid(errors)
    return AlertRule.objects.create(
        group=group,
        name=name,
        metric=metric,
        operator=operator,
        threshold=threshold,
        windows=windows,
        period=period,
        severity=severity,
        model_version=model_version,
        role=role,
    )


def _notify_on_commit(alert: Alert, event: str) -> None:
    from monitoring.notify import alert_notify

    transaction.on_commit(lambda: alert_notify(alert_id=alert.pk, event=event))


@transaction.atomic
def alert_open(
    *,
    group: ModelGroup,
    title: str,
    severity: str,
    source: str,
    evidence: dict,
    member: ModelVersion | None = None,
    rule: AlertRule | None = None,
) -> Alert:
    """Open an alert, or refresh the evidence of the one already open for (group, source,
    member). People are notified once, when it opens."""
    if severity not in Severity.values:
        raise AlertRuleInvalid({"severity": [f"Use one of {', '.join(Severity.values)}."]})
    current = (
        Alert.objects.select_for_update()
        .filter(group=group, source=source, model_version=member)
        .exclude(status=AlertStatus.RESOLVED)
        .first()
    )
    if current is not None:
        current.evidence, current.title = evidence, title
        current.save(update_fields=["evidence", "title"])
        return current
    alert = Alert.objects.create(
        group=group,
        model_version=member,
        rule=rule,
        source=source,
        title=title,
        severity=severity,
        evidence=evidence,
    )
    _notify_on_commit(alert, WebhookEvent.OPENED)
    return alert


def _resolve(alerts) -> int:
    resolved = 0
    for alert in alerts.exclude(status=AlertStatus.RESOLVED).select_for_update():
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, timezone.now()
        alert.save(update_fields=["status", "resolved_at"])
        _notify_on_commit(alert, WebhookEvent.RESOLVED)
        resolved += 1
    return resolved


@transaction.atomic
def alert_resolve(*, group: ModelGroup, source: str) -> int:
    """Resolve every open alert of `source` in the group; returns how many."""
    return _resolve(Alert.objects.filter(group=group, source=source))


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor, note: str = "") -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == AlertStatus.RESOLVED:
        raise ServiceError(
            "This alert is resolved already.",
            {"alert": ["Resolved alerts need no acknowledgement."]},
            status=409,
        )
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = None if is_api_key(actor) or not getattr(actor, "pk", None) else actor
    alert.note = note
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "note"])
    return alert


def open_alerts():
    return Alert.objects.exclude(status=AlertStatus.RESOLVED).select_related(
        "group", "model_version__model"
    )
