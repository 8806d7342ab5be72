"""Editing in the table grid, in a real browser (Debian's Chromium via Playwright) against
`taizhang serve` on the demo registers: a cell edited inline, three cells pasted from a TSV
clipboard, inline Chinese errors that keep the typed value, an edit conflict resolved by
overwriting, and no edit affordance at all for a viewer. Screenshots go to test-artifacts/."""

import datetime
import sqlite3

import pytest

from taizhang import demo
from tests.browser import ARTIFACTS, login, running_server, writable_demo

pytestmark = pytest.mark.browser
PAGE = "/ops/partners?_sort=id"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return writable_demo(tmp_path_factory.mktemp("grid"), datetime.date(2026, 11, 21), {
        f"grid-{role}": (role, demo.DEMO_ACCOUNTS[role]) for role in ("editor", "manager", "viewer")})


@pytest.fixture(scope="module")
def server(data_dir):
    with running_server(data_dir) as url:
        yield url


def _db(data_dir, sql, params=()):
    conn = sqlite3.connect(data_dir.database("ops"))
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _cell(page, row_id, column):
    return page.locator(f"table.rows-and-columns tr[data-row='{row_id}'] td.col-{column}")


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def _saved(page, row_id, column, text):
    """Wait until the cell shows `text` and its editor is gone (the save answered)."""
    page.wait_for_function(
        """([row, column, text]) => {
            const td = document.querySelector(`tr[data-row='${row}'] td.col-${column}`);
            return td && !td.querySelector('.tz-editor') && td.textContent.includes(text);
        }""", arg=[str(row_id), column, text])


def _editor(page, row_id, column):
    return _cell(page, row_id, column).locator(".tz-field")


def test_edit_a_cell_inline_with_the_keyboard(server, browser, data_dir):
    page = login(browser, server, "grid-editor", start=PAGE)
    page.set_viewport_size({"width": 1400, "height": 900})
    _cell(page, 1, "notes").dblclick()
    _editor(page, 1, "notes").fill("电话沟通顺利")
    _editor(page, 1, "notes").press("Enter")
    _saved(page, 1, "notes", "电话沟通顺利")
    _shot(page, "grid-saved")
    assert _db(data_dir, "select notes from partners where id = 1") == [("电话沟通顺利",)]
    # Enter moved the selection down a row; arrows move it; Enter edits; Esc cancels.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")                 # notes -> status (the column before it)
    assert "tz-active" in _cell(page, 1, "status").get_attribute("class")
    page.keyboard.press("Enter")
    select = _editor(page, 1, "status")
    assert select.evaluate("el => el.tagName") == "SELECT"
    assert select.locator("option").all_inner_texts() == ["（空）", "合作中", "暂停", "已终止"]
    page.keyboard.press("Escape")
    assert _cell(page, 1, "status").locator(".tz-editor").count() == 0
    # A reference typed by name is resolved by the server and shown as its label.
    _cell(page, 1, "owner_id").dblclick()
    _editor(page, 1, "owner_id").fill("陈静")
    _editor(page, 1, "owner_id").press("Tab")
    _saved(page, 1, "owner_id", "陈静")
    owner = _db(data_dir, "select owner_id from partners where id = 1")[0][0]
    assert _db(data_dir, "select employee_no from employees where id = ?", [owner]) == [(demo.DEMO_ACCOUNTS["editor"],)]
    assert "tz-active" in _cell(page, 1, "agreement_no").get_attribute("class")   # Tab moved right
    page.close()


def test_paste_three_cells_from_a_tsv_clipboard(server, browser, data_dir):
    page = login(browser, server, "grid-editor", start=PAGE)
    _cell(page, 2, "notes").click()
    tsv = '第一条\r\n"第二条，含""引号"""\r\n第三条\r\n'      # as Excel copies a column: CRLF, quotes doubled
    page.evaluate("""(tsv) => {
        const data = new DataTransfer();
        data.setData('text/plain', tsv);
        document.activeElement.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
    }""", tsv)
    _saved(page, 4, "notes", "第三条")
    _shot(page, "grid-pasted")
    assert _db(data_dir, "select id, notes from partners where id between 2 and 4 order by id") == [
        (2, "第一条"), (3, '第二条，含"引号"'), (4, "第三条")]
    page.close()


def test_an_impossible_date_is_refused_in_place_keeping_the_typed_value(server, browser, data_dir):
    before = _db(data_dir, "select agreement_start from partners where id = 5")
    page = login(browser, server, "grid-editor", start=PAGE)
    _cell(page, 5, "agreement_start").dblclick()
    _editor(page, 5, "agreement_start").fill("2024-02-30")
    _editor(page, 5, "agreement_start").press("Enter")
    alert = _cell(page, 5, "agreement_start").get_by_role("alert")
    alert.wait_for()
    assert "协议开始日期" in alert.inner_text() and "日期不存在：2024-02-30" in alert.inner_text()
    assert _editor(page, 5, "agreement_start").input_value() == "2024-02-30"
    _shot(page, "grid-impossible-date")
    assert _db(data_dir, "select agreement_start from partners where id = 5") == before
    page.close()


def test_an_end_date_before_the_start_is_refused_in_place(server, browser, data_dir):
    _db(data_dir, "update partners set agreement_start = '2024-01-01' where id = 6")
    page = login(browser, server, "grid-editor", start=PAGE)
    _cell(page, 6, "agreement_end").dblclick()
    _editor(page, 6, "agreement_end").fill("2023/12/31")
    _editor(page, 6, "agreement_end").press("Enter")
    alert = _cell(page, 6, "agreement_end").get_by_role("alert")
    alert.wait_for()
    assert "协议到期日期不能早于协议开始日期" in alert.inner_text()
    assert _editor(page, 6, "agreement_end").input_value() == "2023/12/31"
    _shot(page, "grid-end-before-start")
    page.close()


def test_a_row_changed_in_another_session_is_a_conflict_then_overwritten(server, browser, data_dir):
    page = login(browser, server, "grid-editor", start=PAGE)
    other = login(browser, server, "grid-manager", start=PAGE)     # another person, another session
    status = other.evaluate("""() => fetch('/-/cells/ops/partners', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({changes: [{id: 7, column: 'contact_person', value: '别人改的'}]})}).then(r => r.status)""")
    assert status == 200
    other.close()
    _cell(page, 7, "notes").dblclick()
    _editor(page, 7, "notes").fill("我的修改")
    _editor(page, 7, "notes").press("Enter")
    alert = _cell(page, 7, "notes").get_by_role("alert")
    alert.wait_for()
    assert "此记录已被 grid-manager 于" in alert.inner_text() and "联系人" in alert.inner_text()
    assert alert.get_by_role("button", name="重新载入").count() == 1
    _shot(page, "grid-conflict")
    assert _db(data_dir, "select notes from partners where id = 7")[0][0] != "我的修改"
    alert.get_by_role("button", name="覆盖保存").click()
    _saved(page, 7, "notes", "我的修改")
    assert _db(data_dir, "select notes, contact_person from partners where id = 7") == [("我的修改", "别人改的")]
    page.close()


def test_a_viewer_has_no_edit_affordance_at_all(server, browser):
    page = login(browser, server, "grid-viewer", start=PAGE)
    assert page.locator("table.rows-and-columns tbody tr").count() > 0
    assert "grid.js" not in page.content() and page.evaluate("() => window.taizhangGrid === undefined")
    _cell(page, 1, "notes").dblclick()
    page.keyboard.press("Enter")
    assert page.locator(".tz-editor, .tz-selected, .tz-field").count() == 0
    _shot(page, "grid-viewer")
    page.close()


def test_long_text_shown_cut_short_is_edited_whole(server, browser, data_dir):
    row, minutes = _db(data_dir, "select id, minutes from meetings order by length(minutes) desc limit 1")[0]
    assert len(minutes) > 200                            # core shows it cut short, ending in …
    page = login(browser, server, "grid-editor", start=f"/ops/meetings?id={row}")
    _cell(page, row, "minutes").dblclick()
    field = _editor(page, row, "minutes")
    assert field.evaluate("el => el.tagName") == "TEXTAREA"
    page.wait_for_function("() => { const f = document.querySelector('.tz-field'); return f && !f.disabled; }")
    assert field.input_value() == minutes
    field.press("Escape")
    assert _cell(page, row, "minutes").locator(".tz-editor").count() == 0
    page.close()
