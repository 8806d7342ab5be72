"""Cross-file references stay whole from the ops.db side too: renaming or deleting an employee's
工号 or a partner's name that confidentiality agreements (hr.db) name is refused on every app
write path, with how many agreements refer to it and never which ones."""

import sqlite3

import pytest
import pytest_asyncio

from tests.conftest import actor

pytestmark = pytest.mark.fast
ADMIN, HR, MANAGER, EDITOR = actor("admin"), actor("hr"), actor("manager"), actor("editor")
EMPLOYEE_REFUSAL = "该员工（工号「00012」）被 3 份保密协议引用，不能修改工号或删除"
PARTNER_REFUSAL = "该合作伙伴档案（合作伙伴名称「甲公司」）被 1 份保密协议引用，不能修改合作伙伴名称或删除"


@pytest_asyncio.fixture
async def ds(empty_ds):
    for table, row in (("employees", {"employee_no": "00012", "name": "张伟"}),
                       ("employees", {"employee_no": "00013", "name": "李娜"}),
                       ("partners", {"name": "甲公司"}), ("partners", {"name": "乙公司"})):
        response = await empty_ds.client.post(f"/ops/{table}/-/insert", json={"row": row}, actor=ADMIN)
        assert response.status_code == 201, response.text
    agreements = [{"agreement_no": f"BM-{n}", "party_kind": "员工", "party_name": "张伟", "employee_no": "00012",
                   "signed_on": "2024-01-01"} for n in (1, 2, 3)]
    agreements.append({"agreement_no": "BM-SECRET-9", "party_kind": "合作伙伴", "party_name": "甲公司",
                       "partner_name": "甲公司", "signed_on": "2024-01-01"})
    response = await empty_ds.client.post("/hr/confidentiality_agreements/-/insert", json={"rows": agreements}, actor=HR)
    assert response.status_code == 201, response.text
    return empty_ds


async def _row(ds, table, row_id):
    rows = (await ds.client.get(f"/ops/{table}/{row_id}.json?_shape=array", actor=ADMIN)).json()
    return rows[0] if rows else None


def _refused(response, sentence):
    assert response.status_code == 400, response.text
    (message,) = response.json()["errors"]
    assert sentence in message and "人事" in message
    assert "BM-" not in message   # the count, never which agreements


@pytest.mark.asyncio
async def test_json_api_rename_and_delete_are_refused_with_the_count(ds):
    _refused(await ds.client.post("/ops/employees/1/-/update", json={"update": {"employee_no": "00099"}}, actor=MANAGER),
             EMPLOYEE_REFUSAL)
    _refused(await ds.client.post("/ops/employees/1/-/delete", actor=HR), EMPLOYEE_REFUSAL)
    _refused(await ds.client.post("/ops/partners/1/-/update", json={"update": {"name": "甲公司（新）"}}, actor=EDITOR),
             PARTNER_REFUSAL)
    _refused(await ds.client.post("/ops/partners/1/-/delete", actor=MANAGER), PARTNER_REFUSAL)
    assert (await _row(ds, "employees", 1))["employee_no"] == "00012"
    assert (await _row(ds, "partners", 1))["name"] == "甲公司"
    # Anything else about them may change; unreferenced keys may be renamed and deleted.
    for path, body, who in (("/ops/employees/1/-/update", {"update": {"name": "张伟伟"}}, MANAGER),
                            ("/ops/employees/2/-/update", {"update": {"employee_no": "00098"}}, MANAGER),
                            ("/ops/partners/2/-/delete", None, MANAGER)):
        response = await ds.client.post(path, json=body, actor=who)
        assert response.status_code == 200, response.text


@pytest.mark.asyncio
async def test_upsert_and_execute_write_cannot_take_a_key_away(ds):
    response = await ds.client.post("/ops/employees/-/upsert", json={"rows": [{"id": 1, "employee_no": "X1", "name": "张伟"}]}, actor=MANAGER)
    _refused(response, EMPLOYEE_REFUSAL)
    response = await ds.client.post("/ops/-/execute-write", json={"sql": "DELETE FROM employees"}, actor=ADMIN)
    assert response.status_code == 400, response.text
    assert EMPLOYEE_REFUSAL in str(response.json())
    assert await _row(ds, "employees", 1) is not None
    # The 工号 still exists afterwards, but on another row (REPLACE deletes 张伟's to make room).
    moved = "INSERT OR REPLACE INTO employees (id, employee_no, name) VALUES (2, '00012', '李娜')"
    response = await ds.client.post("/ops/-/execute-write", json={"sql": moved}, actor=ADMIN)
    assert response.status_code == 400 and EMPLOYEE_REFUSAL in str(response.json()), response.text
    assert (await _row(ds, "employees", 1))["employee_no"] == "00012"


@pytest.mark.asyncio
async def test_form_and_grid_refuse_it(ds):
    page = await ds.client.post("/-/form/ops/employees/1", data={"employee_no": "00099", "name": "张伟"}, actor=MANAGER)
    assert page.status_code == 200 and EMPLOYEE_REFUSAL in page.text and "BM-" not in page.text
    response = await ds.client.post("/-/cells/ops/partners", json={"changes": [
        {"id": 1, "column": "name", "value": "丙公司"}, {"id": 1, "column": "notes", "value": "改名"}]}, actor=EDITOR)
    assert response.status_code == 400 and PARTNER_REFUSAL in response.json()["message"]
    assert [(e["id"], e["column"]) for e in response.json()["errors"]] == [(1, "name")]   # on the key's cell
    assert "BM-" not in response.text
    assert (await _row(ds, "employees", 1))["employee_no"] == "00012"
    assert (await _row(ds, "partners", 1))["name"] == "甲公司"


@pytest.mark.asyncio
async def test_history_restore_of_an_older_key_is_refused(ds, empty_data_dir):
    await ds.client.post("/ops/employees/2/-/update", json={"update": {"employee_no": "00020"}}, actor=MANAGER)
    await ds.client.post("/hr/confidentiality_agreements/-/insert", json={"row": {
        "agreement_no": "BM-4", "party_kind": "员工", "party_name": "李娜", "employee_no": "00020",
        "signed_on": "2024-01-01"}}, actor=HR)
    conn = empty_data_dir.connect("ops")
    (log_id,) = conn.execute("SELECT id FROM _audit_log WHERE table_name = 'employees' AND row_id = 2"
                             " AND operation = 'update'").fetchone()
    conn.close()
    response = await ds.client.post("/-/history/ops/employees/2/restore", data={"log_id": str(log_id), "column": "employee_no"},
                                    actor=MANAGER)
    assert response.status_code == 302
    assert (await _row(ds, "employees", 2))["employee_no"] == "00020"


@pytest.mark.asyncio
async def test_rename_allowed_once_hr_moved_the_agreements(ds):
    response = await ds.client.post("/hr/confidentiality_agreements/-/insert", json={"row": {
        "agreement_no": "BM-5", "party_kind": "员工", "party_name": "张伟", "employee_no": "00013",
        "signed_on": "2024-01-01"}}, actor=HR)
    assert response.status_code == 201
    for n in (1, 2, 3):
        response = await ds.client.post(f"/hr/confidentiality_agreements/{n}/-/delete", actor=HR)
        assert response.status_code == 200, response.text
    response = await ds.client.post("/ops/employees/1/-/update", json={"update": {"employee_no": "00099"}}, actor=MANAGER)
    assert response.status_code == 200, response.text


# -- imports: replace mode and undo go through the same guard -----------------------------------
def _hr_agreement(data_dir, employee_no):
    """An agreement written as HR would, through the import (so the reference is checked)."""
    from tests.test_import import make_xlsx
    return make_xlsx(data_dir.path / f"协议{employee_no}.xlsx", [
        ["协议编号", "签署方类型", "签署方", "员工工号", "签订日期"],
        [f"BM-{employee_no}", "员工", "某人", employee_no, "2024-01-01"]])


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_import_replace_cannot_delete_a_referenced_employee(empty_data_dir, tmp_path, skip_invalid):
    from taizhang.importer.engine import import_files
    from tests.test_import import make_xlsx, snapshot

    roster = [["工号", "姓名"], ["00001", "张三"], ["00002", "李四"]]
    import_files(empty_data_dir, [make_xlsx(tmp_path / "a.xlsx", roster)])
    import_files(empty_data_dir, [_hr_agreement(empty_data_dir, "00002")])
    before = snapshot(empty_data_dir)
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "b.xlsx", roster[:2])], mode="replace",
                       skip_invalid=skip_invalid)
    assert not run.written
    (problem,) = run.problems
    assert "该员工（工号「00002」）被 1 份保密协议引用，不能修改工号或删除" in problem.reason
    assert "BM-" not in problem.reason and "--mode upsert" in problem.hint
    assert snapshot(empty_data_dir) == before


def test_import_replace_may_drop_an_employee_whose_agreement_moves_in_the_same_run(empty_data_dir, tmp_path):
    from taizhang.importer.engine import import_files
    from tests.test_import import make_xlsx

    import_files(empty_data_dir, [make_xlsx(tmp_path / "a.xlsx", [["工号", "姓名"], ["00001", "张三"], ["00002", "李四"]])])
    import_files(empty_data_dir, [_hr_agreement(empty_data_dir, "00002")])
    moved = make_xlsx(tmp_path / "协议.xlsx", [["协议编号", "签署方类型", "签署方", "员工工号", "签订日期"],
                                              ["BM-00002", "员工", "某人", "00001", "2024-01-01"]])
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "b.xlsx", [["工号", "姓名"], ["00001", "张三"]]), moved],
                       mode="replace")
    assert run.written, run.problems


def test_undo_of_an_import_cannot_remove_a_referenced_employee(empty_data_dir, tmp_path):
    from taizhang.importer.batches import UndoRefused, undo
    from taizhang.importer.engine import import_files
    from tests.test_import import make_xlsx

    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "a.xlsx", [["工号", "姓名"], ["00007", "王五"]])])
    import_files(empty_data_dir, [_hr_agreement(empty_data_dir, "00007")])
    with pytest.raises(UndoRefused, match="被 1 份保密协议引用"):
        undo(empty_data_dir, run.batch_id)
    conn = empty_data_dir.connect("ops")
    assert conn.execute("SELECT employee_no FROM employees").fetchall() == [("00007",)]
    conn.close()


def test_check_lists_what_a_shell_left_dangling_with_counts(empty_data_dir, tmp_path):
    """A sqlite3 shell cannot be stopped: `taizhang check` reports each dangling key once, with
    how many agreements name it."""
    from click.testing import CliRunner
    from scripts.cli import cli

    ops = sqlite3.connect(empty_data_dir.database("ops"))
    ops.execute("INSERT INTO employees (employee_no, name) VALUES ('00012', '张伟')")
    ops.commit()
    hr = sqlite3.connect(empty_data_dir.database("hr"))
    hr.executemany("INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, employee_no, signed_on)"
                   " VALUES (?, '员工', '张伟', '00012', '2024-01-01')", [("BM-1",), ("BM-2",)])
    hr.commit()
    hr.close()
    ops.execute("UPDATE employees SET employee_no = '00021'")   # the shell renames the 工号
    ops.commit()
    ops.close()
    result = CliRunner().invoke(cli, ["check", "--data-dir", str(empty_data_dir.path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "00012" in line]
    assert len(lines) == 1 and "保密协议的员工工号「00012」在员工中不存在（按工号查找）：2 条保密协议引用它（id 1、2）" in lines[0]


ROLES = ["admin", "manager", "hr", "editor", "analyst", "viewer"]
# Everything the agreements hold that a role without hr may not learn through a refusal.
SECRETS = ("BM-", "SECRET", "2024-01-01")


@pytest.mark.asyncio
async def test_every_role_and_write_path_keeps_the_keys_and_leaks_no_agreement(ds, empty_data_dir):
    """roles × app write paths × (employee, partner): each attempt to rename or delete a
    referred-to key is refused (400) or not allowed at all (403 / a refused form); the keys stay,
    and no answer quotes an agreement."""
    # A restorable older key: 乙公司 was called 乙公司旧 before; an agreement now names 乙公司.
    await ds.client.post("/ops/partners/2/-/update", json={"update": {"name": "乙公司旧"}}, actor=ADMIN)
    await ds.client.post("/ops/partners/2/-/update", json={"update": {"name": "乙公司"}}, actor=ADMIN)
    await ds.client.post("/hr/confidentiality_agreements/-/insert", json={"row": {
        "agreement_no": "BM-SECRET-10", "party_kind": "合作伙伴", "party_name": "乙公司", "partner_name": "乙公司",
        "signed_on": "2024-01-01"}}, actor=HR)
    conn = empty_data_dir.connect("ops")
    (log_id,) = conn.execute("SELECT min(id) FROM _audit_log WHERE table_name = 'partners' AND row_id = 2"
                             " AND operation = 'update'").fetchone()
    conn.close()
    attempts = {
        "api update": lambda t, i, k: ("/ops/{t}/{i}/-/update", {"json": {"update": {k: "新值"}}}),
        "api delete": lambda t, i, k: ("/ops/{t}/{i}/-/delete", {}),
        "api upsert": lambda t, i, k: ("/ops/{t}/-/upsert", {"json": {"rows": [{"id": i, k: "新值", "name": "张伟"}]}}),
        "form": lambda t, i, k: ("/-/form/ops/{t}/{i}", {"data": {k: "新值", "name": "张伟"}}),
        "grid": lambda t, i, k: ("/-/cells/ops/{t}", {"json": {"changes": [{"id": i, "column": k, "value": "新值"}]}}),
        "execute-write": lambda t, i, k: ("/ops/-/execute-write", {"json": {"sql": f"DELETE FROM {t} WHERE id = {i}"}}),
    }
    targets = [("employees", 1, "employee_no"), ("partners", 1, "name")]
    answers = {}
    for role in ROLES:
        for name, attempt in attempts.items():
            for table, row_id, key in targets:
                path, kwargs = attempt(table, row_id, key)
                response = await ds.client.post(path.format(t=table, i=row_id), actor=actor(role), **kwargs)
                answers[role, name, table] = response.status_code
                assert response.status_code in (400, 403, 200), (role, name, table, response.status_code)
                assert not any(s in response.text for s in SECRETS), (role, name, table, response.text[:300])
        response = await ds.client.post("/-/history/ops/partners/2/restore", data={"log_id": str(log_id), "column": "name"},
                                        actor=actor(role))
        answers[role, "restore", "partners"] = response.status_code
        assert response.status_code in (302, 403), (role, response.status_code)
    assert (await _row(ds, "employees", 1))["employee_no"] == "00012"
    assert (await _row(ds, "partners", 1))["name"] == "甲公司"
    assert (await _row(ds, "partners", 2))["name"] == "乙公司"
    # The roles that may write were refused by the check, not by permissions.
    assert answers["manager", "api update", "employees"] == answers["editor", "api update", "partners"] == 400
    assert answers["hr", "api delete", "employees"] == answers["admin", "execute-write", "partners"] == 400
    assert answers["viewer", "api update", "partners"] == 403


@pytest.mark.asyncio
async def test_the_refusal_is_said_in_english_on_english_pages(ds):
    page = await ds.client.post("/-/form/ops/employees/1", data={"employee_no": "00099", "name": "张伟"},
                                actor=MANAGER, cookies={"tz_lang": "en"})
    assert "This Employees record (Employee no. “00012”) is named by 3 Confidentiality agreements record(s)" in page.text
    assert EMPLOYEE_REFUSAL not in page.text
