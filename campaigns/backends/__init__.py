"""Channel backends: one module per provider behind campaigns.backends.base.ChannelBackend.

`settings.CAMPAIGN_BACKENDS` maps each messaging channel to a backend's dotted path; settings.py
picks the real provider whenever its credentials are set and the sandbox otherwise, so a fresh
clone sends (to nobody) and the same code talks to the real provider in production.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from campaigns.backends.base import ChannelBackend


def backend_class(channel: str) -> type[ChannelBackend]:
    return import_string(settings.CAMPAIGN_BACKENDS[channel])


def backend_for(channel: str) -> ChannelBackend:
    """A new backend instance for one batch (it may keep a connection until closed)."""
    return backend_class(channel)()
