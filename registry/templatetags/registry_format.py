from django import template

register = template.Library()


@register.filter
def metric(value) -> str:
    """A metric as people read it: counts whole, rates and losses to 4 decimals, '—' if absent."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 10
    ):
        return f"{int(value):,}"
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return str(value)
