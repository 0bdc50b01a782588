"""An SMTP sink on 127.0.0.1 (aiosmtpd) that records every message it accepts.

    with SmtpSink() as sink:                       # a free port, chosen by the OS
        settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
        ...
        sink.messages                              # [ReceivedMessage], in arrival order
        sink.count_by_rcpt()                       # Counter({"a@example.com": 1, …})

Knobs (set any time, from any thread):
- `sink.reject_permanently("x@example.com")`: RCPT TO answered 550 (a hard bounce during send).
- `sink.reject_temporarily("x@example.com")`: 451 (greylisting, a full mailbox: try later);
  `code=421` answers 421 and closes the connection, as a server shutting down does.
- `sink.accept("x@example.com")`: takes a rejection back.
- `sink.drop_sessions()`: the server closes every open session, as one does to an idle client
  after its timeout or on a restart; the client finds out on its next command.
- `sink.hold`: a threading.Event; while it is set to "held" (`sink.hold_messages()`), DATA is
  not answered until `sink.release_messages()` (a worker can be killed with a message in
  flight). A subclass of `SinkHandler` may override `before_accept` for anything else.

The fixture `smtp_sink` (tests/campaigns/conftest.py) points Django's SMTP backend and the
e-mail channel at a sink. Run it by hand: `python -m tests.campaigns.servers.smtp --port 8925`.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"
# aiosmtpd logs every command at INFO: a test with 20,000 messages would drown in it.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class ReceivedMessage:
    """One accepted message: the envelope, the bytes as received, and the connection it came
    on (the client's (host, port): the same for every message of one SMTP session)."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    peer: tuple
    received_at: float = field(default_factory=time.time)

    @cached_property
    def email(self) -> EmailMessage:
        """Parsed lazily: a 20,000-message test never pays for parsing it does not read."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


class SinkHandler:
    """aiosmtpd handler: answers RCPT per the knobs and records each message at DATA."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[ReceivedMessage] = []
        self.rejections: dict[str, str] = {}  # address (lower-case) -> the SMTP reply
        self.closing: set[str] = set()  # addresses whose reply closes the connection (421)
        self.sessions: Counter = Counter()  # peer -> EHLO/HELO count
        self.servers: list = []  # the aiosmtpd SMTP protocol of every session, for drop_sessions
        self.hold = threading.Event()
        self.hold.set()  # set = let messages through; cleared = hold DATA

    # -- aiosmtpd hooks --------------------------------------------------------------------

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.sessions[session.peer] += 1
            self.servers.append(server)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        with self.lock:
            self.sessions[session.peer] += 1
            self.servers.append(server)
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        with self.lock:
            reply = self.rejections.get(key)
            closing = key in self.closing
        if reply is not None:
            if closing:
                # Say 421 and hang up, as a server going down does (RFC 5321 3.8).
                asyncio.get_running_loop().call_soon(server.transport.close)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await self.before_accept(envelope)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        message = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            raw=raw,
            peer=tuple(session.peer),
        )
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    async def before_accept(self, envelope) -> None:
        """Wait while messages are held (without blocking other connections)."""
        if not self.hold.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 600)


class _FreePortController(Controller):
    """aiosmtpd's Controller binds the port it is given; port 0 lets the OS choose, and the
    chosen port is read back before the controller connects to itself to check it is up."""

    async def _create_server(self):  # type: ignore[override]
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server


class SmtpSink:
    """A running sink; a context manager (start on enter, stop on exit)."""

    def __init__(self, *, port: int = 0, handler: SinkHandler | None = None) -> None:
        self.handler = handler or SinkHandler()
        self.host = HOST
        self.controller = _FreePortController(
            self.handler, hostname=HOST, port=port, enable_SMTPUTF8=True, ready_timeout=10
        )

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.release_messages()
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what arrived ----------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def count_by_rcpt(self) -> Counter:
        with self.handler.lock:
            return Counter(rcpt.lower() for m in self.handler.messages for rcpt in m.rcpt_tos)

    def session_count(self) -> int:
        """SMTP sessions (connections that said EHLO/HELO) opened so far."""
        with self.handler.lock:
            return len(self.handler.sessions)

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.messages.clear()
            self.handler.sessions.clear()

    # -- knobs -----------------------------------------------------------------------------

    def reject_permanently(self, *addresses: str, code: int = 550) -> None:
        self._reject(addresses, f"{code} 5.1.1 <{{}}>: Recipient address rejected: no such user")

    def reject_temporarily(self, *addresses: str, code: int = 451) -> None:
        text = (
            "421 4.3.2 Service shutting down, closing transmission channel"
            if code == 421
            else f"{code} 4.2.0 <{{}}>: Recipient address rejected: try again later"
        )
        self._reject(addresses, text, closing=code == 421)

    def accept(self, *addresses: str) -> None:
        with self.handler.lock:
            for address in addresses:
                self.handler.rejections.pop(address.lower(), None)
                self.handler.closing.discard(address.lower())

    def drop_sessions(self) -> None:
        """Close every open session from the server's side (and wait until it is closed)."""
        with self.handler.lock:
            servers, self.handler.servers = list(self.handler.servers), []
        done = threading.Event()

        def close() -> None:
            for server in servers:
                if server.transport is not None:
                    server.transport.close()
            done.set()

        self.controller.loop.call_soon_threadsafe(close)
        done.wait(5)

    def hold_messages(self) -> None:
        self.handler.hold.clear()

    def release_messages(self) -> None:
        self.handler.hold.set()

    def _reject(self, addresses, template: str, *, closing: bool = False) -> None:
        with self.handler.lock:
            for address in addresses:
                key = address.lower()
                self.handler.rejections[key] = template.replace("{}", address)
                if closing:
                    self.handler.closing.add(key)
                else:
                    self.handler.closing.discard(key)


def main() -> None:
    parser = argparse.ArgumentParser(description="An SMTP sink that prints what it receives.")
    parser.add_argument("--port", type=int, default=8925)
    args = parser.parse_args()
    with SmtpSink(port=args.port) as sink:
        print(f"SMTP sink on {sink.host}:{sink.port}; Ctrl-C stops it.", flush=True)
        seen = 0
        try:
            while True:
                time.sleep(0.5)
                messages = sink.messages
                for message in messages[seen:]:
                    print(
                        f"{message.mail_from} -> {', '.join(message.rcpt_tos)}: "
                        f"{message.email['Subject']} ({len(message.raw)} bytes)",
                        flush=True,
                    )
                seen = len(messages)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
