from django import template

from crm.labels import source_label as _source_label
from crm.labels import touchpoint_kind_label

register = template.Library()


@register.filter
def source_label(source: str) -> str:
    """`{{ identity.source|source_label }}`: a source code as the user reads it."""
    return _source_label(source)


@register.filter
def touchpoint_kind(kind: str) -> str:
    """`{{ touchpoint.kind|touchpoint_kind }}`: `page_view` as "Page view", translated."""
    return touchpoint_kind_label(kind)
