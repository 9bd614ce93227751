"""The ``sources:`` section: named warehouse connections, each checked against its plugin's options."""
from __future__ import annotations

from typing import Any, Iterable

import jsonschema

from ...errors import SpecIssue
from ...plugins import unknown_type_message
from ...sections import CheckContext, SpecSection, named_map
from ..located import LDict, expand_env, expand_path
from ..model import Project, SourceSpec
from ..suggest import did_you_mean

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
            if isinstance(options.get("path"), str) and "${" in options["path"]:
                options["path"] = expand_path(options["path"], issues)  # a malformed ${ is refused, not a file
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
    """Every problem with a source's options at once: each unknown option with a did-you-mean, then the rest."""
    schema = getattr(cls, "options_schema", None) or {"type": "object"}
    known = schema.get("properties", {})
    located = src.options if isinstance(src.options, LDict) else None
    reference = f"`kpi plugins --options {src.type}` lists them"
    for err in jsonschema.Draft202012Validator(schema).iter_errors(dict(src.options)):
        key = err.absolute_path[0] if err.absolute_path else None
        where = located.loc_of(key) if located is not None and key is not None else src.location
        if err.validator == "additionalProperties":
            for extra in sorted(set(err.instance) - set(known), key=str):
                at = located.key_locs.get(extra, src.location) if located is not None else src.location
                yield SpecIssue(f"source '{src.name}': unknown option '{extra}' for a {src.type} source", at,
                                hint=(did_you_mean(extra, known) or "options: " + ", ".join(known)) + f"; {reference}",
                                code="source-options")
            continue
        msg = err.message
        if key in getattr(cls, "secret_options", ()):
            msg = f"option '{key}' is invalid ({err.validator})"  # never echo a secret
        elif key is not None:
            msg = f"option '{key}': {err.message}"
        yield SpecIssue(f"source '{src.name}': {msg}", where, hint=reference, code="source-options")
