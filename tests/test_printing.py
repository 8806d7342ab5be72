"""Printable documents: a row as its paper form, read by exactly those who may read the row."""

import re
import sqlite3

import pytest

from tests.conftest import actor

pytestmark = pytest.mark.fast


def _one(demo_data_dir, sql: str, params=()):
    return sqlite3.connect(demo_data_dir.database("ops")).execute(sql, params).fetchone()


@pytest.mark.asyncio
async def test_minutes_print_with_their_resolutions(demo_ds, demo_data_dir):
    meeting_id, title = _one(demo_data_dir, "SELECT m.id, m.title FROM meetings m JOIN meeting_actions a ON a.meeting_id = m.id"
                             " WHERE m.minutes LIKE '%-%' GROUP BY m.id ORDER BY count(*) DESC LIMIT 1")
    items = [r[0] for r in sqlite3.connect(demo_data_dir.database("ops")).execute(
        "SELECT item FROM meeting_actions WHERE meeting_id = ?", [meeting_id])]
    row_page = await demo_ds.client.get(f"/ops/meetings/{meeting_id}", actor=actor("viewer"))
    assert f'href="/-/print/ops/meetings/{meeting_id}">打印会议纪要</a>' in row_page.text
    page = await demo_ds.client.get(f"/-/print/ops/meetings/{meeting_id}", actor=actor("viewer"))
    assert page.status_code == 200
    assert "<h1>会议纪要</h1>" in page.text and title in page.text
    assert f"会议决议（{len(items)} 条）" in page.text and all(item in page.text for item in items)
    assert "<li>" in page.text   # the minutes' Markdown list, rendered
    assert "@media print" in page.text and "@page { size: A4" in page.text


@pytest.mark.asyncio
async def test_an_approved_application_prints_with_its_approval_record(demo_ds, demo_data_dir):
    claim_id, applicant = _one(demo_data_dir, "SELECT c.id, e.employee_no FROM expense_claims c JOIN employees e"
                               " ON e.id = c.applicant_id WHERE c.status = '已支付' LIMIT 1")
    own = {"id": "u-own", "roles": ["employee"], "employee_no": applicant}
    page = await demo_ds.client.get(f"/-/print/ops/expense_claims/{claim_id}", actor=own)
    assert page.status_code == 200 and "费用报销申请表" in page.text and '<strong translate="no">已支付</strong>' in page.text
    record = re.search(r"<h2>办理记录</h2>(.*?)</table>", page.text, re.S).group(1)
    for step in ("提交", "审核", "支付"):
        assert step in record, step
    other = _one(demo_data_dir, "SELECT employee_no FROM employees WHERE employee_no <> ? LIMIT 1", [applicant])[0]
    stranger = {"id": "u-other", "roles": ["employee"], "employee_no": other}
    hidden = await demo_ds.client.get(f"/-/print/ops/expense_claims/{claim_id}", actor=stranger)
    missing = await demo_ds.client.get("/-/print/ops/expense_claims/999999", actor=stranger)
    assert hidden.status_code == missing.status_code == 404 and hidden.text == missing.text


@pytest.mark.asyncio
@pytest.mark.parametrize("who, status", [("hr", 200), ("admin", 200), ("manager", 403), ("viewer", 403), ("employee", 403)])
async def test_a_confidential_document_prints_for_hr_only(demo_ds, who, status):
    page = await demo_ds.client.get("/-/print/hr/confidentiality_agreements/1", actor=actor(who))
    assert page.status_code == status
    if status == 403:
        assert "保密协议" not in page.text


@pytest.mark.asyncio
async def test_registers_without_a_document_and_anonymous_readers(demo_ds):
    assert (await demo_ds.client.get("/-/print/ops/partners/1", actor=actor("admin"))).status_code == 403
    assert (await demo_ds.client.get("/-/print/hr/meetings/1", actor=actor("admin"))).status_code == 403
    anonymous = await demo_ds.client.get("/-/print/ops/meetings/1")
    assert anonymous.status_code == 302 and "/-/login" in anonymous.headers["location"]
