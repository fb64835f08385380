"""The permission matrix: every URL of the product (pages, API, admin) against every kind
of caller, with the expected answer written down once per URL and method.

Callers: anonymous; a Viewer, an Operator, an Approver and an Admin of the team that owns
the data; an Operator of another team; and API keys of the owning team with one scope
each. ALLOW means the permission check let the caller through (any answer but 401, 403 or
the login redirect: a 400 for an empty body still proves the caller was let in).

A URL pattern with no row here fails `test_every_url_has_a_row`: a new URL is born with
its permissions written down.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin import site as admin_site
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from core import roles
from tests.factories import TeamFactory, default_team, role_user

ALLOW, LOGIN, DENY, UNAUTH, NOTFOUND = "allow", "login", 403, 401, 404
ANON, VIEWER, OPERATOR, OTHER_OP, APPROVER, ADMIN = (
    "anonymous",
    "viewer",
    "operator",
    "other-team operator",
    "approver",
    "admin",
)
KEY_PREDICT, KEY_READ, KEY_MANAGE = "key:predict", "key:read", "key:manage"
CALLERS = (ANON, VIEWER, OPERATOR, OTHER_OP, APPROVER, ADMIN, KEY_PREDICT, KEY_READ, KEY_MANAGE)
PEOPLE = (VIEWER, OPERATOR, OTHER_OP, APPROVER, ADMIN)
KEYS = (KEY_PREDICT, KEY_READ, KEY_MANAGE)


def expect(default, **cells) -> dict[str, object]:
    table = dict.fromkeys(CALLERS, default)
    table.update({name.replace("_", " ").replace("key ", "key:"): v for name, v in cells.items()})
    return table


def _who(*callers: str, yes=ALLOW, no=DENY, anon=LOGIN, keys=LOGIN) -> dict[str, object]:
    table = {c: (yes if c in callers else no) for c in PEOPLE}
    table[ANON] = anon
    table.update(dict.fromkeys(KEYS, keys))
    return table


# Pages (sessions only: an API key on a page is sent to the login page).
PAGE_PUBLIC = dict.fromkeys(CALLERS, ALLOW)
PAGE_READ = _who(*PEOPLE)
PAGE_OPERATE = _who(OPERATOR, ADMIN)
PAGE_APPROVE = _who(APPROVER, ADMIN)
PAGE_ADMIN = _who(ADMIN)


def _api(*callers: str, keys: tuple[str, ...] = ()) -> dict[str, object]:
    table = _who(*callers, anon=UNAUTH)
    table.update({k: (ALLOW if k in keys else DENY) for k in KEYS})
    return table


API_READ = _api(*PEOPLE, keys=(KEY_READ, KEY_MANAGE))
API_OPERATE = _api(OPERATOR, ADMIN, keys=(KEY_MANAGE,))
API_APPROVE = _api(APPROVER, ADMIN)
API_ADMIN = _api(ADMIN)
API_PREDICT = _api(keys=(KEY_PREDICT,))
API_PUBLIC = dict.fromkeys(CALLERS, ALLOW)

# Admin pages: staff only (the Admin principal is staff); others go to the admin login.
ADMIN_STAFF = {**dict.fromkeys(CALLERS, LOGIN), ADMIN: ALLOW}
ADMIN_NONE = {**dict.fromkeys(CALLERS, LOGIN), ADMIN: DENY}

G = "{group}"
M = "{model}"
V = "{version}"

# (url name, method) -> (path, body, expected)
ROWS: dict[tuple[str, str], tuple[str, dict | None, dict]] = {
    # hub
    ("dashboard", "GET"): ("/", None, PAGE_READ),
    ("healthz", "GET"): ("/healthz", None, PAGE_PUBLIC),
    ("login", "GET"): ("/login/", None, PAGE_PUBLIC),
    ("logout", "POST"): ("/logout/", {}, {**PAGE_PUBLIC}),
    ("api-schema", "GET"): ("/api/schema/", None, _api(*PEOPLE, keys=KEYS)),
    ("api-docs", "GET"): ("/api/docs/", None, PAGE_READ),
    # providers
    ("providers:provider_list", "GET"): ("/providers/", None, PAGE_READ),
    ("api-provider-list", "GET"): ("/api/v1/providers/", None, API_READ),
    ("api-provider-detail", "GET"): ("/api/v1/providers/{provider}/", None, API_READ),
    # registry pages
    ("registry:model_list", "GET"): ("/models/", None, PAGE_READ),
    ("registry:model_detail", "GET"): (f"/models/{M}/", None, PAGE_READ),
    ("registry:version_detail", "GET"): (f"/models/{M}/versions/{V}/", None, PAGE_READ),
    ("registry:version_transition", "POST"): (
        f"/models/{M}/versions/{V}/status/",
        {"status": "staging"},
        PAGE_OPERATE,
    ),
    ("registry:version_upload", "GET"): ("/models/upload/", None, _who(OPERATOR, OTHER_OP, ADMIN)),
    ("registry:model_import", "GET"): ("/models/import/", None, _who(OPERATOR, OTHER_OP, ADMIN)),
    ("registry:model_import_confirm", "POST"): (
        "/models/import/confirm/",
        {},
        _who(OPERATOR, OTHER_OP, ADMIN),
    ),
    # registry API
    ("registry-metadata-schema", "GET"): ("/api/v1/schema/model-metadata", None, API_PUBLIC),
    ("registry-model-list", "GET"): ("/api/v1/models/", None, API_READ),
    ("registry-model-list", "POST"): (
        "/api/v1/models/",
        {},
        _api(OPERATOR, OTHER_OP, ADMIN, keys=(KEY_MANAGE,)),
    ),
    ("registry-model-detail", "GET"): (f"/api/v1/models/{M}/", None, API_READ),
    ("registry-version-upload", "POST"): (f"/api/v1/models/{M}/versions/", {}, API_OPERATE),
    ("registry-version-detail", "GET"): (f"/api/v1/models/{M}/versions/{V}/", None, API_READ),
    ("registry-version-status", "POST"): (
        f"/api/v1/models/{M}/versions/{V}/status",
        {"status": "staging"},
        API_OPERATE,
    ),
    ("registry-model-import", "POST"): (
        "/api/v1/models/import",
        {},
        _api(OPERATOR, OTHER_OP, ADMIN, keys=(KEY_MANAGE,)),
    ),
    ("registry-model-import-confirm", "POST"): (
        "/api/v1/models/import/confirm",
        {},
        _api(OPERATOR, OTHER_OP, ADMIN, keys=(KEY_MANAGE,)),
    ),
    # groups pages
    ("groups:group_list", "GET"): ("/groups/", None, PAGE_READ),
    ("groups:group_create", "GET"): ("/groups/new/", None, _who(OPERATOR, OTHER_OP, ADMIN)),
    ("groups:group_detail", "GET"): (f"/groups/{G}/", None, PAGE_READ),
    ("groups:group_promote", "POST"): (f"/groups/{G}/promote/", {}, PAGE_OPERATE),
    ("groups:group_traffic", "POST"): (f"/groups/{G}/traffic/", {}, PAGE_OPERATE),
    ("groups:group_rollback", "POST"): (f"/groups/{G}/rollback/", {}, PAGE_OPERATE),
    ("groups:pending_approve", "POST"): (
        f"/groups/{G}/pending/{{pending}}/approve/",
        {},
        PAGE_APPROVE,
    ),
    ("groups:pending_reject", "POST"): (
        f"/groups/{G}/pending/{{pending}}/reject/",
        {},
        PAGE_APPROVE,
    ),
    # groups API
    ("api-group-list", "GET"): ("/api/v1/groups/", None, API_READ),
    ("api-group-list", "POST"): (
        "/api/v1/groups/",
        {},
        _api(OPERATOR, OTHER_OP, ADMIN, keys=(KEY_MANAGE,)),
    ),
    ("api-group-detail", "GET"): (f"/api/v1/groups/{G}/", None, API_READ),
    ("api-group-detail", "PATCH"): (f"/api/v1/groups/{G}/", {"description": "x"}, API_OPERATE),
    ("api-group-detail", "DELETE"): (f"/api/v1/groups/{G}/", None, API_ADMIN),
    ("api-group-promote", "POST"): (f"/api/v1/groups/{G}/promote", {}, API_OPERATE),
    ("api-group-traffic", "POST"): (f"/api/v1/groups/{G}/traffic", {}, API_OPERATE),
    ("api-group-rollback", "POST"): (f"/api/v1/groups/{G}/rollback", {}, API_OPERATE),
    ("api-group-pending-changes", "GET"): (f"/api/v1/groups/{G}/pending-changes/", None, API_READ),
    ("api-group-pending-approve", "POST"): (
        f"/api/v1/groups/{G}/pending-changes/{{pending}}/approve",
        {},
        API_APPROVE,
    ),
    ("api-group-pending-reject", "POST"): (
        f"/api/v1/groups/{G}/pending-changes/{{pending}}/reject",
        {},
        API_APPROVE,
    ),
    # inference
    ("group-predict", "POST"): (f"/api/v1/groups/{G}/predict", {}, API_PREDICT),
    ("group-feedback", "POST"): (f"/api/v1/groups/{G}/feedback", {}, API_PREDICT),
    ("group-comparison", "GET"): (f"/api/v1/groups/{G}/comparison", None, API_READ),
    ("group-inferences", "GET"): (f"/api/v1/groups/{G}/inferences", None, API_READ),
    ("inference:group_compare", "GET"): (f"/groups/{G}/compare/", None, PAGE_READ),
    ("inference:group_inferences", "GET"): (f"/groups/{G}/inferences/", None, PAGE_READ),
    ("inference:group_inferences_export", "GET"): (
        f"/groups/{G}/inferences/export.csv",
        None,
        PAGE_READ,
    ),
    ("inference:inference_detail", "GET"): (
        f"/groups/{G}/inferences/{{request_id}}/",
        None,
        PAGE_READ,
    ),
    ("inference:version_live", "GET"): ("/inference/versions/{version_id}/live/", None, PAGE_READ),
    ("inference:legacy_group", "GET"): (f"/inference/groups/{G}/compare/", None, _who(*PEOPLE)),
    # training
    ("training:job_list", "GET"): ("/training/", None, PAGE_READ),
    ("training:job_new", "GET"): ("/training/new/", None, _who(OPERATOR, OTHER_OP, ADMIN)),
    ("training:job_detail", "GET"): ("/training/jobs/{job}/", None, PAGE_READ),
    ("training:job_cancel", "POST"): ("/training/jobs/{job}/cancel", {}, PAGE_OPERATE),
    ("training:job_retry", "POST"): ("/training/jobs/{job}/retry", {}, PAGE_OPERATE),
    ("training:job_join_group", "POST"): ("/training/jobs/{job}/join-group", {}, PAGE_OPERATE),
    ("api-training-job-list", "GET"): ("/api/v1/training/jobs/", None, API_READ),
    ("api-training-job-list", "POST"): (
        "/api/v1/training/jobs/",
        {},
        _api(OPERATOR, OTHER_OP, ADMIN, keys=(KEY_MANAGE,)),
    ),
    ("api-training-job-detail", "GET"): ("/api/v1/training/jobs/{job}/", None, API_READ),
    ("api-training-job-cancel", "POST"): ("/api/v1/training/jobs/{job}/cancel", {}, API_OPERATE),
}
ROWS.update(
    {
        ("api-rollout-list", "GET"): (f"/api/v1/groups/{G}/rollouts/", None, API_READ),
        ("api-rollout-list", "POST"): (f"/api/v1/groups/{G}/rollouts/", {}, API_OPERATE),
        ("api-rollout-detail", "GET"): (
            f"/api/v1/groups/{G}/rollouts/{{rollout}}/",
            None,
            API_READ,
        ),
        ("api-rollout-pause", "POST"): (
            f"/api/v1/groups/{G}/rollouts/{{rollout}}/pause/",
            {},
            API_OPERATE,
        ),
        ("api-rollout-resume", "POST"): (
            f"/api/v1/groups/{G}/rollouts/{{rollout}}/resume/",
            {},
            API_OPERATE,
        ),
        ("api-rollout-abort", "POST"): (
            f"/api/v1/groups/{G}/rollouts/{{rollout}}/abort/",
            {},
            API_OPERATE,
        ),
        ("rollouts:group_rollouts", "GET"): (f"/groups/{G}/rollouts/", None, PAGE_READ),
        ("rollouts:rollout_start", "POST"): (f"/groups/{G}/rollouts/start/", {}, PAGE_OPERATE),
        ("rollouts:rollout_detail", "GET"): (f"/groups/{G}/rollouts/{{rollout}}/", None, PAGE_READ),
        ("rollouts:rollout_pause", "POST"): (
            f"/groups/{G}/rollouts/{{rollout}}/pause/",
            {},
            PAGE_OPERATE,
        ),
        ("rollouts:rollout_resume", "POST"): (
            f"/groups/{G}/rollouts/{{rollout}}/resume/",
            {},
            PAGE_OPERATE,
        ),
        ("rollouts:rollout_abort", "POST"): (
            f"/groups/{G}/rollouts/{{rollout}}/abort/",
            {},
            PAGE_OPERATE,
        ),
    }
)
ANY_OPERATOR_API = _api(OPERATOR, OTHER_OP, ADMIN, keys=(KEY_MANAGE,))
ROWS.update(
    {
        ("monitoring-version-reference", "GET"): (
            f"/api/v1/models/{M}/versions/{V}/reference",
            None,
            API_READ,
        ),
        ("monitoring-version-reference", "PUT"): (
            f"/api/v1/models/{M}/versions/{V}/reference",
            {},
            API_OPERATE,
        ),
        ("monitoring-group", "GET"): (f"/api/v1/groups/{G}/monitoring", None, API_READ),
        ("monitoring-group-run", "POST"): (f"/api/v1/groups/{G}/monitoring/run", {}, API_OPERATE),
        ("monitoring-group-reference", "POST"): (
            f"/api/v1/groups/{G}/monitoring/reference",
            {},
            API_OPERATE,
        ),
        ("monitoring-rule-list", "GET"): ("/api/v1/monitoring/rules/", None, API_READ),
        ("monitoring-rule-list", "POST"): ("/api/v1/monitoring/rules/", {}, ANY_OPERATOR_API),
        ("monitoring-alert-list", "GET"): ("/api/v1/monitoring/alerts/", None, API_READ),
        ("monitoring-alert-acknowledge", "POST"): (
            "/api/v1/monitoring/alerts/{alert}/acknowledge",
            {},
            API_OPERATE,
        ),
        ("monitoring-webhook-list", "GET"): (
            "/api/v1/monitoring/webhooks/",
            None,
            ANY_OPERATOR_API,
        ),
        ("monitoring-webhook-list", "POST"): ("/api/v1/monitoring/webhooks/", {}, ANY_OPERATOR_API),
        ("monitoring:group_monitoring", "GET"): (f"/groups/{G}/monitoring/", None, PAGE_READ),
        ("monitoring:group_monitoring_run", "POST"): (
            f"/groups/{G}/monitoring/run/",
            {},
            PAGE_OPERATE,
        ),
        ("monitoring:alert_rule_create", "POST"): (
            f"/groups/{G}/monitoring/rules/",
            {},
            PAGE_OPERATE,
        ),
        ("monitoring:reference_from_window", "POST"): (
            f"/groups/{G}/monitoring/reference/",
            {},
            PAGE_OPERATE,
        ),
        ("monitoring:alert_acknowledge", "POST"): (
            "/monitoring/alerts/{alert}/acknowledge/",
            {},
            PAGE_OPERATE,
        ),
        ("monitoring:version_monitoring", "GET"): (
            f"/models/{M}/versions/{V}/monitoring/",
            None,
            PAGE_READ,
        ),
    }
)
ROWS.update(
    {
        ("group-batches", "POST"): (f"/api/v1/groups/{G}/batches/", {}, API_OPERATE),
        ("version-batches", "POST"): (f"/api/v1/models/{M}/versions/{V}/batches/", {}, API_OPERATE),
        ("batch-list", "GET"): ("/api/v1/batches/", None, API_READ),
        ("batch-detail", "GET"): ("/api/v1/batches/{batch}/", None, API_READ),
        ("batch-cancel", "POST"): ("/api/v1/batches/{batch}/cancel", {}, API_OPERATE),
        ("batch-result", "GET"): ("/api/v1/batches/{batch}/result", None, API_READ),
        ("inference:batch_create", "GET"): (f"/groups/{G}/batches/new/", None, PAGE_OPERATE),
        ("inference:batch_detail", "GET"): ("/batches/{batch}/", None, PAGE_READ),
        ("inference:batch_cancel", "POST"): ("/batches/{batch}/cancel/", {}, PAGE_OPERATE),
        ("inference:batch_result", "GET"): ("/batches/{batch}/result/", None, PAGE_READ),
    }
)
ROWS.update(
    {
        ("governance:inventory", "GET"): ("/inventory/", None, PAGE_READ),
        ("governance:inventory_csv", "GET"): ("/inventory/export.csv", None, PAGE_READ),
        ("governance:inventory_xlsx", "GET"): ("/inventory/export.xlsx", None, PAGE_READ),
        ("governance:inventory_edit", "GET"): (
            f"/inventory/{M}/edit/",
            None,
            _who(OPERATOR, APPROVER, ADMIN),
        ),
        ("governance:group_history", "GET"): (f"/groups/{G}/history/", None, PAGE_READ),
        ("governance:version_report", "GET"): (
            f"/models/{M}/versions/{V}/report/",
            None,
            PAGE_READ,
        ),
        ("governance:version_report_pdf", "GET"): (
            f"/models/{M}/versions/{V}/report.pdf",
            None,
            PAGE_READ,
        ),
        # A report is a read: any reader may have one generated.
        ("governance:report_job_create", "POST"): (
            f"/models/{M}/versions/{V}/report/jobs/",
            {},
            PAGE_READ,
        ),
        ("governance:report_job", "GET"): ("/reports/{report_job}/", None, PAGE_READ),
        ("governance:report_job_pdf", "GET"): ("/reports/{report_job}/pdf", None, PAGE_READ),
        ("api-inventory", "GET"): ("/api/v1/inventory/", None, API_READ),
        ("api-group-history", "GET"): (f"/api/v1/groups/{G}/history", None, API_READ),
        ("api-version-report-pdf", "GET"): (
            f"/api/v1/models/{M}/versions/{V}/report.pdf",
            None,
            API_READ,
        ),
        ("api-report-job", "GET"): ("/api/v1/report-jobs/{report_job}", None, API_READ),
        ("api-report-job-pdf", "GET"): ("/api/v1/report-jobs/{report_job}/pdf", None, API_READ),
        ("registry-model-detail", "PATCH"): (
            f"/api/v1/models/{M}/",
            {"business_purpose": "Scores applicants."},
            API_OPERATE,
        ),
    }
)
R = "{recipe}"
RV = "{recipe_version}"
ANY_OPERATOR_PAGE = _who(OPERATOR, OTHER_OP, ADMIN)
ROWS.update(
    {
        ("recipes-manifest-schema", "GET"): ("/api/v1/schema/recipe-manifest", None, API_PUBLIC),
        ("api-recipe-list", "GET"): ("/api/v1/recipes/", None, API_READ),
        ("api-recipe-list", "POST"): ("/api/v1/recipes/", {}, ANY_OPERATOR_API),
        ("api-recipe-detail", "GET"): (f"/api/v1/recipes/{R}/", None, API_READ),
        ("api-recipe-clone", "POST"): (f"/api/v1/recipes/{R}/clone", {}, ANY_OPERATOR_API),
        ("api-recipe-check", "POST"): (f"/api/v1/recipes/{R}/check", {}, API_OPERATE),
        ("api-recipe-version-list", "GET"): (f"/api/v1/recipes/{R}/versions/", None, API_READ),
        ("api-recipe-version-list", "POST"): (f"/api/v1/recipes/{R}/versions/", {}, API_OPERATE),
        ("api-recipe-version-detail", "GET"): (
            f"/api/v1/recipes/{R}/versions/{RV}/",
            None,
            API_READ,
        ),
        ("api-recipe-version-approve", "POST"): (
            f"/api/v1/recipes/{R}/versions/{RV}/approve",
            {},
            API_APPROVE,
        ),
        ("api-recipe-version-archive", "POST"): (
            f"/api/v1/recipes/{R}/versions/{RV}/archive",
            {},
            API_OPERATE,
        ),
        ("api-run-list", "GET"): ("/api/v1/runs/", None, API_READ),
        ("api-run-list", "POST"): ("/api/v1/runs/", {}, ANY_OPERATOR_API),
        ("api-run-detail", "GET"): ("/api/v1/runs/{job}/", None, API_READ),
        ("api-run-deploy", "POST"): ("/api/v1/runs/{job}/deploy", {}, API_OPERATE),
        ("recipes:library", "GET"): ("/library/", None, PAGE_READ),
        ("recipes:recipe_detail", "GET"): (f"/library/recipes/{R}/", None, PAGE_READ),
        ("recipes:version_detail", "GET"): (
            f"/library/recipes/{R}/versions/{RV}/",
            None,
            PAGE_READ,
        ),
        ("recipes:version_new", "POST"): (f"/library/recipes/{R}/versions/new", {}, PAGE_OPERATE),
        ("recipes:recipe_clone", "POST"): (f"/library/recipes/{R}/clone", {}, ANY_OPERATOR_PAGE),
        ("recipes:version_approve", "POST"): (
            f"/library/recipes/{R}/versions/{RV}/approve",
            {},
            PAGE_APPROVE,
        ),
        ("recipes:version_archive", "POST"): (
            f"/library/recipes/{R}/versions/{RV}/archive",
            {},
            PAGE_OPERATE,
        ),
        ("training:run_start", "POST"): ("/training/runs/new", {}, ANY_OPERATOR_PAGE),
        ("run_deploy", "POST"): ("/training/jobs/{job}/deploy", {}, PAGE_OPERATE),
        ("inference:batch_list", "GET"): ("/batches/", None, PAGE_READ),
    }
)
ASSIST = f"/api/v1/recipes/{R}/assistant"
ROWS.update(
    {
        ("api-recipe-assistant-messages", "POST"): (f"{ASSIST}/messages", {}, API_OPERATE),
        ("api-recipe-assistant-conversations", "GET"): (f"{ASSIST}/conversations/", None, API_READ),
        ("api-recipe-assistant-conversation", "GET"): (
            f"{ASSIST}/conversations/{{conversation}}/",
            None,
            API_READ,
        ),
        ("api-recipe-assistant-proposal-apply", "POST"): (
            f"{ASSIST}/proposals/{{proposal}}/apply",
            {},
            API_OPERATE,
        ),
        ("api-recipe-assistant-proposal-explain", "POST"): (
            f"{ASSIST}/proposals/{{proposal}}/explain",
            {},
            API_OPERATE,
        ),
        ("api-recipe-assistant-new", "POST"): (
            "/api/v1/recipes/assistant/new",
            {},
            ANY_OPERATOR_API,
        ),
        ("recipes:assistant_new", "POST"): ("/library/assistant/new", {}, ANY_OPERATOR_PAGE),
        ("recipes:assistant_message", "POST"): (
            f"/library/recipes/{R}/assistant/messages",
            {},
            PAGE_OPERATE,
        ),
        ("recipes:assistant_apply", "POST"): (
            f"/library/recipes/{R}/assistant/proposals/{{proposal}}/apply",
            {},
            PAGE_OPERATE,
        ),
        ("recipes:assistant_explain", "POST"): (
            f"/library/recipes/{R}/assistant/proposals/{{proposal}}/explain",
            {},
            PAGE_OPERATE,
        ),
    }
)
ROWS[("logout", "POST")] = ("/logout/", {}, dict.fromkeys(CALLERS, LOGIN))


def _admin_rows() -> dict[tuple[str, str], tuple[str, dict | None, dict]]:
    """The admin's own pages: the changelist of every registered model, staff only."""
    rows = {}
    for model in admin_site._registry:
        meta = model._meta
        name = f"admin:{meta.app_label}_{meta.model_name}_changelist"
        rows[(name, "GET")] = (f"/admin/{meta.app_label}/{meta.model_name}/", None, ADMIN_STAFF)
    rows[("admin:index", "GET")] = ("/admin/", None, ADMIN_STAFF)
    # Roll-up bookkeeping is no role's business: superusers only.
    rows[("admin:inference_rollupstate_changelist", "GET")] = (
        "/admin/inference/rollupstate/",
        None,
        ADMIN_NONE,
    )
    return rows


ROWS.update(_admin_rows())


def _url_names(patterns, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = (
                f"{namespace}:{pattern.namespace}"
                if namespace and pattern.namespace
                else (pattern.namespace or namespace)
            )
            names |= _url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)
    return names


def _product_url_names() -> set[str]:
    # The admin's generated per-model pages (add, change, delete, history) follow one rule,
    # the changelist's, which the rows cover model by model.
    return {
        name
        for name in _url_names(get_resolver().url_patterns)
        if not name.startswith("admin:") or name == "admin:index"
    }


def test_every_url_has_a_row():
    covered = {name for name, _ in ROWS}

    missing = sorted(_product_url_names() - covered)

    assert missing == [], f"URLs without a row in the permission matrix: {missing}"


@pytest.fixture
def world(db):
    """One team's data: a model with a version, a group, a job, a provider, a pending
    change, a logged request; callers of every kind."""
    from django.contrib.auth.models import Group, Permission

    from governance.models import ReportJob
    from groups.models import PendingChange
    from inference.models import BatchJob
    from monitoring.alerts import alert_open
    from recipes.baselines import recipes_seed
    from recipes.models import Conversation, Message, Proposal
    from rollouts.services import rollout_start
    from tests.groups.factories import make_api_key
    from tests.inference.serving_factories import serving_group
    from tests.providers.factories import ProviderFactory
    from tests.training.factories import FineTuneJobFactory

    roles.roles_sync(Group, Permission)
    team = default_team()
    setup = serving_group(name="Matrix Group")
    group = setup.group
    version = setup.champion
    pending = PendingChange.objects.create(
        group=group, action="set_traffic", payload={"weights": {}}, author=role_user(roles.OPERATOR)
    )
    other = TeamFactory(name="Other team", slug="other-team")
    admin = role_user(roles.ADMIN, is_staff=True)
    people = {
        VIEWER: role_user(roles.VIEWER),
        OPERATOR: role_user(roles.OPERATOR),
        OTHER_OP: role_user(roles.OPERATOR, team=other),
        APPROVER: role_user(roles.APPROVER),
        ADMIN: admin,
    }
    keys = {
        f"key:{scope}": make_api_key(name=scope, scopes=(scope,), all_groups=True, team=team)[1]
        for scope in ("predict", "read", "manage")
    }
    job = FineTuneJobFactory()
    rollout = rollout_start(group=group, challenger=setup.challenger, actor=people[OPERATOR])
    batch = BatchJob.objects.create(
        group=group, team=team, file_name="rows.csv", input_format="csv", output_format="csv"
    )
    report_job = ReportJob.objects.create(model_version=version)
    recipe = next(r for r in recipes_seed() if r.level == "baseline")
    conversation = Conversation.objects.create(recipe=recipe)
    proposal = Proposal.objects.create(
        message=Message.objects.create(conversation=conversation, role="assistant", content=""),
        status="refused",
    )
    alert = alert_open(group=group, title="Drift", severity="warning", source="matrix", evidence={})
    return {
        "people": people,
        "keys": keys,
        "values": {
            "group": group.slug,
            "model": version.model.slug,
            "version": version.version,
            "version_id": version.pk,
            "pending": pending.pk,
            "job": job.pk,
            "provider": ProviderFactory().pk,
            "request_id": uuid.uuid4(),
            "rollout": rollout.pk,
            "alert": alert.pk,
            "batch": batch.pk,
            "report_job": report_job.pk,
            "recipe": recipe.slug,
            "conversation": conversation.pk,
            "proposal": proposal.pk,
            "recipe_version": recipe.versions.order_by("-id").first().version,
        },
    }


def _outcome(response) -> object:
    if response.status_code in (301, 302) and "/login/" in response.get("Location", ""):
        return LOGIN
    if response.status_code in (401, 403):
        return response.status_code
    return ALLOW


def _call(client, caller: str, world: dict, method: str, path: str, body: dict | None):
    client.logout()
    headers = {}
    if caller in world["people"]:
        client.force_login(world["people"][caller])
    elif caller in world["keys"]:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world['keys'][caller]}"
    call = getattr(client, method.lower())
    if method == "GET":
        return call(path, **headers)
    return call(path, body or {}, content_type="application/json", **headers)


@pytest.mark.parametrize(("name", "method"), sorted(ROWS), ids=lambda v: str(v))
def test_permission_matrix(client, world, name, method):
    template, body, expected = ROWS[(name, method)]
    path = template.format(**world["values"])
    found = {}
    for caller in CALLERS:
        with transaction.atomic():
            found[caller] = _outcome(_call(client, caller, world, method, path, body))
            transaction.set_rollback(True)

    wrong = {
        c: f"expected {expected[c]}, got {found[c]}" for c in CALLERS if found[c] != expected[c]
    }
    assert wrong == {}, f"{method} {path}"
