"""The four roles and what each may do, as Django permissions ("app_label.codename").

Roles are Django auth groups kept in step with this table by `roles_sync` (run by a data
migration; run it again after changing the table). Roles add up: a user may hold several.
"""

VIEWER = "Viewer"
OPERATOR = "Operator"
APPROVER = "Approver"
ADMIN = "Admin"
ROLES = (VIEWER, OPERATOR, APPROVER, ADMIN)

READ_PERMS = frozenset(
    {
        "registry.view_registeredmodel",
        "registry.view_modelversion",
        "groups.view_modelgroup",
        "groups.view_membership",
        "groups.view_rolechange",
        "groups.view_pendingchange",
        "training.view_finetunejob",
        "training.view_dataset",
        "training.view_jobevent",
        "recipes.view_recipe",
        "recipes.view_recipeversion",
        "recipes.view_conversation",
        "providers.view_provider",
        "inference.view_archivedinferencetable",
        "inference.view_archivedlogpartition",
        "inference.view_logretention",
        "inference.view_batchjob",
        "rollouts.view_rollout",
        "monitoring.view_reference",
        "monitoring.view_snapshot",
        "monitoring.view_alertrule",
        "monitoring.view_alert",
    }
)

# What an Operator may do, on the models and groups of their own teams only.
OPERATE_PERMS = frozenset(
    {
        "groups.add_modelgroup",
        "groups.change_modelgroup",
        "groups.promote_modelgroup",
        "groups.add_membership",
        "groups.change_membership",
        "groups.delete_membership",
        "registry.add_registeredmodel",
        "registry.change_registeredmodel",
        "registry.add_modelversion",
        "registry.change_modelversion",
        "inference.add_batchjob",
        "inference.change_batchjob",
        "training.add_finetunejob",
        "training.change_finetunejob",
        "training.add_dataset",
        "training.change_dataset",
        "recipes.add_recipe",
        "recipes.change_recipe",
        "recipes.add_recipeversion",
        "recipes.add_conversation",
        "recipes.change_recipeversion",
        "rollouts.add_rollout",
        "rollouts.change_rollout",
        "monitoring.add_reference",
        "monitoring.run_snapshot",
        "monitoring.add_alertrule",
        "monitoring.change_alertrule",
        "monitoring.delete_alertrule",
        "monitoring.acknowledge_alert",
        "monitoring.view_webhook",
        "monitoring.add_webhook",
        "monitoring.change_webhook",
        "monitoring.delete_webhook",
        "monitoring.view_webhookdelivery",
    }
)

APPROVE_PERMS = frozenset(
    {
        "groups.approve_pendingchange",
        "registry.validate_registeredmodel",
        "recipes.approve_recipeversion",
    }
)

ADMIN_PERMS = frozenset(
    {
        "providers.add_provider",
        "providers.change_provider",
        "providers.delete_provider",
        "groups.view_apikey",
        "groups.add_apikey",
        "groups.change_apikey",
        "groups.delete_apikey",
        "groups.delete_modelgroup",
        "registry.trust_modelversion",
        "registry.delete_registeredmodel",
        "registry.delete_modelversion",
        "inference.delete_archivedinferencetable",
        "inference.change_archivedinferencetable",
        "inference.delete_archivedlogpartition",
        "inference.add_logretention",
        "inference.change_logretention",
        "inference.delete_logretention",
        # People, their roles and teams; unlocking logins; the periodic tasks' schedule.
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.view_intervalschedule",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.view_solarschedule",
        "django_celery_beat.view_clockedschedule",
        "core.view_team",
        "core.add_team",
        "core.change_team",
        "core.delete_team",
    }
)

# Calling a group's predict and feedback endpoints: API keys with the `predict` scope.
PREDICT_PERM = "groups.predict_modelgroup"

ROLE_PERMS: dict[str, frozenset[str]] = {
    VIEWER: READ_PERMS,
    OPERATOR: READ_PERMS | OPERATE_PERMS,
    APPROVER: READ_PERMS | APPROVE_PERMS,
    ADMIN: READ_PERMS | OPERATE_PERMS | APPROVE_PERMS | ADMIN_PERMS,
}

# API key scopes: which permissions each grants (never an Admin one).
SCOPE_PERMS: dict[str, frozenset[str]] = {
    "predict": frozenset({PREDICT_PERM}),
    "read": READ_PERMS,
    # What an Operator may do through the API, which includes reading what it acts on.
    "manage": OPERATE_PERMS | READ_PERMS,
}
SCOPES = tuple(SCOPE_PERMS)


def roles_sync(group_model, permission_model) -> list[str]:
    """Create the role groups and give each exactly its permissions; returns missing perms."""
    missing: list[str] = []
    for role, perms in ROLE_PERMS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        found = []
        for perm in sorted(perms):
            app_label, codename = perm.split(".", 1)
            permission = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is None:
                missing.append(perm)
            else:
                found.append(permission)
        group.permissions.set(found)
    return sorted(set(missing))
