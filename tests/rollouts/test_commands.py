import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rollouts.models import Rollout
from tests.rollouts.factories import rollout_group

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_rollout_command_starts_shows_pauses_resumes_and_aborts():
    setup = rollout_group()
    slug = setup.group.slug
    started = _run(
        "rollout",
        "start",
        slug,
        "--challenger",
        str(setup.challenger.pk),
        "--plan",
        json.dumps({"steps": [10, 100]}),
    )
    assert "running, step 0 (10% to" in started
    assert "paused" in _run("rollout", "pause", slug, "--reason", "night")
    assert "running" in _run("rollout", "resume", slug)
    status = _run("rollout", "status", slug)
    assert "pause: Paused by the system. night" in status
    assert "aborted" in _run("rollout", "abort", slug)
    assert Rollout.objects.get().state == "aborted"


def test_rollout_command_reports_service_errors():
    setup = rollout_group()
    with pytest.raises(CommandError, match="steps"):
        _run(
            "rollout",
            "start",
            setup.group.slug,
            "--challenger",
            str(setup.challenger.pk),
            "--plan",
            json.dumps({"steps": [50, 5]}),
        )


def test_rollouts_tick_says_when_there_is_nothing_to_do():
    assert "No running rollout." in _run("rollouts_tick")


def test_beat_ticks_the_rollouts_every_minute():
    from hub.celery import app
    from rollouts.tasks import rollouts_tick_task

    entry = app.conf.beat_schedule["rollouts-tick"]
    assert (entry["task"], entry["schedule"]) == ("rollouts.tick", 60.0)
    assert rollouts_tick_task.name == "rollouts.tick"
    assert rollouts_tick_task() == {}
