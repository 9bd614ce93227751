"""Sink options are checked against options_schema with messages that never print secrets."""
from __future__ import annotations

import pytest

from kpiengine.errors import PermanentSinkError
from kpiengine_plugins.dingtalk_sink import DingTalkSink
from kpiengine_plugins.slack_sink import SlackSink
from kpiengine_plugins.webhook_sink import WebhookSink


def test_missing_required_option_is_named():
    with pytest.raises(PermanentSinkError) as err:
        SlackSink("team", {})
    assert str(err.value) == ("sink 'team': 'webhook_url' is a required property "
                              "(sink type 'slack'; its options are in docs/plugins.md)")


def test_misspelt_option_is_named():
    with pytest.raises(PermanentSinkError, match="'webhok_url' was unexpected"):
        SlackSink("team", {"webhook_url": "https://hooks.slack.com/services/x", "webhok_url": "y"})


def test_invalid_secret_value_is_not_printed():
    bad = "hooks.slack.com/services/T0/B0/SeCrEtToKeN123"  # no scheme
    with pytest.raises(PermanentSinkError) as err:
        SlackSink("team", {"webhook_url": bad})
    assert "SeCrEtToKeN123" not in str(err.value)
    assert "option 'webhook_url' has an invalid value" in str(err.value)


def test_invalid_plain_value_is_explained():
    with pytest.raises(PermanentSinkError, match="option 'timeout'"):
        DingTalkSink("ding", {"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=x", "timeout": -1})


def test_secret_header_values_are_not_printed():
    with pytest.raises(PermanentSinkError) as err:
        WebhookSink("ops", {"url": "https://example.com/h", "headers": {"Authorization": 12345678}})
    assert "12345678" not in str(err.value)


def test_conflicting_options_are_named_without_values():
    from kpiengine_plugins.email_sink import EmailSink

    with pytest.raises(PermanentSinkError) as err:
        EmailSink("mail", {"host": "h", "from": "a@b.c", "to": "d@e.f", "username": "u",
                           "password": "pw-Sup3rSecret", "starttls": True, "ssl": True})
    assert "options 'starttls' and 'ssl' cannot be used together" in str(err.value)
    assert "pw-Sup3rSecret" not in str(err.value)


@pytest.mark.parametrize("options", [{}, {"key": "k-Secr3tKey", "webhook_url": "https://x/y?key=k-Secr3tKey"}])
def test_wecom_needs_exactly_one_of_key_and_url(options):
    from kpiengine_plugins.wecom_sink import WeComSink

    with pytest.raises(PermanentSinkError) as err:
        WeComSink("wx", options)
    assert "give exactly one of 'key', 'webhook_url'" in str(err.value)
    assert "Secr3t" not in str(err.value)
