"""YAML loading that remembers where every value came from.

Ops teams edit specs by hand, so every later error must point at a file, line
and column. PyYAML's nodes carry marks; this loader keeps them on the values it
builds (``node.loc``) and records the location of every mapping key and value,
reports duplicate keys (plain PyYAML silently keeps the last one), and turns
syntax errors into located :class:`~kpiengine.errors.SpecIssue` objects.
"""
from __future__ import annotations

from typing import Any

import yaml

from ..errors import Location, SpecIssue
# The located types live in .located (no PyYAML there); they stay importable from here.
from .located import LDict, LList, LStr, expand_env, field_loc, loc_of  # noqa: F401


def _mark_loc(filename: str, mark) -> Location:
    return Location(filename, mark.line + 1, mark.column + 1)


# libyaml's parser (C) where PyYAML was built with it: same nodes and marks, an order of magnitude
# faster on a spec of thousands of KPIs. The pure-Python parser is the fallback.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
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
