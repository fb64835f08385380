"""A drift rule opens an alert; a real Celery worker POSTs it, signed, to a receiver on
loopback (HUB_WEBHOOK_ALLOW_PRIVATE=true), which verifies the signature with the secret."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import Client

from monitoring.models import DeliveryStatus, WebhookDelivery
from monitoring.snapshots import group_run
from tests.celery_worker import wait_for
from tests.inference.serving_factories import serving_group
from tests.monitoring.helpers import csv_upload, send_traffic

SECRET = "a-webhook-secret-of-some-length"


@pytest.fixture
def private_webhooks(monkeypatch, settings):
    # Set before the worker starts: it reads its settings from the environment.
    monkeypatch.setenv("HUB_WEBHOOK_ALLOW_PRIVATE", "true")
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver():
    received: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/model-hub", received
    server.shutdown()


def test_drift_alert_reaches_a_loopback_webhook_signed_with_the_secret(
    private_webhooks, celery_worker, receiver, user
):
    url, received = receiver
    setup = serving_group()
    client = Client()
    client.force_login(user)
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    reference = client.generic(
        "PUT",
        f"/api/v1/models/{setup.champion.model.slug}/versions/{setup.champion.version}/reference",
        data=encode_multipart(BOUNDARY, {"file": csv_upload(800)}),
        content_type=MULTIPART_CONTENT,
    )
    assert reference.status_code == 200, reference.content
    hook = client.post(
        "/api/v1/monitoring/webhooks/",
        {"url": url, "secret": SECRET, "events": ["alert.opened"]},
        content_type="application/json",
    )
    assert hook.status_code == 201, hook.content
    rule = client.post(
        "/api/v1/monitoring/rules/",
        {
            "group": setup.group.slug,
            "name": "Income drift",
            "metric": "drift.feature:income",
            "threshold": 1,
        },
        content_type="application/json",
    )
    assert rule.status_code == 201, rule.content
    send_traffic(client, setup, count=200)

    group_run(group=setup.group)

    wait_for(
        lambda: received, timeout=60, message="no webhook POST arrived:\n" + celery_worker.log()
    )
    headers, body = received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected)
    payload = json.loads(body)
    assert payload["event"] == "alert.opened" and "Income drift" in payload["alert"]["title"]
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).first(), timeout=30
    )
    assert delivery.response_code == 200 and delivery.attempts == 1
    assert SECRET not in celery_worker.log()
