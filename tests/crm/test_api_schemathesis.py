"""Schemathesis over /api/v1/openapi.json: generated calls get no 5xx and answers within the schema.

The calls go through the WSGI application in the test's thread, so they share the test's
database transaction (rolled back at the end), and each carries a valid key of the channel its
body names, so generated bodies reach the services rather than stopping at a 403.

One test per operation, each with its own id (`[POST /api/v1/members]`, …): `schema.parametrize()`
gives every operation the same node id, so under `-n 2` pytest-xdist and the reports counted
the four operations as one test.
"""

import re
import uuid

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.services.api_keys import api_key_create
from omnichannel.api.scopes import Scope
from omnichannel.channels import Channel
from omnichannel.wsgi import application

IDEMPOTENCY = "Idempotency-Key"
VALID_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Loaded when the module is collected: the document needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.fixture
def connection_kept_open():
    """Django closes the database connection when a WSGI request ends (CONN_MAX_AGE 0), which
    would end the test's transaction on PostgreSQL; its test Client unhooks this the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def keys(alice, settings, connection_kept_open) -> dict[str, str]:
    """A key per channel holding every scope (so campaigns' operations reach their services
    too), with a rate limit generated calls do not reach."""
    settings.API_RATE_LIMIT_PER_MINUTE = 100_000
    return {
        channel: api_key_create(
            name=f"{channel} fuzz", channel=channel, actor=alice, scopes=Scope.values
        )[1]
        for channel in Channel.values
    }


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_api_answers_within_its_schema(operation, keys):
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case):
        body = case.body if isinstance(case.body, dict) else {}
        channel = body.get("channel")
        key = keys.get(channel if isinstance(channel, str) else "", keys[Channel.STORE])
        # Generated Idempotency-Keys repeat ("0", "!") across different bodies, so almost every
        # call would be a refused reuse; a fresh valid key lets the body through (reuse is
        # tested apart).
        if case.headers and VALID_IDEMPOTENCY_KEY.fullmatch(str(case.headers.get(IDEMPOTENCY, ""))):
            case.headers[IDEMPOTENCY] = uuid.uuid4().hex
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

    call()


def test_every_operation_is_a_test_of_its_own():
    # crm's four, segments, campaigns' three, push subscriptions (2), push tokens (2), loyalty's
    # till (points, quote, hold, commit, release, coupon redeem)
    assert len(OPERATIONS) == 18
    assert len({op.label for op in OPERATIONS}) == len(OPERATIONS)
