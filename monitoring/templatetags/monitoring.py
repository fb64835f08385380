from django import template

from core.permissions import can, visible
from monitoring.alerts import open_alerts as open_alerts_all

register = template.Library()


@register.simple_tag
def open_alerts(user, limit: int = 10) -> list:
    """The open alerts `user` may read, newest first (dashboard, admin index)."""
    if not can(user, "monitoring.view_alert"):
        return []
    found = visible(user, open_alerts_all(), team_field="group__team", group_field="group__slug")
    return list(found.order_by("-opened_at")[:limit])
