"""The push channel end to end: send_batch_run with the real PushBackend against a local FCM
(OAuth2 service-account token + HTTP v1) and a local Web Push service (VAPID, aes128gcm),
checking what arrived: the exact FCM message, the decrypted Web Push payload, the headers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.backends.base import OutboundMessage
from campaigns.backends.push import PushBackend
from campaigns.models import Delivery, SendBatch, WebPushSubscription
from campaigns.reachability import addresses_for, reachable_q
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.push_addresses import push_addresses_forget
from campaigns.tracking import tracking_code
from crm.models import Identity, Member, Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

PUSH = {
    "title": "{{name}}，週年慶開跑",
    "body": "全館 8 折，只到週日。",
    "url": "https://shop.example.com/sale?m={{member_no}}",
}


def _app_member(token: str) -> Member:
    member = MemberFactory()
    IdentityFactory(member=member, kind=Identity.Kind.PUSH_TOKEN, value=token)
    ConsentFactory(member=member, channel="push")
    return member


def _browser_member(subscription) -> Member:
    member = MemberFactory()
    keys = subscription.json()["keys"]
    WebPushSubscription.objects.create(
        member=member, endpoint=subscription.endpoint, p256dh=keys["p256dh"], auth=keys["auth"]
    )
    ConsentFactory(member=member, channel="push")
    return member


def _send(now=None) -> SendBatch:
    segment = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    campaign = campaign_save(
        name="週年慶", segment=segment, channels=["push"], contents={"push": PUSH}
    )
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)
    batch = SendBatch.objects.get(campaign=campaign)
    send_batch_run(batch_id=batch.pk, now=now)
    return batch


def _delivery(member: Member) -> Delivery:
    return Delivery.objects.get(member=member)


def _reachable_on_push(member: Member) -> bool:
    return Member.objects.filter(reachable_q("push"), pk=member.pk).exists()


# --- FCM ----------------------------------------------------------------------------------------


def test_fcm_message_arrives_exactly_as_fcm_v1_wants_it(fcm_server):
    member = _app_member("fcm-token-aaaaaaaa")

    _send()

    delivery = _delivery(member)
    assert delivery.status == "sent"
    assert delivery.provider_id.startswith("projects/omni-test/messages/0:")
    (token_call,) = fcm_server.token_requests()
    assert token_call.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    (send,) = fcm_server.sends()
    assert send.path == "/v1/projects/omni-test/messages:send"
    assert send.headers["authorization"].startswith("Bearer ya29.local-")
    assert send.headers["content-type"] == "application/json"
    url = f"https://shop.example.com/sale?m={member.member_no}"
    assert send.json() == {
        "message": {
            "token": "fcm-token-aaaaaaaa",
            "notification": {
                "title": f"{member.name}，週年慶開跑",
                "body": "全館 8 折，只到週日。",
            },
            "data": {
                "delivery": f"d{delivery.pk}",
                "url": url,
                # The open code the app reports back (tests/campaigns/test_opens.py).
                "tracking": tracking_code(delivery_id=delivery.pk, number=0),
            },
            "android": {"priority": "normal"},
            "apns": {"headers": {"apns-priority": "5"}},
            "webpush": {"fcm_options": {"link": url}},
        }
    }


def test_one_access_token_serves_every_message_of_the_batch(fcm_server):
    members = [_app_member(f"fcm-token-{n:08d}") for n in range(3)]

    _send()

    assert [_delivery(m).status for m in members] == ["sent"] * 3
    assert len(fcm_server.sends()) == 3  # one request per message
    assert len(fcm_server.token_requests()) == 1


def test_an_access_token_fcm_refuses_is_refreshed_once_and_the_message_sent(fcm_server):
    first = _app_member("fcm-token-first111")
    _send()
    fcm_server.revoke_tokens()  # FCM answers 401 to the token the process holds
    second = _app_member("fcm-token-second22")

    batch = _send()

    statuses = Delivery.objects.filter(batch=batch).values_list("member_id", "status")
    assert sorted(statuses) == [(first.pk, "sent"), (second.pk, "sent")]
    assert len(fcm_server.token_requests()) == 2
    # campaign 1; then campaign 2: 401, the same message again with a new token, the next one
    assert [r.status for r in fcm_server.sends()] == [200, 401, 200, 200]


def test_an_unregistered_token_is_removed_and_the_member_unreachable_on_push(fcm_server):
    gone = _app_member("fcm-token-uninstalled")
    kept = _app_member("fcm-token-stillthere")
    fcm_server.unregistered.add("fcm-token-uninstalled")

    _send()

    delivery = _delivery(gone)
    assert (delivery.status, delivery.reason) == ("failed", "address_invalid")
    assert "UNREGISTERED" in delivery.error
    assert not Identity.objects.filter(value="fcm-token-uninstalled").exists()
    assert not _reachable_on_push(gone)
    assert _reachable_on_push(kept)
    assert _delivery(kept).status == "sent"


def test_an_invalid_token_is_removed_too(fcm_server):
    member = _app_member("bad token")  # FCM: "not a valid FCM registration token"

    _send()

    assert (_delivery(member).status, _delivery(member).reason) == ("failed", "address_invalid")
    assert not _reachable_on_push(member)


def test_fcm_429_is_retried_after_its_retry_after(fcm_server):
    member = _app_member("fcm-token-busybusy")
    fcm_server.fail_next(429, retry_after="30")
    now = timezone.now() + timedelta(seconds=1)  # just after the launch

    batch = _send(now=now)

    batch.refresh_from_db()
    assert batch.status == "queued"
    assert batch.not_before == now + timedelta(seconds=30)
    assert _delivery(member).status == "pending"
    send_batch_run(batch_id=batch.pk, now=now + timedelta(seconds=31))
    assert _delivery(member).status == "sent"
    assert [r.status for r in fcm_server.sends()] == [429, 200]


# --- Web Push ---------------------------------------------------------------------------------


def test_web_push_arrives_encrypted_for_the_browser_with_vapid_and_ttl(webpush_server):
    subscription = webpush_server.subscribe()
    member = _browser_member(subscription)

    _send()

    delivery = _delivery(member)
    assert delivery.status == "sent"
    assert delivery.provider_id.startswith(f"{webpush_server.url}/message/")
    (push,) = webpush_server.delivered()
    assert push.headers["ttl"] == "3600"
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["authorization"].startswith("vapid t=")
    assert push.headers["authorization"].endswith(f",k={webpush_server.vapid.public_key}")
    assert push.claims["aud"] == webpush_server.url
    assert push.claims["sub"] == "mailto:marketing@example.com"
    assert push.payload.decode() == (
        f'{{"title":"{member.name}，週年慶開跑","body":"全館 8 折，只到週日。",'
        f'"url":"https://shop.example.com/sale?m={member.member_no}",'
        f'"tracking":"{tracking_code(delivery_id=delivery.pk, number=0)}","tag":"d{delivery.pk}"}}'
    )


def test_a_gone_subscription_is_removed_and_the_member_unreachable(webpush_server):
    dropped = webpush_server.subscribe()
    member = _browser_member(dropped)
    webpush_server.gone.add(dropped.id)

    _send()

    delivery = _delivery(member)
    assert (delivery.status, delivery.reason) == ("failed", "address_invalid")
    assert "410" in delivery.error
    assert not WebPushSubscription.objects.filter(member=member).exists()
    assert not _reachable_on_push(member)


def test_web_push_429_is_retried(webpush_server):
    member = _browser_member(webpush_server.subscribe())
    webpush_server.fail_next(429, retry_after="12")
    now = timezone.now() + timedelta(seconds=1)  # just after the launch

    batch = _send(now=now)

    batch.refresh_from_db()
    assert batch.not_before == now + timedelta(seconds=12)
    send_batch_run(batch_id=batch.pk, now=now + timedelta(seconds=13))
    assert _delivery(member).status == "sent"
    assert len(webpush_server.delivered()) == 1


def test_app_and_browser_members_in_one_batch_each_go_their_own_way(fcm_server, webpush_server):
    on_app = _app_member("fcm-token-appapp11")
    in_browser = _browser_member(webpush_server.subscribe())

    _send()

    assert _delivery(on_app).status == "sent"
    assert _delivery(in_browser).status == "sent"
    assert len(fcm_server.sends()) == 1
    assert len(webpush_server.delivered()) == 1


# --- small parts --------------------------------------------------------------------------------


def test_push_addresses_forget_removes_tokens_and_subscriptions_set_wise(
    django_assert_num_queries,
):
    token = IdentityFactory(kind=Identity.Kind.PUSH_TOKEN, value="fcm-token-zzzzzzzz")
    phone = IdentityFactory()
    subscription = WebPushSubscription.objects.create(
        member=MemberFactory(), endpoint="https://push.example/1", p256dh="x", auth="y"
    )
    addresses = [token.value, subscription.endpoint, phone.value, "https://push.example/none"]

    with django_assert_num_queries(4):  # savepoint, two deletes, release
        removed = push_addresses_forget(addresses=addresses)

    assert removed == 2
    assert Identity.objects.filter(pk=phone.pk).exists()  # only push tokens go
    assert not addresses_for(channel="push", member_ids=[token.member_id])


def test_a_network_error_is_retryable(settings, webpush_server):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = str(webpush_server.vapid.path)
    message = OutboundMessage(
        key="t1",
        channel="push",
        address="http://127.0.0.1:9/push/nobody",  # nothing listens on the discard port
        content={"title": "a", "body": "b"},
        extra={"transport": "webpush", **_keys(webpush_server)},
    )
    with PushBackend() as backend:
        (result,) = backend.send_batch([message], retry_key="k")
    assert (result.ok, result.retryable) == (False, True)


def _keys(server) -> dict:
    return server.subscribe().json()["keys"]


def test_a_service_account_google_refuses_fails_without_retries(fcm_server):
    member = _app_member("fcm-token-norights")
    fcm_server.accounts.clear()  # the key was deleted in the Google Cloud console

    _send()

    delivery = _delivery(member)
    assert (delivery.status, delivery.reason) == ("failed", "provider_error")
    assert "invalid_grant" in delivery.error
    assert not fcm_server.sends()


def test_the_vapid_key_may_be_given_as_the_key_itself(settings, webpush_server):
    from cryptography.hazmat.primitives import serialization

    from tests.campaigns.servers.webpush import b64url

    key = serialization.load_pem_private_key(webpush_server.vapid.path.read_bytes(), None)
    settings.WEBPUSH_VAPID_PRIVATE_KEY = b64url(key.private_numbers().private_value.to_bytes(32))
    member = _browser_member(webpush_server.subscribe())

    _send()

    assert _delivery(member).status == "sent"
