"""The staff home page: registers by area with counts, 我的待办 for the linked employee, and the
quick search across every register the reader may read."""

import pytest

from taizhang.demo import DEMO_ACCOUNTS
from tests.conftest import actor

pytestmark = pytest.mark.fast


def staff(role):
    return actor(role, employee_no=DEMO_ACCOUNTS[role])


@pytest.mark.asyncio
async def test_anonymous_goes_to_login(demo_ds):
    response = await demo_ds.client.get("/")
    assert response.status_code == 302 and "/-/login" in response.headers["location"]


@pytest.mark.asyncio
async def test_registers_by_area_with_counts(demo_ds):
    page = (await demo_ds.client.get("/", actor=staff("viewer"))).text
    for area in ("人员与培训", "客户", "合作伙伴", "会议与任务", "客户服务"):
        assert f"<h2>{area}</h2>" in page
    assert "<h2>保密</h2>" not in page and "保密协议" not in page
    assert "合作伙伴档案" in page and "条</small>" in page
    hr_page = (await demo_ds.client.get("/", actor=staff("hr"))).text
    assert "<h2>保密</h2>" in hr_page


@pytest.mark.asyncio
async def test_my_todo_for_the_linked_employee(demo_ds):
    # Generated from the due rules (tests/test_due.py has the details).
    page = (await demo_ds.client.get("/", actor=staff("manager"))).text
    assert "<h3>会议决议" in page and "已逾期" in page
    assert "<h3>客户档案" in page and "下次回访" in page
    assert "<h3>保密协议" not in page                   # not hr
    hr_page = (await demo_ds.client.get("/", actor=staff("hr"))).text
    assert "<h3>保密协议" in hr_page and "协议到期" in hr_page
    unlinked = (await demo_ds.client.get("/", actor=actor("editor"))).text
    assert "还没有关联员工" in unlinked


@pytest.mark.asyncio
async def test_quick_search_across_registers(demo_ds):
    page = (await demo_ds.client.get("/-/search?q=预算", actor=staff("viewer"))).text
    assert "会议纪要" in page
    traditional = (await demo_ds.client.get("/-/search?q=預算", actor=staff("viewer"))).text
    assert "会议纪要" in traditional
    people = (await demo_ds.client.get("/-/search?q=陈嘉欣", actor=staff("viewer"))).text
    assert "陳嘉欣" in people                             # 简 query, 繁 name
    hidden = (await demo_ds.client.get("/-/search?q=BM-", actor=staff("viewer"))).text
    assert "保密协议" not in hidden
    shown = (await demo_ds.client.get("/-/search?q=BM-", actor=staff("hr"))).text
    assert "保密协议" in shown
