"""The issue's "done means": one check sends one clear Slack message and one e-mail naming the KPI,
region, value, baseline, change, process path and playbook; under sink failures nothing is lost
and nothing is sent twice. Real Slack and e-mail sink plugins, real local HTTP and SMTP servers."""
from __future__ import annotations

import json

from kpiengine.alerting.check import run_check
from kpiengine.testing import RecordingHTTPServer, Reply, SMTPTestServer

from alerting_helpers import FakeClock, make_project, series, week

RULES = """
rules:
  conversion_drop:
    kpi: conversion
    type: change
    by: [region]
    critical: {below: -40%}
    message: "{kpi_label} in {region} fell to {value} from {baseline} ({change}). Process: {process_path}"
"""


def spec(slack_url: str, smtp) -> str:
    return f"""
sinks:
  sales_slack: {{type: slack, webhook_url: "{slack_url}", timeout: 2, retry_initial: 0.05}}
  ops_email: {{type: email, host: {smtp.host}, port: {smtp.port}, from: kpi@example.com,
              to: [sales-lead@example.com], timeout: 5, retry_initial: 0.05}}
routes:
  sinks: [sales_slack, ops_email]
{RULES}
"""


def rows():
    out = []
    for region in ("east", "west", "north"):
        out += series("conversion", [0.20, 0.085 if region == "east" else 0.21], region=region)
    return out


def fetcher(data):
    return lambda grain, by, kpis, start, end: [r for r in data if r.kpi in kpis and set(r.dimensions) == set(by)]


def test_one_slack_message_and_one_email_despite_failures(tmp_path):
    clock = FakeClock()
    with RecordingHTTPServer() as slack, SMTPTestServer() as smtp:
        slack.script(Reply.error(500), Reply.rate_limited(retry_after=1))
        smtp.script("451 4.3.0 greylisted, try again")
        project = make_project(tmp_path, spec(slack.url_for("/services/T0/B0/XYZ"), smtp))
        res = run_check(project, period=week(1), fetch=fetcher(rows()), budget=30, clock=clock, sleep=clock.sleep)
        assert res.exit_code() == 2 and not res.delivery.pending and len(res.delivery.delivered) == 2

        # Slack: three attempts (500, 429, ok), all the same notification; the receiver shows one
        assert len(slack.requests) == 3
        assert len({r.header("Idempotency-Key") for r in slack.requests}) == 1
        text = json.dumps(slack.requests[-1].json(), ensure_ascii=False)
        for fact in ("轉化率 Conversion", "region=east", "8.5 %", "20.0 %", "-57.5 %",
                     "Sales system / 銷售體系 &gt; Closing / 成交",  # Slack mrkdwn escapes ">"
                     "Call the regional lead the same day."):
            assert fact in text, text
        assert "west" not in text and "north" not in text

        # e-mail: the 451 was retried, exactly one message arrived
        assert len(smtp.messages) == 1
        msg = smtp.messages[0].message
        body = msg.get_body(("plain",)).get_content()
        for fact in ("轉化率 Conversion", "region=east", "8.5 %", "20.0 %", "-57.5 %",
                     "Sales system / 銷售體系 > Closing / 成交", "Call the regional lead the same day."):
            assert fact in body, fact

        # a second check of the same week: nothing new, nothing resent
        again = run_check(project, period=week(1), fetch=fetcher(rows()), clock=clock, sleep=clock.sleep)
        assert again.notifications == [] and len(slack.requests) == 3 and len(smtp.messages) == 1
