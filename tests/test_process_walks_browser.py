"""The other processes walked in Chromium as the people who act in them: a task the operations
manager assigns, the assignee receives and hands in, the manager sends back with a comment and then
accepts; a partner rectification the manager issues, the liaison hands in for re-check, the manager
fails with a reason and ends the cooperation — which sets the partner to 已终止. Its own copy of the
demo data; screenshots go to the test's temporary folder."""

import sqlite3

import pytest

from tests.browser import login, running_server, writable_demo
from tests.conftest import TODAY
from tests.test_workflow_browser import _act, _buttons, _pick, _shot, _state, _timeline

pytestmark = pytest.mark.browser

# 李娜 (00002) is the operations manager and heads 客户运营组, where 陈静 (00004) works.
ACCOUNTS = {"p-li": ("manager", "00002"), "p-chen": ("employee", "00004")}


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
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)
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
