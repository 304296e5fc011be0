"""The complaint form of the public site over HTTP: the gateway in this process, licensing and
the credit service as real processes. A passenger complains from the elevator's page with a
plain form, is sent to the complaint's page and follows it there until an officer (over the
API) decides it; a form with mistakes comes back with each error by its field and nothing
recorded; what was sent is escaped wherever it is shown again; submissions share the public
API's rate limit."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from infra.testing import wait_until
from services.licensing.examples import new_equipment_code
from tests.credit_units import XUHUI, licensed_unit, xuhui_stack

FORM = "application/x-www-form-urlencoded"
SCRIPT = "<script>alert(1)</script>"
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture(scope="module")
def stack(module_stacks):
    return xuhui_stack(module_stacks, ["licensing", "maintenance_credit", "blacklist", "insurance"])


@pytest.fixture(scope="module")
def gw(stack):
    return stack.gateway


@pytest.fixture(scope="module")
def admin(gw):
    return gw.headers(gw.token("city_admin"))


@pytest.fixture(scope="module")
def lift(stack, gw, admin) -> tuple[str, str]:
    """(an elevator of Xuhui the credit service knows, the unit maintaining it)."""
    unit = licensed_unit(gw, admin)
    code = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(code, XUHUI, maintenance_unit_uscc=unit)
    wait_until(
        lambda: gw.client.get(f"/v1/public/equipment/{code}").status_code == 200,
        what="the register to know the elevator",
    )
    return code, unit


def form_of(gw, code: str, lang: str = "en") -> dict[str, str]:
    """The complaint form's hidden fields, from the elevator's page."""
    page = gw.client.get("/equipment", params={"code": code, "lang": lang})
    assert page.status_code == 200, page.text
    assert 'action="/equipment/complaint?lang=en"' in page.text
    key = KEY.search(page.text)
    assert key, "the form has no idempotency key"
    return {"equipment_code": code, "lang": lang, "idempotency_key": key.group(1)}


def post(gw, fields: dict[str, str]):
    """As the page's form does: the language in the address and in the fields."""
    return gw.client.post(f"/equipment/complaint?lang={fields.get('lang', 'en')}", data=fields)


def submit(gw, code: str, what: str, contact: str = "", lang: str = "en"):
    """Send the page's form until the credit service has heard of the elevator (a 404 page
    before; each attempt is a fresh form, as a reloaded page gives)."""
    sent: dict = {}

    def accepted() -> bool:
        fields = {**form_of(gw, code, lang), "what": what, "occurred_at": "2014-09-29T08:15"}
        sent["fields"], sent["r"] = fields, post(gw, {**fields, "contact": contact})
        assert sent["r"].status_code in (303, 404), sent["r"].text
        return sent["r"].status_code == 303

    wait_until(accepted, timeout=20, what="the credit service to learn of the elevator")
    return sent["r"], {**sent["fields"], "contact": contact}


def queue_of(gw, code: str) -> list[dict]:
    officer = gw.headers(gw.token("bureau_officer", bureau=XUHUI))
    items = gw.client.get("/v1/complaints", params={"limit": 200}, headers=officer)
    assert items.status_code == 200, items.text
    return [c for c in items.json()["items"] if c["equipment_code"] == code]


def test_a_complaint_from_the_form_to_its_decision(gw, admin, lift):
    code, unit = lift
    what = f"{SCRIPT} the doors closed on my bag"
    sent, fields = submit(gw, code, what, contact="13800138000")
    where = sent.headers["location"]
    query = parse_qs(urlsplit(where).query)
    assert urlsplit(where).path == "/complaints" and query["lang"] == ["en"]
    reference = query["reference"][0]
    assert re.fullmatch(r"C-[A-Z2-7]{26}", reference)
    assert "script" not in sent.text

    # the same form sent again (a double click, a retry) is the same complaint
    again = post(gw, fields)
    assert again.status_code == 303 and again.headers["location"] == where
    assert [c["reference"] for c in queue_of(gw, code)] == [reference]

    page = gw.client.get(where)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert reference in page.text and "received, to be checked" in page.text
    assert "Keep the reference" in page.text
    assert "script" not in page.text and "13800138000" not in page.text
    zh = gw.client.get("/complaints", params={"reference": reference, "lang": "zh"})
    assert "已收到，待核实" in zh.text and '<html lang="zh-CN">' in zh.text

    # the officers see what was sent, as it was sent; one decides it over the API
    (queued,) = queue_of(gw, code)
    assert (queued["what"], queued["contact"]) == (what, "13800138000")
    assert queued["occurred_at"].startswith("2014-09-29T08:15:00")
    decision = {"outcome": "verified", "reason": "the door sensor was not adjusted"}
    decided = gw.client.post(f"/v1/complaints/{reference}/decide", json=decision, headers=admin)
    assert decided.status_code == 200, decided.text
    assert decided.json()["unit_uscc"] == unit
    page = gw.client.get(where)
    assert "verified" in page.text and "2014-09-29" in page.text
    assert "received, to be checked" not in page.text

    # a reference nobody was given, or not a reference at all: a 404 page, escaped
    for reference in ("C-" + "A" * 26, SCRIPT):
        missing = gw.client.get("/complaints", params={"reference": reference, "lang": "en"})
        assert missing.status_code == 404, missing.text
        assert "No complaint has this reference" in missing.text and "<script>" not in missing.text
    assert gw.client.get("/complaints").status_code == 200  # the form to enter one


@pytest.mark.parametrize(
    "change, field",
    [
        ({"what": ""}, "what"),
        ({"what": "   "}, "what"),
        ({"what": "x" * 2001}, "what"),
        ({"what": "bell\u0007"}, "what"),
        ({"occurred_at": "2014-09-29T09:30"}, "occurred_at"),  # after the clock's now
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": ""}, "occurred_at"),
        ({"contact": "c" * 201}, "contact"),
    ],
)
def test_a_form_with_a_mistake_comes_back_with_the_error_by_its_field(gw, lift, change, field):
    code, _ = lift
    before = len(queue_of(gw, code))
    fields = {
        **form_of(gw, code),
        "what": f"{SCRIPT} stuck",
        "occurred_at": "2014-09-29T08:00",
        "contact": f'"><{SCRIPT}',
        **change,
    }
    page = post(gw, fields)
    assert page.status_code == 422, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in page.text and 'action="/equipment/complaint?lang=en"' in page.text
    assert f'id="{field}-error"' in page.text and 'aria-invalid="true"' in page.text
    # the values come back, escaped; the form has a new key
    assert "<script>" not in page.text
    if field != "what":
        assert "&lt;script&gt;alert(1)&lt;/script&gt; stuck</textarea>" in page.text
    if field != "contact":
        assert 'value="&quot;&gt;&lt;&lt;script&gt;' in page.text
    assert KEY.search(page.text).group(1) != fields["idempotency_key"]
    assert len(queue_of(gw, code)) == before, "a refused form recorded a complaint"


def test_what_the_form_cannot_take_is_a_page_too(gw, lift):
    code, _ = lift
    unknown = new_equipment_code()
    fields = {**form_of(gw, code), "equipment_code": unknown, "what": SCRIPT}
    fields["occurred_at"] = "2014-09-29T08:00"
    page = post(gw, fields)
    assert page.status_code == 404, page.text
    assert "No equipment is registered under this code" in page.text
    assert page.headers["content-type"].startswith("text/html")
    # a JSON body, a field twice, a body that is not UTF-8: refused, as pages
    as_json = gw.client.post("/equipment/complaint", json=fields)
    assert as_json.status_code == 415 and as_json.headers["content-type"].startswith("text/html")
    twice = gw.client.post(
        "/equipment/complaint",
        content=b"what=a&what=b&lang=en",
        headers={"Content-Type": FORM},
    )
    assert twice.status_code == 422 and "text/html" in twice.headers["content-type"]
    broken = gw.client.post(
        "/equipment/complaint", content=b"what=%FF%FE&lang=en", headers={"Content-Type": FORM}
    )
    assert broken.status_code == 400 and "text/html" in broken.headers["content-type"]
    nul = gw.client.post(
        "/equipment/complaint", content=b"what=a%00b&lang=en", headers={"Content-Type": FORM}
    )
    assert nul.status_code == 422, nul.text


def test_the_elevator_page_has_no_form_for_an_unknown_elevator(gw):
    page = gw.client.get("/equipment", params={"code": new_equipment_code(), "lang": "en"})
    assert "No equipment is registered" in page.text
    assert "/equipment/complaint" not in page.text


def test_form_submissions_share_the_public_rate_limit(gateways):
    limited = gateways(SESP_PUBLIC_RATE="1/m,burst=2")
    api = {"equipment_code": "1", "what": "x", "occurred_at": "2014-09-29T08:00:00+08:00"}
    assert limited.client.post("/v1/public/complaints", json=api).status_code == 422
    form = {"equipment_code": "1", "what": "x", "occurred_at": "2014-09-29T08:00", "lang": "en"}
    assert post(limited, form).status_code == 422
    refused = post(limited, form)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("text/html")
    wait = refused.headers["retry-after"]
    assert int(wait) >= 1 and f"try again in {wait} s" in refused.text
    # pages that only read are not counted
    assert limited.client.get("/equipment?lang=en").status_code == 200
