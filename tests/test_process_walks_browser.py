"""The other processes walked in Chromium as the people who act in them: a task the operations
manager assigns, the assignee receives and hands in, the manager sends back with a comment and then
accepts; a partner rectification the manager issues, the liaison hands in for re-check, the manager
fails with a reason and ends the cooperation — which sets the partner to 已终止; a complaint from
registration to closing, with its visit logged on the customer's page; a weekly report sent back
and read; a department plan the leader sends back, then approves. Its own copy of the demo data;
screenshots go to the test's temporary folder."""

import datetime
import re
import sqlite3

import pytest

from tests.browser import login, running_server, writable_demo
from tests.conftest import TODAY
from tests.test_workflow_browser import _act, _buttons, _fill, _pick, _shot, _state, _timeline

pytestmark = pytest.mark.browser

# 李娜 (00002) is the operations manager and heads 客户运营组, where 陈静 (00004) works;
# 郑国栋 (00009) is the company's leader.
ACCOUNTS = {"p-li": ("manager", "00002"), "p-chen": ("employee", "00004"), "p-zheng": ("leader", "00009")}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data_dir = writable_demo(tmp_path_factory.mktemp("walks") / "data", TODAY, ACCOUNTS)
    with running_server(data_dir) as url:
        yield url, data_dir


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("walk-screenshots")


def _form(page, server, register, pickers: dict, fields: dict) -> str:
    page.goto(f"{server}/-/form/ops/{register}")
    for name, (typed, wanted) in pickers.items():
        _pick(page, f"#f-{name}", typed, wanted)
    _fill(page, fields)
    page.click("input[type=submit][value=保存]")
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1].isdigit())
    return page.url.split(server, 1)[1]


def test_a_task_assigned_received_sent_back_and_accepted(demo, browser, shots):
    server, _ = demo
    manager = login(browser, server, "p-li", start="/")
    path = _form(manager, server, "tasks", {"assigned_by_id": ("李娜", "李娜"), "assignee_id": ("陈静", "陈静")},
                 {"title": "整理十二月回访名单", "requirement": "按客户层级列出应回访的客户", "due_on": "2026/12/10"})
    assert _state(manager) == "待接收" and _buttons(manager) == ["取消"]

    staff = login(browser, server, "p-chen", start=path)
    assert _buttons(staff) == ["接收"]
    _act(staff, "接收")
    assert _state(staff) == "进行中" and _buttons(staff) == ["提交完成"]
    _act(staff, "提交完成")
    assert _state(staff) == "待验收" and _buttons(staff) == []

    manager.goto(server + path)
    assert _buttons(manager) == ["验收通过", "退回"]
    _act(manager, "退回", "请补充名单的来源")
    assert _state(manager) == "已退回"
    staff.goto(server + path)
    _act(staff, "提交完成")
    manager.goto(server + path)
    _act(manager, "验收通过")
    assert _state(manager) == "已完成" and _buttons(manager) == []
    steps = [row[1] for row in _timeline(manager)]
    assert steps == ["新增", "接收", "提交完成", "退回", "提交完成", "验收通过"]
    assert ["请补充名单的来源"] == [row[3] for row in _timeline(manager) if row[1] == "退回"]
    _shot(manager, shots, "task-accepted")
    manager.close()
    staff.close()


def test_a_rectification_failed_on_recheck_ends_the_cooperation(demo, browser, shots):
    server, data_dir = demo
    conn = sqlite3.connect(data_dir.database("ops"))
    partner_id, partner = conn.execute("SELECT id, name FROM partners WHERE status = '合作中' ORDER BY id LIMIT 1").fetchone()
    conn.close()
    manager = login(browser, server, "p-li", start="/")
    _form(manager, server, "rectifications", {"partner_id": (partner[:2], partner), "owner_id": ("陈静", "陈静")},
          {"issue": "交付多次延迟", "issued_on": "2026-11-20", "deadline": "2026-12-20"})
    assert _state(manager) == "待整改"
    assert _buttons(manager) == ["开始整改", "提交复查", "终止合作"]
    _act(manager, "提交复查")
    _act(manager, "复查不通过", "延迟仍未改善")
    assert _state(manager) == "整改中"
    _act(manager, "终止合作", "整改期限内未达到要求")
    assert _state(manager) == "已终止合作" and _buttons(manager) == []
    _shot(manager, shots, "rectification-ended")
    manager.goto(f"{server}/ops/partners/{partner_id}")
    assert "已终止" in manager.locator("body").inner_text()
    manager.close()


def _cell(page, label) -> str:
    """A value of the row page's own table (not the timeline, not a linked section) by its column's label."""
    return page.evaluate("""label => {
        const table = [...document.querySelectorAll('table.rows-and-columns:not(.workflow-timeline)')]
            .find(t => !t.closest('.linked-section'));
        const heads = [...table.querySelectorAll('thead th')].map(th => th.innerText.trim());
        const at = heads.findIndex(text => text.startsWith(label));
        return table.querySelectorAll('tbody tr:first-child td')[at].innerText.trim();
    }""", label)


def test_a_complaint_assigned_handled_reopened_resolved_visited_and_closed(demo, browser, shots):
    """客户反馈与投诉: the manager registers and assigns it, the handler works on it and replies
    (the reply time is recorded), the manager reopens it with a reason, the handler replies again
    and resolves it, the manager logs the visit from the customer's page (its last and next visit follow),
    the manager closes it. The handler has no 关闭 and a forged one is refused."""
    server, data_dir = demo
    conn = sqlite3.connect(data_dir.database("ops"))
    customer_id, customer, cycle = conn.execute(
        "SELECT c.id, c.name, t.follow_up_days FROM customers c JOIN customer_tiers t ON t.id = c.tier_id"
        " WHERE c.last_visit_on < '2026-11-21' ORDER BY c.id LIMIT 1").fetchone()
    conn.close()
    manager = login(browser, server, "p-li", start="/-/form/ops/customer_feedback")
    manager.fill("#f-feedback_no", "FK-WALK-1")
    manager.select_option("#f-kind", "投诉")
    manager.fill("#f-subject", "订单延迟十天未发货")
    manager.fill("#f-received_at", "2026-11-21T09:30")
    _pick(manager, "#f-customer_id", customer[:2], customer)
    _pick(manager, "#f-handler_id", "陈静", "陈静")
    manager.click("input[type=submit][value=保存]")
    manager.wait_for_url(lambda url: url.rstrip("/").split("/")[-1].isdigit())
    path = manager.url.split(server, 1)[1]
    assert _state(manager) == "已登记" and _buttons(manager) == ["分派"]
    assert _cell(manager, "回复期限") == "2026-11-22 09:30"   # 投诉: 24 hours
    _act(manager, "分派")
    assert _state(manager) == "已分派" and _buttons(manager) == []

    handler = login(browser, server, "p-chen", start=path)
    assert _buttons(handler) == ["开始处理", "回复客户"]
    _act(handler, "开始处理")
    _act(handler, "回复客户")
    assert _state(handler) == "已回复" and _buttons(handler) == ["确认解决", "重新处理"]
    replied = _cell(handler, "回复时间")
    assert re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d", replied)   # filled in by 回复客户, local time

    manager.goto(server + path)
    _act(manager, "重新处理", "客户反映仍未收到货")
    assert _state(manager) == "处理中"
    handler.goto(server + path)
    _act(handler, "回复客户")
    _act(handler, "确认解决")
    assert _state(handler) == "已解决" and "关闭" not in _buttons(handler)
    assert _cell(handler, "回复时间") == replied   # the first reply is what the time limit measures
    # 关闭 is the manager's: the handler's forged button is refused by the database.
    with handler.expect_navigation():
        handler.evaluate("""() => {
            const button = document.querySelector('#workflow form button[name=target]:not([data-comment-required])');
            button.value = '已关闭';
            button.click();
        }""")
    handler.wait_for_load_state()
    assert "未能办理：不能把客户反馈与投诉从「已解决」改为「已关闭」：「关闭」只能由" in handler.locator("body").inner_text()
    assert _state(handler) == "已解决"

    # The manager visits the customer and logs it in place from the customer's page (the handler
    # reads no customers); its last and next visit follow.
    manager.goto(f"{server}/ops/customers/{customer_id}")
    form = manager.locator("form.linked-add[data-register=customer_visits]")
    form.locator("[name=visited_on]").fill("2026-11-21")
    form.locator("[name=content]").fill("电话回访：货已收到，客户满意")
    form.locator("[name=satisfaction]").fill("5")
    _pick(manager, "form.linked-add[data-register=customer_visits] [role=combobox]", "李娜", "李娜")
    form.locator("input[type=submit]").click()
    manager.wait_for_load_state()
    assert "已添加客户回访记录" in manager.locator("body").inner_text()
    assert manager.locator(".linked-section tr", has_text="2026-11-21").count() == 1
    manager.goto(f"{server}/ops/customers/{customer_id}")
    assert _cell(manager, "最近回访日期") == "2026-11-21"
    assert _cell(manager, "下次回访日期") == str(TODAY + datetime.timedelta(days=cycle))

    manager.goto(server + path)
    _act(manager, "回访")
    _act(manager, "关闭")
    assert _state(manager) == "已关闭" and _buttons(manager) == []
    assert [row[1] for row in _timeline(manager)] == [
        "新增", "分派", "开始处理", "回复客户", "重新处理", "回复客户", "确认解决", "回访", "关闭"]
    assert ["客户反映仍未收到货"] == [row[3] for row in _timeline(manager) if row[1] == "重新处理"]
    _shot(manager, shots, "complaint-closed")
    manager.close()
    handler.close()


def test_a_weekly_report_handed_in_sent_back_and_read_by_the_department_head(demo, browser, shots):
    server, _ = demo
    staff = login(browser, server, "p-chen", start="/")
    path = _form(staff, server, "work_reports", {"reporter_id": ("陈静", "陈静")},
                 {"kind": "周报", "period_start": "2026-11-16", "title": "第 47 周工作周报", "progress": "完成 32 位重要客户的回访"})
    assert _state(staff) == "草稿" and _buttons(staff) == ["提交"]
    _act(staff, "提交")
    assert _state(staff) == "已提交" and _buttons(staff) == []   # 已阅 is the superiors'

    head = login(browser, server, "p-li", start=path)
    assert _buttons(head) == ["已阅", "退回"]
    _act(head, "退回", "请补充下周计划")
    staff.goto(server + path)
    assert _state(staff) == "已退回"
    staff.goto(f"{server}/-/form{path}")
    staff.fill("#f-next_plan", "跟进三位高流失风险客户")
    staff.click("input[type=submit][value=保存]")
    staff.wait_for_url(server + path)
    _act(staff, "提交")
    head.goto(server + path)
    _act(head, "已阅")
    assert _state(head) == "已阅" and _buttons(head) == []
    assert [row[1] for row in _timeline(head)] == ["新增", "提交", "退回", "提交", "已阅"]
    _shot(head, shots, "work-report-read")
    staff.close()
    head.close()


def test_a_department_plan_sent_back_by_the_leader_then_approved_and_completed(demo, browser, shots):
    server, _ = demo
    head = login(browser, server, "p-li", start="/")
    path = _form(head, server, "work_plans", {"department_id": ("客户运营", "客户运营组"), "owner_id": ("李娜", "李娜")},
                 {"period": "2027-01", "title": "一月客户运营计划", "goals": "重要客户回访率 100%"})
    assert _state(head) == "草稿"
    _act(head, "提交")
    leader = login(browser, server, "p-zheng", start=path)
    assert _buttons(leader) == ["批准", "退回"]
    _act(leader, "退回", "目标需量化到每位客户经理")
    head.goto(server + path)
    assert _state(head) == "已退回" and _buttons(head) == ["提交"]
    _act(head, "提交")
    leader.goto(server + path)
    _act(leader, "批准")
    assert _buttons(leader) == []          # 完成 is the owner's (or the manager's)
    head.goto(server + path)
    _act(head, "完成")
    assert _state(head) == "已完成"
    assert [row[1] for row in _timeline(head)] == ["新增", "提交", "退回", "提交", "批准", "完成"]
    _shot(head, shots, "work-plan-completed")
    head.close()
    leader.close()
