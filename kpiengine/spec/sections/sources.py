"""The ``sources:`` section: named warehouse connections, each checked against its plugin's options."""
from __future__ import annotations

from typing import Any, Iterable

import jsonschema

from ...errors import SpecIssue
from ...plugins import unknown_type_message
from ...sections import CheckContext, SpecSection, named_map
from ..model import Project, SourceSpec
from ..suggest import did_you_mean
from ..located import LDict, expand_env

SOURCE = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string", "description": "a source plugin: duckdb, sqlite, postgres, mysql, sqlalchemy, spark, ..."}},
    "additionalProperties": True,
    "description": "A named connection; other keys are the source plugin's options. Use ${VAR} for secrets.",
}


class SourcesSection(SpecSection):
    name = "sources"
    description = "named warehouse connections (a source plugin type and its options)"
    order = 10

    def schema(self) -> dict[str, Any]:
        return named_map(SOURCE)

    def build(self, project: Project, value: Any, issues: list[SpecIssue]) -> None:
        for name, body in (value or {}).items():
            if not isinstance(body, dict):
                continue
            options = expand_env(LDict({k: v for k, v in body.items() if k != "type"}), issues)
            if isinstance(body, LDict):
                options.key_locs = {k: v for k, v in body.key_locs.items() if k != "type"}
                options.value_locs = {k: v for k, v in body.value_locs.items() if k != "type"}
                options.loc = body.loc
            project.sources[name] = SourceSpec(name=name, type=str(body.get("type", "")), options=options,
                                               location=value.loc_of(name))
        if project.default_source is None and len(project.sources) == 1:
            project.default_source = next(iter(project.sources))

    def check(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        registry = context.registry
        for src in project.sources.values():
            if src.type not in registry.source_types:
                yield SpecIssue(unknown_type_message("source", src.type, registry.source_types), src.location,
                                hint="install the plugin that provides it (`kpi plugins` lists what is installed)",
                                code="plugin")
                continue
            yield from _option_issues(src, registry.source_types[src.type])


def _option_issues(src: SourceSpec, cls: type) -> Iterable[SpecIssue]:
    schema = getattr(cls, "options_schema", None) or {"type": "object"}
    known = schema.get("properties", {})
    for err in jsonschema.Draft202012Validator(schema).iter_errors(dict(src.options)):
        key = err.absolute_path[0] if err.absolute_path else None
        where = src.options.loc_of(key) if isinstance(src.options, LDict) and key is not None else src.location
        msg = err.message
        hint = None
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(known))
            if extra and isinstance(src.options, LDict):
                where = src.options.key_locs.get(extra[0], where)
            msg = f"unknown option '{extra[0] if extra else '?'}' for a {src.type} source"
            hint = (did_you_mean(extra[0], known) if extra else None) or "allowed: " + ", ".join(known)
        elif err.validator in ("type", "enum") and key in getattr(cls, "secret_options", ()):
            msg = f"option '{key}' of source '{src.name}' is invalid ({err.validator})"  # never echo a secret
        yield SpecIssue(f"source '{src.name}': {msg}", where, hint=hint, code="source-options")
