"""The admin index's "what to watch" panel: worker, providers, approvals, failures."""

from django import template

from hub.dashboard import ops_summary as summary

register = template.Library()


@register.simple_tag
def ops_summary() -> dict:
    return summary()
