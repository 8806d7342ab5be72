"""Linked records on row pages, and adding child rows in place from their parent's page: every
register with `parent:` (a meeting's resolutions, a task's progress notes, a customer's visits)."""

import json
import re

import pytest

from tests.conftest import actor

pytestmark = pytest.mark.fast


@pytest.mark.asyncio
async def test_meeting_shows_its_resolutions_and_adds_one(empty_ds):
    admin, editor = actor("admin"), actor("editor")
    await empty_ds.client.post("/ops/employees/-/insert", json={"row": {"employee_no": "00012", "name": "张伟"}}, actor=admin)
    await empty_ds.client.post("/ops/meetings/-/insert", json={"row": {"title": "运营周会", "held_on": "2024-10-08"}}, actor=admin)
    await empty_ds.client.post("/ops/meeting_actions/-/insert", json={"row": {"meeting_id": 1, "item": "整理预算", "status": "进行中"}}, actor=admin)
    page = (await empty_ds.client.get("/ops/meetings/1", actor=editor)).text
    assert "会议决议（会议）" in page and "整理预算" in page and "进行中" in page
    assert "添加会议决议" in page and "张伟（00012）" in page
    response = await empty_ds.client.post("/-/linked/ops/meetings/meeting_actions/add", data={
        "parent_id": "1", "item": "回访重要客户", "owner_id": "1", "due_on": "2024-10-20", "status": "未开始"}, actor=editor)
    assert response.status_code == 302
    rows = (await empty_ds.client.get("/ops/meeting_actions.json?_shape=array", actor=editor)).json()
    assert [(r["item"], r["owner_id"], r["meeting_id"]) for r in rows][-1] == ("回访重要客户", 1, 1)
    bad = await empty_ds.client.post("/-/linked/ops/meetings/meeting_actions/add", data={
        "parent_id": "1", "item": "坏日期", "due_on": "2024-02-30"}, actor=editor)
    follow = await empty_ds.client.get("/ops/meetings/1", actor=editor, cookies=dict(bad.cookies))
    assert "未能添加：完成时限：日期不存在：2024-02-30" in follow.text
    viewer_page = (await empty_ds.client.get("/ops/meetings/1", actor=actor("viewer"))).text
    assert "添加会议决议" not in viewer_page
    denied = await empty_ds.client.post("/-/linked/ops/meetings/meeting_actions/add", data={"parent_id": "1", "item": "x"}, actor=actor("viewer"))
    assert denied.status_code == 403


@pytest.mark.asyncio
async def test_partner_and_employee_pages(demo_ds, demo_data_dir):
    hr_db = demo_data_dir.connect("hr")
    agreement_no, employee_no = hr_db.execute(
        "select agreement_no, employee_no from confidentiality_agreements where employee_no is not null limit 1").fetchone()
    employee_id = demo_data_dir.connect("ops").execute(
        "select id from employees where employee_no = ?", [employee_no]).fetchone()[0]
    for role, sees in (("hr", True), ("admin", True), ("viewer", False), ("manager", False)):
        page = (await demo_ds.client.get(f"/ops/employees/{employee_id}", actor=actor(role))).text
        assert (agreement_no in page) == sees, role
    partner = (await demo_ds.client.get("/ops/partners/1", actor=actor("viewer"))).text
    assert "合作伙伴评估（合作伙伴）" in partner and "综合得分走势" in partner
    assert "保密协议" not in partner
    employee = (await demo_ds.client.get("/ops/employees/2", actor=actor("viewer"))).text
    assert "员工培训档案（员工）" in employee and re.search(r"\d{4} 年已参加培训 [\d.]+ 学时", employee)


@pytest.mark.asyncio
async def test_a_partners_page_lists_its_cooperation_meetings(demo_ds, demo_data_dir):
    """运营区 §七(二)1 定期召开合作会议: meetings name the partner; its page lists them."""
    ops = demo_data_dir.connect("ops")
    partner_id, titles = ops.execute(
        "select partner_id, group_concat(title || held_on) from meetings where partner_id is not null"
        " group by partner_id order by partner_id limit 1").fetchone()
    held = ops.execute("select held_on from meetings where partner_id = ? order by held_on", [partner_id]).fetchall()
    page = (await demo_ds.client.get(f"/ops/partners/{partner_id}", actor=actor("viewer"))).text
    assert "会议纪要（合作伙伴）" in page
    for (day,) in held:
        assert day in page
    assert len(held) == 2 and "季度合作会议" in titles


@pytest.mark.asyncio
async def test_deleting_a_referenced_row_says_which_rows_refer_to_it(empty_ds):
    admin = actor("admin")
    await empty_ds.client.post("/ops/meetings/-/insert", json={"row": {"title": "运营周会", "held_on": "2024-10-08"}}, actor=admin)
    await empty_ds.client.post("/ops/meeting_actions/-/insert", json={"rows": [
        {"meeting_id": 1, "item": f"事项{i}"} for i in range(7)]}, actor=admin)
    response = await empty_ds.client.post("/ops/meetings/1/-/delete", actor=admin)
    assert response.status_code == 400
    message = response.json()["errors"][0]
    assert message.startswith("不能删除：仍有记录引用它——会议决议7 条（会议，id 1、2、3、4、5…）")
    assert (await empty_ds.client.get("/ops/meetings/1.json", actor=admin)).status_code == 200


def _rules(page: str) -> dict:
    return json.loads(re.search(r"window\.taizhangForms = (\{.*?\});</script>", page, re.S)[1])


@pytest.mark.asyncio
async def test_a_task_page_adds_progress_notes_with_the_register_forms_widgets(empty_ds):
    admin, editor = actor("admin"), actor("editor")
    await empty_ds.client.post("/ops/employees/-/insert", json={"row": {"employee_no": "00012", "name": "张伟"}}, actor=admin)
    created = await empty_ds.client.post("/ops/tasks/-/insert", json={"row": {
        "title": "整理客户投诉台账", "assigned_by_id": 1, "assignee_id": 1, "due_on": "2026-12-10", "status": "待接收"}},
        actor=admin)
    assert created.status_code == 201, created.text
    page = (await empty_ds.client.get("/ops/tasks/1", actor=editor)).text
    form = re.search(r'<form class="core linked-add".*?</form>', page, re.S)[0]
    assert 'action="/-/linked/ops/tasks/task_updates/add"' in form and 'data-register="task_updates"' in form
    # every column of the child but the reference to this task, as the register form shows them
    assert 'name="task_id"' not in form and 'name="parent_id" value="1"' in form
    for name in ("reported_at", "reporter_id", "progress", "content", "problems"):
        assert f'name="{name}"' in form, name
    assert re.search(r'<textarea id="f-task_updates-content" name="content"[^>]*required', form)
    assert 'data-picker-url="/-/choices/ops/task_updates/reporter_id"' in form and "张伟（00012）" in form
    assert "范围 0–100" in form
    # the browser checks the child with the child's own rules
    assert _rules(page)["linked"]["task_updates"]["columns"]["progress"]["max"] == 100
    added = await empty_ds.client.post("/-/linked/ops/tasks/task_updates/add", data={
        "parent_id": "1", "reported_at": "2026/12/2 9:30", "reporter_id": "1", "progress": "40%",
        "content": "已完成一半"}, actor=editor)
    assert added.status_code == 302 and added.headers["location"] == "/ops/tasks/1"
    rows = (await empty_ds.client.get("/ops/task_updates.json?_shape=array", actor=editor)).json()
    assert [(r["task_id"], r["reported_at"], r["reporter_id"], r["progress"]) for r in rows] == [(1, "2026-12-02 09:30", 1, 40)]
    page = (await empty_ds.client.get("/ops/tasks/1", actor=editor, cookies=dict(added.cookies))).text
    assert "已添加任务进展" in page and "已完成一半" in page
    refused = await empty_ds.client.post("/-/linked/ops/tasks/task_updates/add", data={
        "parent_id": "1", "reported_at": "12月2日上午", "reporter_id": "1", "progress": "140"}, actor=editor)
    page = (await empty_ds.client.get("/ops/tasks/1", actor=editor, cookies=dict(refused.cookies))).text
    assert "未能添加：记录时间：无法识别的日期时间：12月2日上午" in page
    missing = await empty_ds.client.post("/-/linked/ops/tasks/task_updates/add", data={
        "parent_id": "1", "reported_at": "2026-12-03 10:00", "reporter_id": "1"}, actor=editor)
    page = (await empty_ds.client.get("/ops/tasks/1", actor=editor, cookies=dict(missing.cookies))).text
    assert "未能添加：工作进展为必填项" in page
    assert len((await empty_ds.client.get("/ops/task_updates.json?_shape=array", actor=editor)).json()) == 1


@pytest.mark.asyncio
async def test_a_customer_page_adds_visits(empty_ds):
    admin, editor = actor("admin"), actor("editor")
    await empty_ds.client.post("/ops/customers/-/insert", json={"row": {"customer_no": "C00001", "name": "王女士"}}, actor=admin)
    page = (await empty_ds.client.get("/ops/customers/1", actor=editor)).text
    assert "添加客户回访记录" in page and 'name="visited_on"' in page and 'data-date' in page
    added = await empty_ds.client.post("/-/linked/ops/customers/customer_visits/add", data={
        "parent_id": "1", "visited_on": "2026年11月20日", "method": "拜访", "satisfaction": "5"}, actor=editor)
    assert added.status_code == 302
    rows = (await empty_ds.client.get("/ops/customer_visits.json?_shape=array", actor=editor)).json()
    assert [(r["customer_id"], r["visited_on"], r["method"], r["satisfaction"]) for r in rows] == [(1, "2026-11-20", "上门", 5)]
    # a viewer sees the visits but no form; the route refuses them
    viewer = (await empty_ds.client.get("/ops/customers/1", actor=actor("viewer"))).text
    assert "客户回访记录（客户）" in viewer and "添加客户回访记录" not in viewer
    denied = await empty_ds.client.post("/-/linked/ops/customers/customer_visits/add", data={
        "parent_id": "1", "visited_on": "2026-11-21"}, actor=actor("viewer"))
    assert denied.status_code == 403


@pytest.mark.asyncio
async def test_only_children_by_their_parent_column_are_added_in_place(empty_ds):
    admin = actor("admin")
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲公司"}}, actor=admin)
    page = (await empty_ds.client.get("/ops/partners/1", actor=admin)).text
    # evaluations have no parent: (agreements do: added in place)
    assert "合作伙伴评估（合作伙伴）" in page and 'data-register="partner_evaluations"' not in page
    assert 'data-register="partner_agreements"' in page
    for parent, child in (("partners", "partner_evaluations"), ("tasks", "meeting_actions"), ("meetings", "nope")):
        forged = await empty_ds.client.post(f"/-/linked/ops/{parent}/{child}/add", data={"parent_id": "1"}, actor=admin)
        assert forged.status_code == 403, (parent, child)
