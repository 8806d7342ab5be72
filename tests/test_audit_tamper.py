"""The audit log is tamper-evident against the file's owner, not only against the app: rows
written around the app are never sealed as the app's, removing the newest rows with their
seals is found through the head kept outside the file, and no SQL the app runs for anyone
(an admin's /-/execute-write included) can write the audit tables."""

import json
import sqlite3

import pytest
import pytest_asyncio
from click.testing import CliRunner

from scripts.cli import cli
from taizhang import audit, audit_guard, audit_head
from taizhang import backup as backups
from taizhang.app import make_datasette
from tests.conftest import actor

pytestmark = pytest.mark.fast

ADMIN = actor("admin")


@pytest_asyncio.fixture
async def ads(empty_data_dir):
    """An app on empty registers, with a writable stored query that tries to forge the actor."""
    ds = make_datasette(empty_data_dir)
    ds.config["databases"]["ops"]["queries"]["forge_actor"] = {
        "sql": "insert or replace into _audit_context (id, actor, source) values (1, 'someone-else', 'ui')",
        "write": True,
        "permissions": {"view-query": {"roles": ["admin"]}},
    }
    await ds.invoke_startup()
    return ds


def _shell(data_dir, database="ops"):
    """The file's owner with a plain sqlite3 connection."""
    return sqlite3.connect(data_dir.database(database), isolation_level=None)


def _verify(data_dir):
    key = audit.key_from_secret(data_dir.secret())
    conn = data_dir.connect("ops")
    try:
        return audit.verify(conn, key, "ops")
    finally:
        conn.close()


def _kinds(data_dir):
    return [p.kind for p in _verify(data_dir)]


async def _insert(ds, *names):
    r = await ds.client.post("/ops/partners/-/insert", json={"rows": [{"name": n} for n in names]}, actor=ADMIN)
    assert r.status_code == 201, r.text


def _cli_verify(data_dir, *extra):
    return CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(data_dir.path), *extra])


# -- sealing covers only what the app wrote --------------------------------------------------------
@pytest.mark.asyncio
async def test_rows_written_outside_the_app_stay_unsealed_after_app_writes(ads, empty_data_dir):
    await _insert(ads, "甲")
    shell = _shell(empty_data_dir)
    shell.execute("INSERT INTO partners (name) VALUES ('壳')")     # recorded, unattributed
    shell.execute("INSERT INTO _audit_log (actor, role, source, table_name, row_id, operation)"
                  " VALUES ('boss', 'admin', 'ui', 'partners', 99, 'delete')")   # a forged entry
    forged = [r[0] for r in shell.execute("SELECT id FROM _audit_log ORDER BY id")][-2:]
    await _insert(ads, "乙")
    await _insert(ads, "丙")
    problems = _verify(empty_data_dir)
    assert [p.kind for p in problems] == ["unsealed"]
    assert f"第 {forged[0]}–{forged[1]} 条未封存" in problems[0].message
    # the app's own rows around them are sealed, each by its own transaction
    seals = shell.execute("SELECT first_log_id, last_log_id FROM _audit_seal ORDER BY id").fetchall()
    assert seals == [(1, 1), (forged[1] + 1, forged[1] + 1), (forged[1] + 2, forged[1] + 2)]
    result = _cli_verify(empty_data_dir)
    assert result.exit_code == 1 and "未封存" in result.output


def test_a_cli_write_seals_only_its_own_rows(empty_data_dir):
    shell = _shell(empty_data_dir)
    shell.execute("INSERT INTO partners (name) VALUES ('壳')")
    conn = empty_data_dir.connect("ops")
    key = audit.key_from_secret(empty_data_dir.secret())
    with audit.audited(conn, audit.Who(actor="wang", role=None, source="cli"), key):
        conn.execute("INSERT INTO partners (name) VALUES ('丁')")
    assert conn.execute("SELECT first_log_id, last_log_id FROM _audit_seal").fetchall() == [(2, 2)]
    assert _kinds(empty_data_dir) == ["unsealed"]


# -- the newest rows removed with their seals --------------------------------------------------
def _remove_newest(data_dir, count_seals):
    """What the file's owner can do: drop the append-only triggers, delete the newest seals and
    their log rows, and wind the sequences back so nothing in the file shows it."""
    shell = _shell(data_dir)
    for trigger in ("tz_audit_log_no_delete", "tz_audit_seal_no_delete"):
        shell.execute(f"DROP TRIGGER {trigger}")
    seals = shell.execute("SELECT id, first_log_id FROM _audit_seal ORDER BY id DESC LIMIT ?", [count_seals]).fetchall()
    first_seal, first_log = seals[-1]
    shell.execute("DELETE FROM _audit_seal WHERE id >= ?", [first_seal])
    shell.execute("DELETE FROM _audit_log WHERE id >= ?", [first_log])
    shell.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = '_audit_seal'", [first_seal - 1])
    shell.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = '_audit_log'", [first_log - 1])
    shell.close()


@pytest.mark.asyncio
async def test_deleting_the_newest_rows_and_seals_is_detected(ads, empty_data_dir):
    for name in ("甲", "乙", "丙"):
        await _insert(ads, name)
    assert _verify(empty_data_dir) == []
    _remove_newest(empty_data_dir, 2)
    problems = _verify(empty_data_dir)
    assert [p.kind for p in problems] == ["head_shorter"]
    assert "链头文件记录到第 3 号封存" in problems[0].message and "只到第 1 号" in problems[0].message
    # later app writes neither hide it nor move the head past it
    await _insert(ads, "丁")
    await _insert(ads, "戊")
    await _insert(ads, "己")
    assert _kinds(empty_data_dir) == ["head_diverged"]
    result = _cli_verify(empty_data_dir)
    assert result.exit_code == 1 and "封存链与链头文件不符" in result.output


@pytest.mark.asyncio
async def test_a_head_behind_the_database_is_no_alarm(ads, empty_data_dir):
    """A crash after COMMIT but before the head was written leaves the head a seal behind."""
    await _insert(ads, "甲")
    path = audit_head.path_for(empty_data_dir.database("ops"))
    before = path.read_text()
    await _insert(ads, "乙")
    assert path.read_text() != before
    path.write_text(before)          # as if the process had died before recording the second head
    assert _verify(empty_data_dir) == []
    await _insert(ads, "丙")         # and the next write moves it on
    assert json.loads(path.read_text())["seal_id"] == 3
    assert _verify(empty_data_dir) == []


def test_two_writers_recording_heads_together_keep_the_later(empty_data_dir, monkeypatch):
    """The earlier seal's writer has read the head file when the later one records its own:
    the head must not go back to the earlier seal (it would hide the later seal's removal)."""
    import threading
    path = audit_head.path_for(empty_data_dir.database("ops"))
    key = audit.key_from_secret(empty_data_dir.secret())
    audit_head.write(path, key, audit_head.Head(4, 40, "d" * 64))
    earlier = audit_head.Advance(path, audit_head.Head(5, 50, "e" * 64))
    later = audit_head.Advance(path, audit_head.Head(6, 60, "f" * 64))
    has_read, later_done = threading.Event(), threading.Event()
    read = audit_head.read

    def slow_read(p, k):
        head = read(p, k)
        if threading.current_thread().name == "earlier":
            has_read.set()
            later_done.wait(2)   # the later writer's whole record, if nothing holds it back
        return head

    monkeypatch.setattr(audit_head, "read", slow_read)
    first = threading.Thread(target=earlier.apply, args=[key], name="earlier")
    first.start()
    has_read.wait(10)
    second = threading.Thread(target=lambda: (later.apply(key), later_done.set()))
    second.start()
    first.join(10)
    second.join(10)
    assert audit_head.read(path, key) == later.head


@pytest.mark.asyncio
async def test_a_forged_or_missing_head_is_reported(ads, empty_data_dir):
    await _insert(ads, "甲")
    await _insert(ads, "乙")
    path = audit_head.path_for(empty_data_dir.database("ops"))
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    _remove_newest(empty_data_dir, 1)
    path.write_text(json.dumps({**data, "seal_id": 1}))      # point the head back: the MAC no longer fits
    assert _kinds(empty_data_dir) == ["head_forged"]
    await _insert(ads, "丙")
    assert _kinds(empty_data_dir) == ["head_forged"]          # the app does not overwrite the evidence
    path.unlink()
    assert _kinds(empty_data_dir) == ["head_missing"]
    await _insert(ads, "丁")
    assert not path.exists()                                 # nor recreate it
    result = _cli_verify(empty_data_dir, "--adopt-head")     # the explicit step after an upgrade
    assert "recorded the current chain head" in result.output and result.exit_code == 0, result.output
    assert _verify(empty_data_dir) == []


# -- /-/execute-write, stored queries and the JSON API cannot write the audit tables ------------
# What the guard refuses (400, its Chinese sentence) …
GUARDED_SQL = [
    ("ops", "insert into _audit_log (source, table_name, row_id, operation) values ('ui', 'partners', 1, 'insert')"),
    ("ops", "update _audit_log set actor = 'x'"),
    ("ops", "delete from _audit_log"),
    ("ops", "insert into _audit_seal (first_log_id, last_log_id, seal) values (1, 1, 'x')"),
    ("ops", "update _audit_seal set seal = 'x'"),
    ("ops", "delete from _audit_seal"),
    ("ops", "insert or replace into _audit_context (id, actor, source) values (1, 'someone-else', 'ui')"),
    ("ops", "update _audit_context set actor = 'x'"),
    ("ops", "delete from _audit_context"),
    ("hr", "insert into _read_log (kind, path) values ('table', '/x')"),
    ("hr", "update _read_log set actor = 'x'"),
    ("hr", "delete from _read_log"),
    # the counters verify finds a cut tail by: raised, a false alarm; removed, a cut tail unseen
    ("ops", "update sqlite_sequence set seq = 1000 where name = '_audit_log'"),
    ("ops", "delete from sqlite_sequence where name = '_audit_seal'"),
    ("ops", "insert into sqlite_sequence (name, seq) values ('_audit_seal', 99)"),
]
# … and DDL, which core already refuses before running it (403: no drop-table / alter-table on these
# tables, trigger DDL and pragmas unsupported); the guard refuses it too (test below).
DDL = [
    ("ops", "drop table _audit_log"),
    ("ops", "drop table _audit_seal"),
    ("ops", "drop table _audit_context"),
    ("hr", "drop table _read_log"),
    ("ops", "drop trigger tz_audit_log_no_delete"),
    ("ops", "drop trigger tz_audit_seal_no_update"),
    ("hr", "drop trigger tz_read_log_no_delete"),
    ("ops", "alter table _audit_log rename to old_log"),
    ("ops", "alter table _audit_seal add column x text"),
    ("ops", "create trigger tz_audit_evil after insert on partners begin select 1; end"),
    ("ops", "create trigger evil before insert on _audit_log begin select 1; end"),
    ("ops", "create temp trigger evil after insert on partners begin select 1; end"),
    ("ops", "pragma writable_schema = on"),
]
GUARD_MESSAGE = "任何人（包括管理员）都不能用 SQL 或接口直接改动"


def _snapshot(data_dir, database):
    shell = _shell(data_dir, database)
    try:
        return (shell.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall(),
                [shell.execute(f"SELECT * FROM {t}").fetchall() for t in
                 ("_audit_log", "_audit_seal", "_audit_context", "_read_log") if
                 shell.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [t]).fetchone()])
    finally:
        shell.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("database, sql", GUARDED_SQL + DDL)
async def test_execute_write_cannot_touch_the_audit_tables(ads, empty_data_dir, database, sql):
    await _insert(ads, "甲")
    before = _snapshot(empty_data_dir, database)
    guarded = (database, sql) in GUARDED_SQL
    r = await ads.client.post(f"/{database}/-/execute-write", json={"sql": sql}, actor=ADMIN)
    assert r.status_code == (400 if guarded else 403), r.text
    if guarded:
        message = r.json()["errors"][0]
        assert message.startswith("不能") and GUARD_MESSAGE in message, message
    assert _snapshot(empty_data_dir, database) == before
    # the HTML form is refused the same way, without a 500
    r = await ads.client.post(f"/{database}/-/execute-write", data={"sql": sql}, actor=ADMIN)
    assert r.status_code == (400 if guarded else 403)
    assert not guarded or GUARD_MESSAGE in r.text
    assert _snapshot(empty_data_dir, database) == before
    # and the next write is audited and sealed as usual
    await _insert(ads, "乙")
    assert _verify(empty_data_dir) == []


@pytest.mark.parametrize("database, sql", DDL)
def test_the_guard_refuses_ddl_on_the_audit_tables(empty_data_dir, database, sql):
    """Should core's permissions ever let such DDL through, the guard still refuses it."""
    conn = empty_data_dir.connect(database)
    key = audit.key_from_secret(empty_data_dir.secret())
    with pytest.raises(audit_guard.ProtectedTableRefused) as refused:
        with audit.audited(conn, audit.Who(actor="x", role="admin", source="sql"), key):
            conn.execute(sql)
    assert GUARD_MESSAGE in str(refused.value) and refused.value.refusal.kind
    # the guard is off again once the write is over, and the transaction was rolled back
    assert not conn.in_transaction
    conn.execute("DELETE FROM _audit_context")


@pytest.mark.asyncio
async def test_other_doors_cannot_write_the_audit_tables(ads, empty_data_dir):
    await _insert(ads, "甲")
    before = _snapshot(empty_data_dir, "ops")
    r = await ads.client.post("/ops/forge_actor?_json=1", data={}, actor=ADMIN)   # a writable stored query
    assert r.status_code == 400 and "审计上下文（_audit_context）" in r.json()["errors"][0], r.text
    r = await ads.client.post("/ops/_audit_log/-/insert", json={"row": {
        "source": "ui", "table_name": "partners", "row_id": 1, "operation": "delete"}}, actor=ADMIN)
    assert r.status_code == 400 and "审计日志（_audit_log）" in r.json()["errors"][0], r.text
    for path, body in (("/ops/_audit_context/-/upsert", {"rows": [{"id": 1, "actor": "x", "source": "ui"}]}),
                       ("/ops/_audit_seal/1/-/update", {"update": {"seal": "x"}}),
                       ("/ops/_audit_log/1/-/delete", {})):
        r = await ads.client.post(path, json=body, actor=ADMIN)
        assert r.status_code == 400 and r.json()["errors"][0].startswith("不能"), (path, r.text)
    r = await ads.client.post("/ops/_audit_seal/-/drop", json={"confirm": True}, actor=ADMIN)
    assert r.status_code == 403, r.text
    assert _snapshot(empty_data_dir, "ops") == before
    # an admin's own SQL on the registers still works, is attributed to them and sealed
    r = await ads.client.post("/ops/-/execute-write", json={"sql": "update partners set notes = '改' where id = 1"}, actor=ADMIN)
    assert r.status_code == 200, r.text
    last = _shell(empty_data_dir).execute("SELECT actor, source FROM _audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert last == ("test-admin", "sql")
    assert _verify(empty_data_dir) == []


@pytest.mark.asyncio
async def test_a_trigger_planted_by_the_owner_cannot_forge_sealed_rows(ads, empty_data_dir):
    shell = _shell(empty_data_dir)
    shell.execute("CREATE TRIGGER planted AFTER INSERT ON partners BEGIN INSERT INTO _audit_log"
                  " (actor, source, table_name, row_id, operation) VALUES ('boss', 'ui', 'partners', 0, 'delete'); END")
    r = await ads.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=ADMIN)
    assert r.status_code == 400 and "审计日志（_audit_log）" in r.json()["errors"][0], r.text
    assert shell.execute("SELECT count(*) FROM _audit_log").fetchone()[0] == 0
    conn = empty_data_dir.connect("ops")
    key = audit.key_from_secret(empty_data_dir.secret())
    with pytest.raises(sqlite3.DatabaseError, match="触发器 planted 不是应用生成的"):
        with audit.audited(conn, audit.Who(actor="wang", role=None, source="cli"), key):
            conn.execute("INSERT INTO partners (name) VALUES ('乙')")
    # an import is stopped with the same sentence, not a traceback
    csv = empty_data_dir.path / "partners.csv"
    csv.write_text("合作伙伴名称,联系人\n丙,王芳\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", str(csv), "--register", "partners", "--data-dir", str(empty_data_dir.path)])
    assert result.exit_code != 0 and "触发器 planted 不是应用生成的" in result.output, result.output
    assert not isinstance(result.exception, sqlite3.Error)
    assert shell.execute("SELECT count(*) FROM _audit_log").fetchone()[0] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["planted", "tz_partners_updated_at"])
async def test_a_planted_trigger_cannot_write_a_register_under_the_writers_name(ads, empty_data_dir, name):
    """A planted trigger that writes a register (not the log) would have the app's own audit
    trigger record that change as the writer's, sealed: it is refused like one writing the log."""
    await _insert(ads, "甲")
    shell = _shell(empty_data_dir)
    if name.startswith("tz_"):
        shell.execute(f"DROP TRIGGER {name}")
    shell.execute(f"CREATE TRIGGER {name} AFTER INSERT ON partners WHEN NEW.name = '乙' BEGIN"
                  " INSERT INTO partners (name) VALUES ('伪造'); END")
    r = await ads.client.post("/ops/partners/-/insert", json={"row": {"name": "乙"}}, actor=ADMIN)
    assert r.status_code == 400 and f"触发器 {name} 不是应用生成的" in r.json()["errors"][0], r.text
    assert shell.execute("SELECT count(*) FROM partners WHERE name = '伪造'").fetchone()[0] == 0
    assert shell.execute("SELECT count(*) FROM _audit_log").fetchone()[0] == 1
    assert _verify(empty_data_dir) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("planted", ["rewritten", "extra"])
async def test_an_audit_trigger_rewritten_by_the_owner_cannot_write_the_log(ads, empty_data_dir, planted):
    """Under the app's own trigger names too: only the triggers exactly as the app generates
    them may write the log while the app writes."""
    await _insert(ads, "甲")
    shell = _shell(empty_data_dir)
    name = "tz_audit_partners_insert" if planted == "rewritten" else "tz_audit_partners_extra"
    if planted == "rewritten":
        shell.execute(f"DROP TRIGGER {name}")
    shell.execute(f"CREATE TRIGGER {name} AFTER INSERT ON partners BEGIN INSERT INTO _audit_log"
                  " (actor, source, table_name, row_id, operation) VALUES ('someone-else', 'ui', 'partners', NEW.id, 'insert'); END")
    count = shell.execute("SELECT count(*) FROM _audit_log").fetchone()[0]
    r = await ads.client.post("/ops/partners/-/insert", json={"row": {"name": "乙"}}, actor=ADMIN)
    assert r.status_code == 400, r.text
    assert f"触发器 {name} 不是应用生成的" in r.json()["errors"][0]
    assert shell.execute("SELECT count(*) FROM _audit_log").fetchone()[0] == count
    # `taizhang init` puts the app's triggers back, and writes are audited again
    assert CliRunner().invoke(cli, ["init", "--data-dir", str(empty_data_dir.path)]).exit_code == 0
    await _insert(ads, "乙")
    assert shell.execute("SELECT actor FROM _audit_log ORDER BY id DESC LIMIT 1").fetchone() == ("test-admin",)
    assert _verify(empty_data_dir) == []


# -- verify names every problem; backups carry the head ----------------------------------------
@pytest.mark.asyncio
async def test_verify_names_each_problem(ads, empty_data_dir):
    for name in ("甲", "乙", "丙", "丁"):
        await _insert(ads, name)
    shell = _shell(empty_data_dir)
    shell.execute("DROP TRIGGER tz_audit_log_no_update")
    shell.execute("DROP TRIGGER tz_audit_log_no_delete")
    shell.execute("UPDATE _audit_log SET actor = 'someone-else' WHERE id = 1")
    shell.execute("DELETE FROM _audit_log WHERE id = 2")
    shell.execute("INSERT INTO partners (name) VALUES ('壳')")
    result = _cli_verify(empty_data_dir)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 3, result.output
    assert "第 1–1 条（同一次写入）与封存值不符" in lines[0]
    assert "第 2 条已被删除" in lines[1]
    assert "第 5 条未封存" in lines[2]


@pytest.mark.asyncio
async def test_backups_record_the_head_and_restore_sets_it(ads, empty_data_dir):
    await _insert(ads, "甲")
    folder = backups.backup(empty_data_dir)
    manifest = json.loads((folder / backups.MANIFEST).read_text())
    assert manifest["audit_heads"]["ops"]["seal_id"] == 1 and manifest["audit_heads"]["hr"]["seal_id"] == 0
    await _insert(ads, "乙")
    await _insert(ads, "丙")
    backups.restore(empty_data_dir, folder)    # the log goes back to one seal: that is no tampering
    assert _verify(empty_data_dir) == []
    await _insert(ads, "丁")
    assert _verify(empty_data_dir) == []
    # a backup whose chain was cut after the fact no longer matches its manifest
    copy = sqlite3.connect(folder / "ops.db")
    copy.execute("DROP TRIGGER tz_audit_seal_no_delete")
    copy.execute("DELETE FROM _audit_seal")
    copy.commit()
    copy.close()
    info = manifest["files"]["ops.db"]
    info["sha256"] = backups._sha256(folder / "ops.db")
    (folder / backups.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(backups.BackupError, match="链头不符"):
        backups.verify(folder)
