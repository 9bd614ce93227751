"""YAML loading that remembers where every value came from.

Ops teams edit specs by hand, so every later error must point at a file, line
and column. PyYAML's nodes carry marks; this loader keeps them on the values it
builds (``node.loc``) and records the location of every mapping key and value,
reports duplicate keys (plain PyYAML silently keeps the last one), and turns
syntax errors into located :class:`~kpiengine.errors.SpecIssue` objects.
"""
from __future__ import annotations

import os
import re
from typing import Any

import yaml

from ..errors import Location, SpecIssue


class LDict(dict):
    """A mapping with the location of itself, of each key and of each value."""

    loc: Location | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_locs: dict[Any, Location] = {}
        self.value_locs: dict[Any, Location] = {}

    def loc_of(self, key: Any) -> Location | None:
        """Where the value of ``key`` is written (falls back to the key, then the mapping)."""
        return self.value_locs.get(key) or self.key_locs.get(key) or self.loc


class LList(list):
    loc: Location | None = None

    def __init__(self, *args):
        super().__init__(*args)
        self.item_locs: list[Location | None] = []

    def loc_of(self, index: int) -> Location | None:
        if 0 <= index < len(self.item_locs):
            return self.item_locs[index]
        return self.loc


class LStr(str):
    loc: Location | None = None


def loc_of(node: Any) -> Location | None:
    return getattr(node, "loc", None)


def field_loc(obj: Any, field: str) -> Location | None:
    """Where ``field`` of a built spec object (a model, a KPI) is written; else where the object is."""
    raw = getattr(obj, "raw", None)
    if isinstance(raw, LDict):
        return raw.loc_of(field)
    return getattr(obj, "location", None)


def _mark_loc(filename: str, mark) -> Location:
    return Location(filename, mark.line + 1, mark.column + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) that records locations and duplicate keys."""

    def __init__(self, stream, filename: str, issues: list[SpecIssue]):
        super().__init__(stream)
        self.filename = filename
        self.issues = issues


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    result = LDict()
    result.loc = _mark_loc(loader.filename, node.start_mark)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            loader.issues.append(SpecIssue("a mapping key must be a plain value",
                                           _mark_loc(loader.filename, key_node.start_mark), code="yaml"))
            continue
        key_loc = _mark_loc(loader.filename, key_node.start_mark)
        if key in result:
            first = result.key_locs[key]
            loader.issues.append(SpecIssue(
                f"duplicate key '{key}' (first defined at line {first.line})", key_loc,
                hint="each name may appear once in a mapping; rename or merge the two entries",
                code="duplicate"))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_locs[key] = key_loc
        result.value_locs[key] = _mark_loc(loader.filename, value_node.start_mark)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    result = LList(loader.construct_object(child, deep=True) for child in node.value)
    result.loc = _mark_loc(loader.filename, node.start_mark)
    result.item_locs = [_mark_loc(loader.filename, child.start_mark) for child in node.value]
    return result


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> LStr:
    value = LStr(loader.construct_scalar(node))
    value.loc = _mark_loc(loader.filename, node.start_mark)
    return value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG, _construct_str)
# Dates stay text: period and date fields are validated by the spec, not guessed by YAML.
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_text(text: str, filename: str) -> tuple[Any, list[SpecIssue]]:
    """Parse one YAML document. Returns (data or None, issues); never raises on bad YAML."""
    issues: list[SpecIssue] = []
    loader = _Loader(text, filename, issues)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _mark_loc(filename, mark) if mark else Location(filename, 1, 1)
        what = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        hint = "check indentation and quoting near this line"
        lines = text.splitlines()
        line = lines[loc.line - 1] if 0 < loc.line <= len(lines) else ""
        if "\t" in line:
            hint = "YAML does not allow tabs for indentation: use spaces"
        elif "mapping values are not allowed" in what:
            hint = "a value containing ': ' must be quoted, e.g. label: \"Sales: leads\""
        issues.append(SpecIssue(f"invalid YAML: {what}{context}", loc, hint=hint, code="yaml"))
        return None, issues
    except yaml.YAMLError as exc:
        issues.append(SpecIssue(f"invalid YAML: {exc}", Location(filename, 1, 1), code="yaml"))
        return None, issues
    finally:
        loader.dispose()
    return data, issues


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, issues: list[SpecIssue], environ: dict[str, str] | None = None) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string below ``value``.

    Secrets live in the environment, never in the spec. A missing variable
    without a default is an error located at the string that uses it.
    """
    env = os.environ if environ is None else environ

    def sub(text: str, loc: Location | None) -> str:
        def repl(m: re.Match) -> str:
            var, default = m.group(1), m.group(2)
            if var in env:
                return env[var]
            if default is not None:
                return default
            issues.append(SpecIssue(f"environment variable ${{{var}}} is not set", loc,
                                    hint=f"export {var}=... before running, or write ${{{var}:-default}}",
                                    code="env"))
            return ""
        return _ENV_RE.sub(repl, text)

    if isinstance(value, LDict):
        out = LDict()
        out.loc, out.key_locs, out.value_locs = value.loc, value.key_locs, value.value_locs
        for k, v in value.items():
            out[k] = expand_env(v, issues, env)
        return out
    if isinstance(value, dict):
        return {k: expand_env(v, issues, env) for k, v in value.items()}
    if isinstance(value, LList):
        out = LList(expand_env(v, issues, env) for v in value)
        out.loc, out.item_locs = value.loc, value.item_locs
        return out
    if isinstance(value, list):
        return [expand_env(v, issues, env) for v in value]
    if isinstance(value, str) and "${" in value:
        expanded = LStr(sub(value, loc_of(value)))
        expanded.loc = loc_of(value)
        return expanded
    return value
