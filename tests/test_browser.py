"""The pages people use, in a real browser: Debian's headless Chromium driven by Playwright,
against `taizhang serve` running on a loopback port. Screenshots go to test-artifacts/."""

import pytest

from tests.browser import ARTIFACTS, PASSWORD, running_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(demo_data_dir):
    store = demo_data_dir.users()
    for role in ("editor", "viewer", "hr"):
        if not store.get(f"b-{role}"):
            store.add(f"b-{role}", PASSWORD, role)
    with running_server(demo_data_dir) as url:
        yield url


def _login(browser, server, username):
    page = browser.new_page()
    page.goto(server + "/ops/meetings")
    assert "/-/login" in page.url                      # anonymous: sent to the login form
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_login_then_search_meetings_in_chinese(server, browser):
    page = _login(browser, server, "b-editor")
    assert page.url.endswith("/ops/meetings")           # back where the visitor was going
    _shot(page, "meetings")
    page.fill("input[name=_search]", "預算")
    page.press("input[name=_search]", "Enter")
    page.wait_for_load_state()
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() > 0
    assert "预算" in page.content()
    _shot(page, "meetings-search")
    page.close()


def test_wrong_password_shows_a_chinese_error(server, browser):
    page = browser.new_page()
    page.goto(server + "/-/login")
    page.fill("#id_username", "b-editor")
    page.fill("#id_password", "wrong-password")
    page.click("input[type=submit]")
    assert "用户名或密码不正确" in page.locator(".message-error").inner_text()
    page.close()


def test_viewer_cannot_open_the_confidential_register(server, browser):
    page = _login(browser, server, "b-viewer")
    response = page.goto(server + "/hr/confidentiality_agreements")
    assert response.status == 403
    page.goto(server + "/")
    assert "confidentiality_agreements" not in page.content()
    _shot(page, "home-viewer")
    page.close()


def test_hr_sees_expiring_agreements_report(server, browser):
    page = _login(browser, server, "b-hr")
    response = page.goto(server + "/hr/expiring_confidentiality_agreements")
    assert response.status == 200
    assert "即将到期的保密协议" in page.content()
    assert page.locator("table.rows-and-columns tbody tr").count() > 0
    _shot(page, "report-expiring-agreements")
    page.close()


def test_logout(server, browser):
    page = _login(browser, server, "b-editor")
    page.goto(server + "/-/logout")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    page.goto(server + "/ops/partners")
    assert "/-/login" in page.url
    page.close()
