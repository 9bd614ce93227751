"""Thresholds and alerting: rules, a persistent state machine, routing, silences and a delivery outbox.

Module map (one job each):

* ``section.py``    the ``rules``, ``sinks`` and ``routes`` spec sections (registered as a plugin)
* ``rules.py``      parse and validate the ``rules:`` section (located errors)
* ``schema.py``     JSON Schema fragments of ``rules``, ``sinks`` and ``routes`` (``kpi schema``)
* ``locations.py``  where a node of those sections is written
* ``routing.py``    the ``routes:`` tree and the sink settings of ``sinks:``
* ``periods.py``    period arithmetic for baselines (previous, last week, last year)
* ``evaluate.py``   pure rule evaluation: values in, one outcome per dimension value out
* ``machine.py``    the pure state machine (inactive / pending / firing / resolved)
* ``templates.py``  message templates that can never swallow an alert
* ``notify.py``     alert states -> grouped notifications, and when to (re)send
* ``state.py``      the state machine persisted in the SQLite history file
* ``silences.py``   silences and inhibition
* ``outbox.py``     persistent outbox: retries, backoff, leases, fallback sink
* ``check.py``      ``kpi check``: compute, evaluate, transition, route, enqueue, deliver
* ``simulate.py``   replay rules over periods in memory (shared by test and backtest)
* ``unittest.py``   ``kpi test``: promtool-style rule tests in ``*.test.yml``
* ``backtest.py``   ``kpi backtest``: replay a rule over past periods
"""
