"""Several agreements per partner (运营区 §七(二)1 签订合作协议): a renewal is a new row of
合作协议 and the earlier ones stay; the partner's file shows the current agreement — the newest
by start date that is no supplement — kept by the database on every write path, audited."""

import pytest

from tests.conftest import actor

pytestmark = pytest.mark.fast

EDITOR = actor("editor")


async def _insert(ds, table, row, who=EDITOR):
    response = await ds.client.post(f"/ops/{table}/-/insert", json={"row": row}, actor=who)
    assert response.status_code == 201, response.text
    return response.json()["rows"][0]["id"]


async def _current(ds, partner_id):
    rows = (await ds.client.get(f"/ops/partners/{partner_id}.json?_shape=array", actor=EDITOR)).json()
    return rows[0]["agreement_no"], rows[0]["agreement_start"], rows[0]["agreement_end"]


@pytest.mark.asyncio
async def test_a_renewal_keeps_the_earlier_agreement_and_becomes_the_partners_current_one(empty_ds):
    partner = await _insert(empty_ds, "partners", {"name": "甲物流有限公司", "status": "合作中"})
    await _insert(empty_ds, "partner_agreements", {
        "partner_id": partner, "agreement_no": "HZ-2024-001", "kind": "首签", "starts_on": "2024-01-01", "ends_on": "2025-12-31"})
    assert await _current(empty_ds, partner) == ("HZ-2024-001", "2024-01-01", "2025-12-31")
    renewal = await _insert(empty_ds, "partner_agreements", {
        "partner_id": partner, "agreement_no": "HZ-2026-001", "kind": "续签", "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
    await _insert(empty_ds, "partner_agreements", {
        "partner_id": partner, "agreement_no": "HZ-2026-001-补1", "kind": "补充协议", "starts_on": "2026-06-01"})
    assert await _current(empty_ds, partner) == ("HZ-2026-001", "2026-01-01", "2026-12-31")
    history = (await empty_ds.client.get(f"/ops/partner_agreements.json?_shape=array&partner_id={partner}",
                                         actor=EDITOR)).json()
    assert sorted(a["agreement_no"] for a in history) == ["HZ-2024-001", "HZ-2026-001", "HZ-2026-001-补1"]

    # The current agreement's end date moved (a JSON API update): the file follows.
    r = await empty_ds.client.post(f"/ops/partner_agreements/{renewal}/-/update", actor=EDITOR,
                                   json={"update": {"ends_on": "2027-06-30"}})
    assert r.status_code == 200, r.text
    assert (await _current(empty_ds, partner))[2] == "2027-06-30"
    # The renewal was entered by mistake: deleted, the first agreement is current again.
    r = await empty_ds.client.post(f"/ops/partner_agreements/{renewal}/-/delete", actor=actor("manager"))
    assert r.status_code == 200, r.text
    assert await _current(empty_ds, partner) == ("HZ-2024-001", "2024-01-01", "2025-12-31")

    # Each change of the file is in its history, as the writer's.
    log = (await empty_ds.client.get(f"/-/history/ops/partners/{partner}", actor=actor("admin"))).text
    assert "HZ-2026-001" in log and "test-editor" in log


@pytest.mark.asyncio
async def test_the_partners_page_lists_its_agreements_and_adds_one_in_place(empty_ds):
    partner = await _insert(empty_ds, "partners", {"name": "乙传媒有限公司"})
    await _insert(empty_ds, "partner_agreements", {
        "partner_id": partner, "agreement_no": "HZ-2025-009", "starts_on": "2025-03-01", "ends_on": "2026-02-28"})
    page = (await empty_ds.client.get(f"/ops/partners/{partner}", actor=EDITOR)).text
    assert "合作协议（合作伙伴）" in page and "HZ-2025-009" in page
    assert 'data-register="partner_agreements"' in page   # the in-place form of a child register


@pytest.mark.asyncio
async def test_an_agreement_ending_soon_is_the_liaisons_item_until_it_is_renewed(empty_ds, monkeypatch):
    from tests.test_due import NOW, pin_clock, todo_of

    pin_clock(monkeypatch, NOW)   # 2026-11-21
    liaison = await _insert(empty_ds, "employees", {"employee_no": "00031", "name": "钱对接"}, actor("admin"))
    partner = await _insert(empty_ds, "partners", {"name": "丙渠道有限公司", "status": "合作中", "owner_id": liaison})
    await _insert(empty_ds, "partner_agreements", {
        "partner_id": partner, "agreement_no": "HZ-2025-031", "starts_on": "2025-12-11", "ends_on": "2026-12-10"})
    mine = actor("editor", employee_no="00031")
    todo = await todo_of(empty_ds, mine)
    assert "丙渠道有限公司" in todo and "合作协议到期" in todo
    await _insert(empty_ds, "partner_agreements", {
        "partner_id": partner, "agreement_no": "HZ-2026-031", "kind": "续签", "starts_on": "2026-12-11", "ends_on": "2027-12-10"})
    assert "丙渠道有限公司" not in await todo_of(empty_ds, mine)
