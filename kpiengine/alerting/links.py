"""The dashboard link of an alert: its KPI, period and dimension values at the project's address.

A notification says what broke; the link opens the steering wheel at that place, so the person
who is paged sees the tiles, the trend and "why it changed" of exactly that segment and period
(Alertmanager and Grafana put such a link in every notification for the same reason).
"""
from __future__ import annotations

from urllib.parse import urlencode

from ..formatting import NULL_DISPLAY

#: `kpi serve`'s own address when the project names none (project.url)
DEFAULT_URL = "http://127.0.0.1:8765"


def dashboard_link(project, rule, state) -> str:
    """``project.url`` with the query options the dashboard reads: kpi, grain, period and filter."""
    base = (getattr(project, "url", None) or DEFAULT_URL).rstrip("/") + "/"
    query: dict[str, str] = {}
    if rule.kpi in getattr(project, "kpis", {}):  # freshness and data-check rules watch a model, not a KPI
        query["kpi"] = rule.kpi
    query["grain"] = rule.grain
    if state.last_period:
        query["period"] = str(state.last_period)
    values = {k: NULL_DISPLAY if v is None else str(v) for k, v in sorted(state.dimensions.items())}
    # The dashboard's filter is `dim=value,dim=value`: a value holding either separator cannot be
    # written there, so that dimension becomes the breakdown instead (its row is one of those shown).
    plain = {k: v for k, v in values.items() if "," not in v and "=" not in v}
    if plain:
        query["filter"] = ",".join(f"{k}={v}" for k, v in plain.items())
    rest = [k for k in values if k not in plain]
    if rest:
        query["by"] = rest[0]
    return base + "?" + urlencode(query)
