"""No delete without delete-row, on any path: core's JSON insert with "replace", import in
replace mode (browser and command line), and undo (which deletes what a batch inserted) — each
checked against the actor's rights as they are now. Import batches belong to a users.db
account, not to a name."""

import asyncio
import getpass
import re
import sqlite3

import pytest
import pytest_asyncio
from click.testing import CliRunner

from scripts.cli import cli
from taizhang.importer import rights
from taizhang.importer.batches import UndoNotAllowed, list_batches, undo
from taizhang.importer.engine import import_files
from taizhang.registers import load
from taizhang.web import user_store
from tests.conftest import xlsx_bytes

pytestmark = pytest.mark.fast

PASSWORD = "Correct-horse-9"
PARTNERS = [["合作伙伴名称", "类别", "联系人"], ["甲公司", "媒体", "周明"], ["乙公司", "物流", "曹芳"]]
AGREEMENTS = [["协议编号", "签署方类型", "签署方", "签订日期"], ["BM-001", "客户", "某客户", "2024-01-01"]]


def _xlsx(path, rows):
    path.write_bytes(xlsx_bytes(rows))
    return path


def _rows(data_dir, sql, db="ops"):
    conn = sqlite3.connect(data_dir.database(db))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _partners(data_dir) -> dict:
    conn = sqlite3.connect(data_dir.database("ops"))
    conn.row_factory = sqlite3.Row
    try:
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM partners")}
    finally:
        conn.close()


def _cli(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def _user(data_dir, name, role):
    store = data_dir.users(load())
    try:
        store.add(name, PASSWORD, role)
    finally:
        store.close()
    return {"id": name, "roles": [role]}


async def _web_user(ds, name, role):
    user_store(ds).add(name, PASSWORD, role)
    return {"id": name, "roles": [role]}


async def _seed_partners(ds, who):
    for name, person in (("甲公司", "周明"), ("乙公司", "曹芳")):
        r = await ds.client.post("/ops/partners/-/insert", json={"row": {"name": name, "contact_person": person}}, actor=who)
        assert r.status_code == 201, r.text


# -- core's JSON insert with "replace" ----------------------------------------------------------
@pytest.mark.asyncio
async def test_insert_with_replace_needs_delete_row(empty_ds, empty_data_dir):
    editor, manager = {"id": "e", "roles": ["editor"]}, {"id": "m", "roles": ["manager"]}
    await _seed_partners(empty_ds, manager)
    before = _partners(empty_data_dir)
    full = {c: None for c in load().registers["partners"].columns} | {"id": 1, "name": "甲公司", "contact_person": "换人"}
    # The editor may insert and update partners, not delete them: replace deletes (by id or name).
    r = await empty_ds.client.post("/ops/partners/-/insert", json={"row": full, "replace": True}, actor=editor)
    assert r.status_code == 403, r.text
    assert r.json()["ok"] is False and "没有删除合作伙伴档案记录的权限" in r.json()["errors"][0]
    collide = {**full, "id": 99, "name": "乙公司"}   # a new id whose name is row 2's: row 2 would go
    r = await empty_ds.client.post("/ops/partners/-/insert", json={"rows": [collide], "replace": True}, actor=editor)
    assert r.status_code == 403
    assert _partners(empty_data_dir) == before
    # A plain insert is the editor's as before.
    r = await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "丙公司"}}, actor=editor)
    assert r.status_code == 201, r.text
    # The manager may delete partners: a full replacing row is theirs.
    r = await empty_ds.client.post("/ops/partners/-/insert", json={"row": full, "replace": True}, actor=manager)
    assert r.status_code == 201, r.text
    assert _partners(empty_data_dir)[1]["contact_person"] == "换人"


@pytest.mark.asyncio
async def test_a_replacing_partial_row_is_refused_not_blanked(empty_ds, empty_data_dir):
    manager = {"id": "m", "roles": ["manager"]}
    await _seed_partners(empty_ds, manager)
    before = _partners(empty_data_dir)
    r = await empty_ds.client.post("/ops/partners/-/insert",
                                   json={"row": {"id": 1, "name": "甲公司", "category": "媒体"}, "replace": True}, actor=manager)
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error.startswith("第 1 行缺少字段：联系人、") and "/-/upsert" in error
    assert _partners(empty_data_dir) == before


@pytest.mark.asyncio
async def test_a_replacing_partial_row_through_create_is_refused_not_blanked(empty_ds, empty_data_dir):
    """Core's /<db>/-/create with "replace" inserts into an existing table the same way."""
    admin = {"id": "a", "roles": ["admin"]}
    await _seed_partners(empty_ds, admin)
    before = _partners(empty_data_dir)
    r = await empty_ds.client.post("/ops/-/create", json={
        "table": "partners", "pk": "id", "rows": [{"id": 1, "name": "甲公司", "category": "媒体"}], "replace": True},
        actor=admin)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0].startswith("第 1 行缺少字段：联系人、")
    assert _partners(empty_data_dir) == before


@pytest.mark.asyncio
async def test_upsert_of_a_partial_row_keeps_the_columns_it_did_not_send(empty_ds, empty_data_dir):
    """Core is already right here (sqlite-utils' INSERT … ON CONFLICT(id) DO UPDATE of the sent
    columns): an editor's upsert needs no delete right and blanks nothing. SQLite checks NOT NULL
    on the row as sent before it finds the conflict, so a row leaving out a required column is
    refused (in Chinese), not stored."""
    editor = {"id": "e", "roles": ["editor"]}
    await _seed_partners(empty_ds, editor)
    r = await empty_ds.client.post("/ops/partners/-/upsert", json={"rows": [{"id": 1, "name": "甲公司", "notes": "新备注"}]},
                                   actor=editor)
    assert r.status_code == 200, r.text
    row = _partners(empty_data_dir)[1]
    assert (row["name"], row["contact_person"], row["notes"]) == ("甲公司", "周明", "新备注")
    r = await empty_ds.client.post("/ops/partners/-/upsert", json={"rows": [{"id": 1, "notes": "再改"}]}, actor=editor)
    assert r.status_code == 400 and r.json()["errors"] == ["合作伙伴名称为必填项，不能为空"]
    assert _partners(empty_data_dir)[1] == row
    # The same in hr.db, whose rows queue for the cross-file check.
    hr = {"id": "h", "roles": ["hr"]}
    agreement = {"agreement_no": "BM-001", "party_kind": "客户", "party_name": "某客户", "signed_on": "2024-01-01"}
    r = await empty_ds.client.post("/hr/confidentiality_agreements/-/insert", json={"row": {**agreement, "scope": "全部"}}, actor=hr)
    assert r.status_code == 201, r.text
    r = await empty_ds.client.post("/hr/confidentiality_agreements/-/upsert",
                                   json={"rows": [{"id": 1, **agreement, "party_kind": "其他", "notes": "补签"}]}, actor=hr)
    assert r.status_code == 200, r.text
    assert _rows(empty_data_dir, "SELECT party_kind, scope, notes FROM confidentiality_agreements", db="hr") == [("其他", "全部", "补签")]


QUEUED = [r for r in load().registers.values() if r.search or r.cross_references]


@pytest_asyncio.fixture(scope="module")
async def demo_copy(tmp_path_factory):
    """Writable demo data, shared: each test below changes rows of its own register only."""
    from taizhang import demo
    from taizhang.app import make_datasette
    from taizhang.datadir import DataDir, init
    from tests.conftest import TODAY

    data_dir = DataDir.resolve(tmp_path_factory.mktemp("demo-copy"))
    init(data_dir)
    demo.fill(data_dir, today=TODAY)
    ds = make_datasette(data_dir)
    await ds.invoke_startup()
    return ds


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", [r.name for r in QUEUED])
async def test_upsert_of_an_existing_row_works_on_every_queued_register(demo_copy, name):
    """Registers whose writes queue rows (search index, cross-file check): core's upsert of an
    existing row fires the insert's and the update's queue triggers for one id, which once
    refused it (「_search_queue中已有…相同的记录」). Full rows and rows of the required columns
    only; the ones read back are sent without the times (the database keeps those)."""
    reg, admin = load().registers[name], {"id": "a", "roles": ["admin"]}
    url = f"/{reg.database}/{name}"
    text = next((c for c in reg.columns.values() if c.type == "text" and not (c.required or c.format or c.key)
                 and c.name not in reg.cross_references), None)
    if text is None:
        pytest.skip(f"{name} has no optional text column to change")
    # A process's rows change only in its editable states, by whom its workflow names there.
    state = ""
    if reg.workflow:
        if "admin" not in reg.workflow.edit_by:
            pytest.skip(f"{name}: only {reg.workflow.edit_by} edit its rows")
        state = f"&{reg.workflow.column}__in={','.join(reg.workflow.edit_states)}"
    rows = (await demo_copy.client.get(f"{url}.json?_shape=objects&_size=2&_sort=id{state}", actor=admin)).json()["rows"]
    assert len(rows) == 2, rows
    full = {k: v for k, v in rows[0].items() if k not in ("created_at", "updated_at")}
    partial = {"id": rows[1]["id"], **{c: rows[1][c] for c, col in reg.columns.items() if col.required}}
    r = await demo_copy.client.post(f"{url}/-/upsert", json={"rows": [{**full, text.name: "全行改"}]}, actor=admin)
    assert r.status_code == 200, r.text
    r = await demo_copy.client.post(f"{url}/-/upsert", json={"rows": [{**partial, text.name: "部分改"}]}, actor=admin)
    assert r.status_code == 200, r.text
    after = (await demo_copy.client.get(f"{url}.json?_shape=objects&_size=2&_sort=id{state}", actor=admin)).json()["rows"]
    assert [a[text.name] for a in after] == ["全行改", "部分改"]
    unchanged = lambda row: {k: v for k, v in row.items() if k not in (text.name, "updated_at")}  # noqa: E731
    assert unchanged(after[1]) == unchanged(rows[1])


# -- import in replace mode -------------------------------------------------------------------
async def _upload(ds, who, rows=PARTNERS, table="partners", mode="replace"):
    return await ds.client.post(f"/-/import/ops/{table}", files={"file": ("伙伴.xlsx", xlsx_bytes(rows))},
                                data={"mode": mode}, actor=who)


async def _confirm(ds, url, who):
    response = await ds.client.post(url + "/confirm", actor=who)
    if response.status_code != 302:
        return response.status_code, None
    for _ in range(100):
        status = (await ds.client.get(response.headers["location"] + ".json", actor=who)).json()
        if status["status"] != "running":
            return 302, status
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


@pytest.mark.asyncio
async def test_browser_import_in_replace_mode_needs_delete_row(empty_ds, empty_data_dir):
    editor = await _web_user(empty_ds, "li", "editor")
    manager = await _web_user(empty_ds, "wang", "manager")
    await _seed_partners(empty_ds, manager)
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "丙公司"}}, actor=manager)
    page = await empty_ds.client.get("/-/import/ops/partners", actor=editor)
    assert page.status_code == 200 and 'value="upsert"' in page.text and 'value="replace"' not in page.text
    r = await _upload(empty_ds, editor)
    assert r.status_code == 403 and "没有删除合作伙伴档案的权限" in r.text
    assert not list((empty_data_dir.path / "uploads").glob("*.xlsx"))   # refused before the file is kept
    assert 'value="replace"' in (await empty_ds.client.get("/-/import/ops/partners", actor=manager)).text
    # Rights are asked again at confirm: demoted meanwhile, the manager's replace deletes nothing.
    url = (await _upload(empty_ds, manager)).headers["location"]
    user_store(empty_ds).set_role("wang", "editor")
    demoted = {"id": "wang", "roles": ["editor"]}
    assert (await empty_ds.client.get(url, actor=demoted)).status_code == 403
    assert (await _confirm(empty_ds, url, demoted))[0] == 403
    assert sorted(r["name"] for r in _partners(empty_data_dir).values()) == ["丙公司", "乙公司", "甲公司"]
    user_store(empty_ds).set_role("wang", "manager")
    code, status = await _confirm(empty_ds, url, manager)
    assert code == 302 and status["status"] == "done" and status["result"]["counts"]["partners"]["deleted"] == 1
    assert sorted(r["name"] for r in _partners(empty_data_dir).values()) == ["乙公司", "甲公司"]


def test_cli_actor_must_be_a_login_with_the_rights_the_mode_needs(empty_data_dir, tmp_path):
    _user(empty_data_dir, "li", "editor")
    _user(empty_data_dir, "wang", "manager")
    path = _xlsx(tmp_path / "伙伴.xlsx", PARTNERS)
    assert _cli("import", path, "--data-dir", empty_data_dir.path, "--actor", "wang").exit_code == 0
    smaller = _xlsx(tmp_path / "伙伴2.xlsx", PARTNERS[:2])
    result = _cli("import", smaller, "--data-dir", empty_data_dir.path, "--mode", "replace", "--actor", "li")
    assert result.exit_code == 1 and "没有删除合作伙伴档案的权限" in result.output and "Traceback" not in result.output
    result = _cli("import", smaller, "--data-dir", empty_data_dir.path, "--mode", "replace", "--actor", "nobody")
    assert result.exit_code == 1 and "没有登录名 nobody" in result.output
    assert len(_partners(empty_data_dir)) == 2
    result = _cli("import", smaller, "--data-dir", empty_data_dir.path, "--mode", "replace", "--actor", "wang")
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in _partners(empty_data_dir).values()] == ["甲公司"]
    # A viewer login may not even add rows.
    _user(empty_data_dir, "zhao", "viewer")
    result = _cli("import", path, "--data-dir", empty_data_dir.path, "--actor", "zhao")
    assert result.exit_code == 1 and "没有新增合作伙伴档案" in result.output


# -- undo re-checks the rights it needs now -----------------------------------------------------
def test_undo_needs_the_rights_of_every_change_it_makes(empty_data_dir, tmp_path):
    definition = load()
    run = import_files(empty_data_dir, [_xlsx(tmp_path / "伙伴.xlsx", PARTNERS)], actor="wang")
    before = _partners(empty_data_dir)
    # Undoing inserted rows deletes them: an editor may not.
    with pytest.raises(UndoNotAllowed) as info:
        undo(empty_data_dir, run.batch_id, "li", allowed=rights.for_role(definition, "editor"))
    assert info.value.missing == [("delete-row", "partners")]
    assert "删除合作伙伴档案" in str(info.value)
    assert _partners(empty_data_dir) == before
    assert undo(empty_data_dir, run.batch_id, "wang", allowed=rights.for_role(definition, "manager")) == {"partners": 2}
    assert _partners(empty_data_dir) == {}


@pytest.mark.asyncio
async def test_the_owner_undoes_in_the_browser_only_with_the_rights_they_have_now(empty_ds, empty_data_dir):
    manager = await _web_user(empty_ds, "wang", "manager")
    url = (await _upload(empty_ds, manager, mode="upsert")).headers["location"]
    _, status = await _confirm(empty_ds, url, manager)
    batch = status["result"]["batch"]
    assert f'name="batch" value="{batch}"' in (await empty_ds.client.get("/-/imports", actor=manager)).text
    user_store(empty_ds).set_role("wang", "editor")
    demoted = {"id": "wang", "roles": ["editor"]}
    page = (await empty_ds.client.get("/-/imports", actor=demoted)).text
    assert batch in page and f'name="batch" value="{batch}"' not in page   # listed, no undo button
    # The button left out is no guard: the request itself is refused.
    r = await empty_ds.client.post("/-/imports", data={"batch": batch}, actor=demoted)
    assert r.status_code == 302
    assert len(_partners(empty_data_dir)) == 2
    assert [b["status"] for b in list_batches(empty_data_dir)] == ["done"]
    user_store(empty_ds).set_role("wang", "manager")
    await empty_ds.client.post("/-/imports", data={"batch": batch}, actor=manager)
    assert _partners(empty_data_dir) == {}


# -- batches belong to an account -----------------------------------------------------------
@pytest.mark.asyncio
async def test_a_cli_batch_without_actor_belongs_to_no_web_login(empty_ds, empty_data_dir, tmp_path):
    result = _cli("import", _xlsx(tmp_path / "伙伴.xlsx", PARTNERS), "--data-dir", empty_data_dir.path)
    assert result.exit_code == 0, result.output
    [batch] = list_batches(empty_data_dir)
    assert (batch["actor"], batch["owner"]) == (f"cli:{getpass.getuser()}", None)
    # A login that happens to carry the system user's name, with every right on partners.
    namesake = await _web_user(empty_ds, getpass.getuser(), "manager")
    assert batch["id"] not in (await empty_ds.client.get("/-/imports", actor=namesake)).text
    assert (await empty_ds.client.post("/-/imports", data={"batch": batch["id"]}, actor=namesake)).status_code == 403
    admin = await _web_user(empty_ds, "root-admin", "admin")
    assert batch["id"] in (await empty_ds.client.get("/-/imports", actor=admin)).text
    assert (await empty_ds.client.post("/-/imports", data={"batch": batch["id"]}, actor=admin)).status_code == 302
    assert _partners(empty_data_dir) == {}


@pytest.mark.asyncio
async def test_a_batch_belongs_to_the_account_not_the_name(empty_ds, empty_data_dir, tmp_path):
    wang = await _web_user(empty_ds, "wang", "manager")
    result = _cli("import", _xlsx(tmp_path / "伙伴.xlsx", PARTNERS), "--data-dir", empty_data_dir.path, "--actor", "wang")
    assert result.exit_code == 0, result.output
    [batch] = list_batches(empty_data_dir)
    assert batch["actor"] == "wang" and batch["owner"] == user_store(empty_ds).account_id("wang")
    assert batch["id"] in (await empty_ds.client.get("/-/imports", actor=wang)).text
    # wang leaves; a new login called wang is someone else.
    user_store(empty_ds).remove("wang")
    user_store(empty_ds).add("wang", PASSWORD, "manager")
    assert batch["id"] not in (await empty_ds.client.get("/-/imports", actor=wang)).text
    assert (await empty_ds.client.post("/-/imports", data={"batch": batch["id"]}, actor=wang)).status_code == 403
    assert len(_partners(empty_data_dir)) == 2


@pytest.mark.asyncio
async def test_batches_of_registers_the_reader_may_not_read_are_not_listed(empty_ds, empty_data_dir, tmp_path):
    hr = await _web_user(empty_ds, "zhou", "hr")
    path = _xlsx(tmp_path / "保密协议.xlsx", AGREEMENTS)
    result = _cli("import", path, "--data-dir", empty_data_dir.path, "--actor", "zhou",
                  "--register", "confidentiality_agreements")
    assert result.exit_code == 0, result.output
    [batch] = list_batches(empty_data_dir)
    assert batch["id"] in (await empty_ds.client.get("/-/imports", actor=hr)).text
    user_store(empty_ds).set_role("zhou", "editor")   # moved out of HR: the batch is no longer theirs to see
    moved = {"id": "zhou", "roles": ["editor"]}
    page = await empty_ds.client.get("/-/imports", actor=moved)
    assert batch["id"] not in page.text and "保密协议.xlsx" not in page.text
    assert (await empty_ds.client.post("/-/imports", data={"batch": batch["id"]}, actor=moved)).status_code == 403
    assert _rows(empty_data_dir, "SELECT agreement_no FROM confidentiality_agreements", db="hr") == [("BM-001",)]
    admin = await _web_user(empty_ds, "root-admin", "admin")
    assert batch["id"] in (await empty_ds.client.get("/-/imports", actor=admin)).text


def test_an_older_users_db_gets_account_keys(tmp_path):
    """users.db files made before account keys get one per user, unique, on first open."""
    from taizhang.users import SCHEMA, UserStore

    path = tmp_path / "users.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.execute("ALTER TABLE users ADD COLUMN language TEXT")
    conn.execute("PRAGMA user_version = 1")
    for name in ("a", "b"):
        conn.execute("INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?, 'x', 'viewer', '', '')", [name])
    conn.commit()
    conn.close()
    store = UserStore(path, load().roles)
    keys = {store.account_id("a"), store.account_id("b")}
    assert len(keys) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)
    store.close()


# -- every role on every register ---------------------------------------------------------------
ACTORS = [None, *({"id": f"test-{role}", "roles": [role]} for role in load().roles)]


def _may_delete(who, register) -> bool:
    return who is not None and register in load().grants(who["roles"][0], "delete")


@pytest.mark.asyncio
async def test_replace_is_refused_to_every_role_without_delete_row_on_every_register(empty_ds, empty_data_dir):
    """7 actors × 11 registers: a replacing (partial) row gets 403 without delete-row, and with it
    the partial-row refusal; nothing is written either way."""
    definition = load()
    for who in ACTORS:
        for name, reg in definition.registers.items():
            r = await empty_ds.client.post(f"/{reg.database}/{name}/-/insert",
                                           json={"rows": [{"id": 999}], "replace": True}, actor=who)
            if _may_delete(who, name):
                assert r.status_code == 400 and "缺少字段" in r.json()["errors"][0], (who, name, r.text)
            else:
                assert r.status_code in (401, 403), (who, name, r.text)
    for name, reg in definition.registers.items():
        assert _rows(empty_data_dir, f"SELECT count(*) FROM {name} WHERE id = 999", db=reg.database) == [(0,)]


@pytest.mark.asyncio
async def test_replace_mode_is_offered_and_accepted_only_with_delete_row(empty_ds, empty_data_dir):
    """6 roles × 11 registers, the upload page and an upload; anonymous gets nothing."""
    definition = load()
    for who in ACTORS[1:]:
        for name, reg in definition.registers.items():
            page = await empty_ds.client.get(f"/-/import/{reg.database}/{name}", actor=who)
            r = await _upload(empty_ds, who, rows=[["x"], ["y"]], table=name) if reg.database == "ops" else \
                await empty_ds.client.post(f"/-/import/hr/{name}", files={"file": ("a.xlsx", xlsx_bytes([["x"]]))},
                                           data={"mode": "replace"}, actor=who)
            if _may_delete(who, name):
                assert 'value="replace"' in page.text and r.status_code == 302, (who, name)
            else:
                assert 'value="replace"' not in page.text and r.status_code == 403, (who, name, r.status_code)
    assert (await _upload(empty_ds, None)).status_code == 403


def test_cli_undo_as_a_login_is_that_logins_own_with_its_rights_now(empty_data_dir, tmp_path):
    _user(empty_data_dir, "wang", "manager")
    _user(empty_data_dir, "li", "manager")
    path = _xlsx(tmp_path / "伙伴.xlsx", PARTNERS)
    assert _cli("import", path, "--data-dir", empty_data_dir.path, "--actor", "wang").exit_code == 0
    [batch] = list_batches(empty_data_dir)
    result = _cli("imports", "undo", batch["id"], "--data-dir", empty_data_dir.path, "--actor", "li")
    assert result.exit_code == 1 and "只能撤销自己的导入批次" in result.output
    store = empty_data_dir.users(load())
    store.set_role("wang", "editor")
    store.close()
    result = _cli("imports", "undo", batch["id"], "--data-dir", empty_data_dir.path, "--actor", "wang")
    assert result.exit_code == 1 and "删除合作伙伴档案" in result.output
    assert len(_partners(empty_data_dir)) == 2
    result = _cli("imports", "undo", batch["id"], "--data-dir", empty_data_dir.path)   # the shell itself
    assert result.exit_code == 0, result.output
    assert _partners(empty_data_dir) == {}


@pytest.mark.asyncio
async def test_no_undo_button_for_an_import_the_importer_may_not_undo(empty_ds):
    editor = await _web_user(empty_ds, "li", "editor")   # may add partners, not delete them
    url = (await _upload(empty_ds, editor, mode="upsert")).headers["location"]
    code, status = await _confirm(empty_ds, url, editor)
    assert code == 302 and status["result"]["written"]
    page = await empty_ds.client.get(url + "/status", actor=editor)
    assert status["result"]["batch"] in page.text and "撤销这次导入" not in page.text
    manager = await _web_user(empty_ds, "wang", "manager")
    url = (await _upload(empty_ds, manager, rows=[PARTNERS[0], ["丙公司", "渠道", "田勇"]], mode="upsert")).headers["location"]
    code, status = await _confirm(empty_ds, url, manager)
    assert code == 302 and status["result"]["written"]
    assert "撤销这次导入" in (await empty_ds.client.get(url + "/status", actor=manager)).text


@pytest.mark.asyncio
async def test_replace_is_refused_to_a_session_and_a_token_without_delete_row(empty_ds, empty_data_dir):
    """The guard sees the actor as the app does: by session cookie and by API token, with the
    role as it is now (a manager demoted to editor loses replace at once)."""
    await _web_user(empty_ds, "wang", "manager")
    await _seed_partners(empty_ds, {"id": "wang", "roles": ["manager"]})
    full = {c: None for c in load().registers["partners"].columns} | {"id": 1, "name": "甲公司"}
    session = user_store(empty_ds).start_session("wang")
    token = await empty_ds.create_token("wang")
    user_store(empty_ds).set_role("wang", "editor")
    before = _partners(empty_data_dir)
    for credentials in ({"cookies": {"tz_session": session}}, {"headers": {"Authorization": f"Bearer {token}"}}):
        r = await empty_ds.client.post("/ops/partners/-/insert", json={"row": full, "replace": True}, **credentials)
        assert r.status_code == 403 and "没有删除合作伙伴档案记录的权限" in r.json()["errors"][0], r.text
    assert _partners(empty_data_dir) == before


@pytest.mark.asyncio
async def test_the_replace_refusal_is_said_in_traditional_chinese_on_a_traditional_page(empty_ds):
    await _web_user(empty_ds, "chen", "editor")
    user_store(empty_ds).set_language("chen", "zh-Hant")
    r = await empty_ds.client.post("/ops/partners/-/insert", json={"rows": [{"id": 1, "name": "甲"}], "replace": True},
                                   cookies={"tz_session": user_store(empty_ds).start_session("chen")})
    assert r.status_code == 403 and r.json()["errors"][0].startswith("沒有刪除"), r.json()


@pytest.mark.asyncio
async def test_a_replace_too_large_for_the_guard_to_read_is_refused_by_core(empty_ds, empty_data_dir):
    editor = {"id": "e", "roles": ["editor"]}
    await _seed_partners(empty_ds, {"id": "m", "roles": ["manager"]})
    before = _partners(empty_data_dir)
    big = {"rows": [{"id": 1, "name": "甲公司", "notes": "x" * (empty_ds.setting("max_post_body_bytes") + 10)}], "replace": True}
    r = await empty_ds.client.post("/ops/partners/-/insert", json=big, actor=editor)
    assert r.status_code == 413
    assert _partners(empty_data_dir) == before
