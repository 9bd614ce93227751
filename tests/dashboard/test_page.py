"""The page template: spec text can never break out of the embedded data or the title; the chart library is pinned."""
from __future__ import annotations

import hashlib
import json
import re

from kpiengine.dashboard.report import CHART_LIBRARY, embed_json, render_page, static_text

ECHARTS_SHA256 = "61f13280aba3161f77fc801bf5f9c786f55f10432153a0683fc5cc0700b013d5"  # echarts@6.1.0 dist


def test_spec_text_cannot_close_the_data_script(unit_project):
    hostile = "</script><script>alert(1)</script><!--"
    html = render_page(unit_project, mode="report", data={"meta": {"label": hostile}})
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(block) == {"meta": {"label": hostile}}  # intact once parsed
    assert "<script>alert(1)" not in html
    assert json.loads(embed_json({"x": "a</b"})) == {"x": "a</b"}


def test_every_placeholder_is_filled_once_and_the_page_is_in_english(unit_project):
    html = render_page(unit_project, mode="live")
    assert not re.search(r"__(CSS|JS|TITLE|MODE|DATA|ECHARTS)__", html)
    # the page's own text is English; the spec's Chinese labels are marked lang="zh" by the script
    assert 'data-mode="live"' in html and '<html lang="en">' in html
    assert "<title>unit-sales — KPI dashboard</title>" in html
    assert '<script src="/static/vendor/echarts.common.min.js"></script>' in html


def test_the_report_inlines_the_pinned_chart_library(unit_project):
    library = static_text(CHART_LIBRARY)
    assert hashlib.sha256(library.encode("utf-8")).hexdigest() == ECHARTS_SHA256
    html = render_page(unit_project, mode="report", data={})
    assert library.replace("</", "<\\/")[:5000] in html
    assert not re.search(r"<script[^>]*\ssrc=", html)  # no script element loads a file: everything is inline
