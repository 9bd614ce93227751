"""docs/plugins.md documents every option of every built-in sink (the spec validator's hints point there)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kpiengine.plugins import get_registry

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
BUILT_IN = ["console", "file", "slack", "email", "webhook", "feishu", "dingtalk", "wecom"]


def _section(type_name: str) -> str:
    match = re.search(rf"^### `{type_name}`\n(.*?)(?=^### |\Z)", DOC, flags=re.M | re.S)
    assert match, f"docs/plugins.md has no '### `{type_name}`' section"
    return match.group(1)


@pytest.mark.parametrize("type_name", BUILT_IN)
def test_every_option_is_documented(type_name):
    cls = get_registry().sink_type(type_name)
    section = _section(type_name)
    common = {"connect_timeout", "timeout"}  # documented once for all HTTP sinks, listed per sink too
    for option in cls.options_schema["properties"]:
        assert f"`{option}`" in section or option in common and f"`{option}`" in DOC, \
            f"option {option!r} of sink {type_name!r} is not documented"


def test_every_hook_is_documented():
    from kpiengine import hookspecs

    hooks = [name for name in dir(hookspecs) if name.startswith("kpiengine_")]
    assert hooks
    for hook in hooks:
        assert f"### `{hook}(" in DOC, f"hook {hook} is missing from docs/plugins.md"
