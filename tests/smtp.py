"""A real SMTP server for tests: aiosmtpd in a thread on a free port.

It stands in for the organisation's mail relay. It collects every accepted message, counts
connections, and can misbehave on demand: refuse chosen recipients (550), answer DATA with a
temporary failure, drop the connection mid-batch, answer slowly, or be down altogether.

Use the ``smtp_server`` fixture (registered for the whole suite via ``pytest_plugins`` in
``tests/conftest.py``); ``smtp_mail`` additionally points Django's e-mail settings at it.
A process under test (a Celery worker) can be pointed at it with ``smtp_server.env``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @cached_property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def part(self, content_type: str) -> str:
        """The decoded text of the first part of this type (``text/plain``, ``text/html``)."""
        found = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        if found is None or found.get_content_type() != content_type:
            raise LookupError(f"no {content_type} part")
        return found.get_content()


class SMTPServer:
    """The test-facing side: what arrived, and switches for faults. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._refused: dict[str, str] = {}
        self._connections = 0
        self._fault: str | None = None  # "drop", or an SMTP reply such as "451 ..."
        self._faultless_left: int | None = None  # messages still accepted before the fault starts
        self._delay = 0.0  # seconds before each DATA is answered
        self._port = 0  # chosen by the OS at the first start, kept across restarts
        self._controller: _FreePortController | None = None

    # --- lifecycle ---

    def start(self) -> None:
        """Start (or restart after :meth:`stop`, on the same port)."""
        # A stopped controller has closed its event loop, so every start builds a new one.
        controller = _FreePortController(
            _Handler(self), hostname=HOST, port=self._port, server_hostname="smtp.test", ready_timeout=10
        )
        controller.start()
        self._controller, self._port = controller, controller.port

    def stop(self) -> None:
        """Go down: connections are refused until :meth:`start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self._port

    @property
    def django_settings(self) -> dict[str, Any]:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": HOST,
            "EMAIL_PORT": self.port,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_TIMEOUT": 10,
        }

    @property
    def env(self) -> dict[str, str]:
        """Environment for a Pulse process (worker) that should send here."""
        return {"EMAIL_HOST": HOST, "EMAIL_PORT": str(self.port), "EMAIL_URL": ""}

    # --- what arrived ---

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def recipients(self) -> list[str]:
        return [rcpt for message in self.messages for rcpt in message.rcpt_tos]

    @property
    def connections(self) -> int:
        """SMTP sessions that greeted the server (EHLO/HELO)."""
        with self._lock:
            return self._connections

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._connections = 0

    # --- faults ---

    def refuse(self, address: str, reply: str = "550 5.1.1 Mailbox unavailable") -> None:
        """Answer RCPT TO for this address with ``reply``."""
        with self._lock:
            self._refused[address.lower()] = reply

    def fail_after(self, accepted: int, reply: str = "451 4.3.0 Temporary local problem, try again later") -> None:
        """Accept ``accepted`` more messages, then answer every DATA with ``reply``."""
        self._set_fault(accepted, reply)

    def drop_after(self, accepted: int) -> None:
        """Accept ``accepted`` more messages, then drop the connection at every DATA."""
        self._set_fault(accepted, "drop")

    def slow_down(self, seconds: float) -> None:
        """Take ``seconds`` over each message before accepting it (a slow relay), so a batch takes a while."""
        with self._lock:
            self._delay = seconds

    def heal(self) -> None:
        """Forget every fault, refusal and slowness."""
        with self._lock:
            self._refused.clear()
            self._fault = None
            self._faultless_left = None
            self._delay = 0.0

    def _set_fault(self, accepted: int, fault: str) -> None:
        with self._lock:
            self._fault, self._faultless_left = fault, accepted

    # --- called from the server thread ---

    def _greeted(self) -> None:
        with self._lock:
            self._connections += 1

    def _data_delay(self) -> float:
        with self._lock:
            return self._delay

    def _refusal(self, address: str) -> str | None:
        with self._lock:
            return self._refused.get(address.lower())

    def _receive(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> str | None:
        """Record the message and return None, or return the fault to apply instead."""
        with self._lock:
            if self._fault is not None and not self._faultless_left:
                return self._fault
            if self._faultless_left:
                self._faultless_left -= 1
            self._messages.append(ReceivedMessage(mail_from, tuple(rcpt_tos), data))
            return None


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.server._greeted()
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.server._greeted()
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.server._refusal(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        delay = self.server._data_delay()
        if delay:
            await asyncio.sleep(delay)  # the message counts as accepted only once it is answered
        fault = self.server._receive(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        if fault == "drop":
            server.transport.abort()
            return "421 4.4.2 Connection dropped"
        return fault or "250 2.0.0 Message accepted for delivery"


class _FreePortController(Controller):
    """aiosmtpd binds port 0 fine, but then checks readiness on port 0; ask the socket instead."""

    def _trigger_server(self) -> None:
        if not self.port:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    # aiosmtpd logs every command and DATA line of the stand-in relay at INFO/DEBUG; that is the
    # remote server's log, not Pulse's, and would only bury a failing test's output.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)
    server = SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server_log.setLevel(level)


@pytest.fixture
def smtp_mail(smtp_server: SMTPServer, settings) -> SMTPServer:
    """The SMTP server, with Django's e-mail settings pointed at it for this test."""
    for name, value in smtp_server.django_settings.items():
        setattr(settings, name, value)
    return smtp_server
