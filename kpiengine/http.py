"""POST JSON to a webhook and turn every outcome into the sink error the outbox understands.

HTTP sinks (Slack, generic webhook, Feishu, DingTalk, WeCom, third-party ones)
share this one helper so they agree on what "try again later" means:

* 2xx: delivered; the :class:`HttpResponse` is returned so a sink can read a
  JSON status code inside a 200 (Feishu, DingTalk and WeCom do that);
* 429, 408 and 5xx: :class:`~kpiengine.errors.RetryableSinkError`, with
  ``retry_after`` taken from ``Retry-After`` (seconds or an HTTP date);
* timeouts, refused or reset connections, DNS failures: retryable;
* other 4xx, redirects, bad URLs, TLS certificate failures: permanent.

Webhook URLs are credentials (Slack and Feishu put the token in the path,
DingTalk and WeCom in the query string), so no message built here ever
contains a URL as given: :func:`redact_url` keeps the scheme, host and port
and replaces the query, the user info and every path segment (a lower-case
token reads like a word, so no segment is trusted to be harmless).
"""
from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from . import __version__
from .errors import PermanentSinkError, RetryableSinkError
from .render import truncate

USER_AGENT = f"kpiengine/{__version__}"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
#: how much of an error response body is quoted in the error message
_BODY_QUOTE = 300
_MAX_RESPONSE = 1 << 20

# Echoed URL parts are scrubbed from quoted response bodies unless a segment is a short
# word: lower case ("services", "open-apis"), CamelCase ("IncomingWebhook") or a version
# ("v2"); anything with digits, random case or 10 characters and more goes.
_PLAIN_SEGMENT = re.compile(r"(?=.{1,20}$)(?:[a-z][a-z_\-]*|[a-z]*(?:[A-Z][a-z]+)+|v\d{1,2})")


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def redact_url(url: str) -> str:
    """``url`` with everything after the host replaced by ``***``: query, user info, every path segment.

    >>> redact_url("https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ")
    'https://hooks.slack.com/***/***/***/***'
    >>> redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc123")
    'https://oapi.dingtalk.com/***/***?***'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    netloc = host if port is None else f"{host}:{port}"
    segments = [seg and "***" for seg in parts.path.split("/")]
    query = "?***" if parts.query else ""
    return f"{parts.scheme}://{netloc}{'/'.join(segments)}{query}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret value from ``text`` (longest first, so a token inside a URL goes too).

    A secret that is a URL also hides its query values and token-like path
    segments, since servers sometimes echo just the token back.
    """
    values = [str(s) for s in secrets if s]
    values += [part for s in values if "://" in s for part in _url_secret_parts(s)]
    for secret in sorted((s for s in values if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def encode_json(payload: Any) -> bytes:
    """The exact bytes sent for ``payload``: compact UTF-8 JSON, non-ASCII kept as is (中文 stays readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))


def header_value(value: str) -> str:
    """``value`` as a legal HTTP header value: non-ASCII characters percent-encoded as UTF-8.

    Idempotency keys contain dimension values (``華東``); HTTP headers are ASCII,
    so they travel as ``%E8%8F%AF%E6%9D%B1``, the same bytes on every retry.
    """
    value = str(value)
    if value.isascii() and value.isprintable():
        return value
    return urllib.parse.quote(value, safe=_PRINTABLE_ASCII.replace("%", ""))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def post_json(url: str, payload: Any, *, sink: str, headers: Mapping[str, str] | None = None,
              connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, read_timeout: float = DEFAULT_READ_TIMEOUT,
              secrets: Iterable[str] = ()) -> HttpResponse:
    """POST ``payload`` as JSON (or ``bytes`` already encoded with :func:`encode_json`) and map the outcome.

    ``sink`` names the sink in error messages. ``secrets`` are extra values
    (signing keys, header tokens) scrubbed from any message, on top of the URL.
    """
    body = payload if isinstance(payload, bytes) else encode_json(payload)
    all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    all_headers.update(headers or {})
    return post(url, body, sink=sink, headers=all_headers, connect_timeout=connect_timeout,
                read_timeout=read_timeout, secrets=secrets)


@dataclass
class _Target:
    scheme: str
    host: str
    port: int
    request_path: str  # what goes on the request line
    tunnel: tuple[str, int] | None = None  # HTTPS through a proxy: CONNECT to this


def post(url: str, body: bytes, *, sink: str, headers: Mapping[str, str],
         connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, read_timeout: float = DEFAULT_READ_TIMEOUT,
         secrets: Iterable[str] = ()) -> HttpResponse:
    """POST raw ``body`` with ``headers``; see :func:`post_json` for the error mapping."""
    safe_url = redact_url(url)
    secret_values = [*secrets, *_url_secret_parts(url)]
    if safe_url != url:
        secret_values.append(url)

    def retryable(message: str, retry_after: float | None = None) -> RetryableSinkError:
        return RetryableSinkError(sink, scrub(f"POST {safe_url}: {message}", secret_values), retry_after=retry_after)

    def permanent(message: str) -> PermanentSinkError:
        return PermanentSinkError(sink, scrub(f"POST {safe_url}: {message}", secret_values))

    target = _target(url, permanent)
    conn = _connection(target, connect_timeout)
    try:
        try:
            conn.connect()  # connect timeout applies here (and to the TLS handshake)
        except ssl.SSLCertVerificationError as exc:
            raise permanent(f"TLS certificate rejected ({exc.verify_message}); "
                            "fix the server certificate or the URL") from None
        except socket.gaierror as exc:
            raise retryable(f"cannot resolve host {target.host!r} ({exc.strerror})") from None
        except ConnectionRefusedError:
            raise retryable(f"connection refused by {target.host}:{target.port}") from None
        except TimeoutError:
            raise retryable(f"no connection within {connect_timeout:g}s") from None
        except OSError as exc:
            raise retryable(f"cannot connect: {exc.strerror or exc!r}") from None
        conn.sock.settimeout(read_timeout)  # from now on each read waits at most read_timeout
        try:
            conn.putrequest("POST", target.request_path, skip_accept_encoding=True)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                conn.putheader(name, header_value(value))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read(_MAX_RESPONSE)
        except TimeoutError:
            raise retryable(f"no answer within {read_timeout:g}s (read timeout)") from None
        except (http.client.HTTPException, OSError) as exc:
            raise retryable(f"connection lost before an answer: {type(exc).__name__}") from None
    finally:
        conn.close()

    response = HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    status = response.status
    if 200 <= status < 300:
        return response
    quoted = _quote_body(response)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429:
        wait = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        raise retryable(f"HTTP 429 Too Many Requests{wait}{quoted}", retry_after)
    if status >= 500 or status == 408:
        raise retryable(f"HTTP {status} {resp.reason}{quoted}", retry_after)
    if 300 <= status < 400:
        raise permanent(f"HTTP {status} redirect; webhooks are not followed across redirects, "
                        "use the final URL")
    raise permanent(f"HTTP {status} {resp.reason}{quoted}")


def _quote_body(response: HttpResponse) -> str:
    text = " ".join(response.text.split())
    if not text:
        return ""
    if len(text) > _BODY_QUOTE:
        text = text[:_BODY_QUOTE] + "…"
    return f": {text}"


def _url_secret_parts(url: str) -> list[str]:
    """Query values and token-like path segments, so a server echoing them back cannot leak them."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return []
    values = [v for _k, v in urllib.parse.parse_qsl(parts.query)]
    # long segments too, however plain they look: `hooks/abcdefghijklmnop` is a lower-case token
    values += [seg for seg in parts.path.split("/") if seg and (len(seg) >= 10 or not _PLAIN_SEGMENT.fullmatch(seg))]
    if parts.password:
        values.append(parts.password)
    return values


def _bad_character(url: str) -> int | None:
    """Position of the first space, line break or control character in ``url``, None when there is none."""
    return next((i for i, c in enumerate(url) if c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F), None)


def _target(url: str, permanent) -> _Target:
    # A URL with CR/LF or a space (a secret file's trailing newline) can never be sent: http.client
    # refuses it on every attempt, which once read as "connection lost" and was retried for 24 h.
    bad = _bad_character(url)
    if bad is not None:
        raise permanent(f"invalid URL: a space, line break or control character at position {bad + 1} "
                        f"of {len(url)}; remove it (a trailing newline from a secret file or variable?)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise permanent("invalid URL; expected http(s)://host/path") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise permanent("invalid URL; expected http(s)://host/path")
    port = port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    target = _Target(parts.scheme, parts.hostname, port, path)
    # Honour HTTP(S)_PROXY / NO_PROXY like urllib does: company networks often
    # reach chat webhooks only through a proxy.
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not _is_loopback(parts.hostname) and not urllib.request.proxy_bypass(parts.hostname):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        if p.hostname:
            proxy_port = p.port or 8080
            if parts.scheme == "https":
                target.tunnel = (parts.hostname, port)
            else:
                target.request_path = f"http://{parts.hostname}:{port}{path}"
            target.host, target.port = p.hostname, proxy_port
    return target


def _is_loopback(host: str) -> bool:
    """A receiver on this machine is never reached through a proxy."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connection(target: _Target, connect_timeout: float) -> http.client.HTTPConnection:
    if target.scheme == "https" and target.tunnel is None:
        return http.client.HTTPSConnection(target.host, target.port, timeout=connect_timeout,
                                           context=ssl.create_default_context())
    if target.tunnel is not None:
        conn = http.client.HTTPSConnection(target.host, target.port, timeout=connect_timeout,
                                           context=ssl.create_default_context())
        conn.set_tunnel(*target.tunnel)
        return conn
    return http.client.HTTPConnection(target.host, target.port, timeout=connect_timeout)


#: JSON Schema properties every HTTP sink accepts, merged into its ``options_schema``.
TIMEOUT_OPTIONS = {
    "connect_timeout": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULT_CONNECT_TIMEOUT,
                        "description": "seconds to wait for the TCP/TLS connection"},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULT_READ_TIMEOUT,
                "description": "seconds to wait for the answer once connected"},
}

#: JSON Schema of a webhook URL option (http or https).
URL_OPTION = {"type": "string", "pattern": "^(?![\\s\\S]*[\\s\\x00-\\x1f\\x7f])https?://[^/]+",
              "description": "webhook URL (no spaces or line breaks); keep it in ${ENV}"}


def raise_for_bot_answer(response: HttpResponse, *, sink: str, service: str, code_keys: tuple[str, ...],
                         message_keys: tuple[str, ...], retryable_codes: Iterable[int],
                         hints: Mapping[int, str] | None = None, secrets: Iterable[str] = ()) -> None:
    """Read the JSON answer of a chat-bot webhook (DingTalk, WeCom, Feishu/Lark).

    These robots answer HTTP 200 even when they refuse a message and put the
    outcome in a JSON error code: 0 means delivered, a rate-limit code is
    retryable, anything else is permanent (with a hint where one is known).
    Messages the server echoes back are scrubbed of ``secrets``.
    """
    answer = response.json()
    if not isinstance(answer, dict):
        raise PermanentSinkError(sink, f"unexpected answer (not {service} JSON): {truncate(response.text, 200)!r}")
    label = code_keys[0]
    code = next((answer[k] for k in code_keys if k in answer), 0)
    if code in (0, None):
        return
    text = next((str(answer[k]) for k in message_keys if answer.get(k)), "")
    text = scrub(text, secrets)  # some servers echo the webhook URL, token included
    if code in set(retryable_codes):
        raise RetryableSinkError(sink, f"{service} asks to slow down ({label} {code}: {text})")
    hint = f"; {hints[code]}" if hints and code in hints else ""
    raise PermanentSinkError(sink, f"{service} refused the message ({label} {code}: {text}){hint}")


def timeouts(options: Mapping[str, Any]) -> dict[str, float]:
    """``connect_timeout`` and ``read_timeout`` keyword arguments for :func:`post_json` from sink options."""
    return {"connect_timeout": float(options.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)),
            "read_timeout": float(options.get("timeout", DEFAULT_READ_TIMEOUT))}
