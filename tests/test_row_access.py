"""Row-level access (taizhang/row_access.py, docs/row-access.md): each preset, the union of a
login's roles, the derived department head seeing sub-departments, through real requests on a
real file; writes outside the writer's scope refused by the database on every path."""

import sqlite3

import pytest
import pytest_asyncio

from taizhang import audit, row_access
from taizhang.app import make_datasette
from taizhang.registers import load
from taizhang.web import user_store
from tests import row_people
from tests.row_people import CANARY, EMPLOYEE, HEAD

pytestmark = pytest.mark.fast


@pytest_asyncio.fixture
async def rows_ds(empty_data_dir):
    row_people.seed(empty_data_dir)
    ds = make_datasette(empty_data_dir)
    await ds.invoke_startup()
    return ds


async def _ids(ds, table, who, query=""):
    response = await ds.client.get(f"/ops/{table}.json?_shape=objects&_size=max{query}", actor=who)
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["rows"]}


def test_presets_as_sql(definition):
    """own, department (a recursive CTE in a subquery) and an employees column, for a login's
    roles: None when a role reads the register unnarrowed, NONE when none reads it."""
    own = row_access.condition(definition, "leave_requests", ["employee"], "00003")
    assert own == '("applicant_id" = (SELECT id FROM employees WHERE employee_no = \'00003\'))'
    head = row_access.condition(definition, "tasks", ["department_head"], "00002")
    assert "WITH RECURSIVE" in head and '"assigned_by_id" =' in head
    assert row_access.condition(definition, "leave_requests", ["employee", "hr"], "00003") is None
    assert row_access.condition(definition, "leave_requests", ["viewer"], "00003") == row_access.NONE
    assert row_access.condition(definition, "partners", ["employee"], "00003") is None   # no rows:
    # a 工号 with a quote in it stays a string
    assert "'0''1'" in row_access.condition(definition, "leave_requests", ["employee"], "0'1")


@pytest.mark.asyncio
@pytest.mark.parametrize("table", ["leave_requests", "expense_claims", "task_updates", "work_reports", "appraisals", "customer_feedback"])
async def test_employee_sees_own_rows(rows_ds, table):
    assert await _ids(rows_ds, table, EMPLOYEE) == {3}


@pytest.mark.asyncio
async def test_employee_sees_tasks_they_own_or_assigned(rows_ds, empty_data_dir):
    _write_as(empty_data_dir, row_people.SEEDER,
              "INSERT INTO tasks (id, title, assigned_by_id, assignee_id, due_on) VALUES (7, '派给同事', 3, 4, '2026-12-01')")
    assert await _ids(rows_ds, "tasks", EMPLOYEE) == {3, 7}


@pytest.mark.asyncio
@pytest.mark.parametrize("table", ["leave_requests", "expense_claims", "task_updates", "work_reports", "appraisals"])
async def test_department_head_sees_own_department_and_below(rows_ds, table):
    # 00002 heads 客户运营组 (00002, 00004) and, below it, 客服小组 (00003); not 运营部 above it
    assert await _ids(rows_ds, table, HEAD) == row_people.SEES["head"]


@pytest.mark.asyncio
async def test_union_of_roles(rows_ds):
    # customer_feedback narrows employees only: department_head reads it as operational,
    # unnarrowed, so the head (an employee too) reads every row
    assert await _ids(rows_ds, "customer_feedback", HEAD) == {1, 2, 3, 4, 5, 6}
    assert await _ids(rows_ds, "leave_requests", {**EMPLOYEE, "roles": ["employee", "hr"]}) == {1, 2, 3, 4, 5, 6}
    assert await _ids(rows_ds, "leave_requests", {**HEAD, "roles": ["department_head"]}) == {2, 3, 4}


@pytest.mark.asyncio
async def test_derived_department_head_from_a_real_login(rows_ds):
    """The role comes from departments.manager_id (taizhang/web.py actor_for), not from the login."""
    store = user_store(rows_ds)
    store.add("li", "Rows-pass-1", "employee", employee_no="00002")
    cookies = {"tz_session": store.start_session("li")}
    response = await rows_ds.client.get("/ops/leave_requests.json?_shape=objects", cookies=cookies)
    assert {r["id"] for r in response.json()["rows"]} == {2, 3, 4}
    # no longer head of 客户运营组: own rows only, from the next request
    conn = sqlite3.connect(rows_ds.get_database("ops").path)
    conn.execute("UPDATE departments SET manager_id = NULL WHERE id = 2")
    conn.commit()
    response = await rows_ds.client.get("/ops/leave_requests.json?_shape=objects", cookies=cookies)
    assert {r["id"] for r in response.json()["rows"]} == {2}


@pytest.mark.asyncio
async def test_counts_and_facets_count_only_visible_rows(rows_ds):
    response = await rows_ds.client.get("/ops/leave_requests.json?_extra=count,facet_results&_facet=status", actor=HEAD)
    data = response.json()
    assert data["count"] == 3
    facet = data["facet_results"]["results"]["status"]["results"]
    assert sum(f["count"] for f in facet) == 3
    response = await rows_ds.client.post("/ops/leave_requests/-/count", actor=EMPLOYEE)
    assert response.json()["count"] == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("suffix", ["", ".json"])
async def test_row_outside_scope_is_not_found(rows_ds, suffix):
    mine = await rows_ds.client.get(f"/ops/leave_requests/3{suffix}", actor=EMPLOYEE)
    assert mine.status_code == 200
    other = await rows_ds.client.get(f"/ops/leave_requests/5{suffix}", actor=EMPLOYEE)
    missing = await rows_ds.client.get(f"/ops/leave_requests/999{suffix}", actor=EMPLOYEE)
    assert other.status_code == missing.status_code == 404
    assert other.text == missing.text.replace("999", "5")
    assert CANARY not in other.text


@pytest.mark.asyncio
async def test_sql_of_a_narrowed_reader_is_refused(rows_ds):
    """An analyst may run SQL on ops, which now holds leave requests they may not read."""
    analyst = {"id": "u-analyst", "roles": ["analyst"]}
    ok = await rows_ds.client.get("/ops/-/query.json?sql=select+count(*)+from+partners", actor=analyst)
    assert ok.status_code == 200
    for sql in ("select+*+from+leave_requests", "select+count(*)+from+expense_claims",
                "select+*+from+employees+where+id+in+(select+applicant_id+from+leave_requests)",
                "select+after+from+_audit_log", "select+*+from+expense_claims_fts"):
        response = await rows_ds.client.get(f"/ops/-/query.json?sql={sql}", actor=analyst)
        assert response.status_code == 400, (sql, response.text)
        assert "没有用 SQL 读取" in response.json()["error"] and CANARY not in response.text
    # _where= on a table page is SQL of the reader's too
    response = await rows_ds.client.get(
        "/ops/employees.json?_where=id+in+(select+applicant_id+from+leave_requests)", actor=analyst)
    assert response.status_code == 400 and "没有用 SQL 读取请假申请" in response.json()["error"]
    assert (await rows_ds.client.get("/ops/employees.json?_where=id>0", actor=analyst)).status_code == 200
    # an admin reads everything
    response = await rows_ds.client.get("/ops/-/query.json?sql=select+reason+from+leave_requests", actor={"id": "a", "roles": ["admin"]})
    assert CANARY in response.text


def _write_as(data_dir, who: audit.Who, sql: str, params=()):
    conn = data_dir.connect("ops")
    try:
        with audit.audited(conn, who, b"k" * 32):
            conn.execute(sql, params)
    finally:
        conn.close()


WRITER = audit.Who(actor="u-employee", role="employee", source="api", employee_no="00003", roles=("employee",))
HEAD_WRITER = audit.Who(actor="u-head", role="employee", source="api", employee_no="00002",
                        roles=("employee", "department_head"))


def test_writes_outside_scope_are_refused_by_the_database(empty_data_dir):
    # task_updates has rows: but no workflow, so what refuses here is the scope alone (the
    # processes' own rules are tests/test_workflow.py's).
    row_people.seed(empty_data_dir)
    insert = "INSERT INTO task_updates (task_id, reported_at, reporter_id, content) VALUES (3, ?, ?, '进展')"
    _write_as(empty_data_dir, WRITER, insert, ["2026-11-21 09:00", 3])   # own: fine
    with pytest.raises(sqlite3.IntegrityError, match="任务进展：你只能新增记录人是你本人的记录"):
        _write_as(empty_data_dir, WRITER, insert, ["2026-11-21 10:00", 4])
    with pytest.raises(sqlite3.IntegrityError, match="你只能修改记录人是你本人的记录"):
        _write_as(empty_data_dir, WRITER, "UPDATE task_updates SET content = 'x' WHERE id = 5")
    with pytest.raises(sqlite3.IntegrityError, match="修改后的记录须仍是记录人是你本人的记录"):
        _write_as(empty_data_dir, WRITER, "UPDATE task_updates SET reporter_id = 4 WHERE id = 3")
    with pytest.raises(sqlite3.IntegrityError, match="你只能删除"):
        _write_as(empty_data_dir, WRITER, "DELETE FROM task_updates WHERE id = 5")
    # the head writes inside the department tree (00003 is in the sub-department), not above it
    _write_as(empty_data_dir, HEAD_WRITER, "UPDATE task_updates SET problems = '已指导' WHERE id = 3")
    with pytest.raises(sqlite3.IntegrityError, match="记录人属于你负责的部门（含下级部门）"):
        _write_as(empty_data_dir, HEAD_WRITER, "UPDATE task_updates SET problems = '已指导' WHERE id = 1")
    # unnarrowed writers and writes with no login behind them are not refused
    _write_as(empty_data_dir, audit.Who(actor="m", role="manager", source="api", roles=("manager",)),
              "UPDATE task_updates SET content = 'manager' WHERE id = 5")
    _write_as(empty_data_dir, audit.Who(actor=None, role=None, source="cli"),
              "UPDATE task_updates SET content = 'cli' WHERE id = 6")
    conn = empty_data_dir.connect("ops")
    assert conn.execute("SELECT content FROM task_updates WHERE id IN (5, 6) ORDER BY id").fetchall() == [("manager",), ("cli",)]
    assert conn.execute("SELECT count(*) FROM task_updates").fetchone()[0] == 7


@pytest.mark.asyncio
async def test_api_writes_outside_scope(rows_ds):
    # another's row: not found, like a missing one (update and delete dialogs, JSON API)
    response = await rows_ds.client.post("/ops/leave_requests/5/-/update", json={"update": {"reason": "x"}}, actor=EMPLOYEE)
    assert response.status_code == 404
    # inserting a row for someone else: refused with the sentence
    row = {"applicant_id": 4, "kind": "事假", "starts_on": "2026-12-20", "ends_on": "2026-12-20", "days": 1, "reason": "r"}
    response = await rows_ds.client.post("/ops/leave_requests/-/insert", json={"row": row}, actor=EMPLOYEE)
    assert response.status_code == 400 and "你只能新增申请人是你本人的记录" in response.json()["error"], response.text
    response = await rows_ds.client.post("/ops/leave_requests/-/insert", json={"row": {**row, "applicant_id": 3}}, actor=EMPLOYEE)
    assert response.status_code == 201, response.text
    # moving one's own row to someone else
    response = await rows_ds.client.post("/ops/leave_requests/3/-/update", json={"update": {"applicant_id": 4}}, actor=EMPLOYEE)
    assert response.status_code == 400 and "修改后的记录须仍是" in response.json()["error"]


def test_reports_need_an_unnarrowed_read(definition):
    from taizhang.generate import datasette_config

    reports = {"ops": {"leave_overview": {"title": "t", "description": "d",
                                          "sql": "select status, count(*) from leave_requests group by status"},
                       "partner_list": {"title": "t", "description": "d", "sql": "select name from partners"}}}
    config = datasette_config(definition, reports)["databases"]["ops"]["queries"]
    leave = set(config["leave_overview"]["permissions"]["view-query"]["roles"])
    assert leave == {"admin", "hr", "leader"}
    assert "employee" not in leave and "department_head" not in leave
    assert {"analyst", "viewer"} <= set(config["partner_list"]["permissions"]["view-query"]["roles"])


def test_sql_writers_are_never_narrowed(definition):
    """execute-write runs on the write connection, outside the read authorizer: a role with raw
    SQL writes must read every register unnarrowed (docs/row-access.md)."""
    for role in definition.sql_write_roles():
        assert not row_access.narrowed(definition, [role]), role


def test_generated_triggers_are_trusted(definition):
    from taizhang.schema import triggers_sql

    names = set(triggers_sql(load().registers["leave_requests"]))
    assert {"tz_leave_requests_rows_insert", "tz_leave_requests_rows_update", "tz_leave_requests_rows_moved",
            "tz_leave_requests_rows_delete"} <= names
    assert not {n for n in triggers_sql(load().registers["partners"]) if "_rows_" in n}   # no rows:


@pytest.mark.asyncio
async def test_our_pages_show_the_readers_rows_and_only_those(rows_ds):
    ds = rows_ds
    # history: a row of one's own has it, another's answers like a missing row
    assert (await ds.client.get("/-/history/ops/leave_requests/3", actor=EMPLOYEE)).status_code == 200
    assert (await ds.client.get("/-/history/ops/leave_requests/5", actor=EMPLOYEE)).status_code == 404
    assert (await ds.client.get("/-/history/ops/leave_requests/4", actor=HEAD)).status_code == 200
    # forms
    assert (await ds.client.get("/-/form/ops/leave_requests/3", actor=EMPLOYEE)).status_code == 200
    assert (await ds.client.get("/-/form/ops/leave_requests/5", actor=EMPLOYEE)).status_code == 404
    # linked records on an employee's page: the reader's own leave requests there, a colleague's not
    own_page = (await ds.client.get("/ops/employees/3", actor=EMPLOYEE)).text
    assert "leave-3" in own_page
    colleague = (await ds.client.get("/ops/employees/4", actor=EMPLOYEE)).text
    assert "leave-4" not in colleague
    assert "leave-4" in (await ds.client.get("/ops/employees/4", actor=HEAD)).text
    # the picker and core's autocomplete: the reader's tasks
    for who, expected in ((EMPLOYEE, {3}), (HEAD, {2, 3, 4})):
        found = (await ds.client.get("/-/choices/ops/task_updates/task_id?q=task", actor=who)).json()["choices"]
        assert {c["id"] for c in found} == expected
        rows = (await ds.client.get("/ops/tasks/-/autocomplete?q=task", actor=who)).json()["rows"]
        assert {r["pks"]["id"] for r in rows} == expected
    # the grid saves a cell of one's own row
    response = await ds.client.post("/-/cells/ops/leave_requests", actor=EMPLOYEE,
                                    json={"changes": [{"id": 3, "column": "reason", "value": "家中有事"}]})
    assert response.status_code == 200, response.text
    # the import is not offered to a narrowed reader
    response = await ds.client.get("/-/import/ops/leave_requests", actor=EMPLOYEE)
    assert response.status_code == 403 and "不能从 Excel 导入" in response.text
