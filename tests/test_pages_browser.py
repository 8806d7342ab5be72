"""The pages staff use, at phone, tablet and desktop widths, by keyboard, and as the viewer who
may only read: real Chromium (Playwright) against `taizhang serve` on the demo data.
Screenshots of every main page at desktop and phone width go to test-artifacts/screenshots/."""

import sqlite3
import urllib.parse

import pytest

from taizhang.demo import DEMO_ACCOUNTS
from tests.browser import ARTIFACTS, PASSWORD, login, running_server

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "screenshots"
PHONE, TABLET, DESKTOP = 390, 768, 1280
HEIGHT = {PHONE: 844, TABLET: 1024, DESKTOP: 900}
# Logins linked to the demo employees (so 我的待办 has rows), one per role these tests need.
USERS = {role: f"p-{role}" for role in ("editor", "viewer")}

# What a page must show, reachable without scrolling sideways, at every width.
MENU = "details.nav-menu > summary"
ACTIONS = "details.actions-menu-links > summary"
MAIN_ACTIONS = {
    "home": ["form.home-search input[type=search]", "form.home-search input[type=submit]", MENU],
    "table-meetings": ["#_search", ACTIONS, "button.table-insert-row", MENU],
    "table-customers": ["#_search", ACTIONS, "button.table-insert-row", MENU],
    "row-meeting": [ACTIONS, "form.linked-add [type=submit]", ".linked-section table", MENU],
    "row-employee": [ACTIONS, ".linked-section table", MENU],
    "row-partner": [ACTIONS, ".linked-section table", MENU],
    "report": ["table.rows-and-columns", MENU],
    "history": ["section.history-entry", MENU],
    "search": ["input[name=q]", "section.content h2 a", MENU],
    "form": ["section.content form [type=submit]", MENU],
}
# Controls that act: each at least 40px high on a phone (checkboxes act through their labels).
CONTROLS = ("button, input[type=submit], input[type=button], select, summary, input[type=text], "
            "input[type=search], input[type=date], input[type=password], input[type=number]")
# A write somewhere: our write routes and core's write API.
WRITE_PATH = r"/-/(form|linked|import|insert|upsert|update|delete|alter|drop|create|execute-write)\b|/restore$"
EDIT_WORDS = r"新增|新建|编辑|删除|导入|添加|插入|Insert|Edit|Delete|Import|Upsert"


@pytest.fixture(scope="module")
def ids(demo_data_dir):
    """The rows worth looking at: the meeting with the most resolutions, the employee with the
    most training records, the partner with the most evaluations."""
    conn = sqlite3.connect(demo_data_dir.database("ops"))
    try:
        def most(table, column):
            return conn.execute(f"select {column} from {table} group by 1 order by count(*) desc, 1 limit 1").fetchone()[0]
        return {"meeting": most("meeting_actions", "meeting_id"), "employee": most("training_records", "employee_id"),
                "partner": most("partner_evaluations", "partner_id")}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(demo_data_dir):
    store = demo_data_dir.users()
    for role, username in USERS.items():
        if not store.get(username):
            store.add(username, PASSWORD, role, employee_no=DEMO_ACCOUNTS[role])
    with running_server(demo_data_dir) as url:
        yield url


@pytest.fixture(scope="module")
def pages(ids):
    return {
        "home": "/",
        "table-meetings": "/ops/meetings",
        "table-customers": "/ops/customers",
        "row-meeting": f"/ops/meetings/{ids['meeting']}",
        "row-employee": f"/ops/employees/{ids['employee']}",
        "row-partner": f"/ops/partners/{ids['partner']}",
        "report": "/ops/overdue_meeting_actions",
        "history": f"/-/history/ops/meetings/{ids['meeting']}",
        "search": "/-/search?q=" + urllib.parse.quote("培训"),
        "form": "/-/form/ops/partners",
    }


def _open(browser, server, role, width):
    page = login(browser, server, USERS[role])
    page.set_viewport_size({"width": width, "height": HEIGHT[width]})
    return page


def _goto(page, server, path):
    response = page.goto(server + path)
    assert response.status == 200, path
    return page


def _shot(page, name, width):
    SHOTS.mkdir(parents=True, exist_ok=True)
    device = {PHONE: "phone", TABLET: "tablet", DESKTOP: "desktop"}[width]
    # The whole page, but not 60,000px of a 50-row table turned into cards on a phone.
    height = min(page.evaluate("document.documentElement.scrollHeight"), 4000)
    page.screenshot(path=str(SHOTS / f"{name}-{device}.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": height})


def _fits(page, width, name):
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= page.evaluate("window.innerWidth") + 1, f"{name}: the page scrolls sideways ({scroll_width}px at {width}px)"


def _visible_within(page, selector, width, name):
    element = page.locator(selector).first
    assert element.is_visible(), f"{name}: {selector} is not visible at {width}px"
    box = element.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{name}: {selector} is off screen at {width}px"


def _small_controls(page):
    return page.evaluate("""(selector) => [...document.querySelectorAll(selector)].filter(el => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden' && r.height < 40;
      }).map(el => el.tagName + '[' + (el.name || el.className || el.textContent.trim().slice(0, 20)) + '] '
                   + Math.round(el.getBoundingClientRect().height) + 'px')""", CONTROLS)


def _small_text(page):
    """Visible text set smaller than 14px (core's small print, a facet count, is allowed 12px)."""
    return page.evaluate("""() => {
      const small = [];
      for (const el of document.querySelectorAll('section.content *')) {
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        const r = el.getBoundingClientRect();
        if (!own || !r.width || !r.height) continue;
        const size = parseFloat(getComputedStyle(el).fontSize);
        if (size < 12) small.push(el.tagName + '.' + el.className + ' ' + size + 'px: ' + el.textContent.trim().slice(0, 20));
      }
      return small;
    }""")


@pytest.mark.parametrize("width", [PHONE, TABLET])
def test_pages_fit_a_phone_and_a_tablet(server, browser, pages, width):
    page = _open(browser, server, "editor", width)
    for name, path in pages.items():
        _goto(page, server, path)
        _fits(page, width, name)
        for selector in MAIN_ACTIONS[name]:
            _visible_within(page, selector, width, name)
        if width == PHONE:
            assert _small_controls(page) == [], f"{name}: controls under 40px high on a phone"
            assert _small_text(page) == [], f"{name}: text too small to read on a phone"
    page.close()


def test_login_page_fits_a_phone(server, browser):
    page = browser.new_page(viewport={"width": PHONE, "height": HEIGHT[PHONE]})
    _goto(page, server, "/-/login")
    _fits(page, PHONE, "login")
    for selector in ("#id_username", "#id_password", "input[type=submit]"):
        _visible_within(page, selector, PHONE, "login")
    assert _small_controls(page) == []
    page.close()


def test_linked_records_on_a_phone_are_labelled_cards(server, browser, pages):
    """A meeting's resolutions stack as cards labelled with their own columns (决议事项…),
    not with the meeting's columns that core labels the page's cells with."""
    page = _open(browser, server, "editor", PHONE)
    _goto(page, server, pages["row-meeting"])
    cell = page.locator(".linked-section table td").first
    label = cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"决议事项"'
    cards = page.locator(".linked-section table tbody tr")
    assert cards.count() > 1
    first, second = cards.nth(0).bounding_box(), cards.nth(1).bounding_box()
    assert second["y"] >= first["y"] + first["height"]               # stacked, not side by side
    minutes = page.locator("td.col-minutes")                          # long minutes wrap inside the screen
    assert minutes.bounding_box()["x"] + minutes.bounding_box()["width"] <= PHONE
    assert minutes.bounding_box()["height"] > 200
    page.close()


def test_screenshots_of_the_main_pages(server, browser, pages):
    for width in (DESKTOP, PHONE):
        page = _open(browser, server, "editor", width)
        for name, path in pages.items():
            _shot(_goto(page, server, path), name, width)
        page.close()
        anonymous = browser.new_page(viewport={"width": width, "height": HEIGHT[width]})
        _shot(_goto(anonymous, server, "/-/login"), "login", width)
        anonymous.close()
    assert len(list(SHOTS.glob("*-desktop.png"))) >= len(pages) + 1
    assert len(list(SHOTS.glob("*-phone.png"))) >= len(pages) + 1


def _edit_affordances(page):
    """Everything on the page (shown or tucked in a menu) that would let its reader change data."""
    return page.evaluate("""([writePath, editWords]) => {
      const write = new RegExp(writePath), words = new RegExp(editWords), found = [];
      for (const form of document.querySelectorAll('form'))
        if (form.method.toLowerCase() === 'post' && write.test(new URL(form.action).pathname)) found.push('form → ' + form.action);
      for (const a of document.querySelectorAll('a[href]'))
        if (write.test(new URL(a.href).pathname)) found.push('link → ' + a.href);
      const controls = 'button, [role=menuitem], input[type=submit], input[type=button], [data-table-action], [data-row-action]';
      for (const el of document.querySelectorAll(controls)) {
        const text = (el.value || el.textContent || el.getAttribute('aria-label') || '').trim();
        if (el.matches('.table-insert-row, .row-inline-action, [data-table-action], [data-row-action]') || words.test(text))
          found.push(el.tagName + ' ' + text.slice(0, 20));
      }
      return found;
    }""", [WRITE_PATH, EDIT_WORDS])


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_those_who_may_edit_see_edit_affordances(server, browser, pages, role):
    page = _open(browser, server, role, DESKTOP)
    for name in ("home", "table-meetings", "table-customers", "row-meeting", "row-employee", "row-partner"):
        found = _edit_affordances(_goto(page, server, pages[name]))
        if role == "viewer":
            assert found == [], f"the viewer is offered edits on {name}: {found}"
        elif name in ("table-meetings", "table-customers", "row-meeting"):   # registers an editor may change
            assert found, f"the editor is offered no edits on {name}"
    if role == "viewer":
        # Double-clicking a cell opens nothing: no dialog, no editor in the grid, no navigation.
        for name in ("table-meetings", "table-customers"):
            url = _goto(page, server, pages[name]).url
            page.locator("table.rows-and-columns tbody tr td").nth(2).dblclick()
            page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            assert page.locator("dialog[open]").count() == 0
            assert page.locator("table.rows-and-columns :is(input, textarea, select, [contenteditable=true])").count() == 0
            assert page.url == url
    page.close()


def _focus_ring(page):
    return page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
      return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'; }""")


def _tab_to(page, selector, limit=30):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_home_quick_search_by_keyboard(server, browser):
    page = _open(browser, server, "editor", DESKTOP)
    _goto(page, server, "/")
    page.keyboard.press("Tab")                                        # first stop: 跳到正文
    assert page.evaluate("document.activeElement.textContent") == "跳到正文"
    assert _focus_ring(page)
    _tab_to(page, "input[name=q]")
    assert _focus_ring(page)
    # The search comes before 我的待办 and the registers, as it reads.
    assert page.evaluate("document.activeElement.compareDocumentPosition(document.querySelector('.home-grid a'))"
                         " & Node.DOCUMENT_POSITION_FOLLOWING")
    page.keyboard.type("培训")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/-/search" in page.url
    assert page.locator("section.content h2 a").count() > 0           # results grouped by register
    assert page.input_value("input[name=q]") == "培训"
    _tab_to(page, "section.content h2 a")                             # and the results are reachable too
    assert _focus_ring(page)
    page.close()


def test_skip_link_jumps_past_the_header(server, browser, pages):
    page = _open(browser, server, "editor", PHONE)
    _goto(page, server, pages["row-meeting"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator("a.skip-link").is_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")                                        # next stop is in the content, not the header
    assert page.evaluate("!!document.activeElement.closest('section.content')")
    # The resolution form is filled in the order it reads.
    _tab_to(page, "form.linked-add [name=item]")
    names = []
    while "submit" not in names and len(names) < 10:   # a date field takes one Tab per part
        page.keyboard.press("Tab")
        # the owner is chosen with the reference picker, a combobox standing for the owner_id select
        name = page.evaluate("document.activeElement.getAttribute('role') === 'combobox' ? 'owner picker'"
                             " : document.activeElement.name || document.activeElement.type")
        if not names or names[-1] != name:
            names.append(name)
    # the register form's fields in its order, each date with its 日历 button
    assert names == ["owner picker", "due_on", "button", "status", "done_on", "button", "notes", "submit"]
    page.close()


def test_table_search_box_keeps_the_search_term(server, browser):
    page = _open(browser, server, "viewer", PHONE)
    _goto(page, server, "/ops/meetings")
    page.fill("#_search", "預算")                                     # 繁體 typed, found in 简体 minutes
    with page.expect_navigation():
        page.press("#_search", "Enter")
    assert "_search=" in page.url
    assert page.input_value("#_search") == "預算"
    assert page.locator("table.rows-and-columns tbody tr").count() > 0
    # What the box shows is the term, never markup built from it.
    _goto(page, server, "/ops/meetings?_search=" + urllib.parse.quote('"><b id=x>'))
    assert page.input_value("#_search") == '"><b id=x>'
    assert page.locator("b#x").count() == 0
    page.close()
