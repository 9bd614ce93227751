"""Spec sections as plugins: every top-level key of a spec file belongs to the feature that reads it.

The loader, ``kpi schema`` and ``kpi validate`` know no section by name. They
ask the plugin registry for :class:`SpecSection` objects (the
``kpiengine_spec_sections`` hook) and let each one describe its JSON Schema,
how the files of a folder combine, how its raw YAML becomes typed objects on
the project, and which semantic checks it makes. The core sections
(``project``, ``sources``, ``models``, ``kpis``, ``process``) are registered
this way too, by the internal plugin ``kpiengine.spec.sections``; funnels and
alerting register theirs; a third-party plugin adds its own the same way.

The raw value a section receives keeps the location of every node
(``value.loc_of(key)`` gives ``file:line:column``), so every check can point
at the line a person must fix.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import SpecIssue

#: A name of a KPI, model, source, rule...: what SQL aliases and formulas can carry safely.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

#: How the same section written in several files of a folder combines.
NAMED = "named"  # a map of name -> definition; names are unique across files
LIST = "list"  # a list; the files' lists are concatenated in file order
SINGLE = "single"  # written in at most one file
MERGE_KINDS = (NAMED, LIST, SINGLE)


def named_map(item_schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """JSON Schema of a ``name: definition`` map whose names follow :data:`NAME_PATTERN`."""
    schema: dict[str, Any] = {"type": "object", "propertyNames": {"type": "string", "pattern": NAME_PATTERN},
                              "additionalProperties": item_schema}
    if description:
        schema["description"] = description
    return schema


@dataclass
class CheckContext:
    """What a section's checks may consult besides the project.

    ``issues`` holds what the sections checked earlier found, so a section can
    stay quiet when its input is already known to be broken (no follow-on
    errors). ``dialect_of`` gives the sqlglot dialect of a named source.
    """

    registry: Any  # kpiengine.plugins.PluginRegistry
    issues: list[SpecIssue] = field(default_factory=list)
    dialect_of: Callable[[str], str] = lambda _source: "duckdb"


class SpecSection:
    """One top-level section of a spec. Subclass it, set the class attributes, override what applies.

    Sections are built and checked in ascending ``order``; a section that adds
    KPIs other sections refer to (funnels) runs before the sections that read
    them (alert rules). Core sections use 0-49.
    """

    name: str = ""  # the top-level key in a spec file
    merge: str = NAMED  # NAMED, LIST or SINGLE
    item: str = ""  # what one entry is called in messages ("KPI", "model"); default: the name minus "s"
    description: str = ""  # one line, shown by `kpi schema` and `kpi plugins`
    order: int = 100

    def schema(self) -> dict[str, Any]:
        """JSON Schema of the section's value as written in one file."""
        return {"type": "object"} if self.merge != LIST else {"type": "array"}

    def schema_defs(self) -> dict[str, Any]:
        """Entries this section's schema refers to as ``#/$defs/<name>``."""
        return {}

    def describe_schema_error(self, error: Any, where: str) -> tuple[str, str | None] | None:
        """A better (message, hint) for a JSON Schema error inside this section, or None for the default."""
        return None

    def build(self, project: Any, value: Any, issues: list[SpecIssue]) -> None:
        """Turn the merged raw value (None when no file has the section) into typed objects on ``project``.

        Runs for every load, also of an invalid spec: skip what the schema already
        rejected instead of failing, and report only what the schema cannot see.
        """

    def check(self, project: Any, context: CheckContext) -> Iterable[SpecIssue]:
        """Semantic checks the schema cannot express: references, cycles, unsafe SQL, ..."""
        return ()

    def complete(self, project: Any, context: CheckContext) -> Iterable[SpecIssue]:
        """Add derived objects (a funnel's KPIs) once this section's own checks found nothing."""
        return ()

    @property
    def item_name(self) -> str:
        return self.item or (self.name[:-1] if self.name.endswith("s") else self.name)
