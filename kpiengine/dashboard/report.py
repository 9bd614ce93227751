"""``kpi report --html out.html``: one self-contained page that works offline.

The page is the same template, stylesheet and script ``kpi serve`` uses, with
everything inlined and the dashboard JSON embedded, so the file can be mailed
and opened anywhere: no CDN, no web font, no request at view time (a
Content-Security-Policy in the page forbids any).
"""
from __future__ import annotations

import json
import os
import re
from importlib import resources

from ..spec.model import Project
from .collect import collect
from .data import breakdown_view
from .views import build_dashboard
from .options import DashboardError, DashboardOptions

_PLACEHOLDER = re.compile(r"/\*__(CSS|JS)__\*/|__(TITLE|MODE|DATA|ECHARTS)__")
CHART_LIBRARY = "vendor/echarts.common.min.js"  # Apache ECharts 6.1.0, see static/vendor/README.md
CHART_URL = "/static/" + CHART_LIBRARY


def static_text(name: str) -> str:
    return resources.files("kpiengine.dashboard").joinpath("static", name).read_text(encoding="utf-8")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def embed_json(data) -> str:
    """JSON safe inside <script type="application/json">: every '<' is written as \\u003c.

    No spec text can then close the element (</script>) or open a comment; JSON
    parsers read \\u003c back as '<'.
    """
    return json.dumps(data, ensure_ascii=False, default=str).replace("<", "\\u003c")


def chart_library_tag(mode: str) -> str:
    """The chart library: inlined in the offline report, one cached file for the live page."""
    if mode == "live":
        return f'<script src="{CHART_URL}"></script>'
    # the library's text holds no "</script>"; split any "</" anyway so it cannot end the element
    return "<script>" + static_text(CHART_LIBRARY).replace("</", "<\\/") + "</script>"


def render_page(project: Project, *, mode: str, data: dict | None = None) -> str:
    """The dashboard page; ``mode`` is ``report`` (data embedded) or ``live`` (fetches /api/dashboard)."""
    values = {
        "CSS": static_text("dashboard.css"),
        "JS": static_text("dashboard.js"),
        "TITLE": _html_escape(f"{project.name} — KPI dashboard"),
        "MODE": mode,
        "DATA": embed_json(data) if data is not None else "null",
        "ECHARTS": chart_library_tag(mode),
    }
    # one pass, so text inside the inserted script or data is never substituted again
    return _PLACEHOLDER.sub(lambda m: values[m.group(1) or m.group(2)], static_text("index.html"))


def write_report(project: Project, options: DashboardOptions, path: str | os.PathLike) -> dict:
    """Build the dashboard and write it as one HTML file; returns the embedded data (for messages)."""
    inputs = collect(project, options)
    data = build_dashboard(inputs)
    # "show all" has no server to ask in a mailed file: the rows the tiles leave out travel with it
    data["breakdowns"] = breakdown_view(inputs)
    html = render_page(project, mode="report", data=data)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.replace(tmp, path)  # never leave a half-written report behind
    except OSError as exc:
        raise DashboardError(f"cannot write the report to {path}: {exc.strerror or exc}; "
                             "check that the folder exists and is writable") from None
    return data
