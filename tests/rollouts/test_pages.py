"""The rollout timeline, a tab of the group page."""

import json

import pytest

from rollouts.models import Rollout
from tests.rollouts.factories import post_json, rollout_group, tick

pytestmark = pytest.mark.django_db


def _rollout(client, operator):
    setup = rollout_group()
    client.force_login(operator)
    post_json(client, setup.api, {"challenger": setup.challenger.pk})
    return setup, Rollout.objects.get()


def test_the_timeline_shows_the_staircase_decisions_and_operator_buttons(client, operator):
    setup, rollout = _rollout(client, operator)
    tick()
    page = client.get(f"/groups/{setup.group.slug}/rollouts/")
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        f"Rollout #{rollout.pk}" in html and ">Pause</button>" in html and ">Abort</button>" in html
    )
    assert "Johari" in html and 'hx-trigger="every 30s"' in html
    staircase = json.loads(
        html.split('id="rollout-staircase" type="application/json">')[1].split("</script>")[0]
    )
    assert staircase["kind"] == "timeseries" and staircase["datasets"][0]["data"][0]["y"] == 5
    assert (
        "No data is never a pass" not in html and "no data is never a pass" in html
    )  # the hold's reason
    assert "<style" not in html.split("<body")[1] and "style=" not in html.split("<body")[1]


def test_a_viewer_sees_the_timeline_without_buttons_or_form(client, operator, viewer):
    setup, _ = _rollout(client, operator)
    client.force_login(viewer)
    html = client.get(f"/groups/{setup.group.slug}/rollouts/").content.decode()
    assert "Rollout #" in html
    assert (
        ">Pause</button>" not in html
        and ">Abort</button>" not in html
        and "Start rollout" not in html
    )


def test_the_start_form_starts_a_rollout_and_shows_service_errors(client, operator):
    setup = rollout_group()
    client.force_login(operator)
    page = client.get(f"/groups/{setup.group.slug}/rollouts/").content.decode()
    assert "Start rollout" in page and 'value="5, 25, 50, 100"' in page
    form = {
        "challenger": setup.challenger.pk,
        "steps": "10, 100",
        "step_min_minutes": 60,
        "step_max_minutes": 1440,
        "min_labelled_per_step": 200,
        "metric": "accuracy",
        "goal": "non_inferior",
        "margin": 0.01,
        "alpha": 0.05,
        "error_rate_max": 0.01,
        "fallback_rate_max": 0.01,
        "p99_latency_ratio_max": 1.5,
        "srm_p_min": 0.001,
    }
    response = client.post(f"/groups/{setup.group.slug}/rollouts/start/", form)
    assert response.status_code == 302
    assert Rollout.objects.get().steps == [10, 100]
    again = client.post(f"/groups/{setup.group.slug}/rollouts/start/", form)
    assert again.status_code == 400 and "One active rollout per group" in again.content.decode()


def test_the_group_tabs_link_to_the_rollouts(client, viewer):
    setup = rollout_group()
    client.force_login(viewer)
    html = client.get(f"/groups/{setup.group.slug}/").content.decode()
    assert f'href="/groups/{setup.group.slug}/rollouts/"' in html


def test_htmx_refresh_returns_only_the_timeline(client, operator):
    setup, rollout = _rollout(client, operator)
    html = client.get(
        f"/groups/{setup.group.slug}/rollouts/", headers={"HX-Request": "true"}
    ).content.decode()
    assert (
        html.lstrip().startswith('<div id="rollout-timeline"') and f"Rollout #{rollout.pk}" in html
    )
    assert "Start rollout" not in html
