"""Edge values on every write path — the JSON API (insert, update), the grid (/-/cells), the
form, the import, /-/execute-write and a plain sqlite3 connection:

- values that are not numbers (Infinity, -Infinity, 1e400, NaN) are refused with a Chinese
  sentence naming the field, never stored (NaN would silently become NULL);
- the times the database keeps (created_at, updated_at) and the id cannot be set;
- required text that only looks filled (spaces of every kind, zero-width characters, tabs) is
  refused, and control or bidi-override characters in names and keys are refused;
- natural keys are normalised (trimmed, full-width digits and letters made ASCII), so a look-alike
  of an existing key is a duplicate;
- 繁體 enum values are read by converting them to 简体 (合作夥伴 -> 合作伙伴);
- history pages answer for rows holding every edge value the registers accept."""

import contextlib
import dataclasses
import re
import sqlite3

import openpyxl
import pytest
import pytest_asyncio

from taizhang import audit
from taizhang.importer.engine import import_files
from tests.conftest import actor

pytestmark = pytest.mark.fast
ADMIN, EDITOR = actor("admin"), actor("editor")
NOT_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
BLANK_LOOKING = ["\u3000", "\u00a0", "\u200b", "\ufeff", "\t", " \n ", "\u2003\u200d", "\u202f\u2060"]
UNSAFE = ["甲\u202e公司", "甲\x01公司", "甲公司\u2066", "甲\x7f", "甲\n公司", "甲\x00公司"]


def _shell(data_dir, db="ops"):
    return sqlite3.connect(data_dir.database(db), isolation_level=None)


def _xlsx(path, rows):
    wb = openpyxl.Workbook()
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row, 1):
            cell = wb.active.cell(r, c, value)
            if isinstance(value, str):
                cell.data_type = "s"
    wb.save(path)
    return path


async def _json(ds, path, body: str, who=ADMIN):
    """A JSON body sent as written: NaN and Infinity are tokens Python's json module accepts."""
    return await ds.client.post(path, content=body.encode(), headers={"content-type": "application/json"}, actor=who)


def _error(response) -> str:
    return " ".join(response.json()["errors"]) if isinstance(response.json()["errors"][0], str) else \
        " ".join(e["message"] for e in response.json()["errors"])


@pytest_asyncio.fixture
async def ds(empty_ds):
    await empty_ds.client.post("/ops/customers/-/insert", json={"row": {"customer_no": "C001", "name": "甲"}}, actor=ADMIN)
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲公司"}}, actor=ADMIN)
    await empty_ds.client.post("/ops/employees/-/insert", json={"row": {"employee_no": "00012", "name": "张伟"}}, actor=ADMIN)
    return empty_ds


# -- not numbers -------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("token", NOT_NUMBERS)
async def test_json_api_refuses_non_numbers(ds, empty_data_dir, token):
    inserted = await _json(ds, "/ops/customers/-/insert", f'{{"row": {{"customer_no": "C9", "name": "乙", "total_spend": {token}}}}}')
    assert inserted.status_code == 400, inserted.text
    assert "累计消费" in _error(inserted)
    updated = await _json(ds, "/ops/customers/1/-/update", f'{{"update": {{"total_spend": {token}}}}}')
    assert updated.status_code == 400, updated.text
    assert "累计消费" in _error(updated)
    assert _shell(empty_data_dir).execute("SELECT customer_no, total_spend FROM customers").fetchall() == [("C001", None)]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/ops/partners/-/insert", "/ops/partners/-/upsert", "/ops/partners/1/-/update",
                                  "/ops/partners/1/-/delete", "/ops/-/create", "/ops/partners/-/alter",
                                  "/ops/partners/-/drop", "/ops/-/execute-write"])
async def test_json_nested_too_deep_is_a_400_not_a_500(ds, path):
    """json.loads raises RecursionError, not ValueError, on deeply nested brackets."""
    for body in ("[" * 50000 + "]" * 50000, '{"row": ' + "[" * 50000 + "]" * 50000 + "}"):
        r = await _json(ds, path, body)
        assert r.status_code == 400 and "嵌套过深" in _error(r), (path, r.status_code, r.text[:300])
    # A body of ordinary depth still reaches core as before.
    r = await _json(ds, "/ops/partners/1/-/update", '{"update": {"notes": "x"}}')
    assert r.status_code == 200, r.text


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "1e400", "1e400元"])
async def test_grid_and_form_refuse_non_numbers(ds, empty_data_dir, value):
    grid = await ds.client.post("/-/cells/ops/customers", json={"changes": [
        {"id": 1, "column": "total_spend", "value": value}]}, actor=EDITOR)
    assert grid.status_code == 400 and "累计消费" in grid.json()["errors"][0]["message"], grid.text
    page = await ds.client.post("/-/form/ops/customers", data={"customer_no": "C9", "name": "乙", "total_spend": value},
                                actor=EDITOR)
    block = page.text[page.text.index('id="f-total_spend"'):]
    assert "field-error" in block[:block.index("</div>")], value
    assert _shell(empty_data_dir).execute("SELECT customer_no, total_spend FROM customers").fetchall() == [("C001", None)]


@pytest.mark.asyncio
async def test_grid_refuses_a_json_number_beyond_floats(ds):
    grid = await _json(ds, "/-/cells/ops/customers", '{"changes": [{"id": 1, "column": "total_spend", "value": 1e400}]}', EDITOR)
    assert grid.status_code == 400 and grid.json()["errors"][0]["column"] == "total_spend"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "inf"])
def test_import_refuses_non_numbers(empty_data_dir, tmp_path, value):
    path = _xlsx(tmp_path / "客户.xlsx", [["客户编号", "客户名称", "累计消费"], ["C5", "丙", value]])
    run = import_files(empty_data_dir, [path], register="customers")
    assert not run.written and len(run.problems) == 1
    assert run.problems[0].column == "累计消费"
    assert _shell(empty_data_dir).execute("SELECT count(*) FROM customers").fetchone() == (0,)


@pytest.mark.asyncio
@pytest.mark.parametrize("table, column, label", [
    ("customers", "total_spend", "累计消费"), ("training_sessions", "cost", "费用"),
    ("customer_tiers", "min_annual_spend", "年消费下限"),
])
@pytest.mark.parametrize("literal", ["1e400", "-1e400", "9e999"])
async def test_sql_writes_refuse_infinity(ds, empty_data_dir, table, column, label, literal):
    key = {"customers": "customer_no, name", "training_sessions": "title", "customer_tiers": "name"}[table]
    values = {"customers": "'C7', '丁'", "training_sessions": "'课'", "customer_tiers": "'层'"}[table]
    sql = f"INSERT INTO {table} ({key}, {column}) VALUES ({values}, {literal})"
    with pytest.raises(sqlite3.IntegrityError, match=label):
        _shell(empty_data_dir).execute(sql)
    answer = await ds.client.post("/ops/-/execute-write", json={"sql": sql}, actor=ADMIN)
    assert answer.status_code == 400 and label in answer.json()["errors"][0], answer.text


@pytest.mark.asyncio
@pytest.mark.parametrize("column, label", [("name", "合作伙伴名称"), ("notes", "备注（合作历史）"), ("owner_id", "对接负责人")])
async def test_bytes_are_refused_in_chinese(ds, empty_data_dir, column, label):
    values = {"name": "'乙'", column: "X'00FF'"}
    sql = f"INSERT INTO partners ({', '.join(values)}) VALUES ({', '.join(values.values())})"
    answer = await ds.client.post("/ops/-/execute-write", json={"sql": sql}, actor=ADMIN)
    assert answer.status_code == 400 and f"{label}不能是二进制数据" in answer.json()["errors"][0], answer.text
    with pytest.raises(sqlite3.IntegrityError, match=re.escape(label)):
        _shell(empty_data_dir).execute(sql)


# -- the times the database keeps ----------------------------------------------------------------
OLD = "2000-01-01T00:00:00Z"


@pytest.mark.asyncio
async def test_created_and_updated_at_cannot_be_set_through_the_api(ds, empty_data_dir):
    shell = _shell(empty_data_dir)
    before = shell.execute("SELECT created_at, updated_at FROM customers WHERE id = 1").fetchone()
    for path, body in [
        ("/ops/customers/-/insert", {"row": {"customer_no": "C2", "name": "乙", "created_at": OLD}}),
        ("/ops/customers/-/insert", {"row": {"customer_no": "C2", "name": "乙", "updated_at": OLD}}),
        ("/ops/customers/1/-/update", {"update": {"created_at": OLD}}),
        ("/ops/customers/1/-/update", {"update": {"name": "甲二", "updated_at": OLD}}),
        ("/ops/customers/1/-/update", {"update": {"updated_at": OLD}}),
    ]:
        r = await ds.client.post(path, json=body, actor=ADMIN)
        assert r.status_code == 400 and "由数据库记录" in _error(r), (body, r.text)
    assert shell.execute("SELECT created_at, updated_at, name FROM customers").fetchall() == [(*before, "甲")]
    # A round trip that sends back the row as read is not refused.
    row = (await ds.client.get("/ops/customers/1.json?_shape=objects", actor=ADMIN)).json()["rows"][0]
    r = await ds.client.post("/ops/customers/1/-/update", json={"update": {**row, "name": "甲二"}}, actor=ADMIN)
    assert r.status_code == 200, r.text
    assert shell.execute("SELECT created_at, name FROM customers").fetchall() == [(before[0], "甲二")]


@pytest.mark.asyncio
async def test_created_and_updated_at_cannot_be_set_by_sql(ds, empty_data_dir):
    shell = _shell(empty_data_dir)
    before = shell.execute("SELECT created_at, updated_at FROM customers WHERE id = 1").fetchone()
    for sql in (f"UPDATE customers SET created_at = '{OLD}' WHERE id = 1",
                f"UPDATE customers SET updated_at = '{OLD}', name = '甲二' WHERE id = 1",
                f"INSERT INTO customers (customer_no, name, created_at) VALUES ('C3', '丙', '{OLD}')"):
        with pytest.raises(sqlite3.IntegrityError, match="由数据库记录"):
            shell.execute(sql)
        answer = await ds.client.post("/ops/-/execute-write", json={"sql": sql}, actor=ADMIN)
        assert answer.status_code == 400 and "由数据库记录" in answer.json()["errors"][0], answer.text
    assert shell.execute("SELECT created_at, updated_at FROM customers").fetchall() == [before]


@pytest.mark.asyncio
async def test_an_id_cannot_be_changed(ds, empty_data_dir):
    with pytest.raises(sqlite3.IntegrityError, match="编号"):
        _shell(empty_data_dir).execute("UPDATE customers SET id = 99 WHERE id = 1")
    answer = await ds.client.post("/ops/-/execute-write", json={"sql": "UPDATE customers SET id = 99"}, actor=ADMIN)
    assert answer.status_code == 400 and "编号" in answer.json()["errors"][0]


@pytest.mark.asyncio
async def test_restore_still_puts_a_deleted_row_back(ds, empty_data_dir):
    await ds.client.post("/ops/customers/1/-/delete", actor=ADMIN)
    log_id = _shell(empty_data_dir).execute("SELECT max(id) FROM _audit_log WHERE operation = 'delete'").fetchone()[0]
    r = await ds.client.post("/-/history/ops/customers/1/restore", data={"log_id": str(log_id)}, actor=ADMIN)
    assert r.status_code == 302
    assert _shell(empty_data_dir).execute("SELECT id, customer_no FROM customers").fetchall() == [(1, "C001")]


# -- blank-looking text, unsafe characters -------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("blank", BLANK_LOOKING, ids=[repr(b) for b in BLANK_LOOKING])
async def test_blank_looking_required_text_is_refused_everywhere(ds, empty_data_dir, tmp_path, blank):
    r = await ds.client.post("/ops/partners/-/insert", json={"row": {"name": blank}}, actor=ADMIN)
    assert r.status_code == 400 and "合作伙伴名称" in _error(r), r.text
    r = await ds.client.post("/ops/partners/1/-/update", json={"update": {"name": blank}}, actor=ADMIN)
    assert r.status_code == 400 and "合作伙伴名称" in _error(r), r.text
    grid = await ds.client.post("/-/cells/ops/partners", json={"changes": [{"id": 1, "column": "name", "value": blank}]}, actor=EDITOR)
    assert grid.status_code == 400 and "合作伙伴名称" in grid.json()["errors"][0]["message"]
    page = await ds.client.post("/-/form/ops/partners", data={"name": blank}, actor=EDITOR)
    block = page.text[page.text.index('id="f-name"'):]
    assert "field-error" in block[:block.index("</div>")]
    with pytest.raises(sqlite3.IntegrityError, match="合作伙伴名称不能为空"):
        _shell(empty_data_dir).execute("INSERT INTO partners (name) VALUES (?)", [blank])
    run = import_files(empty_data_dir, [_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "备注"], [blank, "有备注"]])],
                       register="partners")
    assert not run.written and run.problems
    assert _shell(empty_data_dir).execute("SELECT name FROM partners").fetchall() == [("甲公司",)]


@pytest.mark.asyncio
@pytest.mark.parametrize("name", UNSAFE, ids=[repr(n) for n in UNSAFE])
async def test_control_and_bidi_characters_are_refused_in_names_and_keys(ds, empty_data_dir, tmp_path, name):
    r = await ds.client.post("/ops/partners/-/insert", json={"row": {"name": name}}, actor=ADMIN)
    assert r.status_code == 400 and "合作伙伴名称" in _error(r) and "字符" in _error(r), r.text
    r = await ds.client.post("/ops/customers/-/insert", json={"row": {"customer_no": "C" + name, "name": "乙"}}, actor=ADMIN)
    assert r.status_code == 400 and "客户编号" in _error(r), r.text
    grid = await ds.client.post("/-/cells/ops/partners", json={"changes": [{"id": 1, "column": "name", "value": name}]}, actor=EDITOR)
    assert grid.status_code == 400 and "合作伙伴名称" in grid.json()["errors"][0]["message"]
    with pytest.raises(sqlite3.IntegrityError, match="合作伙伴名称"):
        _shell(empty_data_dir).execute("INSERT INTO partners (name) VALUES (?)", [name])
    assert _shell(empty_data_dir).execute("SELECT name FROM partners").fetchall() == [("甲公司",)]


@pytest.mark.asyncio
async def test_tabs_and_newlines_stay_allowed_in_long_text(ds):
    r = await ds.client.post("/ops/meetings/-/insert", json={"row": {
        "title": "周会", "held_on": "2024-10-08", "minutes": "第一项\n\t- 细节\r\n第二项"}}, actor=ADMIN)
    assert r.status_code == 201, r.text


# -- natural keys ---------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("twin", [" 00012", "００012", "00012\u3000", "\u200b00012", "０００１２"])
async def test_a_look_alike_key_is_a_duplicate(ds, empty_data_dir, tmp_path, twin):
    r = await ds.client.post("/ops/employees/-/insert", json={"row": {"employee_no": twin, "name": "李四"}}, actor=ADMIN)
    assert r.status_code == 400 and "工号" in _error(r) and "重复" in _error(r), r.text
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        _shell(empty_data_dir).execute("INSERT INTO employees (employee_no, name) VALUES (?, '李四')", [twin])
    # The import reads the look-alike as the existing key: the row is updated, not duplicated.
    run = import_files(empty_data_dir, [_xlsx(tmp_path / "员工.xlsx", [["工号", "姓名"], [twin, "张伟"]])],
                       register="employees")
    assert not run.problems, run.problems
    assert _shell(empty_data_dir).execute("SELECT employee_no FROM employees").fetchall() == [("00012",)]


@pytest.mark.asyncio
@pytest.mark.parametrize("twin", [" 甲公司", "甲公司\u200b", "甲公司\u3000"])
async def test_a_look_alike_key_is_a_duplicate_under_insert_or_ignore_too(ds, empty_data_dir, twin):
    """The key trigger's UPDATE takes the conflict clause of the statement that fired it: under
    core's "ignore": true (INSERT OR IGNORE) it was skipped and the look-alike stayed, a second
    record. It is refused as a duplicate instead, on the JSON API and from a shell."""
    r = await ds.client.post("/ops/partners/-/insert", json={"rows": [{"name": twin}], "ignore": True}, actor=ADMIN)
    assert r.status_code == 400 and "合作伙伴名称不能重复" in _error(r), r.text
    shell = _shell(empty_data_dir)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: partners.name"):
        shell.execute("INSERT OR IGNORE INTO partners (name) VALUES (?)", [twin])
    shell.execute("INSERT INTO partners (name) VALUES ('乙公司')")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: partners.name"):
        shell.execute("UPDATE OR IGNORE partners SET name = ? WHERE name = '乙公司'", [twin])
    # The composite natural key (title, 会议日期) is named the way SQLite names it.
    shell.execute("INSERT INTO meetings (title, held_on) VALUES ('例会', '2026-01-05')")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: meetings.title, meetings.held_on"):
        shell.execute("INSERT OR IGNORE INTO meetings (title, held_on) VALUES ('例会 ', '2026-01-05')")
    assert [r[0] for r in shell.execute("SELECT name FROM partners ORDER BY id")] == ["甲公司", "乙公司"]
    # An exact duplicate is still simply skipped, and a look-alike of no existing key is stored normalised.
    r = await ds.client.post("/ops/partners/-/insert", json={"rows": [{"name": "甲公司"}, {"name": " 丙公司"}], "ignore": True},
                             actor=ADMIN)
    assert r.status_code == 201, r.text
    assert [r[0] for r in shell.execute("SELECT name FROM partners ORDER BY id")] == ["甲公司", "乙公司", "丙公司"]


@pytest.mark.asyncio
async def test_a_row_left_in_the_key_scratch_table_changes_no_key(ds, empty_data_dir):
    """The scratch row is the key triggers' own; one left there by anyone else (a shell) neither
    stops an upsert (whose triggers run as ABORT) nor becomes the key under OR IGNORE."""
    shell = _shell(empty_data_dir)
    shell.execute("INSERT INTO _key_scratch (id, value) VALUES (1, 'stale')")
    r = await ds.client.post("/ops/partners/-/upsert", json={"rows": [{"id": 1, "name": " 甲公司", "notes": "改"}]}, actor=ADMIN)
    assert r.status_code == 200, r.text
    shell.execute("INSERT INTO _key_scratch (id, value) VALUES (1, 'stale')")
    shell.execute("INSERT OR IGNORE INTO customers (customer_no, name) VALUES ('Ｃ009', '乙')")
    assert shell.execute("SELECT customer_no FROM customers ORDER BY id").fetchall() == [("C001",), ("C009",)]
    assert shell.execute("SELECT name, notes FROM partners").fetchall() == [("甲公司", "改")]


@pytest.mark.asyncio
async def test_keys_are_stored_normalised(ds, empty_data_dir):
    r = await ds.client.post("/ops/customers/-/insert", json={"row": {"customer_no": " Ｃ００２\u3000", "name": "乙"}}, actor=ADMIN)
    assert r.status_code == 201, r.text
    _shell(empty_data_dir).execute("INSERT INTO customers (customer_no, name) VALUES ('ｃ００３ ', '丙')")
    keys = [r[0] for r in _shell(empty_data_dir).execute("SELECT customer_no FROM customers ORDER BY id")]
    assert keys == ["C001", "C002", "c003"]
    r = await ds.client.post("/ops/customers/-/insert", json={"row": {"customer_no": "C００1", "name": "丁"}}, actor=ADMIN)
    assert r.status_code == 400 and "客户编号" in _error(r)


@pytest.mark.asyncio
async def test_a_reference_typed_as_a_look_alike_key_finds_the_row(ds):
    grid = await ds.client.post("/-/cells/ops/partners", json={"changes": [
        {"id": 1, "column": "owner_id", "value": "００012"}]}, actor=EDITOR)
    assert grid.status_code == 200, grid.text
    assert grid.json()["rows"]["1"]["cells"]["owner_id"]["label"] == "张伟"


# -- 繁體 enum values --------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_traditional_enum_value_is_read_through_t2s_on_every_path(ds, empty_data_dir, tmp_path):
    r = await ds.client.post("/hr/confidentiality_agreements/-/insert", json={"row": {
        "agreement_no": "BM-1", "party_kind": "合作夥伴", "party_name": "甲公司", "partner_name": "甲公司",
        "signed_on": "2024-01-01"}}, actor=ADMIN)
    assert r.status_code == 201, r.text
    shell = _shell(empty_data_dir, "hr")
    shell.execute("INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, partner_name, signed_on)"
                  " VALUES ('BM-2', '合作夥伴', '甲公司', '甲公司', '2024-01-01')")
    page = await ds.client.post("/-/form/hr/confidentiality_agreements", data={
        "agreement_no": "BM-3", "party_kind": "合作夥伴", "party_name": "甲公司", "partner_name": "甲公司",
        "signed_on": "2024-01-01"}, actor=ADMIN)
    assert page.status_code == 302, page.text[:2000]
    grid = await ds.client.post("/-/cells/hr/confidentiality_agreements", json={"changes": [
        {"id": 2, "column": "party_kind", "value": "合作夥伴"}]}, actor=ADMIN)
    assert grid.status_code == 200, grid.text
    run = import_files(empty_data_dir, [_xlsx(tmp_path / "保密.xlsx", [
        ["协议编号", "签署方类型", "签署方", "合作伙伴", "签订日期"], ["BM-4", "合作夥伴", "甲公司", "甲公司", "2024-01-01"]])],
        register="confidentiality_agreements")
    assert run.written and not run.problems, run.problems
    kinds = shell.execute("SELECT DISTINCT party_kind FROM confidentiality_agreements").fetchall()
    assert kinds == [("合作伙伴",)]
    assert shell.execute("SELECT count(*) FROM confidentiality_agreements").fetchone() == (4,)


@pytest.mark.parametrize("typed, stored", [("合作夥伴", "合作伙伴"), ("員工", "员工"), ("其他", "其他")])
def test_parse_choice_converts_t2s(definition, typed, stored):
    from taizhang.importer.values import parse_choice
    column = definition.registers["confidentiality_agreements"].columns["party_kind"]
    assert parse_choice(typed, column) == stored


# -- history pages -------------------------------------------------------------------------------
EDGE_ROW = {
    "customer_no": "C100", "name": "名" * 300, "total_spend": 1.7976931348623157e308, "notes": '{"a": 1} </script>\x00\x1b',
    "address": "😀\u202e反向", "preferences": "[1, 2]", "contact_person": "null",
}


@pytest.mark.asyncio
async def test_history_pages_answer_for_rows_holding_edge_values(ds, empty_data_dir):
    shell = _shell(empty_data_dir)
    cols = list(EDGE_ROW)
    shell.execute(f"INSERT INTO customers ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", list(EDGE_ROW.values()))
    shell.execute("UPDATE customers SET total_spend = 5e-324, notes = '' WHERE customer_no = 'C100'")
    shell.execute("INSERT INTO customer_tiers (name, rank, min_annual_spend) VALUES ('层', 9223372036854775807, -0.0)")
    # An entry written before non-numbers were refused: SQLite wrote Infinity into the JSON as Inf.
    shell.execute("INSERT INTO _audit_log (source, table_name, row_id, operation, before, after) VALUES"
                  " ('unattributed', 'customers', 1, 'update', '{\"id\":1,\"total_spend\":null,\"name\":\"Inf\"}',"
                  " '{\"id\":1,\"total_spend\":Inf,\"name\":\"Inf\",\"notes\":-Inf}')")
    row_id = shell.execute("SELECT id FROM customers WHERE customer_no = 'C100'").fetchone()[0]
    for path in (f"/-/history/ops/customers/{row_id}", "/-/history/ops/customers/1", "/-/history/ops/customers",
                 "/-/history/ops/customer_tiers", "/-/history", "/-/history?table=customers"):
        page = await ds.client.get(path, actor=ADMIN)
        assert page.status_code == 200, (path, page.text[:500])
    page = await ds.client.get("/-/history/ops/customers/1", actor=ADMIN)
    assert "inf" in page.text.lower()
    log_id = shell.execute("SELECT max(id) FROM _audit_log WHERE table_name = 'customers' AND row_id = 1").fetchone()[0]
    restored = await ds.client.post("/-/history/ops/customers/1/restore", data={"log_id": str(log_id)}, actor=ADMIN)
    assert restored.status_code == 302   # refused with a message (Infinity is not a number), not a 500
    assert shell.execute("SELECT total_spend FROM customers WHERE id = 1").fetchone() == (None,)


# -- integers beyond SQLite's 64 bits -----------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("path, body", [
    ("/ops/customer_tiers/-/insert", '{"row": {"name": "层", "rank": 9223372036854775808}}'),
    ("/ops/customer_tiers/1/-/update", '{"update": {"follow_up_days": -9223372036854775809}}'),
    ("/ops/customer_tiers/-/insert", '{"rows": [{"name": "层", "min_annual_spend": 100000000000000000000000000}]}'),
])
async def test_json_api_refuses_integers_sqlite_cannot_hold(ds, path, body):
    r = await _json(ds, path, body)
    assert r.status_code == 400 and "数值过大" in _error(r) and "Python" not in r.text, r.text


@pytest.mark.asyncio
@pytest.mark.parametrize("typed", ["9223372036854775808", "1e30", "１" + "０" * 20])
async def test_form_and_grid_refuse_integers_sqlite_cannot_hold(ds, typed):
    page = await ds.client.post("/-/form/ops/customer_tiers/1", data={"name": "重要客户", "rank": typed}, actor=ADMIN)
    block = page.text[page.text.index('id="f-rank"'):]
    assert "数值过大" in block[:block.index("</div>")] and "Python" not in page.text
    grid = await ds.client.post("/-/cells/ops/customer_tiers", json={"changes": [
        {"id": 1, "column": "rank", "value": typed}]}, actor=ADMIN)
    assert grid.status_code == 400 and "排序" in grid.json()["errors"][0]["message"]


@pytest.mark.asyncio
async def test_the_refusals_are_said_in_english_on_english_pages(ds):
    page = await ds.client.post("/-/form/ops/partners", data={"name": "甲\u202e乙"}, actor=EDITOR, cookies={"tz_lang": "en"})
    assert "Partner name cannot contain control or text-direction characters" in page.text
    page = await ds.client.post("/-/form/ops/customers", data={"customer_no": "C9", "name": "乙", "total_spend": "1e400"},
                                actor=EDITOR, cookies={"tz_lang": "en"})
    assert "Not a finite number: “1e400”" in page.text


# -- existing database files get the new CHECKs -------------------------------------------------
def _swap_table_sql(conn, table, sql):
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", [sql, table])
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.execute("PRAGMA writable_schema = OFF")


def test_init_gives_an_existing_file_the_new_enum_spellings(empty_data_dir, definition):
    from taizhang.datadir import init
    from taizhang.schema import create_table_sql

    shell = _shell(empty_data_dir, "hr")
    current = create_table_sql(definition.registers["confidentiality_agreements"])
    assert "'合作夥伴'" in current
    # A file made before 繁體 spellings were enumerated: its CHECK lists only the s2t forms.
    _swap_table_sql(shell, "confidentiality_agreements", current.replace(", '合作夥伴'", "").replace(", '閤作夥伴'", ""))
    with pytest.raises(sqlite3.IntegrityError, match="签署方类型必须是以下之一"):
        shell.execute("INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, signed_on)"
                      " VALUES ('BM-9', '合作夥伴', '甲', '2024-01-01')")
    shell.close()
    assert "confidentiality_agreements" in init(empty_data_dir)["hr"]
    shell = _shell(empty_data_dir, "hr")
    shell.execute("INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, partner_name, signed_on)"
                  " VALUES ('BM-9', '合作夥伴', '甲', '甲', '2024-01-01')")
    assert shell.execute("SELECT party_kind FROM confidentiality_agreements").fetchall() == [("合作伙伴",)]
    assert shell.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert init(empty_data_dir)["hr"] == []   # idempotent


def test_a_check_that_rows_would_fail_is_refused_and_nothing_changes(empty_data_dir, definition):
    from taizhang import derived, schema

    conn = empty_data_dir.connect("ops")
    conn.execute("INSERT INTO employees (employee_no, name, status) VALUES ('00001', '甲', '在职')")
    reg = definition.registers["employees"]
    narrower = dataclasses.replace(reg, columns={**reg.columns, "status": dataclasses.replace(
        reg.columns["status"], values={"试用": []})})
    before = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'employees'").fetchone()
    conn.execute("BEGIN")
    with pytest.raises(schema.ChecksRefused, match="员工中已有记录不符合新的规则"):
        schema.update_checks(conn, narrower)
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'employees'").fetchone() == before
    assert derived.sync(conn, definition, "ops") == []


def _edge_row(reg, filled: set) -> dict:
    """A row of the register holding the most awkward value each column accepts (references:
    row 1 of a register already filled)."""
    row = {}
    # A date another may not precede is the earliest (请假: the days fit between the two dates).
    starts = {col.not_before for col in reg.columns.values()}
    for name, col in reg.columns.items():
        if col.type == "date" and name in starts:
            row[name] = "1900-01-01"
        elif col.type == "fk":
            row[name] = 1 if col.references in filled else None
        elif col.type == "int":
            row[name] = int(col.max) if col.max is not None else 2**63 - 1
        elif col.type == "real":
            row[name] = float(col.max) if col.max is not None else 1.7976931348623157e308
        elif col.type in ("enum", "bool"):
            row[name] = next(iter(col.values))
        else:
            row[name] = {"date": "2099-12-31", "datetime": "2099-12-31 23:59", "period": "2024-Q4", "time": "23:59"}.get(col.type) or (
                {"email": "a@b.cn", "phone": "+86 138-0013-8000"}.get(col.format) or (
                    "名" * 300 + "😀" if name in reg.name_columns else '{"a": [1]} </script>\x00\x1b\u202e😀\ttab\n'))
    return row


@pytest.mark.asyncio
async def test_every_registers_history_answers_for_its_edge_rows(empty_ds, empty_data_dir, definition):
    """Each register (in definition order, so every reference finds row 1) gets a row of edge
    values from a shell, an update and a deletion of a second one; every history page answers."""
    paths, filled = ["/-/history"], set()
    key = audit.key_from_secret(empty_data_dir.secret())
    for reg in definition.registers.values():
        shell = _shell(empty_data_dir, reg.database)
        shell.execute("PRAGMA foreign_keys = ON")
        # A process register takes rows only through the app (taizhang/workflow.py): a CLI write by an
        # admin who is employee 1, whom every edge row names (the owner, where only the owner may edit).
        me = shell.execute("SELECT employee_no FROM employees WHERE id = 1").fetchone() if reg.workflow else None
        writer = audit.Who("test-admin", "admin", "cli", employee_no=me and me[0])
        with audit.audited(shell, writer, key) if reg.workflow else contextlib.nullcontext():
            _write_edge_rows(shell, reg, filled)
        filled.add(reg.name)
        paths += [f"/-/history/{reg.database}/{reg.name}", f"/-/history/{reg.database}/{reg.name}/1",
                  f"/-/history/{reg.database}/{reg.name}/2", f"/-/history?table={reg.name}"]
    for path in paths:
        page = await empty_ds.client.get(path, actor=ADMIN)
        assert page.status_code == 200, (path, page.text[:300])
    assert len(paths) == 1 + 4 * len(definition.registers)


def _write_edge_rows(shell, reg, filled: set) -> None:
    """Two rows of edge values (one where a reference is part of the key), text columns updated,
    the second row deleted."""
    # A second row needs another natural key: not to be had when a reference is part of it.
    twins = 1 if any(reg.columns[c].type == "fk" for c in reg.natural_key) else 2
    for n in range(1, twins + 1):
        row = _edge_row(reg, filled)
        for key in reg.key_columns:
            row[key] = f"{n}{row[key]}"
        if "period" in reg.natural_key:
            row["period"] = f"2024-Q{n}"
        shell.execute(f"INSERT INTO {reg.name} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    texts = [c for c, col in reg.columns.items() if col.type == "text" and c not in reg.name_columns and not col.format]
    for column in texts:
        shell.execute(f"UPDATE {reg.name} SET {column} = 'null' WHERE id = 1")
    shell.execute(f"DELETE FROM {reg.name} WHERE id = 2")
