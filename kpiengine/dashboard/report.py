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
from .data import build_dashboard
from .options import DashboardError, DashboardOptions

_PLACEHOLDER = re.compile(r"/\*__(CSS|JS)__\*/|__(TITLE|MODE|LANG|DATA)__")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


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


def page_language(project: Project) -> str:
    labels = [k.label for k in project.kpis.values()] + [n.label for n in project.process.values()]
    return "zh" if any(_CJK.search(label or "") for label in labels) else "en"


def render_page(project: Project, *, mode: str, data: dict | None = None) -> str:
    """The dashboard page; ``mode`` is ``report`` (data embedded) or ``live`` (fetches /api/dashboard)."""
    values = {
        "CSS": static_text("dashboard.css"),
        "JS": static_text("dashboard.js"),
        "TITLE": _html_escape(f"{project.name} — KPI dashboard"),
        "MODE": mode,
        "LANG": page_language(project),
        "DATA": embed_json(data) if data is not None else "null",
    }
    # one pass, so text inside the inserted script or data is never substituted again
    return _PLACEHOLDER.sub(lambda m: values[m.group(1) or m.group(2)], static_text("index.html"))


def write_report(project: Project, options: DashboardOptions, path: str | os.PathLike) -> dict:
    """Build the dashboard and write it as one HTML file; returns the embedded data (for messages)."""
    data = build_dashboard(collect(project, options))
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
