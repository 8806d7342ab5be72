"""Every page that shows confidential data writes exactly one _read_log row per request
(kind, path, actor, role); a page that shows none writes none."""

import datetime
import io
import sqlite3

import openpyxl
import pytest
import pytest_asyncio

from taizhang import clock
from tests.conftest import actor

pytestmark = pytest.mark.fast
CA = "confidentiality_agreements"
HR, ADMIN, VIEWER = actor("hr"), actor("admin"), actor("viewer")


@pytest_asyncio.fixture
async def rds(empty_ds):
    """One employee, one partner, and an agreement naming each, expiring in a year."""
    later = (clock.today() + datetime.timedelta(days=365)).isoformat()
    for path, row in (
        ("/ops/employees/-/insert", {"employee_no": "00007", "name": "李雷"}),
        ("/ops/partners/-/insert", {"name": "星河物流"}),
        (f"/hr/{CA}/-/insert", {"agreement_no": "BM-1", "party_kind": "员工", "party_name": "李雷",
                                "employee_no": "00007", "signed_on": "2024-01-01", "expires_on": later, "scope": "客户名单"}),
        (f"/hr/{CA}/-/insert", {"agreement_no": "BM-2", "party_kind": "合作伙伴", "party_name": "星河物流",
                                "partner_name": "星河物流", "signed_on": "2024-01-01", "expires_on": later}),
    ):
        response = await empty_ds.client.post(path, json={"row": row}, actor=ADMIN)
        assert response.status_code == 201, response.text
    return empty_ds


def _log(ds) -> sqlite3.Connection:
    return sqlite3.connect(ds.get_database("hr").path)


def _last_id(ds) -> int:
    return _log(ds).execute("SELECT coalesce(max(id), 0) FROM _read_log").fetchone()[0]


async def _new_rows(ds, request):
    """The _read_log rows written while answering `request` (a coroutine), and the response."""
    before = _last_id(ds)
    response = await request
    rows = _log(ds).execute(
        "SELECT actor, role, kind, path FROM _read_log WHERE id > ? ORDER BY id", [before]).fetchall()
    return rows, response


PAGES = [
    (f"/hr/{CA}", "table"),
    (f"/hr/{CA}/1", "row"),
    (f"/hr/{CA}.csv", "export"),
    (f"/hr/{CA}.xlsx", "export"),
    (f"/hr/{CA}.json", "export"),
    (f"/hr/{CA}.csv?_stream=1", "export"),
    ("/hr/expiring_confidentiality_agreements.json?days=99999", "report"),
    ("/hr/expiring_confidentiality_agreements?days=99999", "report"),
    (f"/hr/-/query?sql=select+scope+from+{CA}", "sql"),
    (f"/-/history/hr/{CA}/1", "history"),
    (f"/-/history/hr/{CA}", "history"),
    (f"/-/form/hr/{CA}/1", "form"),
    ("/-/search?q=BM-1", "search"),
    ("/ops/employees/1", "linked"),
    ("/ops/partners/1", "linked"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("path,kind", PAGES)
async def test_each_page_showing_agreements_logs_one_read(rds, path, kind):
    rows, response = await _new_rows(rds, rds.client.get(path, actor=HR))
    assert response.status_code == 200, response.text
    assert rows == [("test-hr", "hr", kind, path.split("?")[0])]


@pytest.mark.asyncio
async def test_the_instance_history_logs_for_admin_only_when_it_shows_agreements(rds):
    rows, response = await _new_rows(rds, rds.client.get("/-/history", actor=ADMIN))
    assert response.status_code == 200 and "BM-1" in response.text
    assert rows == [("test-admin", "admin", "history", "/-/history")]
    rows, response = await _new_rows(rds, rds.client.get("/-/history", actor=actor("manager")))
    assert response.status_code == 200 and "BM-1" not in response.text
    assert rows == []


@pytest.mark.asyncio
async def test_the_pages_really_show_the_agreements(rds):
    """The pages above are the ones that display the data (so each logged read is a real one)."""
    assert "BM-1" in (await rds.client.get("/ops/employees/1", actor=HR)).text
    assert "BM-2" in (await rds.client.get("/ops/partners/1", actor=HR)).text
    assert "客户名单" in (await rds.client.get(f"/-/form/hr/{CA}/1", actor=HR)).text
    assert "BM-1" in (await rds.client.get("/-/search?q=BM-1", actor=HR)).text
    book = openpyxl.load_workbook(io.BytesIO((await rds.client.get(f"/hr/{CA}.xlsx", actor=HR)).content))
    assert "BM-1" in [c.value for row in book.active.iter_rows() for c in row]


@pytest.mark.asyncio
async def test_my_todo_logs_only_when_it_lists_agreements(rds):
    rows, response = await _new_rows(rds, rds.client.get("/", actor=HR))
    assert response.status_code == 200 and "BM-1" not in response.text
    assert rows == []   # the registers' row counts are not values
    soon = (clock.today() + datetime.timedelta(days=10)).isoformat()
    with _log(rds) as conn:
        conn.execute(f"UPDATE {CA} SET expires_on = ? WHERE id = 1", [soon])
    rows, response = await _new_rows(rds, rds.client.get("/", actor=HR))
    assert "BM-1" in response.text
    assert rows == [("test-hr", "hr", "home", "/")]


@pytest.mark.asyncio
async def test_a_grid_edit_answered_with_stored_values_is_logged(rds):
    version = (await rds.client.get(f"/hr/{CA}/1.json?_shape=objects", actor=HR)).json()["rows"][0]["updated_at"]
    rows, response = await _new_rows(rds, rds.client.post(f"/-/cells/hr/{CA}", json={"changes": [
        {"id": 1, "column": "status", "value": "valid", "version": version}]}, actor=HR))
    assert response.status_code == 200, response.text
    assert rows == [("test-hr", "hr", "cells", f"/-/cells/hr/{CA}")]


@pytest.mark.asyncio
async def test_a_form_conflict_showing_the_saved_values_is_logged(rds):
    old = "2024-01-01T00:00:00Z"   # the version the form was opened at: before the change below
    assert (await rds.client.post(f"/hr/{CA}/1/-/update", json={"update": {"scope": "全部资料"}}, actor=ADMIN)).status_code == 200
    data = {"agreement_no": "BM-1", "party_kind": "员工", "party_name": "李雷", "employee_no": "00007",
            "signed_on": "2024-01-01", "scope": "我的版本", "_version": old}
    rows, response = await _new_rows(rds, rds.client.post(f"/-/form/hr/{CA}/1", data=data, actor=HR))
    assert "全部资料" in response.text   # the other person's value, shown
    assert rows == [("test-hr", "hr", "form", f"/-/form/hr/{CA}/1")]


@pytest.mark.asyncio
@pytest.mark.parametrize("path,who", [
    ("/hr", HR),                                  # table names and counts
    (f"/hr/{CA}?status=已终止", HR),              # a filter matching nothing
    (f"/hr/{CA}/999", HR),                        # no such row
    ("/-/search?q=没有这个", HR),
    (f"/hr/-/query?sql=select+count(*)+from+{CA}", HR),
    ("/ops/partners", HR),
    ("/ops/employees/1", VIEWER),                 # no agreements for those who may not read them
    ("/-/search?q=BM-1", VIEWER),
    (f"/hr/{CA}", VIEWER),
    (f"/-/form/hr/{CA}/1", VIEWER),
    ("/-/choices/ops/customers/owner_id?q=李", HR),
])
async def test_pages_showing_no_agreement_log_nothing(rds, path, who):
    rows, response = await _new_rows(rds, rds.client.get(path, actor=who))
    assert response.status_code < 500
    assert rows == []


@pytest.mark.asyncio
@pytest.mark.parametrize("path", [
    # a value smuggled out as a "count"
    f"/hr/-/query.json?sql=select+unicode(scope)+%2B+0*count(*)+from+{CA}",
    f"/hr/-/query?%73ql=select+unicode(scope)+%2B+0*count(*)+from+{CA}",
    # an integer column behind a count, and a filtered count asking whether a value is there
    f"/hr/-/query?sql=select+id+from+{CA}+where+(select+count(*)+from+{CA})+>+0+limit+1",
    f"/hr/-/query?sql=select+count(*)+from+{CA}+where+scope+%3D+'客户名单'",
    f"/hr/{CA}.json?_size=0&_where=unicode(scope)%3D23458",
])
async def test_sql_the_reader_wrote_is_logged_even_when_it_answers_a_count(rds, path):
    rows, response = await _new_rows(rds, rds.client.get(path, actor=HR))
    assert response.status_code == 200, response.text
    assert len(rows) == 1 and rows[0][:2] == ("test-hr", "hr"), rows


@pytest.mark.asyncio
@pytest.mark.parametrize("as_json", [True, False])
async def test_sql_writes_answering_with_returned_rows_are_logged(rds, as_json):
    """An admin's execute-write with RETURNING shows the rows it wrote (JSON or the HTML form)."""
    sql = f"update {CA} set notes = notes returning agreement_no, scope"
    body = {"json": {"sql": sql}} if as_json else {"data": {"sql": sql}}
    rows, response = await _new_rows(rds, rds.client.post("/hr/-/execute-write", actor=ADMIN, **body))
    assert response.status_code == 200 and "BM-1" in response.text, response.text
    assert rows == [("test-admin", "admin", "sql", "/hr/-/execute-write")]
    # without RETURNING nothing is shown, and nothing logged
    rows, response = await _new_rows(rds, rds.client.post(
        "/hr/-/execute-write", json={"sql": f"update {CA} set notes = notes"}, actor=ADMIN))
    assert response.status_code == 200 and rows == []


@pytest.mark.asyncio
async def test_a_redirect_after_saving_logs_nothing(rds):
    data = {"agreement_no": "BM-3", "party_kind": "其他", "party_name": "某人", "signed_on": "2024-02-01"}
    rows, response = await _new_rows(rds, rds.client.post(f"/-/form/hr/{CA}", data=data, actor=HR))
    assert response.status_code == 302
    assert rows == []


@pytest.mark.asyncio
async def test_a_json_update_answering_with_the_stored_row_is_logged(rds):
    path = f"/hr/{CA}/1/-/update"
    rows, response = await _new_rows(rds, rds.client.post(path, json={"update": {"notes": "续签"}, "return": True}, actor=HR))
    assert response.status_code == 200 and response.json()["rows"][0]["scope"] == "客户名单"
    assert rows == [("test-hr", "hr", "api", path)]
    rows, _ = await _new_rows(rds, rds.client.post(path, json={"update": {"notes": "再续"}}, actor=HR))
    assert rows == []   # no row in the answer


@pytest.mark.asyncio
async def test_a_json_insert_answering_with_the_stored_row_is_logged(rds):
    path = f"/hr/{CA}/-/insert"
    row = {"agreement_no": "BM-9", "party_kind": "其他", "party_name": "某人", "signed_on": "2024-03-01"}
    rows, response = await _new_rows(rds, rds.client.post(path, json={"row": row}, actor=HR))   # one row: always returned
    assert response.status_code == 201 and response.json()["rows"][0]["id"] == 3
    assert rows == [("test-hr", "hr", "api", path)]
    rows, _ = await _new_rows(rds, rds.client.post(path, json={"rows": [{**row, "agreement_no": "BM-10"}]}, actor=HR))
    assert rows == []   # "rows" without "return": the answer holds none
    rows, _ = await _new_rows(rds, rds.client.post("/ops/partners/-/insert", json={"row": {"name": "乙"}, "return": True}, actor=ADMIN))
    assert rows == []
