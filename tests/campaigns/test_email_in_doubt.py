"""An SMTP server that stored a message but whose "250" never reached us (RFC 1047): the
message must not be sent again, or the member gets it twice.

Found by the worker-kill test (tests/campaigns/test_worker_kill.py): with a DATA reply held
longer than EMAIL_TIMEOUT, the e-mail backend reported the timeout as retryable and the pipeline
sent the message again. campaigns/backends/email.py now tells the phases apart: a timeout or a
dropped connection once DATA has started ends "failed: outcome unknown", like a worker that died
in the call; before it (and for a 4xx refusal) the message is retried.
"""

import threading
from datetime import timedelta

import pytest

from campaigns.models import Delivery, SendBatch
from campaigns.services import send_batch_run
from tests.campaigns.helpers import launched_to_everyone
from tests.campaigns.servers.smtp import SinkHandler, SmtpSink
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

EMAIL = {"subject": "週年慶", "text": "Hi {{name}}", "html": "<p>Hi {{name}}</p>"}


class StoreThenStall(SinkHandler):
    """Stores each message (a real server commits it before answering) and then answers the
    first one only after `stall` is released."""

    def __init__(self):
        super().__init__()
        self.stall = threading.Event()
        self.stalled = False

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if not self.stalled:
            self.stalled = True
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, self.stall.wait, 10)
        return answer


def test_a_message_the_server_stored_is_not_sent_again_after_a_reply_timeout(settings):
    handler = StoreThenStall()
    with SmtpSink(handler=handler) as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 1
        settings.CAMPAIGN_BACKENDS = {
            **settings.CAMPAIGN_BACKENDS,
            "email": "campaigns.backends.email.EmailBackend",
        }
        member = MemberFactory()
        address = IdentityFactory(member=member, email=True).value
        ConsentFactory(member=member, channel="email")
        campaign = launched_to_everyone(channel="email", content=EMAIL)
        batch = SendBatch.objects.get(campaign=campaign)
        try:
            send_batch_run(batch_id=batch.pk)  # the reply times out after 1 s
        finally:
            handler.stall.set()
        batch.refresh_from_db()
        if batch.status == SendBatch.Status.QUEUED:  # what a retryable failure does
            send_batch_run(batch_id=batch.pk, now=batch.not_before + timedelta(seconds=1))
        assert sink.count_by_rcpt()[address.lower()] == 1
        delivery = Delivery.objects.get(campaign=campaign)
        assert (delivery.status, delivery.reason) == ("failed", "outcome_unknown")
        assert "not resent" in delivery.error
        assert batch.status == SendBatch.Status.DONE
