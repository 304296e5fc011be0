"""The public site's pages as pure functions: language choice, the grade chart, escaping, and
both languages complete."""

from __future__ import annotations

import re

import pytest
from marshmallow import ValidationError

from gateway import site

PERIODS = [
    {"period": "2014", "grade": "A"},
    {"period": "2015", "grade": "C"},
    {"period": "2016", "grade": "D"},
]


@pytest.mark.parametrize(
    "lang, accept, chosen",
    [
        ("en", "zh-CN,zh", "en"),  # the switch wins
        ("zh", "en-US,en", "zh"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "zh-TW,en;q=0.5", "zh"),
        (None, "fr-FR,en;q=0.5", "en"),  # the first of ours the browser names
        (None, "", "zh"),  # Chinese by default
        ("xx", None, "zh"),
    ],
)
def test_the_language_is_the_switch_then_the_browser_then_chinese(lang, accept, chosen):
    assert site.language(lang, accept) == chosen


def test_both_languages_have_every_text():
    assert set(site.TEXT["zh"]) == set(site.TEXT["en"])
    assert all(site.TEXT["zh"][k] != site.TEXT["en"][k] for k in site.TEXT["zh"] if k != "api")


def test_the_chart_draws_each_final_grade_from_a_at_the_top_to_d_at_the_bottom():
    svg = site.grade_chart(site.TEXT["en"], PERIODS)
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title" in svg
    circles = [(int(x), int(y)) for x, y in re.findall(r'<circle cx="(\d+)" cy="(\d+)"', svg)]
    assert len(circles) == 3
    xs, ys = zip(*circles, strict=True)
    assert list(xs) == sorted(xs)  # years left to right
    assert ys[0] < ys[1] < ys[2]  # A above C above D
    assert "<polyline" in svg and all(year in svg for year in ("2014", "2015", "2016"))


def test_a_units_page_has_the_chart_and_the_same_figures_as_a_table():
    page = site.unit_page("zh", "91310000MA1K00001X", "某电梯公司", [], PERIODS)
    assert '<html lang="zh-CN">' in page and "<svg" in page
    assert "<caption>历年最终信用等级</caption>" in page
    assert page.count("<tr><td>20") == 3
    assert "该单位从未被列入黑名单" in page


def test_a_units_page_names_its_district_in_the_visitors_language():
    zh = site.unit_page("zh", "91310000MA1K00001X", "某电梯公司", [], PERIODS, "310101")
    en = site.unit_page("en", "91310000MA1K00001X", "Lift Co", [], PERIODS, "310101")
    assert "<p>区: 黄浦区</p>" in zh and "<p>District: Huangpu</p>" in en
    assert "<p>District" not in site.unit_page("en", "91310000MA1K00001X", "x", [], PERIODS)


def test_what_a_visitor_sends_is_escaped_everywhere():
    evil = '"><script>alert(1)</script>'
    page = site.home(
        "en", q=evil, district="", status="listed", listings=[], grades=[], searched=True
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    unit = site.unit_page(
        "en", "X", evil, [{"reason": evil, "status": "listed", "listed_on": "2026-01-05"}], []
    )
    assert "<script>" not in unit


def test_the_complaint_pages_escape_what_was_sent():
    from datetime import datetime

    evil = '"><script>alert(1)</script>'
    values = {"what": evil, "occurred_at": evil, "contact": evil}
    now = datetime.fromisoformat("2014-09-29T09:00:00+08:00")
    for lang in site.LANGS:
        form = site.complaint_form_page(lang, evil, values, {"what": ["x"], evil: ["y"]}, now)
        status = site.complaint_status_page(lang, evil, problem="unknown")
        refused = site.complaint_refused_page(lang, evil, "rate", 429, evil)
        for page in (form, status, refused):
            assert "<script>" not in page and "&lt;script&gt;" in page
        assert 'id="what-error"' in form and 'max="2014-09-29T09:00"' in form


def test_the_elevator_page_has_the_complaint_form_only_for_a_known_elevator():
    facts = {"equipment_code": "311012345201400001", "status": "registered", "district": None}
    assert 'action="/equipment/complaint?lang=en"' in site.equipment_page("en", "x", facts)
    assert "/equipment/complaint" not in site.equipment_page("en", "x", problem="unknown")


def test_the_form_counts_a_line_break_as_the_browser_does_and_an_empty_contact_as_none():
    from gateway.routes.complaints import ComplaintForm

    form = {"equipment_code": "311012345201400001", "occurred_at": "2014-09-22T08:40"}
    loaded = ComplaintForm().load({**form, "what": "stuck\r\n" * 333 + "x", "contact": ""})
    assert len(loaded["what"]) == 6 * 333 + 1 and loaded["contact"] is None
    assert loaded["occurred_at"].isoformat() == "2014-09-22T08:40:00+08:00"
    for bad in ("2014-09-22", "2014-09-22T08:40+08:00", "0001-01-01T00:00", "now"):
        with pytest.raises(ValidationError):
            ComplaintForm().load({**form, "what": "x", "occurred_at": bad})
