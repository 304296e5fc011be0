"""The public site: the blacklist and credit grades, searched and read by anyone.

Server-rendered HTML (no script at all), Chinese by default and English on request
(``?lang=en``, or a browser whose ``Accept-Language`` prefers English), every text of the page
in both. Queries live in the URL (plain GET forms), so a result page can be shared. A unit's
page shows its listings with their reasons and legal basis, its final credit grades over time
as a small server-drawn SVG chart (with the same figures as a table for screen readers), and
how to apply for credit repair.

An elevator's page carries a complaint form (a plain POST form, no script): what happened,
when, and optional contact details. An invalid submission gets the form back with each error
next to its field; a received one is redirected to the complaint's page, where its reference
follows it (``/complaints?reference=``).

Everything that comes from a request or a service is escaped; nothing a visitor sends is
echoed unescaped.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from gateway.pages import STYLE, _page_with
from infra.clock import CHINA_STANDARD_TIME, Clock
from infra.places import DISTRICT_NAMES
from services.maintenance_credit.complaint import MAX_CONTACT, MAX_WHAT

LANGS = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "site": "特种设备安全监管平台",
        "tagline": "特种设备监管公开信息",
        "skip": "跳到主要内容",
        "switch": "English",
        "search_title": "查询黑名单和维保单位信用等级",
        "q_label": "单位名称或统一社会信用代码",
        "district_label": "区",
        "any_district": "全部区",
        "status_label": "黑名单状态",
        "status_listed": "在列",
        "status_removed": "已移出",
        "status_all": "全部",
        "search": "查询",
        "blacklist_results": "黑名单",
        "credit_results": "信用等级（最终）",
        "no_listing": "没有符合条件的黑名单记录。",
        "no_grade": "没有符合条件的最终信用等级。",
        "unavailable": "暂时无法查询，请稍后再试。",
        "bad_code": "这不是有效的统一社会信用代码（18位）。",
        "unit": "单位",
        "code": "统一社会信用代码",
        "district": "区",
        "reason": "原因",
        "legal_basis": "法律依据",
        "authority": "决定机关",
        "decision_no": "决定文号",
        "listed_on": "列入日期",
        "earliest_removal_on": "最早移出日期",
        "publication_ends_on": "公示截止",
        "status": "状态",
        "removed_on": "移出日期",
        "period": "年度",
        "grade": "等级",
        "listed": "在列",
        "removed": "已移出",
        "listings": "黑名单记录",
        "never_listed": "该单位从未被列入黑名单。",
        "grades_over_time": "历年最终信用等级",
        "no_final_grade": "尚无最终信用等级。",
        "chart_title": "历年最终信用等级（A 最好，D 最差）",
        "repair_title": "如何申请信用修复",
        "repair_text": (
            "被列入黑名单的维保单位可在列入满一年后，通过平台接口提交信用修复申请"
            "（POST /v1/blacklist/listings/{id}/repair-applications），说明整改情况。"
            "市局复查合格并作出决定后，在管理期结束时移出黑名单；管理期内有新的不良记录的，"
            "管理期重新计算。"
        ),
        "api": "接口说明",
        "not_found_title": "未找到",
        "unit_unknown": "没有该单位的公开信息。",
        "back": "返回查询",
        "equipment_title": "查询电梯",
        "equipment_code": "设备代码",
        "equipment_label": "电梯注册代码（轿厢内标志上的代码）",
        "equipment_search": "查询电梯",
        "equipment_bad": "这不是有效的设备代码（18位，或20位旧代码）。",
        "equipment_unknown": "没有登记该代码的设备。",
        "equipment_status": "使用登记状态",
        "status_registered": "已登记，在用",
        "status_suspended": "停用",
        "status_cancelled": "已注销",
        "maintained_by": "维保单位",
        "no_maintainer": "登记信息未载明维保单位。",
        "current_grade": "最新最终信用等级",
        "no_grade_yet": "尚无",
        "on_blacklist": "是否在黑名单",
        "yes": "是",
        "no": "否",
        "insured_today": "今日是否有电梯安全责任保险",
        "complaint_title": "投诉这部电梯",
        "complaint_intro": (
            "乘坐时遇到问题（困人、异响、门夹人等），请说明发生了什么和时间。"
            "所在区的市场监管部门会核实；核实属实的，计入维保单位的信用。"
        ),
        "what_label": "发生了什么（必填）",
        "when_label": "发生时间（必填，不能晚于现在）",
        "contact_label": "联系方式（选填）",
        "contact_hint": "属于个人信息：只有负责核实的工作人员能看到，不会公开。",
        "complaint_submit": "提交投诉",
        "complaint_fix": "请修改下面标出的内容后再提交。",
        "err_what": "请说明发生了什么（不超过2000字，不能只有空白或控制字符）。",
        "err_occurred_at": "请填写发生的日期和时间，不能晚于现在。",
        "err_contact": "联系方式不超过200字，不能含控制字符；可以不填。",
        "err_equipment_code": "这不是有效的设备代码。",
        "err_other": "提交的内容无法处理，请从电梯页面重新填写。",
        "back_to_equipment": "返回电梯页面",
        "follow_title": "查询投诉处理情况",
        "follow_label": "投诉编号",
        "follow_submit": "查询",
        "reference": "投诉编号",
        "complaint_status": "处理状态",
        "complaint_received": "已收到，待核实",
        "complaint_verified": "已核实",
        "complaint_dismissed": "经核实不予认定",
        "decided_on": "处理日期",
        "follow_text": (
            "请保存投诉编号（或本页地址），随时可在此查询处理情况；编号只有您知道，请勿公开。"
        ),
        "complaint_unknown": "没有这个编号的投诉。",
        "too_many": "来自您网络地址的提交过多，请在 {seconds} 秒后再试。",
        "complaint_unavailable": "暂时无法提交，请稍后再试。",
        "complaint_refused": "无法处理这次提交（{status}）。",
    },
    "en": {
        "site": "Special Equipment Safety Platform",
        "tagline": "Public information on special-equipment supervision",
        "skip": "Skip to the main content",
        "switch": "中文",
        "search_title": "Search the blacklist and maintenance credit grades",
        "q_label": "Unit name or unified social credit code",
        "district_label": "District",
        "any_district": "All districts",
        "status_label": "Blacklist status",
        "status_listed": "Listed",
        "status_removed": "Removed",
        "status_all": "All",
        "search": "Search",
        "blacklist_results": "Blacklist",
        "credit_results": "Credit grades (final)",
        "no_listing": "No blacklist listing matches.",
        "no_grade": "No final credit grade matches.",
        "unavailable": "The search cannot be answered just now; please try again.",
        "bad_code": "This is not a valid unified social credit code (18 characters).",
        "unit": "Unit",
        "code": "Credit code",
        "district": "District",
        "reason": "Reason",
        "legal_basis": "Legal basis",
        "authority": "Authority",
        "decision_no": "Decision no.",
        "listed_on": "Listed on",
        "earliest_removal_on": "Earliest removal",
        "publication_ends_on": "Published until",
        "status": "Status",
        "removed_on": "Removed on",
        "period": "Year",
        "grade": "Grade",
        "listed": "listed",
        "removed": "removed",
        "listings": "Blacklist listings",
        "never_listed": "This unit has never been blacklisted.",
        "grades_over_time": "Final credit grades over the years",
        "no_final_grade": "No final credit grade yet.",
        "chart_title": "Final credit grade per year (A best, D worst)",
        "repair_title": "How to apply for credit repair",
        "repair_text": (
            "A listed maintenance unit may apply for credit repair one year after its listing, "
            "through the platform's API (POST /v1/blacklist/listings/{id}/repair-applications), "
            "describing what it put right. Once the city bureau's re-inspection has passed and "
            "it has granted the repair, the listing is removed at the end of the management "
            "period; a new bad record during that period starts it again."
        ),
        "api": "API documentation",
        "not_found_title": "Not found",
        "unit_unknown": "There is no public information on this unit.",
        "back": "Back to the search",
        "equipment_title": "Look up an elevator",
        "equipment_code": "Equipment code",
        "equipment_label": "Registration code (on the sign in the car)",
        "equipment_search": "Look up",
        "equipment_bad": "This is not a valid equipment code (18 digits, or a legacy 20).",
        "equipment_unknown": "No equipment is registered under this code.",
        "equipment_status": "Registration",
        "status_registered": "registered, in service",
        "status_suspended": "suspended",
        "status_cancelled": "cancelled",
        "maintained_by": "Maintained by",
        "no_maintainer": "The register names no maintenance unit.",
        "current_grade": "Latest final credit grade",
        "no_grade_yet": "none yet",
        "on_blacklist": "On the blacklist",
        "yes": "yes",
        "no": "no",
        "insured_today": "Liability insurance covers it today",
        "complaint_title": "Complain about this elevator",
        "complaint_intro": (
            "Something wrong on a ride (trapped, a strange noise, doors closing on someone)? "
            "Say what happened and when. The district's market supervision bureau checks it; "
            "a complaint found true counts against the maintenance unit's credit."
        ),
        "what_label": "What happened (required)",
        "when_label": "When (required, not in the future)",
        "contact_label": "How to reach you (optional)",
        "contact_hint": "Personal data: only the officers who check the complaint see it; "
        "it is never published.",
        "complaint_submit": "Send the complaint",
        "complaint_fix": "Please correct what is marked below and send it again.",
        "err_what": "Say what happened (at most 2000 characters, not only blanks or control "
        "characters).",
        "err_occurred_at": "Give the date and time it happened, not in the future.",
        "err_contact": "At most 200 characters, no control characters; you may leave it empty.",
        "err_equipment_code": "This is not a valid equipment code.",
        "err_other": "What was sent cannot be taken; please fill in the form from the "
        "elevator's page again.",
        "back_to_equipment": "Back to the elevator's page",
        "follow_title": "Follow a complaint",
        "follow_label": "Complaint reference",
        "follow_submit": "Follow",
        "reference": "Reference",
        "complaint_status": "Status",
        "complaint_received": "received, to be checked",
        "complaint_verified": "verified",
        "complaint_dismissed": "dismissed",
        "decided_on": "Decided on",
        "follow_text": (
            "Keep the reference (or this page's address) to follow the complaint here at any "
            "time; only you know it, so keep it private."
        ),
        "complaint_unknown": "No complaint has this reference.",
        "too_many": "Too many submissions from your address; try again in {seconds} s.",
        "complaint_unavailable": "The complaint cannot be taken just now; please try again.",
        "complaint_refused": "This submission cannot be taken ({status}).",
    },
}

GRADE_LEVEL = {"A": 4, "B": 3, "C": 2, "D": 1}


def language(query_lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` first, then the browser's first preference among ours; Chinese otherwise."""
    if query_lang in LANGS:
        return query_lang
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh"
    return "zh"


def _link(path: str, params: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return escape(path + ("?" + urlencode(kept) if kept else ""))


def _district_name(code: str | None, lang: str) -> str:
    if not code:
        return ""
    names = DISTRICT_NAMES.get(code)
    return names[0 if lang == "zh" else 1] if names else code


def _header(t: dict[str, str], lang: str, switch_to: str) -> str:
    return (
        f'<a class="skip" href="#main">{t["skip"]}</a>'
        f'<p class="site"><a href="{_link("/", {"lang": lang})}">{t["site"]}</a></p>'
        f"<p>{t['tagline']}</p>"
        f'<p><a href="{escape(switch_to)}" lang="{"en" if lang == "zh" else "zh"}">'
        f"{t['switch']}</a></p>"
    )


def _search_form(t: dict[str, str], lang: str, q: str, district: str, status: str) -> str:
    districts = "".join(
        f'<option value="{code}"{" selected" if code == district else ""}>'
        f"{escape(_district_name(code, lang))}</option>"
        for code in DISTRICT_NAMES
    )
    statuses = "".join(
        f'<option value="{s}"{" selected" if s == status else ""}>{t["status_" + s]}</option>'
        for s in ("listed", "removed", "all")
    )
    return (
        f'<form method="get" action="/" role="search" aria-label="{t["search_title"]}">'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<p><label for="q">{t["q_label"]}</label><br>'
        f'<input id="q" name="q" type="search" maxlength="100" value="{escape(q)}"></p>'
        f'<p><label for="district">{t["district_label"]}</label><br>'
        f'<select id="district" name="district"><option value="">{t["any_district"]}</option>'
        f"{districts}</select></p>"
        f'<p><label for="status">{t["status_label"]}</label><br>'
        f'<select id="status" name="status">{statuses}</select></p>'
        f'<p><button type="submit">{t["search"]}</button></p></form>'
    )


def home(
    lang: str,
    q: str = "",
    district: str = "",
    status: str = "listed",
    listings: list[dict] | None = None,
    grades: list[dict] | None = None,
    searched: bool = False,
    bad_code: bool = False,
) -> str:
    """The search page; ``listings``/``grades`` None after a search: that part could not be
    answered."""
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    switch_to = "/?" + urlencode(
        {k: v for k, v in {"q": q, "district": district, "status": status}.items() if v}
        | {"lang": other}
    )
    main = f"<h1>{t['search_title']}</h1>" + _search_form(t, lang, q, district, status)
    if bad_code:
        main += f'<p role="alert">{t["bad_code"]}</p>'
    elif searched:
        main += _listings_section(t, lang, listings)
        main += _grades_section(t, lang, grades)
    main += _equipment_form(t, lang, "")
    main += f'<p><a href="/docs">{t["api"]}</a></p>'
    title = f"{q} - {t['site']}" if searched and q else t["site"]
    return _page_with(title, _header(t, lang, switch_to), main, lang)


def _unit_link(lang: str, uscc: str, name: str) -> str:
    return f'<a href="{_link("/units/" + uscc, {"lang": lang})}">{escape(name)}</a>'


def _listings_section(t: dict[str, str], lang: str, listings: list[dict] | None) -> str:
    head = f'<section aria-labelledby="bl"><h2 id="bl">{t["blacklist_results"]}</h2>'
    if listings is None:
        return head + f"<p>{t['unavailable']}</p></section>"
    if not listings:
        return head + f"<p>{t['no_listing']}</p></section>"
    rows = "".join(
        "<tr>"
        f"<td>{_unit_link(lang, x['uscc'], x['name'])}</td>"
        f"<td><code>{escape(x['uscc'])}</code></td>"
        f"<td>{escape(_district_name(x.get('district'), lang))}</td>"
        f"<td>{escape(x.get('reason') or '')}</td><td>{escape(x.get('listed_on') or '')}</td>"
        f"<td>{escape(t.get(x.get('status') or '', x.get('status') or ''))}</td>"
        "</tr>"
        for x in listings
    )
    return (
        head
        + '<div class="scroll"><table><thead><tr>'
        + "".join(
            f'<th scope="col">{t[k]}</th>'
            for k in ("unit", "code", "district", "reason", "listed_on", "status")
        )
        + f"</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _grades_section(t: dict[str, str], lang: str, grades: list[dict] | None) -> str:
    head = f'<section aria-labelledby="cr"><h2 id="cr">{t["credit_results"]}</h2>'
    if grades is None:
        return head + f"<p>{t['unavailable']}</p></section>"
    if not grades:
        return head + f"<p>{t['no_grade']}</p></section>"
    rows = "".join(
        "<tr>"
        f"<td>{_unit_link(lang, g['uscc'], g['name'])}</td>"
        f"<td><code>{escape(g['uscc'])}</code></td>"
        f"<td>{escape(_district_name(g.get('district'), lang))}</td>"
        f"<td>{escape(str(g.get('period') or ''))}</td>"
        f"<td><strong>{escape(g.get('grade') or '')}</strong></td>"
        "</tr>"
        for g in grades
    )
    return (
        head
        + '<div class="scroll"><table><thead><tr>'
        + "".join(
            f'<th scope="col">{t[k]}</th>' for k in ("unit", "code", "district", "period", "grade")
        )
        + f"</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def grade_chart(t: dict[str, str], periods: list[dict]) -> str:
    """Final grades per period as an SVG line: A at the top, D at the bottom."""
    width, height, left, top, step = 420, 170, 40, 20, 40
    n = len(periods)
    plot_w = max(step * (n - 1), 1)
    width = max(width, left + plot_w + 40)

    def y(grade: str) -> float:
        return top + (4 - GRADE_LEVEL.get(grade, 1)) * step

    axis = "".join(
        f'<text x="10" y="{y(g) + 5:.0f}" font-size="13" fill="#1d2430">{g}</text>'
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(g):.0f}" y2="{y(g):.0f}" '
        'stroke="#c9d1db" stroke-width="1"/>'
        for g in "ABCD"
    )
    points = [
        (left + (i * plot_w / (n - 1) if n > 1 else 0), y(p["grade"]))
        for i, p in enumerate(periods)
    ]
    line = (
        '<polyline fill="none" stroke="#12395b" stroke-width="2" points="'
        + " ".join(f"{x:.0f},{yy:.0f}" for x, yy in points)
        + '"/>'
        if n > 1
        else ""
    )
    dots = "".join(
        f'<circle cx="{x:.0f}" cy="{yy:.0f}" r="4" fill="#12395b"/>'
        f'<text x="{x:.0f}" y="{height - 5}" font-size="12" text-anchor="middle" '
        f'fill="#1d2430">{escape(str(p["period"]))}</text>'
        for (x, yy), p in zip(points, periods, strict=True)
    )
    return (
        f'<svg role="img" aria-labelledby="chart-title" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-title">{t["chart_title"]}</title>{axis}{line}{dots}</svg>'
    )


def unit_page(
    lang: str,
    uscc: str,
    name: str | None,
    listings: list[dict] | None,
    periods: list[dict],
    district: str | None = None,
) -> str:
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    switch_to = f"/units/{uscc}?lang={other}"
    main = f"<h1>{escape(name or uscc)}</h1><p>{t['code']}: <code>{escape(uscc)}</code></p>"
    if district:
        main += f"<p>{t['district']}: {escape(_district_name(district, lang))}</p>"
    main += f'<section aria-labelledby="ls"><h2 id="ls">{t["listings"]}</h2>'
    if listings is None:
        main += f"<p>{t['unavailable']}</p>"
    elif not listings:
        main += f"<p>{t['never_listed']}</p>"
    else:
        fields = (
            "reason",
            "legal_basis",
            "authority",
            "decision_no",
            "listed_on",
            "earliest_removal_on",
            "publication_ends_on",
            "status",
            "removed_on",
        )
        for x in listings:
            main += (
                '<article><dl class="facts">'
                + "".join(
                    f"<dt>{t[k]}</dt><dd>{escape(t.get(str(x.get(k)), str(x.get(k))))}</dd>"
                    if k == "status"
                    else f"<dt>{t[k]}</dt><dd>{escape(str(x.get(k) or '—'))}</dd>"
                    for k in fields
                )
                + "</dl></article>"
            )
    main += "</section>"
    main += f'<section aria-labelledby="gr"><h2 id="gr">{t["grades_over_time"]}</h2>'
    if periods:
        main += grade_chart(t, periods)
        rows = "".join(
            f"<tr><td>{escape(str(p['period']))}</td><td>{escape(p['grade'])}</td></tr>"
            for p in periods
        )
        main += (
            f"<table><caption>{t['grades_over_time']}</caption><thead><tr>"
            f'<th scope="col">{t["period"]}</th><th scope="col">{t["grade"]}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    else:
        main += f"<p>{t['no_final_grade']}</p>"
    main += "</section>"
    main += (
        f'<section aria-labelledby="rp"><h2 id="rp">{t["repair_title"]}</h2>'
        f"<p>{escape(t['repair_text'])}</p></section>"
        f'<p><a href="{_link("/", {"lang": lang})}">{t["back"]}</a></p>'
    )
    return _page_with(f"{name or uscc} - {t['site']}", _header(t, lang, switch_to), main, lang)


def _equipment_form(t: dict[str, str], lang: str, code: str) -> str:
    return (
        f'<section aria-labelledby="eq"><h2 id="eq">{t["equipment_title"]}</h2>'
        f'<form method="get" action="/equipment" aria-label="{t["equipment_title"]}">'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<p><label for="code">{t["equipment_label"]}</label><br>'
        f'<input id="code" name="code" inputmode="numeric" maxlength="20" '
        f'value="{escape(code)}"></p>'
        f'<p><button type="submit">{t["equipment_search"]}</button></p></form></section>'
    )


def equipment_page(
    lang: str,
    code: str,
    facts: dict | None = None,
    problem: str | None = None,
    now: datetime | None = None,
) -> str:
    """The elevator by the code on its sign: ``facts`` as the public API gives them (and the
    complaint form), or ``problem`` (``bad``, ``unknown``, ``unavailable``)."""
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    switch_to = "/equipment?" + urlencode(
        {"code": code, "lang": other} if code else {"lang": other}
    )
    main = f"<h1>{t['equipment_title']}</h1>" + _equipment_form(t, lang, code)
    if problem:
        message = {"bad": t["equipment_bad"], "unknown": t["equipment_unknown"]}.get(
            problem, t["unavailable"]
        )
        main += f'<p role="alert">{message}</p>'
    elif facts:
        unit = facts.get("maintenance_unit")
        rows = [
            (t["equipment_code"], f"<code>{escape(facts['equipment_code'])}</code>"),
            (t["equipment_status"], escape(t.get("status_" + facts["status"], facts["status"]))),
            (t["district"], escape(_district_name(facts.get("district"), lang))),
        ]
        if unit:
            rows += [
                (
                    t["maintained_by"],
                    _unit_link(lang, unit["uscc"], unit.get("name") or unit["uscc"]),
                ),
                (t["current_grade"], escape(unit.get("grade") or t["no_grade_yet"])),
                (t["on_blacklist"], t["yes"] if unit.get("listed") else t["no"]),
            ]
        else:
            rows.append((t["maintained_by"], t["no_maintainer"]))
        rows.append((t["insured_today"], t["yes"] if facts.get("insured_today") else t["no"]))
        main += (
            '<dl class="facts">'
            + "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
            + "</dl>"
        )
        main += _complaint_section(t, lang, facts["equipment_code"], now or Clock().now())
        main += _follow_form(t, lang, "")
    title = f"{code} - {t['equipment_title']}" if code else t["equipment_title"]
    return _page_with(title, _header(t, lang, switch_to), main, lang)


# --- complaints ----------------------------------------------------------------------------

COMPLAINT_FIELDS = ("what", "occurred_at", "contact")
STATUS_TEXT = {
    "received": "complaint_received",
    "verified": "complaint_verified",
    "dismissed": "complaint_dismissed",
}


def local_minute(moment: datetime) -> str:
    """A moment as a ``datetime-local`` field shows it: China Standard Time, to the minute."""
    return moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M")


def _field_errors(t: dict[str, str], errors: Mapping[str, Any]) -> dict[str, str]:
    """The errors to show, by field of the form (``_form``: the rest, above the form), in
    the page's language (never the validator's words, never the value)."""
    shown: dict[str, str] = {}
    for path in errors:
        name = str(path).rsplit(".", 1)[-1]
        if name in COMPLAINT_FIELDS:
            shown[name] = t["err_" + name]
        elif name == "equipment_code":
            shown["_form"] = t["err_equipment_code"]
        else:
            shown.setdefault("_form", t["err_other"])
    return shown


def _complaint_form(
    t: dict[str, str],
    lang: str,
    code: str,
    now: datetime,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> str:
    """The form (with a fresh idempotency key: a form sent twice is one complaint)."""
    values = values or {}
    shown = _field_errors(t, errors or {})

    def value(name: str, default: str = "") -> str:
        v = values.get(name)
        return escape(v if isinstance(v, str) else default)

    def described(name: str, hint: str | None = None) -> str:
        ids = ([hint] if hint else []) + ([f"{name}-error"] if name in shown else [])
        out = f' aria-describedby="{" ".join(ids)}"' if ids else ""
        return out + (' aria-invalid="true"' if name in shown else "")

    def error(name: str) -> str:
        if name not in shown:
            return ""
        return f'<br><strong class="error" id="{name}-error">{escape(shown[name])}</strong>'

    summary = ""
    if shown:
        items = "".join(
            f'<li><a href="#{name}">{escape(message)}</a></li>'
            if name != "_form"
            else f"<li>{escape(message)}</li>"
            for name, message in shown.items()
        )
        summary = f'<div role="alert"><p>{t["complaint_fix"]}</p><ul>{items}</ul></div>'
    latest = local_minute(now)
    return (
        # The language in the address too: a page answering before the body is read (a
        # rate limit) speaks it.
        summary
        + f'<form method="post" action="/equipment/complaint?lang={lang}" aria-labelledby="cp">'
        f'<input type="hidden" name="equipment_code" value="{escape(code)}">'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<input type="hidden" name="idempotency_key" value="{secrets.token_urlsafe(18)}">'
        f'<p><label for="what">{t["what_label"]}</label><br>'
        f'<textarea id="what" name="what" rows="5" required maxlength="{MAX_WHAT}"'
        f"{described('what')}>{value('what')}</textarea>{error('what')}</p>"
        f'<p><label for="occurred_at">{t["when_label"]}</label><br>'
        f'<input id="occurred_at" name="occurred_at" type="datetime-local" required '
        f'max="{latest}" value="{value("occurred_at", latest)}"'
        f"{described('occurred_at')}>{error('occurred_at')}</p>"
        f'<p><label for="contact">{t["contact_label"]}</label><br>'
        f'<input id="contact" name="contact" maxlength="{MAX_CONTACT}" autocomplete="tel" '
        f'value="{value("contact")}"{described("contact", "contact-hint")}>'
        f'<br><small id="contact-hint">{t["contact_hint"]}</small>{error("contact")}</p>'
        f'<p><button type="submit">{t["complaint_submit"]}</button></p></form>'
    )


def _complaint_section(t: dict[str, str], lang: str, code: str, now: datetime) -> str:
    return (
        f'<section aria-labelledby="cp"><h2 id="cp">{t["complaint_title"]}</h2>'
        f"<p>{t['complaint_intro']}</p>{_complaint_form(t, lang, code, now)}</section>"
    )


def _follow_form(t: dict[str, str], lang: str, reference: str) -> str:
    return (
        f'<section aria-labelledby="fl"><h2 id="fl">{t["follow_title"]}</h2>'
        f'<form method="get" action="/complaints" aria-labelledby="fl">'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<p><label for="reference">{t["follow_label"]}</label><br>'
        f'<input id="reference" name="reference" maxlength="40" autocomplete="off" '
        f'value="{escape(reference)}"></p>'
        f'<p><button type="submit">{t["follow_submit"]}</button></p></form></section>'
    )


def _equipment_link(lang: str, code: str) -> str:
    return _link("/equipment", {"code": code, "lang": lang})


def complaint_form_page(
    lang: str, code: str, values: Mapping[str, Any], errors: Mapping[str, Any], now: datetime
) -> str:
    """The complaint form again, with what was sent (escaped) and each error by its field."""
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    main = (
        f'<h1 id="cp">{t["complaint_title"]}</h1>'
        f"<p>{t['equipment_code']}: <code>{escape(code)}</code></p>"
        + _complaint_form(t, lang, code, now, values, errors)
        + f'<p><a href="{_equipment_link(lang, code)}">{t["back_to_equipment"]}</a></p>'
    )
    header = _header(t, lang, "/equipment?" + urlencode({"code": code, "lang": other}))
    return _page_with(t["complaint_title"], header, main, lang)


def complaint_refused_page(
    lang: str, code: str, kind: str, status: int, retry_after: str | None = None
) -> str:
    """A submission that was not taken: ``unknown`` (no such elevator), ``rate`` (too many;
    ``retry_after`` seconds), ``unavailable`` (a service failed) or anything else."""
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    if kind == "unknown":
        message = t["equipment_unknown"]
    elif kind == "rate":
        message = t["too_many"].format(seconds=escape(retry_after or "1"))
    elif kind == "unavailable":
        message = t["complaint_unavailable"]
    else:
        message = t["complaint_refused"].format(status=status)
    back = (
        f'<p><a href="{_equipment_link(lang, code)}">{t["back_to_equipment"]}</a></p>'
        if code
        else f'<p><a href="{_link("/equipment", {"lang": lang})}">{t["equipment_title"]}</a></p>'
    )
    main = f'<h1>{t["complaint_title"]}</h1><p role="alert">{message}</p>{back}'
    header = _header(t, lang, "/equipment?" + urlencode({"code": code, "lang": other}))
    return _page_with(t["complaint_title"], header, main, lang)


def complaint_status_page(
    lang: str, reference: str, found: dict | None = None, problem: str | None = None
) -> str:
    """A complaint followed by its reference: ``found`` as the public API answers it, or
    ``problem`` (``unknown``, ``unavailable``); neither: the form to enter a reference."""
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    switch_to = "/complaints?" + urlencode(
        {"reference": reference, "lang": other} if reference else {"lang": other}
    )
    main = f"<h1>{t['follow_title']}</h1>"
    if found:
        status = found.get("status") or ""
        rows = [
            (t["reference"], f"<code>{escape(found['reference'])}</code>"),
            (t["complaint_status"], escape(t.get(STATUS_TEXT.get(status, ""), status))),
        ]
        if found.get("decided_on"):
            rows.append((t["decided_on"], escape(str(found["decided_on"]))))
        main += (
            '<dl class="facts">'
            + "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
            + f"</dl><p>{t['follow_text']}</p>"
        )
    elif problem:
        message = t["complaint_unknown"] if problem == "unknown" else t["unavailable"]
        main += f'<p role="alert">{message}</p>'
    main += _follow_form(t, lang, "" if found else reference)
    main += f'<p><a href="{_link("/", {"lang": lang})}">{t["back"]}</a></p>'
    title = f"{reference} - {t['follow_title']}" if reference else t["follow_title"]
    return _page_with(title, _header(t, lang, switch_to), main, lang)


def not_found_page(lang: str) -> str:
    t = TEXT[lang]
    main = (
        f"<h1>{t['not_found_title']}</h1><p>{t['unit_unknown']}</p>"
        f'<p><a href="{_link("/", {"lang": lang})}">{t["back"]}</a></p>'
    )
    return _page_with(t["not_found_title"], _header(t, lang, f"/?lang={lang}"), main, lang)


__all__ = [
    "LANGS",
    "STYLE",
    "TEXT",
    "complaint_form_page",
    "complaint_refused_page",
    "complaint_status_page",
    "equipment_page",
    "home",
    "language",
    "not_found_page",
    "unit_page",
]
