"""The kpiengine_sink_types hook serves every built-in sink through the registry."""
from __future__ import annotations

import jsonschema
import pytest

from kpiengine.errors import PluginError
from kpiengine.plugins import get_registry
from kpiengine.sinks import Sink

BUILT_IN = {"console": "kpiengine_plugins.console_sink", "file": "kpiengine_plugins.file_sink",
            "slack": "kpiengine_plugins.slack_sink", "email": "kpiengine_plugins.email_sink",
            "webhook": "kpiengine_plugins.webhook_sink", "feishu": "kpiengine_plugins.feishu_sink",
            "dingtalk": "kpiengine_plugins.dingtalk_sink", "wecom": "kpiengine_plugins.wecom_sink"}


@pytest.fixture(scope="module")
def registry():
    return get_registry()


@pytest.mark.parametrize("type_name, module", sorted(BUILT_IN.items()))
def test_builtin_sink_is_served_by_the_hook(registry, type_name, module):
    cls = registry.sink_type(type_name)
    assert issubclass(cls, Sink) and cls.type_name == type_name and cls.__module__ == module
    assert cls.description
    jsonschema.Draft202012Validator.check_schema(cls.options_schema)  # a valid JSON Schema
    assert cls.options_schema.get("additionalProperties") is False  # typos in options are caught
    # the plugin that registered it is the entry point of the same name
    info = {p.name: p for p in registry.plugins()}[type_name]
    assert info.sink_types == [type_name] and info.distribution == "kpiengine"
    assert "kpiengine_sink_types" in info.hooks


def test_no_plugin_problems(registry):
    sink_problems = [str(p) for p in registry.problems if p.plugin in BUILT_IN]
    assert sink_problems == []


def test_unknown_sink_type_suggests_the_closest(registry):
    with pytest.raises(PluginError) as err:
        registry.sink_type("slak")
    message = str(err.value)
    assert message.startswith("unknown sink type 'slak', did you mean 'slack'? Installed: ")
    installed = message.split("Installed: ")[1].split(", ")
    assert set(BUILT_IN) <= set(installed) and installed == sorted(installed)


def test_unknown_sink_type_without_a_close_match(registry):
    with pytest.raises(PluginError) as err:
        registry.sink_type("pagerduty")
    assert "did you mean" not in str(err.value)
    assert str(err.value).startswith("unknown sink type 'pagerduty' Installed: console, dingtalk, email")
