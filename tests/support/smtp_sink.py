"""A real SMTP server (aiosmtpd) on a free loopback port, for the e-mail tests."""

import asyncio
import email
import email.policy
import socket
import threading
import time

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SinkHandler:
    def __init__(self):
        self.messages = []
        self.refusal = None  # e.g. "451 4.3.0 try again later": refuse every message with it
        self.refused = 0
        # While holding, a message that reached DATA gets no answer until holding ends: the
        # client is mid-conversation and the message is not accepted. If the client goes away
        # meanwhile, aiosmtpd cancels this handler and the message is dropped (abandoned).
        self.holding = False
        self.held = threading.Event()
        self.abandoned = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.holding:
            self.held.set()
            try:
                while self.holding:
                    await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                with self._lock:
                    self.abandoned += 1
                raise
        if self.refusal:
            with self._lock:
                self.refused += 1
            return self.refusal
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def wait_for(self, count, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} e-mails arrived, expected {count}")


class SmtpSink:
    def __init__(self):
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def messages(self):
        return self.handler.messages

    def settings(self):
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }


def text_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_body(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
