"""A warehouse outage must never advance what was judged (issue 13, item 1).

The mini DuckDB warehouse is really broken (its file replaced by garbage) and
restored; the planted drop must still fire after the outage. The expected alert
is computed by hand SQL on the warehouse, not by the engine.
"""
from __future__ import annotations

import json
import shutil
from datetime import timedelta

import duckdb
import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.testing import RecordingHTTPServer

from alerting_helpers import DROP_WEEK, build_mini_warehouse, write_mini_project


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def regions_dropping(db) -> set[str]:
    """Regions whose conversion in DROP_WEEK is more than 40 % under the mean of the 4 weeks before (hand SQL)."""
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("""
        WITH v AS (SELECT region, date_trunc('week', happened_at)::DATE AS wk, count(*) AS n
                   FROM activities WHERE kind = 'visit' GROUP BY ALL),
             d AS (SELECT region, date_trunc('week', closed_at)::DATE AS wk, count(*) AS n
                   FROM deals WHERE stage = 'won' GROUP BY ALL),
             c AS (SELECT v.region, v.wk, coalesce(d.n, 0) / v.n AS conv FROM v LEFT JOIN d USING (region, wk))
        SELECT now.region FROM c now JOIN c base ON base.region = now.region
               AND base.wk BETWEEN now.wk - INTERVAL 28 DAY AND now.wk - INTERVAL 7 DAY
        WHERE now.wk = ? GROUP BY now.region, now.conv
        HAVING (now.conv - avg(base.conv)) / abs(avg(base.conv)) < -0.40""", [DROP_WEEK]).fetchall()
    con.close()
    return {r[0] for r in rows}


@pytest.mark.parametrize("policy", ["keep_state", "alert", "ignore"])
def test_outage_then_recovery_still_fires_the_planted_drop(tmp_path, monkeypatch, policy):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)
    db = tmp_path / "mini.duckdb"
    build_mini_warehouse(db)
    expected = regions_dropping(db)
    assert expected == {"east"}
    with RecordingHTTPServer() as server:
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"))
        alerts = spec / "alerts.yml"
        alerts.write_text(alerts.read_text().replace("min_sample: 50", f"min_sample: 50\n    on_error: {policy}"))
        before = kpi("check", "-s", spec, "--period", DROP_WEEK - timedelta(weeks=1))
        assert before.exit_code == 0, before.output

        saved = tmp_path / "saved.duckdb"
        shutil.move(db, saved)
        db.write_bytes(b"this is not a database" * 100)  # the warehouse is down
        for _ in range(2):
            outage = kpi("check", "-s", spec)
            assert outage.exit_code == 3, outage.output
        errors = [r.json() for r in server.requests]
        if policy == "alert":  # one error alert for both regions, sent once (the second check repeats nothing)
            assert len(errors) == 1
            items = errors[0]["items"]
            assert sorted(i["dimensions"]["region"] for i in items) == ["east", "west"]
            assert {(i["status"], i["reason"], i["severity"], i["value"]) for i in items} == \
                {("firing", "error", "critical", None)}
            assert all("not a valid DuckDB" in i["error"] or "database" in i["error"].lower() for i in items)
            assert "could not be evaluated" in errors[0]["title"] and "Error: " in errors[0]["text"]
            assert all("could not be evaluated" in i["message"] and i["error"] in i["message"] for i in items)
        else:
            assert errors == []
        server.requests.clear()
        db.unlink()
        shutil.move(saved, db)  # the warehouse is back

        # The mini warehouse has Monday-Friday data, so its last week is partial for the data's
        # watermark (docs/periods.md) and a check without --period judges the week before: name it.
        after = kpi("check", "-s", spec, "--period", DROP_WEEK, "--format", "json")
        data = json.loads(after.stdout)  # stderr carries the partial-period warning
        firing = {a["dimensions"]["region"] for a in data["alerts"]
                  if a["state"] == "firing" and a["severity"] == "critical"}
        assert firing == expected
        assert after.exit_code == 2
        states = json.loads(kpi("alerts", "-s", spec, "--all", "--format", "json").output)
        assert {a["dimensions"]["region"]: a["last_period"] for a in states} == \
            {"east": DROP_WEEK.isoformat(), "west": DROP_WEEK.isoformat()}
        drops = [i for r in server.requests for i in r.json()["items"]
                 if i["status"] == "firing" and i["severity"] == "critical" and i.get("reason", "") == ""]
        assert [i["dimensions"]["region"] for i in drops] == sorted(expected)
        if policy == "alert":  # the error alert of the region that does not drop is resolved
            resolved = [i["dimensions"]["region"] for r in server.requests for i in r.json()["items"]
                        if i["status"] == "resolved"]
            assert resolved == ["west"]
