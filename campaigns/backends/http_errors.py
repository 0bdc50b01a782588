"""Whether an HTTP provider call that failed on the network may have reached the provider.

Providers without an idempotency key (Twilio, FCM, Web Push, an ESP's API) are called one
message at a time, and a failed call is retried only when the request never went out: the
connection did not open (refused, no DNS answer, connect timeout, TLS handshake). A read
timeout or a connection dropped after the request was written may have been accepted; a retry
could deliver it twice, so the pipeline ends it "outcome unknown" instead (at most once).
"""

import requests
import urllib3


def request_never_sent(error: requests.RequestException) -> bool:
    if isinstance(error, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    # A library may re-raise requests' error (anymail: as a subclass of it) with the original
    # as its cause; requests keeps urllib3's MaxRetryError, whose reason says whether a
    # connection was made.
    original = error.__cause__ if isinstance(error.__cause__, requests.RequestException) else error
    failure = original.args[0] if original.args else None
    return isinstance(getattr(failure, "reason", None), urllib3.exceptions.NewConnectionError)
