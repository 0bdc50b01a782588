"""A local server that speaks Mitake's SmBulkSend (what campaigns.backends.mitake calls).

    POST /api/mtk/SmBulkSend?username=…&password=…&Encoding_PostIn=UTF8
    body: ClientID$$dstaddr$$dlvtime$$vldtime$$destname$$response$$smbody, one line each

It answers as Mitake does: a block per message, `[clientid]`, `msgid=`, `statuscode=` (1 =
handed to the carrier, v = an invalid number), then `AccountPoint=`; a lone `statuscode=e` for
wrong credentials. Like Mitake it remembers each ClientID for 12 hours and answers a repeated
one with its first answer plus `Duplicate=Y`, delivering nothing again. It refuses more than
500 lines. Knobs: `fail_next` (HTTP 500s), `throttle_next` (429s with `retry_after`),
`lose_answer_next` (take the batch, then close the connection without answering: a crash or a
timeout after Mitake accepted).

    python -m tests.campaigns.servers.mitake --port 8902
"""

import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.campaigns.servers.base import (
    LocalHTTPServer,
    QuietHandler,
    read_body,
    run_by_hand,
    send,
    use_sms_provider,
)

USERNAME = "local-mitake"
PASSWORD = "local-mitake-password"
PATH = "/api/mtk/SmBulkSend"
MAX_LINES = 500
CLIENT_ID_MEMORY_SECONDS = 12 * 3600
NUMBER = re.compile(r"^(09\d{8}|(?!886)[1-9]\d{7,14})$")


@dataclass
class Recorded:
    path: str
    query: dict
    headers: dict
    body: bytes
    lines: list[list[str]]  # each line split into its 7 fields


@dataclass
class MitakeState:
    username: str = USERNAME
    password: str = PASSWORD
    points: int = 100_000
    requests: list[Recorded] = field(default_factory=list)
    delivered: list[dict] = field(default_factory=list)  # what reached phones, in order
    seen: dict[str, tuple[float, str]] = field(default_factory=dict)  # clientid → (at, block)
    fail_next: int = 0
    throttle_next: int = 0
    retry_after: int = 30
    lose_answer_next: int = 0
    next_msgid: int = 1_010_079_522
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(QuietHandler):
    server: "MitakeServer"

    def do_POST(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = read_body(self)
        lines = [line.split("$$", 6) for line in body.decode("utf-8").splitlines() if line]
        with state.lock:
            state.requests.append(
                Recorded(self.path, query, dict(self.headers.items()), body, lines)
            )
            if parts.path != PATH:
                return self._reply(404, "")
            if state.fail_next:
                state.fail_next -= 1
                return self._reply(500, "")
            if state.throttle_next:
                state.throttle_next -= 1
                return self._reply(429, "", {"Retry-After": str(state.retry_after)})
            if (query.get("username"), query.get("password")) != (state.username, state.password):
                return self._reply(200, "statuscode=e\r\n")
            if query.get("Encoding_PostIn") != "UTF8" or len(lines) > MAX_LINES:
                return self._reply(400, "")
            answer = "".join(self._block(state, fields) for fields in lines)
            answer += f"AccountPoint={state.points}\r\n"
            if state.lose_answer_next:
                state.lose_answer_next -= 1
                self.close_connection = True
                self.connection.shutdown(2)  # accepted, but the answer never arrives
                return None
        return self._reply(200, answer)

    def _block(self, state: MitakeState, fields: list[str]) -> str:
        if len(fields) != 7:
            return "[]\r\nstatuscode=*\r\n"
        client_id, number, _dlvtime, _vldtime, destname, _response, text = fields
        now = time.monotonic()
        remembered = state.seen.get(client_id)
        if remembered and now - remembered[0] < CLIENT_ID_MEMORY_SECONDS:
            return remembered[1] + "Duplicate=Y\r\n"
        if not NUMBER.match(number):
            block = f"[{client_id}]\r\nstatuscode=v\r\n"
        elif not text:
            block = f"[{client_id}]\r\nstatuscode=u\r\n"
        else:
            msgid = str(state.next_msgid)
            state.next_msgid += 1
            state.points -= 1
            state.delivered.append(
                {
                    "msgid": msgid,
                    "clientid": client_id,
                    "dstaddr": number,
                    "destname": destname,
                    "smbody": text,
                }
            )
            block = f"[{client_id}]\r\nmsgid={msgid}\r\nstatuscode=1\r\n"
        state.seen[client_id] = (now, block)
        return block

    def _reply(self, status: int, text: str, headers: dict | None = None) -> None:
        send(self, status, text.encode(), content_type="text/plain; charset=utf-8", headers=headers)


class MitakeServer(LocalHTTPServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(_Handler, port)
        self.state = MitakeState()


@pytest.fixture
def mitake_server(settings):
    """A running local Mitake, and the settings that send SMS through it."""
    with MitakeServer() as server:
        use_sms_provider(
            settings,
            "mitake",
            "campaigns.backends.mitake.MitakeBackend",
            MITAKE_API_BASE_URL=server.url,
            MITAKE_USERNAME=server.state.username,
            MITAKE_PASSWORD=server.state.password,
        )
        yield server


def main() -> None:
    run_by_hand(
        MitakeServer,
        doc=__doc__,
        default_port=8902,
        settings=lambda server: {
            "MITAKE_API_BASE_URL": server.url,
            "MITAKE_USERNAME": USERNAME,
            "MITAKE_PASSWORD": PASSWORD,
        },
    )


if __name__ == "__main__":
    main()
