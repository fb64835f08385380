"""Telling people: e-mail through Django's mail backend, and signed webhooks.

A webhook's body is JSON, signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body with the webhook's secret>`; the exact bytes signed are stored on the delivery and
sent by a Celery task (monitoring.tasks.webhook_deliver) that retries with exponential
backoff. Targets on private, loopback, link-local or reserved addresses are refused unless
HUB_WEBHOOK_ALLOW_PRIVATE is on: a webhook is a request the hub makes on a user's behalf,
and must not become a way to reach the hub's own network (SSRF). The secret is stored
encrypted (providers.crypto) and never rendered, returned or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from core.models import Team
from core.permissions import is_api_key
from monitoring.models import Alert, DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from providers import crypto

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hub-Signature-256"
TIMEOUT_SECONDS = 10


class WebhookInvalid(ServiceError):
    status = 400


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, body), header or "")


def _refused_address(host: str) -> str | None:
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return f"The host {host} does not resolve."
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            return (
                f"{host} resolves to a private or loopback address ({address}): refused unless "
                "HUB_WEBHOOK_ALLOW_PRIVATE=true."
            )
    return None


def url_errors(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ["Use an http:// or https:// URL."]
    if settings.HUB_WEBHOOK_ALLOW_PRIVATE:
        return []
    refused = _refused_address(parts.hostname)
    return [refused] if refused else []


@transaction.atomic
def webhook_create(*, team: Team, url: str, secret: str, events: list[str], actor=None) -> Webhook:
    errors: dict[str, list[str]] = {}
    if url_errors(url):
        errors["url"] = url_errors(url)
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown or not events:
        errors["events"] = [f"Choose among {', '.join(WebhookEvent.values)}."]
    if len(secret) < 16:
        errors["secret"] = ["At least 16 characters."]
    if errors:
        raise WebhookInvalid(errors)
    return Webhook.objects.create(
        team=team,
        url=url,
        secret_encrypted=crypto.encrypt(secret),
        events=sorted(set(events)),
        created_by=None if is_api_key(actor) or not getattr(actor, "pk", None) else actor,
    )


def alert_body(alert: Alert, event: str) -> dict:
    return {
        "event": event,
        "alert": {
            "id": alert.pk,
            "title": alert.title,
            "severity": alert.severity,
            "status": alert.status,
            "source": alert.source,
            "group": alert.group.slug,
            "model_version": alert.model_version_id,
            "evidence": alert.evidence,
            "opened_at": alert.opened_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        },
    }


def _emails(alert: Alert, event: str) -> int:
    recipients = list(settings.HUB_MONITORING_ALERT_EMAILS)
    recipients += [
        e for e in alert.group.team.members.exclude(email="").values_list("email", flat=True)
    ]
    recipients = sorted(set(recipients))
    if not recipients:
        return 0
    verb = "opened" if event == WebhookEvent.OPENED else "resolved"
    subject = f"[Model Hub] {alert.get_severity_display()} alert {verb}: {alert.title}"[:200]
    body = (
        f"{alert.title}\nGroup: {alert.group.name}\nSeverity: {alert.severity}\nStatus: {alert.status}\n"
        f"Evidence: {json.dumps(alert.evidence, indent=2)}\n"
    )
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)


def alert_notify(*, alert_id: int, event: str) -> list[int]:
    """E-mail the group's team and queue one delivery per subscribed webhook."""
    from monitoring.tasks import webhook_deliver

    alert = Alert.objects.select_related("group__team").filter(pk=alert_id).first()
    if alert is None:
        return []
    _emails(alert, event)
    body = json.dumps(alert_body(alert, event), sort_keys=True)
    ids = []
    for webhook in Webhook.objects.filter(team_id=alert.group.team_id, is_active=True):
        if event in webhook.events:
            delivery = WebhookDelivery.objects.create(
                webhook=webhook, alert=alert, event=event, body=body
            )
            ids.append(delivery.pk)
    for delivery_id in ids:
        webhook_deliver.delay(delivery_id)
    return ids


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery:
    """POST the stored body once; records the attempt. Raises WebhookDeliveryFailed when
    the caller should retry."""
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    delivery.attempts += 1
    refused = url_errors(webhook.url)  # again at delivery: DNS may have changed since
    if refused:
        return _delivery_done(delivery, None, refused[0], DeliveryStatus.FAILED)
    body = delivery.body.encode()
    secret = crypto.decrypt(webhook.secret_encrypted, provider_name=f"webhook {webhook.pk}")
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, body),
        "X-Hub-Event": delivery.event,
        "X-Hub-Delivery": str(delivery.pk),
    }
    try:
        response = httpx.post(
            webhook.url,
            content=body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        _delivery_done(delivery, None, type(exc).__name__, DeliveryStatus.PENDING)
        raise WebhookDeliveryFailed(type(exc).__name__) from None
    if 200 <= response.status_code < 300:
        return _delivery_done(delivery, response.status_code, "", DeliveryStatus.DELIVERED)
    _delivery_done(
        delivery, response.status_code, f"HTTP {response.status_code}", DeliveryStatus.PENDING
    )
    raise WebhookDeliveryFailed(f"HTTP {response.status_code}")


class WebhookDeliveryFailed(Exception):
    pass


def _delivery_done(
    delivery: WebhookDelivery, code: int | None, error: str, status: str
) -> WebhookDelivery:
    delivery.response_code = code
    delivery.error = error
    delivery.status = status
    if status == DeliveryStatus.DELIVERED:
        delivery.delivered_at = timezone.now()
    delivery.save(update_fields=["attempts", "response_code", "error", "status", "delivered_at"])
    return delivery


def delivery_give_up(*, delivery_id: int) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.FAILED)
