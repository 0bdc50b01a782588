"""Liveness of what the product cannot run without: the database and the Celery broker."""

import logging

from django.db import connection

from omnichannel.celery import app as celery_app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 3


def check_database() -> str | None:
    """None when healthy, else the reason."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("health: database unreachable: %s", exc)
        return f"{type(exc).__name__}: {exc}"
    return None


def check_broker() -> str | None:
    """None when the broker accepts a connection within a few seconds, else the reason."""
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            if conn.transport_cls == "filesystem":
                # The filesystem transport "connects" to anything; check its folder instead.
                _check_filesystem_broker(conn)
    except Exception as exc:
        logger.warning("health: broker unreachable: %s", exc)
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_filesystem_broker(conn) -> None:
    import os

    folder = conn.transport_options.get("data_folder_out")
    if folder and not os.access(folder, os.W_OK):
        raise OSError(f"broker folder {folder} is not writable")
