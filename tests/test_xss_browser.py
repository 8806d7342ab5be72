"""A stored-XSS corpus in every text column renders inert on the table, row, edit and history
pages, in a real browser: no dialog fires, no remote request is made, no javascript: link."""

import pytest

from taizhang.datadir import DataDir, init
from taizhang.registers import load
from tests.browser import PASSWORD, login, running_server

pytestmark = pytest.mark.browser
REMOTE = "http://xss.invalid"
CORPUS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    f"<img src='{REMOTE}/img.png'>",
    "javascript:alert('url')",
    "<svg onload=alert('svg')><circle r=1 /></svg>",
    "<a href=\"javascript:alert('a')\">点我</a>",
    f"[链接](javascript:alert('md'))  ![图片]({REMOTE}/md.png)",
    "\"><script>alert('attr')</script>",
    "'-alert('quote')-'",
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "{{ 7*7 }} ${alert('tpl')}",
]
# (register, required columns) — every other text column gets a corpus entry.
TARGETS = {
    "partners": {},
    "meetings": {"held_on": "2024-10-08"},
    "customers": {},
}


def _rows(register: str) -> list[dict]:
    reg = load().registers[register]
    text_columns = [c.name for c in reg.columns.values() if c.type == "text" and c.format is None]
    rows = []
    for i, payload in enumerate(CORPUS):
        row = {c: f"{payload} #{i}" for c in text_columns}
        row.update(TARGETS[register])
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def xss_server(tmp_path_factory):
    data_dir = DataDir.resolve(tmp_path_factory.mktemp("xss"))
    init(data_dir)
    store = data_dir.users()
    store.add("x-admin", PASSWORD, "admin")
    store.add("x-editor", PASSWORD, "editor")
    with running_server(data_dir) as url:
        yield url


@pytest.fixture(scope="module")
def seeded(xss_server, browser):
    page = login(browser, xss_server, "x-admin")
    for register in TARGETS:
        for row in _rows(register):
            response = page.request.post(f"{xss_server}/ops/{register}/-/insert", data={"row": row},
                                         headers={"origin": xss_server})
            assert response.status == 201, response.text()
    # an update, so history pages show old and new values of the corpus
    response = page.request.post(f"{xss_server}/ops/partners/1/-/update",
                                 data={"update": {"notes": CORPUS[1], "address": CORPUS[5]}},
                                 headers={"origin": xss_server})
    assert response.status == 200
    page.close()
    return xss_server


PAGES = ["/ops/partners", "/ops/partners/1", "/ops/partners/2", "/ops/meetings", "/ops/meetings/7",
         "/ops/customers", "/-/history/ops/partners/1", "/-/history/ops/partners", "/-/history",
         "/ops/partners?_facet=contact_person", "/ops/meetings?_search=script"]


def _watch(page, server):
    events = {"dialogs": [], "remote": []}
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.on("request", lambda r: None if r.url.startswith((server, "data:", "about:")) else events["remote"].append(r.url))
    return events


def _javascript_links(page) -> int:
    return page.evaluate("document.querySelectorAll('a[href^=\"javascript:\" i], iframe, svg[onload], img[onerror]').length")


@pytest.mark.parametrize("path", PAGES)
def test_corpus_is_inert(seeded, browser, path):
    page = login(browser, seeded, "x-admin")
    events = _watch(page, seeded)
    page.goto(seeded + path)
    page.wait_for_timeout(300)
    assert events["dialogs"] == [], path
    assert events["remote"] == [], path
    assert _javascript_links(page) == 0, path
    page.close()


def test_edit_dialog_is_inert(seeded, browser):
    page = login(browser, seeded, "x-editor", start="/ops/partners")
    events = _watch(page, seeded)
    page.goto(seeded + "/ops/partners")
    edit = page.locator('button[data-row-action="edit"]').first
    edit.click()
    page.wait_for_selector("#row-edit-dialog[open], dialog[open]")
    page.wait_for_timeout(300)
    assert events["dialogs"] == [] and events["remote"] == []
    assert _javascript_links(page) == 0
    page.close()
