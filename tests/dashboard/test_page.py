"""The page template: spec text can never break out of the embedded data or the title."""
from __future__ import annotations

import json
import re

from kpiengine.dashboard.report import embed_json, page_language, render_page


def test_spec_text_cannot_close_the_data_script(unit_project):
    hostile = "</script><script>alert(1)</script><!--"
    html = render_page(unit_project, mode="report", data={"meta": {"label": hostile}})
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(block) == {"meta": {"label": hostile}}  # intact once parsed
    assert "<script>alert(1)" not in html
    assert json.loads(embed_json({"x": "a</b"})) == {"x": "a</b"}


def test_every_placeholder_is_filled_once(unit_project):
    html = render_page(unit_project, mode="live")
    assert not re.search(r"__(CSS|JS|TITLE|MODE|LANG|DATA)__", html)
    assert 'data-mode="live"' in html and '<html lang="zh">' in html  # the spec's labels are Chinese
    assert "<title>unit-sales — KPI dashboard</title>" in html
    assert page_language(unit_project) == "zh"
