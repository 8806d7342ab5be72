"""The datetime column type in the browser: the form's date-and-time picker (what it sends,
2026-12-02T09:30, is stored as the column's 'YYYY-MM-DD HH:MM'), the spellings people type in
the grid or an import, and the refusals in Chinese."""

import sqlite3

import pytest

from taizhang.client_rules import register_rules
from taizhang.importer.values import CellError, parse_cell
from taizhang.registers import load
from tests.conftest import actor

pytestmark = pytest.mark.fast

RECEIVED = load().registers["customer_feedback"].columns["received_at"]


@pytest.mark.parametrize("typed", ["2026-12-02T09:30", "2026/12/2 9:30", "2026-12-02 09:30", "2026-12-02 09:30:59",
                                   "2026-12-02T09:30:00.000", "2026年12月2日 9:30", "2026年12月2日9点30分",
                                   "２０２６-１２-０２ ０９：３０"])
def test_typed_datetimes_are_stored_as_the_column_holds_them(typed):
    assert parse_cell(RECEIVED, typed) == "2026-12-02 09:30"


@pytest.mark.parametrize("typed,reason", [
    ("2026-02-30 09:30", "日期不存在：2026-02-30"),
    ("2026-12-02 24:00", "无法识别的日期时间：2026-12-02 24:00"),
    ("2026-12-02", "无法识别的日期时间：2026-12-02"),
    ("下午三点", "无法识别的日期时间：下午三点"),
])
def test_unreadable_datetimes_say_what_to_type(typed, reason):
    with pytest.raises(CellError) as refused:
        parse_cell(RECEIVED, typed)
    assert refused.value.reason == reason
    assert refused.value.hint == "请填写如 2026-12-02 09:30 的日期和时间（24 小时制）"


def test_every_value_the_reader_gives_passes_the_database_check(tmp_path):
    """The reader and the CHECK agree: what parse_cell returns is what the column accepts."""
    from taizhang.schema import create_table_sql

    reg = load().registers["task_updates"]
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE employees (id INTEGER PRIMARY KEY)")
    conn.execute(create_table_sql(reg))
    stored = parse_cell(reg.columns["reported_at"], "2026/12/2 9:05")
    conn.execute("INSERT INTO task_updates (task_id, reported_at, reporter_id, content) VALUES (1, ?, 1, 'x')",
                 [stored])
    with pytest.raises(sqlite3.IntegrityError, match="记录时间必须是有效的日期时间"):
        conn.execute("INSERT INTO task_updates (task_id, reported_at, reporter_id, content) VALUES (1, ?, 1, 'x')",
                     ["2026-12-02T09:05"])


def test_the_browser_rules_know_the_datetime_check():
    reg = load().registers["customer_feedback"]
    rule = register_rules(reg)["columns"]["reply_due_at"]
    assert rule["type"] == "datetime"
    # Its sentence filed as the datetime rule (it names HH:MM, but it is not the time rule).
    assert rule["messages"]["datetime"] == f"{reg.columns['reply_due_at'].label}必须是有效的日期时间（YYYY-MM-DD HH:MM）"
    assert "time" not in rule["messages"]


async def _feedback_form(empty_ds, **fields):
    return await empty_ds.client.post("/-/form/ops/customer_feedback", data={
        "feedback_no": "FK-001", "kind": "投诉", "subject": "物流延误", "status": "已登记", **fields},
        actor=actor("editor"))


@pytest.mark.asyncio
async def test_the_form_offers_the_picker_and_stores_what_it_sends(empty_ds):
    page = (await empty_ds.client.get("/-/form/ops/customer_feedback", actor=actor("editor"))).text
    assert '<input id="f-received_at" name="received_at" type="datetime-local" value=""' in page
    response = await _feedback_form(empty_ds, received_at="2026-12-02T09:30", reply_due_at="2026-12-02T17:00")
    assert response.status_code == 302, response.text
    row = (await empty_ds.client.get("/ops/customer_feedback/1.json?_shape=array", actor=actor("editor"))).json()[0]
    assert (row["received_at"], row["reply_due_at"]) == ("2026-12-02 09:30", "2026-12-02 17:00")
    # The edit form shows the stored value in the picker's own spelling.
    edit = (await empty_ds.client.get("/-/form/ops/customer_feedback/1", actor=actor("editor"))).text
    assert 'type="datetime-local" value="2026-12-02T09:30"' in edit


@pytest.mark.asyncio
async def test_a_typed_datetime_the_form_cannot_read_is_refused_next_to_its_field(empty_ds):
    response = await _feedback_form(empty_ds, received_at="12月2日上午")
    assert response.status_code == 200
    html = response.text
    assert 'id="e-received_at"' in html and "无法识别的日期时间：12月2日上午" in html
    # Shown back as typed, in a text box (the picker could not show it).
    assert '<input id="f-received_at" name="received_at" type="text" value="12月2日上午"' in html
    rows = (await empty_ds.client.get("/ops/customer_feedback.json?_shape=array", actor=actor("editor"))).json()
    assert rows == []


@pytest.mark.asyncio
async def test_the_grid_reads_a_typed_datetime(empty_ds):
    assert (await _feedback_form(empty_ds, received_at="2026-12-02T09:30")).status_code == 302
    response = await empty_ds.client.post("/-/cells/ops/customer_feedback", json={"changes": [
        {"id": 1, "column": "reply_due_at", "value": "2026/12/3 9:05"}]}, actor=actor("editor"))
    assert response.status_code == 200, response.text
    assert response.json()["rows"]["1"]["cells"]["reply_due_at"]["value"] == "2026-12-03 09:05"
    refused = await empty_ds.client.post("/-/cells/ops/customer_feedback", json={"changes": [
        {"id": 1, "column": "reply_due_at", "value": "明天"}]}, actor=actor("editor"))
    assert refused.status_code == 400
    label = load().registers["customer_feedback"].columns["reply_due_at"].label
    assert refused.json()["errors"][0]["message"] == (
        f"{label}：无法识别的日期时间：明天。请填写如 2026-12-02 09:30 的日期和时间（24 小时制）")
