"""``kpi serve``: the live dashboard on a local, read-only web server (stdlib http.server).

Every request re-reads the spec folder and the history file, so a new
``kpi run`` or ``kpi check`` shows up on the next refresh (the page also polls
``/api/status`` and reloads when a new run lands). Only GET is served; nothing
can change a spec, a rule or an alert from here. The server binds to
127.0.0.1 by default and refuses requests whose Host header names another
machine, so a web page elsewhere cannot read it through DNS rebinding.

Endpoints (all take the dashboard options as query parameters: grain, by,
period, compare, start, end, kpi, node, funnel, bubble_by, bubble_x, bubble_y,
bubble_size, spark_periods)::

    /                 the page
    /api/dashboard    every view in one document
    /api/meta /api/process /api/attention /api/funnel /api/trends /api/team /api/why /api/alerts
    /api/status       {"stamp": ...}: changes when a run is stored or the spec changes
"""
from __future__ import annotations

import json
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..errors import KpiEngineError
from ..spec.loader import load_project
from . import data as views
from .collect import collect, status_stamp
from .options import parse_options
from .report import render_page

VIEWS = {
    "meta": views.meta_view, "process": views.process_view, "attention": views.attention_view,
    "funnel": views.funnel_view, "trends": views.trends_view, "team": views.team_view,
    "why": views.why_view, "alerts": views.alerts_view,
}
LOCAL_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


def error_page(message: str) -> str:
    text = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>kpi serve: the spec has problems</title></head>"
            "<body style='font-family:system-ui,sans-serif;margin:2em'><h1>The spec has problems</h1>"
            f"<p>Fix them and refresh this page.</p><pre style='white-space:pre-wrap'>{text}</pre></body></html>")


def host_of(header: str) -> str:
    """The host name of a Host header, without the port ("[::1]:8765" -> "[::1]")."""
    header = header.strip()
    if header.startswith("["):
        return header.split("]")[0] + "]"
    return header.rsplit(":", 1)[0]


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: str, host: str = "127.0.0.1", port: int = 8765, *, quiet: bool = False):
        self.folder = folder
        self.quiet = quiet
        super().__init__((host, port), DashboardHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"

    def load_project(self):
        return load_project(self.folder)


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "kpiengine-dashboard"

    def log_message(self, fmt, *args):  # one line per request, unless quiet (tests)
        if not self.server.quiet:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload) -> None:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def _host_allowed(self) -> bool:
        host = host_of(self.headers.get("Host") or "")
        bound = self.server.server_address[0]
        return host in LOCAL_NAMES or host == bound or bound in ("0.0.0.0", "::")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if not self._host_allowed():
            self._json(403, {"error": "this dashboard only answers requests addressed to its own host name"})
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path in ("/", "/index.html"):
                try:
                    project = self.server.load_project()
                except KpiEngineError as exc:  # a broken spec: say so on the page, the next refresh retries
                    self._send(400, error_page(str(exc)).encode("utf-8"), "text/html; charset=utf-8")
                    return
                self._send(200, render_page(project, mode="live").encode("utf-8"), "text/html; charset=utf-8")
            elif url.path == "/api/status":
                self._json(200, {"stamp": status_stamp(self.server.load_project())})
            elif url.path == "/api/dashboard" or url.path.startswith("/api/") and url.path[5:] in VIEWS:
                project = self.server.load_project()
                inputs = collect(project, parse_options(project, query))
                if url.path == "/api/dashboard":
                    self._json(200, views.build_dashboard(inputs))
                else:
                    self._json(200, VIEWS[url.path[5:]](inputs))
            elif url.path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                self._json(404, {"error": f"no such page {url.path}; the API is under /api/ "
                                          f"({', '.join(['dashboard', 'status', *VIEWS])})"})
        except KpiEngineError as exc:  # bad option, invalid spec, unreachable warehouse: say what to fix
            self._json(400, {"error": str(exc)})
        except Exception as exc:  # a bug: keep serving, show a short message, log the details
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error: {exc!r}"})

    def _read_only(self):
        self._json(405, {"error": "the dashboard is read-only"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _read_only


def start_in_thread(folder: str, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> DashboardServer:
    """Start a server on a background thread (tests, notebooks); stop it with ``server.shutdown()``."""
    server = DashboardServer(folder, host, port, quiet=quiet)
    threading.Thread(target=server.serve_forever, name="kpi-dashboard", daemon=True).start()
    return server
