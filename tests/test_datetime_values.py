"""The datetime type (deadlines in hours): one reader (taizhang.importer.values.parse_datetime)
for the import, the grid and the forms; stored 'YYYY-MM-DD HH:MM'; anything else refused with
the field named."""

import datetime

import pytest

from taizhang.importer.values import CellError, parse_cell, parse_datetime
from taizhang.registers import load
from tests.conftest import actor

pytestmark = pytest.mark.fast

REPLY_DUE = load().registers["customer_feedback"].columns["reply_due_at"]


@pytest.mark.parametrize("typed", [
    "2026-12-02 09:30", "2026-12-02T09:30", "2026/12/2 9:30", "2026.12.02 09:30", "2026-12-02 09:30:41",
    "２０２６/１２/２ ９：３０", "2026年12月2日 9:30", "2026年12月2日9点30分", " 2026-12-02 09:30\u3000",
    "2026-12-02T09:30:00.000", "２０２６-１２-０２ ０９：３０",
    datetime.datetime(2026, 12, 2, 9, 30), datetime.datetime(2026, 12, 2, 9, 29, 59, 999000),
    46358.395833333336,   # the serial Excel stores for 2026-12-02 09:30
])
def test_accepted_spellings_are_stored_as_one_form(typed):
    assert parse_datetime(typed) == "2026-12-02 09:30"
    assert parse_cell(REPLY_DUE, typed) == "2026-12-02 09:30"


def test_a_1904_workbook_serial():
    assert parse_datetime(44896.395833333336, date1904=True) == "2026-12-02 09:30"


@pytest.mark.parametrize("typed, reason", [
    ("2026-02-30 09:00", "日期不存在：2026-02-30"),
    ("2026年2月30日 9点", "日期不存在：2026年2月30日"),
    ("2026-12-02 24:00", "无法识别的日期时间：2026-12-02 24:00"),
    ("2026-12-02 09:60", "无法识别的日期时间：2026-12-02 09:60"),
    ("2026-12-02", "无法识别的日期时间：2026-12-02"),
    (datetime.date(2026, 12, 2), "无法识别的日期时间：2026-12-02"),
    ("明天下午", "无法识别的日期时间：明天下午"),
    ("09:30", "无法识别的日期时间：09:30"),
    (-3, "无法识别的日期时间：-3"),
])
def test_others_are_refused_with_what_to_type(typed, reason):
    with pytest.raises(CellError) as refused:
        parse_datetime(typed)
    assert refused.value.reason == reason
    assert refused.value.hint   # what to type instead


def test_empty_is_none():
    assert parse_datetime(None) is None and parse_datetime(" ") is None


@pytest.mark.asyncio
async def test_the_grid_reads_typed_datetimes_and_names_the_field(empty_ds):
    admin = actor("admin")
    inserted = await empty_ds.client.post("/ops/customer_feedback/-/insert", json={"row": {
        "feedback_no": "FK-001", "received_at": "2026-12-01 08:00", "kind": "投诉", "subject": "配送延迟",
        "status": "已登记"}}, actor=admin)
    assert inserted.status_code == 201, inserted.text
    saved = await empty_ds.client.post("/-/cells/ops/customer_feedback", json={"changes": [
        {"id": 1, "column": "reply_due_at", "value": "2026/12/2 9:30"}]}, actor=admin)
    assert saved.status_code == 200, saved.text
    row = (await empty_ds.client.get("/ops/customer_feedback/1.json?_shape=objects", actor=admin)).json()["rows"][0]
    assert row["reply_due_at"] == "2026-12-02 09:30"
    refused = await empty_ds.client.post("/-/cells/ops/customer_feedback", json={"changes": [
        {"id": 1, "column": "reply_due_at", "value": "12月2日上午"}]}, actor=admin)
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["column"] == "reply_due_at"
    assert error["message"].startswith(f"{REPLY_DUE.label}：无法识别的日期时间：12月2日上午")


@pytest.mark.asyncio
async def test_the_database_refuses_what_the_readers_never_store(empty_ds):
    refused = await empty_ds.client.post("/ops/customer_feedback/-/insert", json={"row": {
        "feedback_no": "FK-002", "received_at": "2026/12/1 8:00", "kind": "咨询", "subject": "发票"}}, actor=actor("admin"))
    assert refused.status_code == 400
    label = load().registers["customer_feedback"].columns["received_at"].label
    assert refused.json()["errors"][0].startswith(f"{label}必须是有效的日期时间（YYYY-MM-DD HH:MM）")
