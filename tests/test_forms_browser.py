"""The register form, the reference picker, in-browser checks, core's dialog and edit
conflicts, in Debian's Chromium (Playwright) against `taizhang serve`, signed in as the demo
editor. Its own copy of the demo data: these tests write. Screenshots go to test-artifacts/."""

import re

import pytest

from taizhang import demo
from tests.browser import ARTIFACTS, login, running_server, writable_demo
from tests.conftest import TODAY

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = writable_demo(tmp_path_factory.mktemp("forms") / "data", TODAY, {
        "f-editor": ("editor", demo.DEMO_ACCOUNTS["editor"]), "f-editor2": ("editor", None)})
    with running_server(data_dir) as url:
        yield url


def _shot(page, name, full_page=True):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def _writes(page) -> list[str]:
    """The POST requests the page sends from now on."""
    sent = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    return sent


def _pick(page, selector, typed, wanted):
    """Type part of a name into a picker and choose `wanted` with the arrow keys and Enter."""
    page.focus(selector)
    page.keyboard.type(typed)
    options = page.locator(f"#{page.get_attribute(selector, 'aria-controls')} [role=option]")
    options.filter(has_text=wanted).first.wait_for()
    labels = options.all_inner_texts()
    index = next(i for i, label in enumerate(labels) if wanted in label)
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    assert wanted in page.locator(f"{selector} ~ [role=listbox] [aria-selected=true]").inner_text()
    page.keyboard.press("Enter")
    return labels[index]


def test_add_a_partner_with_the_category_select_and_the_owner_picker(server, browser):
    page = login(browser, server, "f-editor", start="/-/form/ops/partners")
    assert page.locator("h1").inner_text() == "新增合作伙伴档案"
    page.fill("#f-name", "星河物流有限公司")
    page.select_option("#f-category", "物流")
    assert page.get_attribute("#f-owner_id", "role") == "combobox"
    chosen = _pick(page, "#f-owner_id", "陈", "陈静")
    assert re.fullmatch(r"陈静（00004）· 客户运营组", chosen)
    assert page.input_value("#f-owner_id") == chosen
    page.fill("#f-agreement_start", "2024/3/5")
    page.fill("#f-agreement_end", "2025年3月4日")
    page.keyboard.press("Tab")
    assert page.input_value("#f-agreement_end") == "2025-03-04"     # normalised as typed
    _shot(page, "form-partner-new")
    page.click("input[type=submit][value=保存]")
    page.wait_for_url(re.compile(r"/ops/partners/\d+$"))
    body = page.locator("body").inner_text()
    assert "星河物流有限公司" in body and "物流" in body and "陈静" in body and "2025-03-04" in body
    _shot(page, "form-partner-saved")
    page.close()


def test_impossible_date_refused_in_the_browser_before_any_request(server, browser):
    page = login(browser, server, "f-editor", start="/-/form/ops/partners")
    page.fill("#f-name", "日期测试公司")
    page.fill("#f-agreement_start", "2024-02-30")
    page.keyboard.press("Tab")
    error = page.locator("#e-agreement_start")
    assert error.inner_text() == "日期不存在：2024-02-30。请核对年月日（如 2 月没有 30 日）"
    assert error.get_attribute("role") == "alert"
    assert page.get_attribute("#f-agreement_start", "aria-invalid") == "true"
    sent = _writes(page)
    page.click("input[type=submit][value=保存]")
    assert page.evaluate("document.activeElement.id") == "f-agreement_start"   # the first refused field
    assert sent == [] and "/-/form/ops/partners" in page.url
    _shot(page, "form-impossible-date")
    page.fill("#f-agreement_start", "2024年2月29日")                          # a leap day exists
    page.keyboard.press("Tab")
    assert page.locator("#e-agreement_start").count() == 0
    assert page.input_value("#f-agreement_start") == "2024-02-29"
    page.close()


def test_edge_values_refused_in_the_browser_before_any_request(server, browser):
    """A zero-width-only name, a bidi override in a name, 1e400 as money: the database's own
    sentences, next to their fields, and nothing sent."""
    page = login(browser, server, "f-editor", start="/-/form/ops/customers")
    page.fill("#f-customer_no", "C-边界")
    page.fill("#f-name", "\u200b\u200b")
    page.fill("#f-total_spend", "1e400")
    page.fill("#f-contact_person", "甲\u202e乙")   # not a name column: left to the server
    page.keyboard.press("Tab")
    assert page.locator("#e-name").inner_text() == "客户名称为必填项，不能为空"
    assert page.locator("#e-total_spend").inner_text() == "累计消费（元）必须是有限的数字，不能是无穷大（Infinity、1e400）或 NaN"
    assert page.locator("#e-contact_person").count() == 0
    page.fill("#f-name", "甲\u202e乙")
    page.keyboard.press("Tab")
    assert page.locator("#e-name").inner_text().startswith("客户名称不能含有控制字符或文字方向控制符")
    sent = _writes(page)
    page.click("input[type=submit][value=保存]")
    assert sent == [] and "/-/form/ops/customers" in page.url
    page.close()


def test_end_date_before_start_refused_next_to_the_end_date(server, browser):
    page = login(browser, server, "f-editor", start="/-/form/ops/partners")
    page.fill("#f-name", "顺序测试公司")
    page.fill("#f-agreement_start", "2025-01-01")
    page.fill("#f-agreement_end", "2024/1/1")
    page.keyboard.press("Tab")
    assert page.locator("#e-agreement_end").inner_text() == "协议到期日期不能早于协议开始日期"
    sent = _writes(page)
    page.click("input[type=submit][value=保存]")
    assert sent == []
    # correcting the start clears the end date's message
    page.fill("#f-agreement_start", "2023-06-01")
    page.keyboard.press("Tab")
    assert page.locator("#e-agreement_end").count() == 0
    page.close()


def test_conflict_with_another_session_then_overwrite(server, browser):
    mine = login(browser, server, "f-editor", start="/-/form/ops/partners/1")
    theirs = login(browser, server, "f-editor2", start="/-/form/ops/partners/1")
    theirs.fill("#f-contact_person", "对方改的联系人")
    theirs.click("input[type=submit][value=保存]")
    theirs.wait_for_url(re.compile(r"/ops/partners/1$"))
    mine.fill("#f-contact_person", "我改的联系人")
    mine.click("input[type=submit][value=保存]")
    mine.wait_for_load_state()
    conflict = mine.locator("#conflict")
    assert re.search(r"此记录已被 f-editor2 于 \d\d:\d\d 修改", conflict.inner_text())
    changes = mine.locator(".conflict-changes tbody tr", has_text="联系人").inner_text()
    assert "对方改的联系人" in changes and "我改的联系人" in changes
    assert conflict.get_by_role("link", name="重新载入").count() == 1
    _shot(mine, "form-conflict")
    mine.click("input[type=submit][value=覆盖保存]")
    mine.wait_for_url(re.compile(r"/ops/partners/1$"))
    assert "我改的联系人" in mine.locator("body").inner_text()
    mine.close()
    theirs.close()


def test_add_a_resolution_from_the_meetings_page_with_the_picker(server, browser):
    page = login(browser, server, "f-editor", start="/ops/meetings/1")
    form = page.locator("form.linked-add")
    form.locator("input[name=item]").fill("整理客户回访名单")
    combobox = form.locator("[role=combobox]")
    combobox.focus()
    page.keyboard.type("陈静")
    form.locator("[role=option]", has_text="陈静").first.wait_for()
    page.keyboard.press("Enter")
    assert "陈静" in combobox.input_value()
    for width in (1280, 390):   # the select behind the picker stays hidden, phone layout included
        page.set_viewport_size({"width": width, "height": 900})
        assert not form.locator("select[name=owner_id]").is_visible()
    _shot(page, "linked-add-resolution")
    form.locator("input[type=submit]").click()
    page.wait_for_load_state()
    assert "已添加会议决议" in page.locator("body").inner_text()
    assert page.locator(".linked-section tr", has_text="整理客户回访名单").count() == 1
    page.close()


def test_core_edit_dialog_knows_the_register(server, browser):
    page = login(browser, server, "f-editor", start="/ops/partners")
    page.locator('button[data-row-action="edit"]').first.click()
    dialog = page.locator("dialog.row-edit-dialog")
    category = dialog.locator('.row-edit-plugin-control[data-column="category"] select')
    category.wait_for()
    assert category.locator("option").all_inner_texts()[1:] == ["供应商", "渠道", "媒体", "技术服务", "物流", "其他"]
    assert dialog.locator(".row-edit-label", has_text="类别").count() == 1
    owner = dialog.locator('.row-edit-plugin-control[data-column="owner_id"] [role=combobox]')
    assert owner.count() == 1
    start = dialog.locator('input[name="agreement_start"]')
    start.fill("2024-02-30")
    message = dialog.locator('.row-edit-field:has(input[name="agreement_start"]) .row-edit-field-validation-error')
    assert message.inner_text() == "日期不存在：2024-02-30。请核对年月日（如 2 月没有 30 日）"
    assert start.get_attribute("aria-invalid") == "true"
    _shot(page, "core-dialog-register-aware", full_page=False)   # the dialog, not the long table
    page.close()


def test_keyboard_only_form_and_phone_width(server, browser):
    page = login(browser, server, "f-editor", start="/-/form/ops/meetings")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390      # no sideways scrolling
    page.focus("#f-kind")
    page.keyboard.press("ArrowDown")                                        # 周会
    for key in ["Tab"]:
        page.keyboard.press(key)
    assert page.evaluate("document.activeElement.id") == "f-title"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"   # focus visible
    page.keyboard.type("键盘录入的周会")
    page.keyboard.press("Tab")
    page.keyboard.type("2026年11月20日")
    page.keyboard.press("Tab")                                              # the calendar button
    assert page.evaluate("document.activeElement.className") == "calendar-button"
    page.keyboard.press("Tab")
    page.keyboard.type("09:30")
    page.keyboard.press("Tab")                                              # location
    page.keyboard.press("Tab")                                              # organizer picker
    page.keyboard.type("陈静")
    page.locator("#f-organizer_id ~ [role=listbox] [role=option]", has_text="陈静").first.wait_for()
    page.keyboard.press("Enter")
    assert "陈静" in page.input_value("#f-organizer_id")
    page.focus("#f-minutes")
    page.keyboard.type("# 结论\n\n- 通过")
    page.keyboard.press("Shift+Tab")                                        # back to the 预览 button
    page.keyboard.press("Enter")
    page.locator(".markdown-preview h1", has_text="结论").wait_for()
    _shot(page, "form-meeting-phone")
    page.focus("#f-title")
    page.keyboard.press("Enter")                                            # Enter submits
    page.wait_for_url(re.compile(r"/ops/meetings/\d+$"))
    body = page.locator("body").inner_text()
    assert "键盘录入的周会" in body and "2026-11-20" in body and "陈静" in body
    assert page.locator(".markdown-cell h1", has_text="结论").count() == 1    # minutes rendered
    page.close()


def test_a_task_progress_note_is_checked_in_the_browser_with_its_registers_rules(server, browser):
    """A task's page adds a progress note in place with the register form's widgets and checks:
    the refusal next to its field before anything is sent, then the note saved."""
    page = login(browser, server, "f-editor", start="/ops/tasks/1")
    form = page.locator("form.linked-add[data-register=task_updates]")
    form.locator("[name=reported_at]").fill("12月2日上午")
    form.locator("[name=progress]").fill("140")
    form.locator("[name=progress]").blur()   # its message appears (and moves the button) before the click
    sent = _writes(page)
    form.locator("input[type=submit]").click()
    assert "进度（%）必须在 0 到 100 之间" in form.locator("[data-column=progress] .field-error").inner_text()
    assert form.locator("[data-column=content] .field-error").count() == 1      # required
    assert not any("/-/linked/" in url for url in sent)
    _shot(page, "linked-add-task-update-refused")
    form.locator("[name=reported_at]").fill("2026-11-20 16:30")
    form.locator("[name=progress]").fill("60")
    form.locator("[name=content]").fill("已完成方案初稿")
    _pick(page, "form.linked-add[data-register=task_updates] [role=combobox]", "陈静", "陈静")
    form.locator("input[type=submit]").click()
    page.wait_for_load_state()
    assert "已添加任务进展" in page.locator("body").inner_text()
    assert page.locator(".linked-section tr", has_text="已完成方案初稿").count() == 1
    page.close()
