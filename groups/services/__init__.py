"""Every write to groups, memberships, their roles, pending changes and API keys; the one
place the invariants live.

An active group has exactly one champion; champion and challenger weights sum to 100;
shadows take no traffic; every member accepts the group's features. Each function checks
them before it writes (raising GroupValidationError, a core ServiceError, with
field-named messages; nothing changed), holds row locks on the group while it changes
roles, records the change through the one audit function, and bumps the routing
generation (in the database now, in the cache on commit).

Split by topic: common (errors, checks, audit), editing (create, update, delete, members),
role_changes (promote, traffic, rollback, four-eyes), api_keys.
"""

from groups.services.api_keys import (
    KEY_PREFIX,
    PREFIX_LENGTH,
    api_key_create,
    api_key_errors,
    api_key_revoke,
    api_key_scope_set,
)
from groups.services.common import (
    Errors,
    GroupValidationError,
    MemberSpec,
    Who,
    group_default_features,
    group_fields_errors,
    group_members_errors,
    group_slug,
    who,
)
from groups.services.editing import group_create, group_delete, group_update, membership_add
from groups.services.role_changes import (
    APPROVAL_ALWAYS,
    APPROVAL_BY_GROUP,
    APPROVAL_PLANNED,
    group_promote,
    group_rollback,
    group_set_traffic,
    pending_change_approve,
    pending_change_reject,
)

__all__ = [
    "APPROVAL_ALWAYS",
    "APPROVAL_BY_GROUP",
    "APPROVAL_PLANNED",
    "KEY_PREFIX",
    "PREFIX_LENGTH",
    "Errors",
    "GroupValidationError",
    "MemberSpec",
    "Who",
    "api_key_create",
    "api_key_errors",
    "api_key_revoke",
    "api_key_scope_set",
    "group_create",
    "group_default_features",
    "group_delete",
    "group_fields_errors",
    "group_members_errors",
    "group_promote",
    "group_rollback",
    "group_set_traffic",
    "group_slug",
    "group_update",
    "membership_add",
    "pending_change_approve",
    "pending_change_reject",
    "who",
]
