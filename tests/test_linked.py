"""Linked records on row pages, and adding a resolution from its meeting's page."""

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
    assert "完成时限必须是有效日期" in follow.text
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
