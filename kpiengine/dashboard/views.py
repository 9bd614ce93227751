"""The dashboard's views, in page order: one name and one function of :class:`DashboardInputs` each.

``/api/dashboard`` holds them all, ``/api/<name>`` one of them, and the page's
script has the matching list of panels (``PANELS`` in ``static/dashboard.js``).
A new view (a review of last week's decisions, say) is one function here and one
entry there; nothing else needs to know about it.
"""
from __future__ import annotations

from . import data
from .compact import compact
from .compare import compare_view
from .matrix import matrix_view

VIEWS = {
    "meta": data.meta_view,
    "process": lambda inputs: data.public(data.process_view(inputs)),
    "attention": data.attention_view,
    "compare": compare_view,
    "funnel": data.funnel_view,
    "matrix": matrix_view,
    "trends": data.trends_view,
    "team": data.team_view,
    "why": data.why_view,
    "alerts": data.alerts_view,
}


# The views a second request of the live page fills (collect part "rest"): below the fold, and the
# most warehouse time when no stored run covers the address (root-cause queries, funnel relations).
LATER_VIEWS = ("why", "funnel", "matrix")


def build_dashboard(inputs, part: str = "all") -> dict:
    """Every view of :data:`VIEWS` in one document (``/api/dashboard``, the offline report), compacted.

    ``part="rest"``: the LATER_VIEWS only (the page's second request).
    """
    names = LATER_VIEWS if part == "rest" else VIEWS
    return compact({name: VIEWS[name](inputs) for name in names})


def build_view(name: str, inputs) -> dict:
    """One view of :data:`VIEWS` (``/api/<name>``), compacted like the whole document."""
    return compact(VIEWS[name](inputs))
