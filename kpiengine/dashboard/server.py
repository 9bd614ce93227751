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
    /api/dashboard    every view in one document; ?part=first leaves "why" and the funnel panels
                      pending ({"pending": true}) and ?part=rest answers those alone: the page
                      asks for both, so its first screen does not wait for their queries
    /api/<view>       one view of kpiengine.dashboard.views.VIEWS (meta, process, attention, compare, ...)
    /api/breakdown    every breakdown row of one KPI (?kpi=), for "show all"
    /api/rows         the first 100 rows behind a point (?kpi=&period=&dims=region=east), .csv to download
    /api/status       {"stamp": ...}: changes when a run is stored or the spec changes
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..errors import KpiEngineError
from ..spec.gcpause import paused_gc
from ..spec.loader import load_project
from . import data as views
from .collect import PARTS, collect, status_stamp
from .drill import as_csv, drill
from .history_feed import ValueLoader
from .options import DashboardError, parse_options, parse_segment
from .report import CHART_LIBRARY, CHART_URL, render_page, static_text
from .review_feed import review_document
from .shared import SharedResults
from .review_page import render_review_page, review_nav, review_window
from .views import VIEWS, build_dashboard, build_view

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


CACHE_SECONDS = 30  # warehouse-computed parts (funnels, live breakdowns) are at most this old
CACHE_ENTRIES = 32


def freshness(folder: str) -> tuple:
    """Changes when a spec file, the history file or its write-ahead log changes (cheap: file times only).

    The write-ahead log counts by its size, not its time, and an empty one not at all: SQLite
    creates or touches the empty log when a reader opens or closes the file, so the key changed
    on every request and the cache never hit. A commit grows the log; the checkpoint that
    empties it writes the history file itself.
    """
    stamps = []
    for root, dirs, files in os.walk(folder):
        for name in files:
            if name.endswith((".yml", ".yaml", ".db", ".db-wal")):
                try:
                    st = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                if name.endswith("-wal"):
                    if st.st_size:  # an empty log is no log: a first reader creates it empty
                        stamps.append((name, st.st_size))
                else:
                    stamps.append((name, st.st_mtime_ns))
    return tuple(sorted(stamps))


def spec_stamps(folder: str) -> tuple:
    """(path, modification time, size) of every spec file: changes when one is edited, added or removed."""
    if os.path.isfile(folder):  # a one-file spec
        st = os.stat(folder)
        return ((folder, st.st_mtime_ns, st.st_size),)
    stamps = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .kpiengine holds history and caches, not specs
        for name in files:
            if name.endswith((".yml", ".yaml")):
                try:
                    st = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                stamps.append((os.path.join(root, name), st.st_mtime_ns, st.st_size))
    return tuple(sorted(stamps))


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: str, host: str = "127.0.0.1", port: int = 8765, *, quiet: bool = False):
        self.folder = folder
        self.quiet = quiet
        self._cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()
        self._project: tuple | None = None  # (spec files' stamps, Project)
        # values and funnel queries that several addresses need, kept as long as a response is
        self.shared = SharedResults(lambda: freshness(folder), CACHE_SECONDS)
        super().__init__((host, port), DashboardHandler)

    def cached(self, key: tuple, build):
        """A response built for the same request, spec and history less than CACHE_SECONDS ago, else a new one.

        Switching breakdowns back and forth, or several people opening the page on
        Monday morning, then costs one computation instead of one per request.
        """
        key = (key, freshness(self.folder))
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < CACHE_SECONDS:
                self._cache.move_to_end(key)
                return hit[1]
        value = build()
        with self._cache_lock:
            self._cache[key] = (now, value)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return value

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"

    def load_project(self):
        """The spec, loaded again only when a spec file changed (0.13 s a request on the demo otherwise).

        A loaded Project is read-only for the dashboard, so requests share it. A broken spec is
        never kept: the next request reads the files again and reports or recovers.
        """
        stamps = spec_stamps(self.folder)
        held = self._project
        if held is not None and held[0] == stamps:
            return held[1]
        project = load_project(self.folder)
        self._project = (stamps, project)
        return project


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
            elif url.path in ("/review", "/api/review"):
                self._review(url.path, query)
            elif url.path == "/api/status":
                self._json(200, {"stamp": status_stamp(self.server.load_project())})
            elif url.path in ("/api/rows", "/api/rows.csv"):
                self._rows(query, csv_wanted=url.path.endswith(".csv"))
            elif url.path == "/api/breakdown":
                project = self.server.load_project()
                self._json(200, views.breakdown_view(collect(project, parse_options(project, query),
                                                             shared=self.server.shared),
                                                     query.get("kpi") or None))
            elif url.path == "/api/dashboard" or url.path.startswith("/api/") and url.path[5:] in VIEWS:
                part = query.get("part", "all") if url.path == "/api/dashboard" else "all"
                if part not in PARTS:
                    raise DashboardError(f"option 'part': {part!r}; use one of {', '.join(PARTS)}", "part")

                def build():
                    project = self.server.load_project()
                    inputs = collect(project, parse_options(project, query), shared=self.server.shared, part=part)
                    with paused_gc():  # the views and the JSON: thousands of small objects, no cycles to find
                        payload = build_dashboard(inputs, part) if url.path == "/api/dashboard" else \
                            build_view(url.path[5:], inputs)
                        return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")

                body = self.server.cached((url.path, tuple(sorted(query.items()))), build)
                self._send(200, body, "application/json; charset=utf-8")
            elif url.path == CHART_URL:
                body = static_text(CHART_LIBRARY).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "public, max-age=86400")  # pinned version: cache it
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            elif url.path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                self._json(404, {"error": f"no such page {url.path}; the API is under /api/ "
                                          f"({', '.join(['dashboard', 'status', *VIEWS])})"})
        except DashboardError as exc:  # a bad option: the page shows it and reloads with that option's default
            self._json(400, {"error": str(exc), "option": exc.option})
        except KpiEngineError as exc:  # invalid spec, unreachable warehouse: say what to fix
            self._json(400, {"error": str(exc)})
        except Exception as exc:  # a bug: keep serving, show a short message, log the details
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error: {exc!r}"})

    def _review(self, path: str, query: dict) -> None:
        """The Review view: the printable page (/review) or its JSON (/api/review), for ?from=&to=&grain=."""
        start, end, grain = review_window(query)
        outcomes = [o for o in query.get("outcome", "").split(",") if o] or None

        def build():
            project = self.server.load_project()
            doc = review_document(project, start, end, grain=grain, outcomes=outcomes)
            if path == "/api/review":
                return json.dumps(doc.to_dict(), ensure_ascii=False, default=str).encode("utf-8")
            return render_review_page(project, doc, nav=review_nav(start, end, grain)).encode("utf-8")

        body = self.server.cached((path, start, end, grain, tuple(outcomes or ())), build)
        kind = "application/json" if path == "/api/review" else "text/html"
        self._send(200, body, f"{kind}; charset=utf-8")

    def _rows(self, query: dict, csv_wanted: bool) -> None:
        """The first rows behind one point: ?kpi=&period=&dims=region=east[&input=][&grain=]."""
        project = self.server.load_project()
        options = parse_options(project, {k: v for k, v in query.items() if k in ("grain", "period", "kpi", "filter", "where")})
        if not options.kpi or not options.period:
            raise DashboardError("the rows behind a point need kpi=NAME and period=YYYY-MM-DD", "kpi")
        dims = dict(options.segment, **parse_segment(project, query.get("dims")))
        rows = drill(ValueLoader(project).engine(), options.kpi, options.grain, options.period, dims,
                     query.get("input") or None, where=options.where)
        if csv_wanted:
            name = f"{rows['input']}_{rows['period']}.csv"
            body = as_csv(rows).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json(200, rows)

    def _read_only(self):
        self._json(405, {"error": "the dashboard is read-only"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _read_only


def start_in_thread(folder: str, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> DashboardServer:
    """Start a server on a background thread (tests, notebooks); stop it with ``server.shutdown()``."""
    server = DashboardServer(folder, host, port, quiet=quiet)
    threading.Thread(target=server.serve_forever, name="kpi-dashboard", daemon=True).start()
    return server
