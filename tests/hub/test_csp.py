"""The Content Security Policy: the header every page carries, templates it does not break,
Chart.js only where charts are, and the API docs without inline script."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.training.factories import FineTuneJobFactory, JobEventFactory
from training.models import JobStatus

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
TEMPLATES = Path(settings.BASE_DIR) / "templates"
FORBIDDEN = {
    "inline event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
    "<style> block": re.compile(r"<style\b", re.IGNORECASE),
    'style="" attribute': re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "hx-on": re.compile(r"\shx-on", re.IGNORECASE),
    "js: hx-vals": re.compile(r"hx-(vals|vars)\s*=\s*['\"]\s*(js|javascript):", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def policy_of(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def problems_in(text: str) -> list[str]:
    found = [name for name, pattern in FORBIDDEN.items() if pattern.search(text)]
    for trigger in re.findall(r'hx-trigger\s*=\s*"([^"]*)"', text):
        # `from:input[name=q]` is a CSS selector; any other `[` is a JavaScript filter.
        if "[" in re.sub(r"from:\S+", "", trigger):
            found.append("hx-trigger with a [JavaScript filter]")
    return found


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html"))
)
def test_no_template_needs_inline_script_or_style(path):
    assert problems_in((TEMPLATES / path).read_text()) == []


def test_the_template_check_catches_each_kind_of_inline_code():
    assert problems_in('<button onclick="go()">') == ["inline event handler"]
    assert problems_in('<div style="width: 4%">') == ['style="" attribute']
    assert problems_in("<script>alert(1)</script>") == ["inline <script>"]
    assert problems_in('<script src="/static/x.js" defer></script>') == []
    assert problems_in('<div hx-trigger="every 2s [document.hidden]">') == [
        "hx-trigger with a [JavaScript filter]"
    ]
    assert problems_in('<form hx-trigger="input changed from:input[name=q], submit">') == []


def test_every_page_carries_the_strict_policy(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert policy_of(response) == POLICY


def test_pages_without_charts_do_not_load_chart_js(user_client):
    html = user_client.get(reverse("dashboard")).content.decode()

    assert 'chart.umd.min.js" defer></script>' not in html.split('data-chartjs="')[0]
    assert "hub/charts.js" in html and "hub/ui.js" in html
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html


def test_a_page_with_a_chart_loads_chart_js_deferred(user_client):
    job = FineTuneJobFactory(status=JobStatus.RUNNING)
    JobEventFactory.create_batch(2, job=job)

    html = user_client.get(job.get_absolute_url()).content.decode()

    assert re.search(r'<script src="[^"]*chart\.umd\.min\.js" defer></script>', html)
    assert 'data-chart-kind="timeseries"' in html


def test_the_admin_carries_the_products_name(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()

    assert "<title>Operations console | Model Hub admin</title>" in html
    assert "Model Hub administration" in html


def test_the_api_docs_load_their_init_script_from_a_url(user_client):
    page = user_client.get(reverse("api-docs"))
    html = page.content.decode()
    script = user_client.get(reverse("api-docs") + "?script=")

    assert problems_in(html) == []
    assert 'src="/api/docs/?script="' in html
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    assert script["Content-Type"].startswith("application/javascript")
