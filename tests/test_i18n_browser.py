"""The strings Datasette core's JavaScript creates — row dialogs, column menus, the column chooser,
the mobile column actions, the jump menu, status messages — show in Chinese (简体 and 繁體) once
static/i18n.js has run, in a real browser; and core's dialogs still insert, edit and delete.

Only the parts core's JavaScript creates are asserted (open dialogs, menus, status messages):
server-rendered text is translated by the server layer (plugins/language.py, tested in
tests/test_i18n.py), which also injects the catalogue this script reads."""

import datetime
import re
import sqlite3

import pytest

from taizhang.chinese import to_traditional
from tests.browser import ARTIFACTS, login, running_server, writable_demo

pytestmark = pytest.mark.browser

# ASCII words a Chinese page may show: product and format names, and key caps (the jump menu's
# hints show the keys as printed on the keyboard). Anything else is an untranslated string.
ALLOWED = {"Datasette", "SQL", "SQLite", "CSV", "TSV", "JSON", "Excel", "Google", "Sheets", "HTTP",
           "ID", "Markdown", "Enter", "Esc", "UTC"}
# Where core's JavaScript shows data or our metadata (bilingual on purpose), not its own strings.
DATA = (".row-dialog-label, .row-edit-fk-pk, .row-edit-fk-link, .datasette-autocomplete-list, "
        ".result-name, .result-label, .result-url, .result-description, .dropdown-column-description, "
        ".mobile-column-description, .row-edit-default-code, td, textarea, pre, code, kbd, .tz-data")
TEXTS_JS = """([root, skip]) => {
  const out = [];
  const attrs = ["placeholder", "title", "aria-label", "alt"];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => n.nodeType === 1 && n.matches(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const take = (el) => {
    attrs.forEach((a) => el.getAttribute(a) && out.push(el.getAttribute(a)));
    if (el.tagName === "INPUT" && /^(submit|button|reset)$/i.test(el.type)) out.push(el.value);
  };
  take(root);
  let n;
  while ((n = walker.nextNode())) n.nodeType === 3 ? out.push(n.data) : take(n);
  return out.join("\\n");
}"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Writable: the tests save, insert and delete through core's dialogs."""
    return writable_demo(tmp_path_factory.mktemp("i18n"), datetime.date(2026, 11, 21),
                         {"i-admin": ("admin", None), "i-editor": ("editor", None)})


@pytest.fixture(scope="module")
def server(data_dir):
    with running_server(data_dir) as url:
        yield url


def _page(browser, server, user, lang, start, width=1280):
    page = login(browser, server, user, start="/")
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "tz_lang", "value": lang, "url": server}])
    page.goto(server + start)
    page.wait_for_function("window.taizhangT !== undefined")
    return page


def _english(page, selector) -> list[str]:
    """Every run of ASCII letters (2+) in what `selector` shows, less the allowed words."""
    text = page.locator(selector).first.evaluate(
        "(root, skip) => (" + TEXTS_JS + ")([root, skip])", DATA)
    return sorted({w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED})


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"i18n-{name}.png"))


def _check(page, selector, name, lang):
    _shot(page, f"{name}-{lang}")
    assert _english(page, selector) == [], f"{name} ({lang}) shows English"


LANGS = ["zh-Hans", "zh-Hant"]


@pytest.mark.parametrize("lang", LANGS)
def test_column_menu_chooser_and_jump_menu(server, browser, lang):
    page = _page(browser, server, "i-editor", lang, "/ops/partners")
    page.click('th[data-column="category"] .dropdown-menu-icon')
    menu = "body > .dropdown-menu"
    page.wait_for_selector(menu, state="visible")
    assert "升序排列" in page.locator(menu).inner_text() or "升序排列" in to_traditional(
        page.locator(menu).inner_text())
    _check(page, menu, "column-menu", lang)

    page.locator(menu).get_by_text(to_traditional("选择列") if lang == "zh-Hant" else "选择列").click()
    chooser = "column-chooser dialog[open]"
    page.wait_for_selector(chooser)
    labels = page.locator(chooser + " .drag-item-label").all_inner_texts()
    assert "类别" in labels or to_traditional("类别") in labels      # column labels, not names
    _check(page, chooser, "column-chooser", lang)
    page.locator(chooser + " .modal-btn-ghost").click()

    page.keyboard.press("/")
    jump = "navigation-search dialog[open]"
    page.wait_for_selector(jump)
    page.fill(jump + " .search-input", "zzzz-nothing")
    page.wait_for_selector(jump + " .no-results")
    _check(page, jump, "jump-menu", lang)
    page.close()


@pytest.mark.parametrize("lang", LANGS)
def test_edit_dialog_saves_in_chinese(server, browser, data_dir, lang):
    page = _page(browser, server, "i-editor", lang, "/ops/partners")
    page.locator('button[data-row-action="edit"]').nth(2).click()
    dialog = "dialog#row-edit-dialog"
    page.wait_for_selector(dialog + " .row-edit-field")
    text = page.locator(dialog).inner_text()
    if lang == "zh-Hant":
        assert "編輯" in text and "取消" in text and ("儲存" in text or "保存" in text)
        assert "聯繫人" in text or "聯絡人" in text                     # 繁體 column label
    else:
        assert "编辑行" in text and "保存" in text and "取消" in text
    _check(page, dialog, "edit-dialog", lang)

    row_id = page.locator(dialog + " .modal-title code").inner_text()
    value = f"测试联系人-{lang}"
    page.fill(dialog + ' input[name="contact_person"]', value)
    page.locator(dialog + " .row-edit-save").click()
    status = page.locator(".row-mutation-status")
    status.wait_for(state="visible")
    assert status.inner_text().startswith("已更新")
    _check(page, ".row-mutation-status", "edit-status", lang)
    with sqlite3.connect(data_dir.path / "ops.db") as db:
        saved = db.execute("select contact_person from partners where id = ?", [int(row_id)]).fetchone()
    assert saved == (value,)
    page.close()


@pytest.mark.parametrize("lang", LANGS)
def test_insert_then_delete_through_translated_dialogs(server, browser, data_dir, lang):
    page = _page(browser, server, "i-admin", lang, "/ops/partners")
    page.click('button[data-table-action="insert-row"]')
    dialog = "dialog#row-edit-dialog"
    page.wait_for_selector(dialog + " .row-edit-field")
    _check(page, dialog, "insert-dialog", lang)
    name = f"译文测试伙伴-{lang}"
    # Only the name and a category: the fields left blank (dates, phone, e-mail, owner) are
    # sent as no value, not as "" (which the database's checks would refuse).
    page.fill(f'{dialog} [name="name"]', name)
    page.select_option(f'{dialog} .row-edit-plugin-control[data-column="category"] select', "渠道")
    page.locator(dialog + " .row-edit-save").click()
    status = page.locator(".row-mutation-status")
    status.wait_for(state="visible")
    assert status.inner_text().startswith("已新增")
    with sqlite3.connect(data_dir.path / "ops.db") as db:
        (new_id,) = db.execute("select id from partners where name = ?", [name]).fetchone()

    page.goto(f"{server}/ops/partners?id={new_id}")
    page.locator('button[data-row-action="delete"]').first.click()
    dialog = "dialog#row-delete-dialog"
    page.wait_for_selector(dialog + "[open]")
    assert "删除行" in page.locator(dialog).inner_text() or "刪除行" in page.locator(dialog).inner_text()
    _check(page, dialog, "delete-dialog", lang)
    page.locator(dialog + " .row-delete-confirm").click()
    page.locator(".row-mutation-status").wait_for(state="visible")
    _check(page, ".row-mutation-status", "delete-status", lang)
    with sqlite3.connect(data_dir.path / "ops.db") as db:
        assert db.execute("select count(*) from partners where id = ?", [new_id]).fetchone() == (0,)
    page.close()


@pytest.mark.parametrize("lang", LANGS)
def test_row_page_edit_dialog(server, browser, lang):
    page = _page(browser, server, "i-editor", lang, "/ops/partners/1")
    page.click("details.actions-menu-links summary")
    page.click('button[data-row-action="edit"]')
    dialog = "dialog#row-edit-dialog"
    page.wait_for_selector(dialog + " .row-edit-field")
    _check(page, dialog, "row-page-edit-dialog", lang)
    page.close()


@pytest.mark.parametrize("lang", LANGS)
def test_mobile_column_actions(server, browser, lang):
    page = _page(browser, server, "i-editor", lang, "/ops/partners", width=390)
    page.click(".column-actions-mobile")
    dialog = "dialog#mobile-column-actions-dialog"
    page.wait_for_selector(dialog + "[open]")
    page.locator(dialog + " .col-header").nth(1).click()
    names = page.locator(dialog + " .mobile-column-name").all_inner_texts()
    assert "name" not in names and "category" not in names
    _check(page, dialog, "mobile-column-actions", lang)
    page.close()


def test_translator_leaves_data_alone(server, browser):
    """taizhangT translates catalogue strings; a cell that happens to read like one stays."""
    page = _page(browser, server, "i-editor", "zh-Hans", "/ops/partners")
    assert page.evaluate("taizhangT('Sort ascending')") == "升序排列"
    assert page.evaluate("taizhangT('Updated row 12.')") == "已更新行 12。"
    assert page.evaluate("taizhangT('不在目录中')") == "不在目录中"
    changed = page.evaluate("""async () => {
        const td = document.querySelector('table.rows-and-columns tbody td.col-notes');
        td.textContent = 'Save';
        const span = document.createElement('span');
        span.className = 'tz-data'; span.textContent = 'Cancel';
        document.body.appendChild(span);
        await new Promise((r) => setTimeout(r, 0));
        return [td.textContent, span.textContent];
    }""")
    assert changed == ["Save", "Cancel"]
    page.close()


# -- our own scripts' strings (grid, forms, skip link) in 繁體 and English ---------------------
OURS = {
    "zh-Hant": {"reload": "重新載入", "overwrite": "覆蓋保存", "calendar": "日曆", "edit": "編輯",
                "preview": "預覽", "fk": "名稱或編號", "skip": "跳到正文", "required": "（必填）"},
    "en": {"reload": "Reload", "overwrite": "Overwrite", "calendar": "Calendar", "edit": "Edit",
           "preview": "Preview", "fk": "Name or number", "skip": "Skip to content", "required": " (required)"},
}


@pytest.mark.parametrize("lang", ["zh-Hant", "en"])
def test_grid_editor_and_conflict_in_the_page_language(server, browser, data_dir, lang):
    row = {"zh-Hant": 9, "en": 10}[lang]          # a row of its own: the other tests edit too
    page = _page(browser, server, "i-editor", lang, "/ops/partners?_sort=id")
    other = login(browser, server, "i-admin", start="/ops/partners")   # changes the row meanwhile
    assert other.evaluate("""(row) => fetch('/-/cells/ops/partners', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({changes: [{id: row, column: 'contact_person', value: '另一位'}]})}).then(r => r.status)""",
                          row) == 200
    other.close()
    words = OURS[lang]
    assert page.locator("a.skip-link").inner_text() == words["skip"]
    owner = page.locator(f"tr[data-row='{row}'] td.col-owner_id")
    owner.dblclick()
    field = owner.locator(".tz-field")
    field.wait_for()
    page.wait_for_function("(f) => f.placeholder !== '名称或编号'", arg=field.element_handle())
    assert field.get_attribute("placeholder") == words["fk"]
    field.press("Escape")

    cell = page.locator(f"tr[data-row='{row}'] td.col-notes")
    cell.dblclick()
    cell.locator(".tz-field").fill(f"我的修改-{lang}")
    cell.locator(".tz-field").press("Enter")
    alert = cell.get_by_role("alert")
    alert.wait_for()
    alert.get_by_role("button", name=words["reload"]).wait_for()
    assert alert.get_by_role("button", name=words["overwrite"]).count() == 1
    assert alert.get_by_role("button", name="重新载入").count() == 0
    _shot(page, f"grid-conflict-{lang}")
    alert.get_by_role("button", name=words["overwrite"]).click()
    page.wait_for_function("""(row) => {
        const td = document.querySelector(`tr[data-row='${row}'] td.col-notes`);
        return td && !td.querySelector('.tz-editor') && td.textContent.includes('我的修改');
    }""", arg=str(row))
    with sqlite3.connect(data_dir.path / "ops.db") as db:
        assert db.execute("select notes from partners where id = ?", [row]).fetchone() == (f"我的修改-{lang}",)
    page.close()


@pytest.mark.parametrize("lang", ["zh-Hant", "en"])
def test_form_calendar_and_preview_in_the_page_language(server, browser, lang):
    page = _page(browser, server, "i-editor", lang, "/-/form/ops/meetings/1")
    words = OURS[lang]
    page.locator(".calendar-button").first.wait_for()
    page.wait_for_function("(t) => document.querySelector('.calendar-button').textContent === t",
                           arg=words["calendar"])
    tabs = page.locator(".markdown-tabs").first.locator("button")
    assert tabs.all_inner_texts() == [words["edit"], words["preview"]]
    _shot(page, f"form-scripts-{lang}")
    page.close()


def test_our_ui_in_a_cell_is_translated_the_cell_value_never(server, browser):
    page = _page(browser, server, "i-editor", "en", "/ops/partners")
    changed = page.evaluate("""async () => {
        const td = document.querySelector('table.rows-and-columns tbody td.col-notes');
        td.textContent = '预览';
        const box = document.createElement('div');
        box.className = 'tz-message';
        box.textContent = '重新载入';
        td.appendChild(box);
        await new Promise((r) => setTimeout(r, 0));
        return [td.firstChild.data, box.textContent];
    }""")
    assert changed == ["预览", "Reload"]
    page.close()
