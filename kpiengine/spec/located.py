"""Values that remember where they were written, and ``${VAR}`` expansion: the located spec, without YAML.

The YAML reader (:mod:`kpiengine.spec.yamlsrc`) builds these; everything after it
(the sections, the spec cache) only needs the types, so they live apart from
PyYAML and a project read back from the spec cache does not import it.
"""
from __future__ import annotations

import os
import re
from typing import Any

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


class EnvStr(LStr):
    """A string with ``${VAR}`` expanded from the environment; it remembers the text it was written as.

    Pickling keeps only that text and expands it again when unpickled, so a copy
    of a project (the spec cache) never holds a secret and follows the
    environment it is loaded in. A variable missing by then raises KeyError.
    """

    template: str = ""

    def __reduce__(self):
        return (reexpand, (self.template, self.loc))

    # A copy in memory keeps the value it was expanded to; only pickling goes back to the template.
    def __copy__(self) -> "EnvStr":
        return self

    def __deepcopy__(self, memo) -> "EnvStr":
        return self


def reexpand(template: str, loc: Location | None) -> EnvStr:
    """Expand a ``${VAR}`` text from the current environment (the unpickling half of :class:`EnvStr`)."""
    issues: list[SpecIssue] = []
    value = expand_env(_located(template, loc), issues)
    if issues:
        raise KeyError(issues[0].message)
    return value


def _located(text: str, loc: Location | None) -> LStr:
    out = LStr(text)
    out.loc = loc
    return out


def loc_of(node: Any) -> Location | None:
    return getattr(node, "loc", None)


def field_loc(obj: Any, field: str) -> Location | None:
    """Where ``field`` of a built spec object (a model, a KPI) is written; else where the object is."""
    raw = getattr(obj, "raw", None)
    if isinstance(raw, LDict):
        return raw.loc_of(field)
    return getattr(obj, "location", None)


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def referenced_env_vars(text: str) -> set[str]:
    """Names of the environment variables a spec text refers to with ``${VAR}``."""
    return {m.group(1) for m in _ENV_RE.finditer(text)}


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
        expanded = EnvStr(sub(value, loc_of(value)))
        expanded.loc = loc_of(value)
        expanded.template = str(value)
        return expanded
    return value


def expand_path(value: Any, issues: list[SpecIssue], environ: dict[str, str] | None = None) -> Any:
    """A path-like field with ${VAR} and ${VAR:-default} expanded; a malformed ``${`` is a located error.

    A path is never used with a literal ``${`` left in it: that would create a
    folder named ``${KPI_HISTORY:-...`` next to the specs without a word.
    """
    if not isinstance(value, str):
        return value
    expanded = expand_env(value, issues, environ)
    if "${" in expanded:
        issues.append(SpecIssue(f"cannot expand {value!r}: `${{` starts no valid ${{VAR}} or ${{VAR:-default}}",
                                loc_of(value), hint="close the brace, e.g. ${KPI_HISTORY:-.kpiengine/history.db}; "
                                "variable names are letters, digits and _", code="env"))
        return None
    return expanded
