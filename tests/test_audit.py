"""The audit log: one record per change on every write path, with who, how and before/after;
nothing for a rolled-back write; append-only; sealed; history pages and restore."""

import json
import sqlite3

import pytest
import pytest_asyncio
from click.testing import CliRunner

from scripts.cli import cli
from taizhang import audit
from taizhang.app import make_datasette
from tests.conftest import actor

pytestmark = pytest.mark.fast


def _log(data_dir, database="ops"):
    conn = sqlite3.connect(data_dir.database(database))
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT * FROM _audit_log ORDER BY id")]


@pytest_asyncio.fixture
async def ads(empty_data_dir):
    """An app with one writable stored query, on empty registers."""
    ds = make_datasette(empty_data_dir)
    ds.config["databases"]["ops"]["queries"]["finish_action"] = {
        "sql": "update meeting_actions set status = '已完成' where id = :id",
        "write": True,
        "permissions": {"view-query": {"roles": ["editor"]}},
    }
    await ds.invoke_startup()
    await ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=actor("admin"))
    return ds


@pytest.mark.asyncio
async def test_json_api_insert_update_delete(ads, empty_data_dir):
    editor = actor("editor")
    start = len(_log(empty_data_dir))
    r = await ads.client.post("/ops/partners/-/insert", json={"row": {"name": "乙", "category": "媒体"}}, actor=editor)
    assert r.status_code == 201
    r = await ads.client.post("/ops/partners/2/-/update", json={"update": {"category": "物流"}}, actor=editor)
    assert r.status_code == 200
    r = await ads.client.post("/ops/partners/2/-/delete", actor=actor("manager"))
    assert r.status_code == 200
    log = _log(empty_data_dir)[start:]
    assert [(e["operation"], e["actor"], e["role"], e["source"], e["table_name"], e["row_id"]) for e in log] == [
        # the JSON API, though a session (here core's signed actor cookie) authenticated it
        ("insert", "test-editor", "editor", "api", "partners", 2),
        ("update", "test-editor", "editor", "api", "partners", 2),
        ("delete", "test-manager", "manager", "api", "partners", 2),
    ]
    assert json.loads(log[0]["after"])["name"] == "乙" and log[0]["before"] is None
    assert (json.loads(log[1]["before"])["category"], json.loads(log[1]["after"])["category"]) == ("媒体", "物流")
    assert json.loads(log[2]["before"])["category"] == "物流" and log[2]["after"] is None
    assert all(e["request_path"].startswith("/ops/partners") for e in log)
    sealed = sqlite3.connect(empty_data_dir.database("ops")).execute("SELECT max(last_log_id) FROM _audit_seal").fetchone()[0]
    assert sealed == log[-1]["id"]


@pytest.mark.asyncio
async def test_every_json_write_route_is_audited_as_api_whatever_authenticates_it(ads, empty_data_dir):
    """A session cookie, a token or core's actor cookie: the JSON write API is the door, so the
    source is `api` (core's edit dialog, which uses these routes, included)."""
    store = empty_data_dir.users()
    store.add("wang", "Audit-pass-12", "admin")
    session = {"cookies": {"tz_session": store.start_session("wang")}}
    token = {"headers": {"Authorization": f"Bearer {await ads.create_token('wang', expires_after=600)}"}}
    for n, credentials in enumerate((session, token, {"actor": actor("admin")})):
        start = len(_log(empty_data_dir))
        r = await ads.client.post("/ops/departments/-/insert", json={"row": {"name": f"丙{n}"}}, **credentials)
        row_id = r.json()["rows"][0]["id"]
        r = await ads.client.post("/ops/departments/-/upsert", json={"rows": [{"id": row_id, "name": f"丙{n}", "notes": "u"}]}, **credentials)
        assert r.status_code == 200, r.text
        r = await ads.client.post(f"/ops/departments/{row_id}/-/update", json={"update": {"notes": "v"}}, **credentials)
        assert r.status_code == 200, r.text
        r = await ads.client.post(f"/ops/departments/{row_id}/-/delete", **credentials)
        assert r.status_code == 200, r.text
        log = _log(empty_data_dir)[start:]
        assert [(e["operation"], e["source"]) for e in log] == [
            ("insert", "api"), ("update", "api"), ("update", "api"), ("delete", "api")], credentials


@pytest.mark.parametrize("path", [
    "/ops/-/create", "/ops/departments/-/insert", "/ops/departments/-/upsert", "/ops/departments/-/alter",
    "/ops/departments/-/drop", "/ops/departments/-/set-column-type", "/ops/departments/3/-/update", "/ops/departments/3/-/delete",
    "/ops/departments~2Ex/a~2Cb/-/update",
])
def test_the_json_write_routes_are_the_api_door(path):
    from datasette.utils.asgi import Request

    from plugins.audit import who

    assert who(None, "ops", Request.fake(path, method="POST")).source == "api"


def test_the_other_doors_keep_their_source():
    from datasette.utils.asgi import Request

    from plugins.audit import who

    sources = {path: who(None, "ops", Request.fake(path, method="POST")).source for path in (
        "/ops/-/execute-write", "/ops/finish_action", "/-/history/ops/partners/3/restore", "/-/form/ops/partners/3",
        "/-/cells/ops/partners", "/-/linked/ops/meetings/meeting_actions/add")}
    assert sources == {
        "/ops/-/execute-write": "sql", "/ops/finish_action": "sql", "/-/history/ops/partners/3/restore": "restore",
        "/-/form/ops/partners/3": "ui", "/-/cells/ops/partners": "ui", "/-/linked/ops/meetings/meeting_actions/add": "ui",
    }


@pytest.mark.asyncio
async def test_an_update_that_changes_nothing_is_not_recorded(ads, empty_data_dir):
    start = len(_log(empty_data_dir))
    r = await ads.client.post("/ops/partners/1/-/update", json={"update": {"name": "甲"}}, actor=actor("admin"))
    assert r.status_code == 200
    assert len(_log(empty_data_dir)) == start


@pytest.mark.asyncio
async def test_raw_sql_and_stored_query_writes(ads, empty_data_dir):
    admin = actor("admin")
    r = await ads.client.post("/ops/-/execute-write", json={"sql": "update partners set notes = '来自SQL' where id = 1"}, actor=admin)
    assert r.status_code == 200, r.text
    await ads.client.post("/ops/meetings/-/insert", json={"row": {"title": "周会", "held_on": "2024-10-08"}}, actor=admin)
    await ads.client.post("/ops/meeting_actions/-/insert", json={"row": {"meeting_id": 1, "item": "交预算"}}, actor=admin)
    r = await ads.client.post("/ops/finish_action", data={"id": "1"}, actor=actor("editor"))
    assert r.status_code in (200, 302), r.text
    log = _log(empty_data_dir)
    sql_entry = next(e for e in log if e["table_name"] == "partners" and e["operation"] == "update")
    assert (sql_entry["actor"], sql_entry["source"]) == ("test-admin", "sql")
    stored = log[-1]
    assert (stored["table_name"], stored["operation"], stored["actor"], stored["source"]) == (
        "meeting_actions", "update", "test-editor", "sql")
    assert json.loads(stored["after"])["status"] == "已完成"


def test_cli_writes_carry_the_batch_id(empty_data_dir):
    conn = empty_data_dir.connect("ops")
    key = audit.key_from_secret(empty_data_dir.secret())
    who = audit.Who(actor="wang", role="editor", source="import", batch_id="B-42")
    with audit.audited(conn, who, key):
        conn.execute("INSERT INTO partners (name) VALUES ('丙')")
    entry = _log(empty_data_dir)[-1]
    assert (entry["actor"], entry["source"], entry["batch_id"]) == ("wang", "import", "B-42")
    assert conn.execute("SELECT count(*) FROM _audit_context").fetchone()[0] == 0


def test_shell_writes_are_recorded_unattributed(empty_data_dir):
    conn = sqlite3.connect(empty_data_dir.database("ops"))
    conn.execute("INSERT INTO partners (name) VALUES ('丁')")
    conn.commit()
    entry = _log(empty_data_dir)[-1]
    assert (entry["actor"], entry["source"]) == (None, "unattributed")
    result = _verify(empty_data_dir)
    assert result.exit_code == 1 and "第 1 条未封存" in result.output


@pytest.mark.asyncio
async def test_rolled_back_writes_leave_no_record(ads, empty_data_dir):
    start = len(_log(empty_data_dir))
    r = await ads.client.post("/ops/partners/-/insert",
                              json={"rows": [{"name": "戊"}, {"name": "己", "category": "坏"}]}, actor=actor("admin"))
    assert r.status_code == 400
    r = await ads.client.post("/hr/confidentiality_agreements/-/insert", json={"row": {
        "agreement_no": "BM-1", "party_kind": "员工", "party_name": "x", "employee_no": "404", "signed_on": "2024-01-01"}},
        actor=actor("hr"))
    assert r.status_code == 400
    assert len(_log(empty_data_dir)) == start
    assert _log(empty_data_dir, "hr") == []


def test_a_failing_audit_write_rolls_the_change_back(empty_data_dir):
    conn = empty_data_dir.connect("ops")
    conn.execute("CREATE TEMP TRIGGER break_audit BEFORE INSERT ON main._audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        conn.execute("INSERT INTO partners (name) VALUES ('庚')")
    assert conn.execute("SELECT count(*) FROM partners WHERE name = '庚'").fetchone()[0] == 0


@pytest.mark.asyncio
async def test_the_log_is_append_only_on_every_path(ads, empty_data_dir):
    for sql in ("update _audit_log set actor = 'someone'", "delete from _audit_log"):
        r = await ads.client.post("/ops/-/execute-write", json={"sql": sql}, actor=actor("admin"))
        assert r.status_code == 400 and "审计日志（_audit_log）只能由应用" in r.json()["errors"][0]
        shell = sqlite3.connect(empty_data_dir.database("ops"), isolation_level=None)
        with pytest.raises(sqlite3.IntegrityError, match="审计日志只能追加"):
            shell.execute(sql)
        shell.close()


def _verify(data_dir):
    return CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(data_dir.path)])


@pytest.mark.asyncio
async def test_tampering_is_detected(ads, empty_data_dir):
    await ads.client.post("/ops/partners/-/insert", json={"rows": [{"name": f"伙伴{i}"} for i in range(5)]}, actor=actor("admin"))
    ok = _verify(empty_data_dir)
    assert ok.exit_code == 0 and "audit log intact" in ok.output
    shell = sqlite3.connect(empty_data_dir.database("ops"))
    batch = shell.execute("SELECT first_log_id, last_log_id FROM _audit_seal ORDER BY id DESC LIMIT 1").fetchone()
    shell.execute("DROP TRIGGER tz_audit_log_no_update")
    shell.execute("UPDATE _audit_log SET actor = 'someone-else' WHERE id = 1")
    shell.execute("DROP TRIGGER tz_audit_log_no_delete")
    shell.execute("DELETE FROM _audit_log WHERE id = ?", [batch[0] + 1])
    shell.commit()
    result = _verify(empty_data_dir)
    assert result.exit_code == 1
    assert "第 1–1 条（同一次写入）与封存值不符" in result.output
    assert f"第 {batch[0] + 1} 条已被删除" in result.output


@pytest.mark.asyncio
async def test_a_new_columns_changes_are_recorded(ads, empty_data_dir):
    admin = actor("admin")
    r = await ads.client.post("/ops/-/execute-write", json={"sql": "alter table partners add column wechat text"}, actor=admin)
    assert r.status_code == 200, r.text
    r = await ads.client.post("/ops/partners/1/-/update", json={"update": {"wechat": "jia_wx"}}, actor=admin)
    assert r.status_code == 200, r.text
    entry = _log(empty_data_dir)[-1]
    assert entry["operation"] == "update" and json.loads(entry["after"])["wechat"] == "jia_wx"


@pytest.mark.asyncio
async def test_history_page_and_restore(ads, empty_data_dir):
    editor = actor("editor")
    await ads.client.post("/ops/partners/1/-/update", json={"update": {"category": "媒体", "notes": "第一版"}}, actor=editor)
    await ads.client.post("/ops/partners/1/-/update", json={"update": {"category": "物流", "notes": "第二版"}}, actor=editor)
    page = await ads.client.get("/-/history/ops/partners/1", actor=actor("viewer"))
    assert page.status_code == 200
    assert "合作伙伴档案" in page.text and "类别" in page.text and "媒体" in page.text and "物流" in page.text
    assert "恢复到此版本" not in page.text  # a viewer may not restore
    first_update = [e for e in _log(empty_data_dir) if e["operation"] == "update"][0]

    # one field back to its value before the second update
    second = _log(empty_data_dir)[-1]
    r = await ads.client.post("/-/history/ops/partners/1/restore", data={"log_id": second["id"], "column": "notes"}, actor=editor)
    assert r.status_code == 302
    row = (await ads.client.get("/ops/partners/1.json?_shape=array", actor=editor)).json()[0]
    assert (row["category"], row["notes"]) == ("物流", "第一版")
    # the whole row back to the version after the first update
    r = await ads.client.post("/-/history/ops/partners/1/restore", data={"log_id": first_update["id"]}, actor=editor)
    row = (await ads.client.get("/ops/partners/1.json?_shape=array", actor=editor)).json()[0]
    assert (row["category"], row["notes"]) == ("媒体", "第一版")
    last = _log(empty_data_dir)[-1]
    assert (last["source"], last["actor"]) == ("restore", "test-editor")
    assert f"第 {first_update['id']} 条变更后的版本" in last["note"]


@pytest.mark.asyncio
async def test_a_deleted_row_can_be_brought_back(ads, empty_data_dir):
    await ads.client.post("/ops/partners/1/-/delete", actor=actor("admin"))
    deletion = _log(empty_data_dir)[-1]
    r = await ads.client.post("/-/history/ops/partners/1/restore", data={"log_id": deletion["id"]}, actor=actor("admin"))
    assert r.status_code == 302
    row = (await ads.client.get("/ops/partners/1.json?_shape=array", actor=actor("admin"))).json()
    assert row[0]["name"] == "甲"
    assert _log(empty_data_dir)[-1]["operation"] == "insert"


@pytest.mark.asyncio
@pytest.mark.parametrize("path", [
    "/-/history/hr/confidentiality_agreements", "/-/history/hr/confidentiality_agreements/1",
    "/-/history/hr/no_such_table/1", "/-/history/ops/confidentiality_agreements/1",
])
async def test_history_of_what_you_cannot_read_is_refused_alike(ads, path):
    r = await ads.client.get(path, actor=actor("viewer"))
    assert r.status_code == 403


@pytest.mark.asyncio
async def test_restore_needs_write_permission(ads, empty_data_dir):
    await ads.client.post("/ops/partners/1/-/update", json={"update": {"notes": "x"}}, actor=actor("admin"))
    entry = _log(empty_data_dir)[-1]
    r = await ads.client.post("/-/history/ops/partners/1/restore", data={"log_id": entry["id"]}, actor=actor("viewer"))
    assert r.status_code == 403


@pytest.mark.asyncio
async def test_instance_history_for_admin_and_manager(ads):
    for role, status in (("admin", 200), ("manager", 200), ("editor", 403), ("viewer", 403)):
        r = await ads.client.get("/-/history?operation=insert", actor=actor(role))
        assert r.status_code == status
    r = await ads.client.get("/-/history?table=partners", actor=actor("manager"))
    assert "甲" in r.text


@pytest.mark.asyncio
async def test_row_and_table_actions_link_to_history(ads):
    r = await ads.client.get("/ops/partners/1", actor=actor("viewer"))
    assert "/-/history/ops/partners/1" in r.text and "变更历史" in r.text
    r = await ads.client.get("/ops/partners", actor=actor("viewer"))
    assert "/-/history/ops/partners" in r.text


@pytest.mark.asyncio
async def test_reads_of_the_confidential_register_are_logged(ads, empty_data_dir):
    hr = actor("hr")
    await ads.client.post("/hr/confidentiality_agreements/-/insert", json={"rows": [{   # answers with no row
        "agreement_no": "BM-1", "party_kind": "其他", "party_name": "某人", "signed_on": "2024-01-01",
        "status": "有效", "expires_on": "2099-01-01"}]}, actor=hr)
    for path in ("/hr/confidentiality_agreements?status=有效", "/hr/confidentiality_agreements/1",
                 "/hr/confidentiality_agreements.csv", "/hr/expiring_confidentiality_agreements?days=99999",
                 "/hr/-/query?sql=select+*+from+confidentiality_agreements", "/-/history/hr/confidentiality_agreements/1"):
        assert (await ads.client.get(path, actor=hr)).status_code == 200, path
    await ads.client.get("/hr/confidentiality_agreements", actor=actor("viewer"))   # refused: not logged
    await ads.client.get("/ops/partners", actor=hr)                                # not confidential
    conn = sqlite3.connect(empty_data_dir.database("hr"))
    rows = conn.execute("SELECT actor, role, kind, path, query FROM _read_log ORDER BY id").fetchall()
    assert [(r[0], r[2]) for r in rows] == [
        ("test-hr", "table"), ("test-hr", "row"), ("test-hr", "export"), ("test-hr", "report"),
        ("test-hr", "sql"), ("test-hr", "history"),
    ]
    assert rows[0][4] == "status=%E6%9C%89%E6%95%88"
    with pytest.raises(sqlite3.IntegrityError, match="只能追加"):
        conn.execute("DELETE FROM _read_log")


@pytest.mark.asyncio
async def test_columns_changed_through_the_alter_api_are_recorded(ads, empty_data_dir):
    admin = actor("admin")
    r = await ads.client.post("/ops/partners/-/alter", json={"operations": [
        {"op": "add_column", "args": {"name": "wechat", "type": "text"}},
        {"op": "alter_column", "args": {"name": "notes", "type": "text"}},
    ]}, actor=admin)
    assert r.status_code == 200, r.text
    conn = sqlite3.connect(empty_data_dir.database("ops"))
    triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'partners'")}
    assert {"tz_audit_partners_update", "tz_partners_updated_at", "tz_partners_search_update"} <= triggers
    r = await ads.client.post("/ops/partners/1/-/update", json={"update": {"wechat": "jia", "notes": "预算"}}, actor=admin)
    assert r.status_code == 200, r.text
    entry = _log(empty_data_dir)[-1]
    assert json.loads(entry["after"])["wechat"] == "jia"
    found = await ads.client.get("/ops/partners.json?_search=预算", actor=admin)
    assert [row["name"] for row in found.json()["rows"]] == ["甲"]
    # the table's rules survived the rebuild
    r = await ads.client.post("/ops/partners/1/-/update", json={"update": {"category": "坏"}}, actor=admin)
    assert r.status_code == 400
