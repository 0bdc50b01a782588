"""The Celery app: configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnichannel.settings")

app = Celery("omnichannel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs) -> None:
    # Workers log through Django's LOGGING so JSON logs look the same from every process.
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
