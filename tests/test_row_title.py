"""Row pages are titled by the row's name (plugins/row_title.py), never leaking it past row access."""

import re

import pytest

from tests.conftest import actor

pytestmark = pytest.mark.fast


def _heading(html: str) -> str:
    return re.sub(r"\s+", " ", re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1)).strip()


@pytest.mark.asyncio
async def test_a_row_page_is_titled_by_its_label_and_key(demo_ds, demo_data_dir):
    ops = demo_data_dir.connect("ops")
    row_id, name, no = ops.execute("SELECT id, name, employee_no FROM employees ORDER BY id LIMIT 1").fetchone()
    page = (await demo_ds.client.get(f"/ops/employees/{row_id}", actor=actor("viewer"))).text
    assert _heading(page).startswith(f"员工：{name}（{no}）")
    # a blank label leaves the id
    record = ops.execute("SELECT id FROM training_records WHERE certificate IS NULL LIMIT 1").fetchone()[0]
    heading = _heading((await demo_ds.client.get(f"/ops/training_records/{record}", actor=actor("admin"))).text)
    assert heading.startswith(f"员工培训档案：{record}")


@pytest.mark.asyncio
async def test_a_row_the_reader_may_not_see_shows_no_name(demo_ds, demo_data_dir):
    ops = demo_data_dir.connect("ops")
    reason, row_id = ops.execute(
        "SELECT reason, l.id FROM leave_requests l JOIN employees e ON e.id = l.applicant_id"
        " WHERE e.employee_no <> '00007' LIMIT 1").fetchone()
    response = await demo_ds.client.get(f"/ops/leave_requests/{row_id}", actor=actor("employee", employee_no="00007"))
    assert response.status_code in (403, 404) and reason not in response.text


@pytest.mark.asyncio
async def test_a_long_label_is_cut(empty_ds):
    admin = actor("admin")
    r = await empty_ds.client.post("/ops/meetings/-/insert", json={"row": {"title": "周会", "held_on": "2026-11-02"}}, actor=admin)
    assert r.status_code == 201, r.text
    item = "整理" + "重要客户名单并逐一电话回访" * 5
    r = await empty_ds.client.post("/ops/meeting_actions/-/insert", json={"row": {"meeting_id": 1, "item": item}}, actor=admin)
    assert r.status_code == 201, r.text
    heading = _heading((await empty_ds.client.get("/ops/meeting_actions/1", actor=admin)).text)
    assert heading.startswith(f"会议决议：{item[:40]}…") and item not in heading
