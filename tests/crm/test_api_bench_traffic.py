"""bench/api_ingest.py's traffic: every call it makes is one the API accepts, as the bench needs
0 errors; retries replay; returns name sales of the same client."""

import pytest
from django.test import Client

from bench.api_ingest import CHANNELS, Traffic
from crm.models import Order
from crm.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db

CALLS = 150


def test_every_call_of_the_bench_is_accepted(alice):
    keys = {
        channel: api_key_create(name=channel, channel=channel, actor=alice)[1]
        for channel in CHANNELS
    }
    traffic = Traffic(client=0, people=40, seed=1)
    client = Client()
    replays = returns = 0

    for _ in range(CALLS):
        call, replay = traffic.next_call()
        response = client.post(
            call.path,
            data=call.body,
            content_type="application/json",
            headers={
                "Authorization": f"Bearer {keys[call.channel]}",
                "Idempotency-Key": call.idempotency_key,
            },
        )
        assert response.status_code in (200, 201), (call.body, response.content)
        assert (response.headers.get("Idempotent-Replayed") == "true") == replay
        replays += replay
        returns += call.path.endswith("/returns")

    # Seed 1 yields retries and returns in 150 calls; each kind of call is exercised.
    assert replays and returns
    assert Order.objects.filter(returns_order__isnull=False).exists()
    assert set(Order.objects.values_list("channel", flat=True)) == set(CHANNELS)
