"""The public site in a real browser (Debian's headless Chromium driven by chromedriver): search
by Chinese name and by code, no result, a bad code, a unit's page, the language switch, a
search made with the keyboard alone, a complaint sent from an elevator's page with the
keyboard alone and followed on its page, and no accessibility violation of impact serious or
critical (axe-core) on any of these pages.

The stack is real: licensing, maintenance credit, the blacklist and insurance as processes, the
gateway in this process; a unit is listed by the city bureau through the API first.
"""

from __future__ import annotations

import shutil
from urllib.parse import quote

import pytest

from infra.testing import wait_until
from services.licensing.examples import new_equipment_code, new_uscc

pytest.importorskip("selenium")  # a dev dependency; present wherever `make test` installed it
from axe_selenium_python import Axe  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

NAME = "上海静安安心电梯维保有限公司"
SERIOUS = {"serious", "critical"}


@pytest.fixture(scope="module")
def stack(module_stacks):
    return module_stacks(
        ["licensing", "maintenance_credit", "blacklist", "insurance"], gateway=True
    )


@pytest.fixture(scope="module")
def listed(stack):
    """A unit the city bureau listed (serious violation), visible on the public list."""
    gw = stack.gateway
    admin = gw.headers(gw.token("city_admin"))
    uscc = new_uscc()
    body = {
        "uscc": uscc,
        "name": NAME,
        "district": "310106",
        "reason": "伪造维护保养记录",
        "legal_basis": "《特种设备安全法》第八十八条",
        "decision_no": f"沪市监特罚〔2026〕{uscc[-4:]}号",
    }
    created = gw.client.post("/v1/blacklist/listings", json=body, headers=admin)
    assert created.status_code == 201, created.text
    wait_until(
        lambda: gw.client.get(f"/v1/public/blacklist/{uscc}").status_code == 200,
        what="the public listing",
    )
    return uscc


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("headless Chromium is needed: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=390,844")  # a phone's width
    # A browser set to Chinese, as most visitors' are (the page follows Accept-Language).
    options.add_argument("--lang=zh-CN")
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))
    yield browser
    browser.quit()


def no_serious_violations(browser) -> None:
    axe = Axe(browser)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in SERIOUS]
    assert not bad, [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in bad]


def test_search_by_chinese_name_finds_the_listing_and_the_page_is_accessible(
    stack, listed, browser
):
    browser.get(f"{stack.url}/?q={quote('静安安心')}")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    table = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=bl] table")
    assert NAME in table.text and listed in table.text
    assert browser.title.startswith("静安安心")
    no_serious_violations(browser)


def test_search_by_code_no_result_and_a_bad_code(stack, listed, browser):
    browser.get(f"{stack.url}/?q={listed.lower()}")
    assert NAME in browser.find_element(By.ID, "main").text
    browser.get(f"{stack.url}/?q={quote('没有这家公司')}")
    assert "没有符合条件的黑名单记录" in browser.find_element(By.ID, "main").text
    bad = listed[:-1] + ("0" if listed[-1] != "0" else "1")
    browser.get(f"{stack.url}/?q={bad}")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert "统一社会信用代码" in alert.text
    no_serious_violations(browser)


def test_a_units_page_shows_its_listing_and_how_to_repair(stack, listed, browser):
    browser.get(f"{stack.url}/?q={listed}")
    browser.find_element(By.LINK_TEXT, NAME).click()
    assert browser.current_url.startswith(f"{stack.url}/units/{listed}")
    main = browser.find_element(By.ID, "main").text
    assert "伪造维护保养记录" in main and "《特种设备安全法》第八十八条" in main
    assert "如何申请信用修复" in main and "尚无最终信用等级" in main
    no_serious_violations(browser)


def test_the_language_switch_keeps_the_query(stack, listed, browser):
    browser.get(f"{stack.url}/?q={quote('静安安心')}")
    browser.find_element(By.LINK_TEXT, "English").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Blacklist" in browser.find_element(By.ID, "main").text
    assert browser.find_element(By.ID, "q").get_attribute("value") == "静安安心"
    assert NAME in browser.find_element(By.ID, "main").text
    no_serious_violations(browser)
    browser.find_element(By.LINK_TEXT, "中文").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"


def test_a_search_with_the_keyboard_alone(stack, listed, browser):
    browser.get(f"{stack.url}/?lang=en")
    for _ in range(10):  # the skip link, the site's name, the language switch, the field
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("id") == "q":
            break
    field = browser.switch_to.active_element
    assert field.get_attribute("id") == "q", "the search field is not reachable by Tab"
    field.send_keys(listed)
    field.send_keys(Keys.ENTER)
    wait_until(lambda: "q=" in browser.current_url, what="the search to be sent")
    assert NAME in browser.find_element(By.ID, "main").text


def test_the_elevator_lookup_form_is_accessible_and_says_what_is_wrong(stack, browser):
    browser.get(f"{stack.url}/equipment?lang=en")
    field = browser.find_element(By.ID, "code")
    field.send_keys("12345")
    field.send_keys(Keys.ENTER)
    wait_until(lambda: "code=12345" in browser.current_url, what="the lookup to be sent")
    assert (
        "not a valid equipment code" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    )
    no_serious_violations(browser)


def tab_to(browser, reached, most: int = 10) -> None:
    """Press Tab until the focused element is ``reached`` (a date and time field takes a
    Tab per part in Chromium)."""
    for _ in range(most):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if reached(browser.switch_to.active_element):
            return
    raise AssertionError("not reached by Tab: " + browser.switch_to.active_element.tag_name)


def test_a_complaint_with_the_keyboard_alone_and_its_page(stack, browser):
    code = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(code, "310106")
    page = f"{stack.url}/equipment?code={code}&lang=en"

    def complain() -> bool:
        """Tab to the form, fill it in and send it with Enter on its button; False while the
        credit service has not heard of the elevator yet (its page says no such elevator)."""
        browser.get(page)
        for _ in range(20):
            ActionChains(browser).send_keys(Keys.TAB).perform()
            if browser.switch_to.active_element.get_attribute("id") == "what":
                break
        field = browser.switch_to.active_element
        assert field.get_attribute("id") == "what", "the complaint is not reachable by Tab"
        field.send_keys("The car stopped between floors <b>twice</b>")
        ActionChains(browser).send_keys(Keys.TAB).perform()  # when: now, as it is
        assert browser.switch_to.active_element.get_attribute("id") == "occurred_at"
        tab_to(browser, lambda e: e.get_attribute("id") == "contact")  # past its parts
        ActionChains(browser).send_keys("138 0013 8000").perform()
        tab_to(browser, lambda e: e.tag_name == "button")
        ActionChains(browser).send_keys(Keys.ENTER).perform()
        wait_until(
            lambda: (
                "/equipment/complaint" in browser.current_url
                or "/complaints" in browser.current_url
            ),
            what="the complaint to be sent",
        )
        return "reference=C-" in browser.current_url

    browser.get(page)
    assert browser.find_element(By.ID, "what").get_attribute("required") == "true"
    no_serious_violations(browser)  # the elevator's page with its complaint form
    wait_until(complain, timeout=30, what="the complaint to be received")
    main = browser.find_element(By.ID, "main").text
    reference = browser.current_url.split("reference=")[1].split("&")[0]
    assert reference in main and "received, to be checked" in main
    assert "<b>" not in browser.page_source.split("<main")[1]
    no_serious_violations(browser)  # the complaint's page

    # a mistake: the form comes back with the error by its field
    browser.get(page)
    browser.find_element(By.ID, "what").send_keys("   ")
    browser.find_element(By.CSS_SELECTOR, "form[method=post] button").click()
    wait_until(lambda: "/equipment/complaint" in browser.current_url, what="the form to return")
    assert browser.find_element(By.ID, "what-error").text.startswith("Say what happened")
    no_serious_violations(browser)
