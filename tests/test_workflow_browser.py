"""Processes walked in Debian's Chromium (Playwright) against `taizhang serve`: a leave request
filed and submitted by the applicant, approved by their department head (a login whose employee
is the department's manager_id, department_head derived), passed on to the company leader beyond
three days, returned with a comment and resubmitted; a step the reader may not take has no button
and a forged one is refused in Chinese; an expense claim from the employee through the head,
finance and the leader. Its own copy of the demo data (these tests write); screenshots go to
the test's temporary folder."""

import re

import pytest

from tests.browser import login, running_server, writable_demo
from tests.conftest import TODAY
from tests.test_forms_browser import _writes

pytestmark = pytest.mark.browser

# In the demo data 陈静 (00004) works in 客户运营组, whose manager is 李娜 (00002).
ACCOUNTS = {
    "w-chen": ("employee", "00004"),     # the applicant
    "w-li": ("employee", "00002"),       # her department head: department_head is derived
    "w-leader": ("leader", None),
    "w-finance": ("finance", None),
    "w-editor": ("editor", None),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = writable_demo(tmp_path_factory.mktemp("workflow") / "data", TODAY, ACCOUNTS)
    with running_server(data_dir) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("workflow-screenshots")


def _shot(page, shots, name):
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def _pick(page, selector, typed, wanted):
    """Type part of a name into a reference picker and choose `wanted`."""
    page.focus(selector)
    page.keyboard.type(typed)
    page.locator(f"{selector} ~ [role=listbox] [role=option]", has_text=wanted).first.click()


def _fill(page, fields: dict) -> None:
    """Fill a register form's fields: a choice by its value, anything else typed."""
    for name, value in fields.items():
        if page.locator(f"select#f-{name}").count():
            page.select_option(f"#f-{name}", value)
        else:
            page.fill(f"#f-{name}", value)


def _new(page, server, register, fields: dict, applicant="陈静") -> str:
    """File a row through the register's form as the logged-in applicant; its row page URL."""
    page.goto(f"{server}/-/form/ops/{register}")
    _pick(page, "#f-applicant_id", applicant, applicant)
    _fill(page, fields)
    page.click("input[type=submit][value=保存]")
    page.wait_for_url(re.compile(rf"/ops/{register}/\d+$"))
    return page.url


def _state(page) -> str:
    return page.locator("#workflow [data-state]").inner_text()


def _buttons(page) -> list[str]:
    return page.locator("#workflow button[name=target]").all_inner_texts()


def _act(page, word, comment=None):
    """Press a workflow button (with a comment) and wait for the row page to come back."""
    if comment is not None:
        page.fill("#workflow-comment", comment)
    with page.expect_navigation():
        page.locator("#workflow button[name=target]", has_text=word).click()
    page.wait_for_load_state()


def _timeline(page) -> list[list[str]]:
    rows = page.locator(".workflow-timeline tbody tr")
    return [[cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()[1:]] for i in range(rows.count())]


LEAVE = {"kind": "事假", "starts_on": "2026-12-07", "ends_on": "2026-12-08", "days": "2", "reason": "家中有事"}


def test_leave_submitted_by_the_applicant_and_approved_by_the_department_head(server, browser, shots):
    mine = login(browser, server, "w-chen", start="/")
    url = _new(mine, server, "leave_requests", LEAVE)
    assert _state(mine) == "草稿" and _buttons(mine) == ["提交"]
    _act(mine, "提交")
    assert "已提交：审批状态 草稿 → 已提交" in mine.locator("body").inner_text()
    assert _state(mine) == "已提交" and _buttons(mine) == ["撤回"]
    _shot(mine, shots, "leave-submitted")

    head = login(browser, server, "w-li", start=url.split(server, 1)[1])
    assert _state(head) == "已提交"
    assert _buttons(head) == ["通过", "退回", "驳回"]
    assert "通过：已提交 → 已批准（请假不超过 3 天）" in head.locator("#workflow").inner_text()
    _shot(head, shots, "leave-head-buttons")
    # In the register's grid the state links to these buttons.
    head.goto(f"{server}/ops/leave_requests")
    link = head.locator(f'a.workflow-act[href$="{url.split(server, 1)[1]}#workflow"]')
    assert link.inner_text() == "办理：通过、退回、驳回"
    _shot(head, shots, "leave-grid-link")
    with head.expect_navigation():
        link.click()
    _act(head, "通过", "同意")
    assert _state(head) == "已批准" and _buttons(head) == []
    # Who acted, by the name of the login's employee.
    assert _timeline(head) == [["陈静（w-chen，员工）", "新增", "草稿", ""], ["陈静（w-chen，员工）", "提交", "草稿 → 已提交", ""],
                               ["李娜（w-li，员工）", "通过", "已提交 → 已批准", "同意"]]
    _shot(head, shots, "leave-approved")
    mine.close()
    head.close()


def test_more_than_three_days_goes_on_to_the_leader(server, browser, shots):
    mine = login(browser, server, "w-chen", start="/")
    url = _new(mine, server, "leave_requests", {**LEAVE, "starts_on": "2027-01-04", "ends_on": "2027-01-08", "days": "5",
                                                "status": "已提交"})
    path = url.split(server, 1)[1]
    assert _state(mine) == "已提交"
    head = login(browser, server, "w-li", start=path)
    assert "通过：已提交 → 部门已审核（请假超过 3 天）" in head.locator("#workflow").inner_text()
    _act(head, "通过")
    assert _state(head) == "部门已审核" and _buttons(head) == []
    leader = login(browser, server, "w-leader", start=path)
    assert _buttons(leader) == ["批准", "退回", "驳回"]
    _act(leader, "批准", "同意，注意工作交接")
    assert _state(leader) == "已批准"
    assert [row[1] for row in _timeline(leader)] == ["新增", "通过", "批准"]
    _shot(leader, shots, "leave-leader-approved")
    for page in (mine, head, leader):
        page.close()


def test_the_applicant_cannot_approve_no_button_and_a_forged_post_is_refused(server, browser, shots):
    mine = login(browser, server, "w-chen", start="/")
    _new(mine, server, "leave_requests", {**LEAVE, "starts_on": "2026-12-14", "ends_on": "2026-12-14", "days": "1",
                                          "status": "已提交"})
    assert "通过" not in _buttons(mine)
    # The form a department head would post, sent from the applicant's own page.
    with mine.expect_navigation():
        mine.evaluate("""() => {
            const form = document.querySelector('#workflow form');
            const button = form.querySelector('button[name=target]');
            button.value = '已批准';
            button.click();
        }""")
    mine.wait_for_load_state()
    body = mine.locator("body").inner_text()
    assert "未能办理：不能把请假申请从「已提交」改为「已批准」：「通过」只能由申请人的部门负责人办理" in body
    assert _state(mine) == "已提交"
    _shot(mine, shots, "leave-forged-approval-refused")
    mine.close()


def test_returned_with_a_comment_then_resubmitted(server, browser, shots):
    mine = login(browser, server, "w-chen", start="/")
    url = _new(mine, server, "leave_requests", {**LEAVE, "starts_on": "2026-12-21", "ends_on": "2026-12-22",
                                                "status": "已提交"})
    path = url.split(server, 1)[1]
    head = login(browser, server, "w-li", start=path)
    # 退回 without a reason: the browser asks for one, nothing is sent.
    sent = _writes(head)
    head.locator("#workflow button[name=target]", has_text="退回").click()
    assert sent == []
    assert head.evaluate("document.querySelector('#workflow-comment').validationMessage") == "请填写退回的意见（原因）"
    _act(head, "退回", "请写明工作交接人")
    assert _state(head) == "已退回"
    mine.goto(url)
    assert _state(mine) == "已退回" and _buttons(mine) == ["提交"]
    assert _timeline(mine)[-1] == ["李娜（w-li，员工）", "退回", "已提交 → 已退回", "请写明工作交接人"]
    # A returned request may be edited by the applicant, then submitted again.
    mine.goto(url.replace("/ops/", "/-/form/ops/"))
    mine.fill("#f-handover", "周同事")
    mine.click("input[type=submit][value=保存]")
    mine.wait_for_url(url)
    _act(mine, "提交")
    assert _state(mine) == "已提交"
    assert [row[1] for row in _timeline(mine)] == ["新增", "退回", "提交"]
    _shot(mine, shots, "leave-returned-resubmitted")
    mine.close()
    head.close()


def test_expense_claim_from_the_employee_through_head_finance_and_leader(server, browser, shots):
    mine = login(browser, server, "w-chen", start="/")
    url = _new(mine, server, "expense_claims", {
        "claim_no": "BX-2026-1201", "category": "差旅费", "amount": "6800", "incurred_on": "2026-11-18",
        "description": "上海客户拜访差旅"})
    path = url.split(server, 1)[1]
    _act(mine, "提交")
    steps = [("w-li", "审核通过", "部门已审核"), ("w-finance", "审核通过", "财务已审核"),
             ("w-leader", "批准", "已批准"), ("w-finance", "支付", "已支付")]
    for username, word, state in steps:
        page = login(browser, server, username, start=path)
        assert word in _buttons(page), (username, _buttons(page))
        _act(page, word)
        assert _state(page) == state
        if state == "已支付":
            _shot(page, shots, "expense-paid")
        page.close()
    mine.goto(url)
    # Logins without an employee are named by the login.
    assert [row[0] for row in _timeline(mine)] == ["陈静（w-chen，员工）", "陈静（w-chen，员工）", "李娜（w-li，员工）",
                                                   "w-finance（财务）", "w-leader（公司领导）", "w-finance（财务）"]
    # The grid offers nothing more to do on a paid claim; the applicant's own list shows its state.
    mine.goto(f"{server}/ops/expense_claims")
    assert mine.locator("a.workflow-act").count() == 0
    mine.close()


def test_date_and_time_with_the_browsers_picker_in_the_form_and_in_cores_dialog(server, browser, shots):
    page = login(browser, server, "w-editor", start="/-/form/ops/customer_feedback")
    assert page.get_attribute("#f-received_at", "type") == "datetime-local"
    page.fill("#f-feedback_no", "FK-2026-1202")
    page.select_option("#f-kind", "投诉")
    page.fill("#f-subject", "快递延误投诉")
    page.fill("#f-received_at", "2026-12-02T09:30")
    page.fill("#f-reply_due_at", "2026-12-02T17:00")
    _shot(page, shots, "feedback-form-datetime")
    page.click("input[type=submit][value=保存]")
    page.wait_for_url(re.compile(r"/ops/customer_feedback/\d+$"))
    row = page.url
    cells = page.locator("table.rows-and-columns:not(.workflow-timeline)").first.inner_text()
    assert "2026-12-02 09:30" in cells and "2026-12-02 17:00" in cells
    # Core's edit dialog has the same picker and sends what the column stores.
    page.goto(f"{server}/ops/customer_feedback")
    page.locator('button[data-row-action="edit"]').first.click()
    dialog = page.locator("dialog.row-edit-dialog")
    due = dialog.locator('.row-edit-plugin-control[data-column="reply_due_at"] input[type=datetime-local]')
    due.wait_for()
    assert due.input_value() == "2026-12-02T17:00"
    due.fill("2026-12-03T10:15")
    with page.expect_response(lambda r: r.url.endswith("/-/update")) as answer:
        dialog.locator("button[type=submit], input[type=submit]").first.click()
    assert answer.value.status == 200, answer.value.text()
    page.goto(row)
    assert "2026-12-03 10:15" in page.locator("table.rows-and-columns:not(.workflow-timeline)").first.inner_text()
    page.close()
