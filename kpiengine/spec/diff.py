"""``kpi diff``: the change between two versions of a spec, as a review sees it.

Per KPI: added, removed, retired, status changed, definition changed (formula,
filter, model, aggregate, column, percentile), target changed (``target:`` and
the ``targets:`` set in advance), decisions recorded since, and other fields.
Per alert rule: added, removed, thresholds changed (the severities, recovery,
``for``, sample and significance gates), other settings. Both versions are
loaded without the semantic checks, so an old revision that no longer
validates can still be compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFINITION = ("model", "aggregate", "column", "percentile", "filter", "formula")
TARGET = ("target", "targets")
STATUS = ("status", "since")
OTHER = ("label", "unit", "direction", "owner", "process", "dimensions", "tags", "format", "description", "playbook")
THRESHOLD_KEYS = ("info", "warning", "critical", "recovery", "target", "for", "keep_firing_for", "min_sample",
                  "significance", "sensitivity", "window", "periods", "compare", "direction", "severity")


def plain(value: Any) -> Any:
    """Located YAML values (LDict, LList, LStr) as plain dicts, lists and strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


@dataclass
class FieldChange:
    field: str
    kind: str  # definition | target | status | review | other | threshold | setting
    before: Any
    after: Any

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ItemChange:
    name: str
    change: str  # added | removed | retired | changed
    fields: list[FieldChange] = field(default_factory=list)
    kpi: str | None = None  # for rules: the KPI watched

    def kinds(self) -> set[str]:
        return {f.kind for f in self.fields}

    def to_dict(self) -> dict:
        return {"name": self.name, "change": self.change, "kpi": self.kpi, "fields": [f.to_dict() for f in self.fields]}


@dataclass
class SpecDiff:
    a: str
    b: str
    kpis: list[ItemChange]
    rules: list[ItemChange]

    @property
    def empty(self) -> bool:
        return not self.kpis and not self.rules

    def kpis_with(self, *changes: str) -> list[str]:
        return [c.name for c in self.kpis if c.change in changes]

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "kpis": [c.to_dict() for c in self.kpis],
                "rules": [c.to_dict() for c in self.rules],
                "summary": {k: self.kpis_with(k) for k in ("added", "removed", "retired", "changed")}}


def _kpi_fields(raw_a: dict, raw_b: dict) -> list[FieldChange]:
    out = []
    for kind, names in (("status", STATUS), ("definition", DEFINITION), ("target", TARGET), ("other", OTHER)):
        for name in names:
            before, after = raw_a.get(name), raw_b.get(name)
            if name == "status":
                before, after = before or "active", after or "active"
            if before != after:
                out.append(FieldChange(name, kind, before, after))
    old = raw_a.get("review") or []
    new = [e for e in (raw_b.get("review") or []) if e not in old]
    if new:
        out.append(FieldChange("review", "review", None, new))
    return out


def diff_projects(a, b, label_a: str = "a", label_b: str = "b") -> SpecDiff:
    """Compare the ``kpis:`` and ``rules:`` sections of two loaded projects."""
    ka, kb = plain(a.section("kpis", {}) or {}), plain(b.section("kpis", {}) or {})
    kpis: list[ItemChange] = []
    for name in [*ka, *(n for n in kb if n not in ka)]:
        if name not in kb:
            kpis.append(ItemChange(name, "removed"))
        elif name not in ka:
            kpis.append(ItemChange(name, "added", _kpi_fields({}, kb[name])))
        else:
            fields = _kpi_fields(ka[name], kb[name])
            if fields:
                retired = (kb[name].get("status") == "retired") != (ka[name].get("status") == "retired")
                kind = "retired" if kb[name].get("status") == "retired" and retired else "changed"
                kpis.append(ItemChange(name, kind, fields))
    ra, rb = plain(a.section("rules", {}) or {}), plain(b.section("rules", {}) or {})
    rules: list[ItemChange] = []
    for name in [*ra, *(n for n in rb if n not in ra)]:
        if name not in rb:
            rules.append(ItemChange(name, "removed", kpi=ra[name].get("kpi")))
        elif name not in ra:
            rules.append(ItemChange(name, "added", kpi=rb[name].get("kpi")))
        else:
            fields = [FieldChange(key, "threshold" if key in THRESHOLD_KEYS else "setting", ra[name].get(key),
                                  rb[name].get(key))
                      for key in [*ra[name], *(k for k in rb[name] if k not in ra[name])]
                      if ra[name].get(key) != rb[name].get(key)]
            if fields:
                rules.append(ItemChange(name, "changed", fields, kpi=rb[name].get("kpi")))
    return SpecDiff(label_a, label_b, kpis, rules)


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = str(value).strip().replace("\n", " ")
    return text if len(text) <= 70 else text[:67] + "..."


def diff_text(d: SpecDiff) -> str:
    """What ``kpi diff`` prints."""
    if d.empty:
        return f"no KPI or rule changes between {d.a} and {d.b}"
    lines = [f"kpi diff {d.a} -> {d.b}"]
    if d.kpis:
        lines.append("")
        lines.append("KPIs:")
    for c in d.kpis:
        mark = {"added": "+", "removed": "-", "retired": "x", "changed": "~"}[c.change]
        lines.append(f"  {mark} {c.name}: {c.change}")
        for f in c.fields:
            if c.change == "added":
                if f.kind in ("definition", "target", "status"):
                    lines.append(f"      {f.field}: {_short(f.after)}")
                continue
            if f.kind == "review":
                for entry in f.after:
                    lines.append(f"      review: {entry.get('date')} {entry.get('decision')} — "
                                 f"{_short(entry.get('reason'))}")
                continue
            lines.append(f"      {f.kind} {f.field}: {_short(f.before)} -> {_short(f.after)}")
    if d.rules:
        lines += ["", "Alert rules:"]
    for c in d.rules:
        mark = {"added": "+", "removed": "-", "changed": "~"}[c.change]
        lines.append(f"  {mark} {c.name} (on {c.kpi}): {c.change}")
        for f in c.fields:
            lines.append(f"      {f.kind} {f.field}: {_short(f.before)} -> {_short(f.after)}")
    return "\n".join(lines)
