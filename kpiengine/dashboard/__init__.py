"""The dashboard: the process map, funnel, trends, team bubbles, why-it-changed and alerts.

* :mod:`.data`     pure functions: the JSON behind each view, from :class:`.inputs.DashboardInputs`
* :mod:`.collect`  gathers the inputs (history or warehouse values, alert state, funnels, root cause)
* :mod:`.report`   ``kpi report --html``: one offline HTML file
* :mod:`.server`   ``kpi serve``: the live, read-only local page and its /api/ endpoints
* ``static/``      the page template, stylesheet and script (vanilla JS + inline SVG)
"""
