"""A promotion in the middle of live traffic: no request fails, and every logged row was
served by the configuration in force when it was routed (old or new, never a mix)."""

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import pytest

from groups.selectors import routing_cache_clear
from groups.services import group_delete, group_promote
from inference import serving
from tests.inference.serving_factories import credit_rows, log_rows, serving_group

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 8
SECONDS = 10.0


@dataclass
class Call:
    request_id: str
    sent: float
    answered: float
    status: int
    body: dict


def _call(url: str, key: str, inputs: dict, n: int) -> Call:
    request_id = str(uuid.uuid4())
    payload = {"inputs": inputs, "request_id": request_id, "routing_key": f"applicant-{n}"}
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    sent = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, body = exc.code, {"message": exc.read().decode(errors="replace")}
    except OSError as exc:  # connection refused or reset: a failed request too
        status, body = 0, {"message": repr(exc)}
    return Call(request_id, sent, time.monotonic(), status, body)


@pytest.fixture
def live_group():
    serving.serving_cache_clear()
    routing_cache_clear()
    # 50/50 so the old split visibly runs (both members answer) before the promotion.
    setup = serving_group(name="Concurrent Scoring", weights=(50, 50), deletion_policy="drop")
    yield setup
    # The group's table is not one Django flushes between transactional tests: drop it.
    group_delete(group=setup.group, actor=None)


def test_a_promotion_under_eight_clients_fails_no_request_and_every_row_matches_its_config(
    live_server, live_group
):
    setup = live_group
    url = live_server.url + setup.predict_url
    rows = credit_rows(50)
    calls: list[Call] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        n = worker
        while not stop.is_set():
            calls.append(_call(url, setup.key, rows[n % len(rows)], n))
            n += CLIENTS

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS / 2)
    promote_started = time.monotonic()
    group_promote(group=setup.group, model_version=setup.challenger, actor=None, reason="load test")
    promote_done = time.monotonic()
    time.sleep(SECONDS / 2)
    stop.set()
    for thread in threads:
        thread.join()

    failed = [c for c in calls if c.status != 200]
    assert failed == [], failed[:3]

    old = {(setup.champion.pk, "champion"), (setup.challenger.pk, "challenger")}
    new = {(setup.challenger.pk, "champion")}
    logged = {
        str(r["request_id"]): (r["model_version_id"], r["role"]) for r in log_rows(setup.group)
    }
    assert len(logged) == len(calls)
    before = after = 0
    for call in calls:
        served = logged[call.request_id]
        assert served == (call.body["model"]["id"], call.body["role"])
        if call.answered < promote_started:
            assert served in old, call
            before += 1
        elif call.sent > promote_done:
            assert served in new, call
            after += 1
        else:  # in flight during the promotion: either configuration, whole
            assert served in old | new, call
    assert before > 0 and after > 0
    # The old split really ran: both members answered early calls.
    early = {logged[c.request_id] for c in calls if c.answered < promote_started}
    assert early == old
