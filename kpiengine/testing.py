"""Real local servers for testing sinks: a recording HTTP server and an SMTP server.

Plugin authors test delivery against these instead of mocks, so the bytes on
the wire, the headers, TLS and authentication are all exercised::

    from kpiengine.testing import RecordingHTTPServer, Reply

    with RecordingHTTPServer() as server:
        server.script(Reply.rate_limited(retry_after=30), Reply.ok())
        sink = MySink("team", {"webhook_url": server.url_for("/hook")})
        with pytest.raises(RetryableSinkError) as err:
            sink.send(notification)
        assert err.value.retry_after == 30
        sink.send(notification)
        assert server.requests[-1].json()["text"] == "..."

Both servers listen on 127.0.0.1 on an ephemeral port and stop when the
``with`` block ends. See docs/plugins.md.
"""
from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["RecordingHTTPServer", "RecordedRequest", "Reply", "SMTPTestServer", "RecordedMail",
           "SilentTCPServer", "closed_port", "self_signed_certificate"]


# --------------------------------------------------------------------------- HTTP

@dataclass
class Reply:
    """What the recording server answers to one request.

    ``hang`` seconds are waited before answering (longer than a client's read
    timeout simulates a server that never answers); ``close`` drops the
    connection without any answer.
    """

    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0
    close: bool = False

    @classmethod
    def ok(cls, body: bytes | str | dict | list = b"ok", **headers: str) -> "Reply":
        return cls(200, body, dict(headers))

    @classmethod
    def json(cls, data: Any, status: int = 200) -> "Reply":
        return cls(status, data)

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None, body: bytes | str | dict = b"") -> "Reply":
        """429; ``retry_after`` may be seconds or an HTTP date string."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls(429, body, headers)

    @classmethod
    def error(cls, status: int = 500, body: bytes | str | dict = b"internal error") -> "Reply":
        return cls(status, body)

    @classmethod
    def hang_for(cls, seconds: float) -> "Reply":
        return cls(200, b"late", hang=seconds)

    @classmethod
    def drop(cls) -> "Reply":
        return cls(close=True)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return body, headers


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    raw_path: str = ""  # path with the query string, as sent

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class RecordingHTTPServer:
    """An HTTP(S) server on 127.0.0.1 that records every request and answers as scripted.

    ``tls=True`` serves HTTPS with a self-signed certificate for 127.0.0.1
    (``cert_file``; clients trust it through ``SSL_CERT_FILE``).

    ``default`` answers every request unless :meth:`script` queued replies,
    which are used one per request, in order, before falling back to ``default``.
    """

    def __init__(self, default: Reply | None = None, *, tls: bool = False):
        self.default = default or Reply.ok()
        self.tls = tls
        self.cert_file: str | None = None  # with tls=True: the certificate clients must trust
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------
    def respond(self, reply: Reply) -> None:
        """Answer every later request with ``reply`` (clears the script)."""
        with self._lock:
            self.default = reply
            self._script.clear()

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, one each, then back to ``default``."""
        with self._lock:
            self._script.extend(replies)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} request(s), got {len(self.requests)} in {timeout}s")
                self._arrived.wait(left)
            return list(self.requests)

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> "RecordingHTTPServer":
        owner = self
        self._stopping.clear()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server naming)
                owner._handle(self)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST  # noqa: N815

            def log_message(self, format, *args):  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls:
            self.cert_file, key_file = self_signed_certificate()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
            # the handshake runs on the first read in the handler thread, so a client
            # that never completes it cannot stall the accept loop
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                      do_handshake_on_connect=False)
        self._server.daemon_threads = True
        # a short poll interval keeps stop() (and so each test's teardown) fast
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="recording-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are hanging
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "RecordingHTTPServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- request handling -----------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(handler.path)
        recorded = RecordedRequest(handler.command, split.path, urllib.parse.parse_qs(split.query),
                                   {k.lower(): v for k, v in handler.headers.items()}, body, handler.path)
        with self._arrived:
            self.requests.append(recorded)
            reply = self._script.popleft() if self._script else self.default
            self._arrived.notify_all()
        if reply.hang and self._stopping.wait(reply.hang):
            handler.close_connection = True
            return
        if reply.close:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        data, headers = reply.encoded()
        handler.send_response(reply.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


class SilentTCPServer:
    """A TCP server on 127.0.0.1 that accepts connections and then says nothing, ever.

    What a hung receiver, a firewall that swallows packets after the handshake,
    or a database port that never greets look like from the client. Every
    accepted connection is held open (and counted in ``accepted``) until
    :meth:`stop`, so only the client's own timeouts can end the wait.
    """

    def __init__(self):
        self.accepted = 0
        self._sock: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        assert self._sock is not None, "server not started"
        return self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "SilentTCPServer":
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)

        def accept_loop():
            while not self._stopping.is_set():
                try:
                    conn, _addr = self._sock.accept()
                except (TimeoutError, OSError):
                    continue
                self._held.append(conn)
                self.accepted += 1

        self._thread = threading.Thread(target=accept_loop, name="silent-tcp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2)
        for conn in self._held:
            conn.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "SilentTCPServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- TLS

_cert_lock = threading.Lock()
_cert_cache: tuple[str, str] | None = None


def self_signed_certificate() -> tuple[str, str]:
    """(cert_file, key_file) of a throw-away certificate for ``localhost`` and 127.0.0.1.

    Generated once per process with the ``openssl`` command line tool (present
    on every Linux and macOS), so no extra Python dependency is needed. The
    certificate is its own CA: pass ``cert_file`` as the client's trusted CA.
    """
    global _cert_cache
    with _cert_lock:
        if _cert_cache and all(os.path.exists(p) for p in _cert_cache):
            return _cert_cache
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("the `openssl` command is needed to make a test certificate; "
                               "install it (apt-get install openssl)")
        folder = tempfile.mkdtemp(prefix="kpiengine-tls-")
        cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", key, "-out", cert, "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-addext", "basicConstraints=critical,CA:TRUE"],
                       check=True, capture_output=True)
        _cert_cache = (cert, key)
        return _cert_cache


# --------------------------------------------------------------------------- SMTP

@dataclass
class RecordedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool  # True when the message came over STARTTLS or implicit TLS
    authenticated_as: str | None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class SMTPTestServer:
    """An in-process SMTP server (aiosmtpd) on 127.0.0.1 that records messages.

    ``starttls=True`` offers STARTTLS with a self-signed certificate
    (``cert_file`` is what clients must trust); ``implicit_tls=True`` speaks TLS
    from the first byte (port 465 style). ``user``/``password`` enable AUTH
    LOGIN and PLAIN and make it required. :meth:`script` queues SMTP replies for
    the next messages (e.g. ``"451 4.3.0 try later"``, ``"554 5.7.1 rejected"``,
    or ``"disconnect"`` to drop the connection); ``refuse_recipients`` maps an
    address to the reply its RCPT TO gets. Accepted messages land in ``messages``.
    """

    def __init__(self, *, starttls: bool = False, implicit_tls: bool = False,
                 user: str | None = None, password: str | None = None, require_tls: bool | None = None):
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.user = user
        self.password = password
        self.require_tls = starttls if require_tls is None else require_tls
        self.messages: list[RecordedMail] = []
        #: recipient address -> SMTP reply to its RCPT TO, e.g. {"gone@example.com": "550 5.1.1 no such user"}
        self.refuse_recipients: dict[str, str] = {}
        self.auth_attempts: list[tuple[str, str, bool]] = []  # (mechanism, login, success)
        self.cert_file: str | None = None
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._controller = None

    def script(self, *replies: str) -> None:
        with self._lock:
            self._script.extend(replies)

    def clear_script(self) -> None:
        """Forget the queued replies: every later message is accepted."""
        with self._lock:
            self._script.clear()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        assert self._controller is not None, "server not started"
        return self._controller.port

    def start(self) -> "SMTPTestServer":
        # lazy: aiosmtpd is a test dependency, needed only when a test starts this server
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        owner = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
                reply = owner.refuse_recipients.get(address)
                if reply:
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 OK"

            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd naming)
                with owner._lock:
                    reply = owner._script.popleft() if owner._script else None
                if reply == "disconnect":
                    server.transport.close()
                    return "421 closing"
                if reply:
                    return reply
                with owner._lock:
                    owner.messages.append(RecordedMail(
                        envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content),
                        tls=session.ssl is not None or owner.implicit_tls,
                        authenticated_as=session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None))
                return "250 2.0.0 Message accepted for delivery"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == owner.user
                  and auth_data.password.decode() == owner.password)
            login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
            with owner._lock:
                owner.auth_attempts.append((mechanism, login, ok))
            # handled=False: aiosmtpd itself answers 535 to a failed login
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        class EphemeralPortController(Controller):
            # aiosmtpd wants a fixed port; bind port 0 and read back the one the OS chose
            def factory(self):
                # aiosmtpd warns when AUTH is allowed without STARTTLS; over implicit TLS
                # (or when a test asks for it) that is intended
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    return super().factory()

            def _trigger_server(self):
                if self.port == 0:
                    self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        _quiet_aiosmtpd_deprecation()
        kwargs: dict[str, Any] = {}
        context = None
        if self.starttls or self.implicit_tls:
            self.cert_file, key_file = self_signed_certificate()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
        if self.starttls:
            kwargs.update(tls_context=context, require_starttls=self.require_tls)
        if self.user is not None:
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=self.require_tls and not self.implicit_tls)
        self._controller = EphemeralPortController(
            Handler(), hostname="127.0.0.1", port=0, server_hostname="kpiengine-test",
            ssl_context=context if self.implicit_tls else None, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SMTPTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _drop_login_data_warning(record: logging.LogRecord) -> bool:
    return "login_data is deprecated" not in record.getMessage()


def _quiet_aiosmtpd_deprecation() -> None:
    """aiosmtpd 1.4 logs a deprecation warning on every successful AUTH, from its own code; drop just that."""
    logger = logging.getLogger("mail.log")
    if _drop_login_data_warning not in logger.filters:
        logger.addFilter(_drop_login_data_warning)
