"""The taizhang command, through click's runner, against real data dirs."""

import sqlite3

import click
import pytest
from click.testing import CliRunner

from scripts.cli import cli

pytestmark = pytest.mark.fast


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def _all_commands(group=cli, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path,command", list(_all_commands()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_meaningful_help(path, command):
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert len((command.help or "").strip()) > 20
    if not isinstance(command, click.Group):
        assert "--data-dir" in result.output or path == ("generate",)


def test_init_creates_everything_and_twice_is_a_no_op(tmp_path):
    data = tmp_path / "d"
    first = run("init", "--data-dir", data)
    assert first.exit_code == 0 and "m001_registers" in first.output
    files = {p.name for p in data.iterdir()}
    assert {"ops.db", "hr.db", "users.db", "secret"} <= files
    assert oct((data / "secret").stat().st_mode)[-3:] == "600"
    snapshot = _schema_and_rows(data)
    second = run("init", "--data-dir", data)
    assert second.exit_code == 0 and second.output.count("up to date") == 2
    assert _schema_and_rows(data) == snapshot
    conn = sqlite3.connect(data / "ops.db")
    assert [r[0] for r in conn.execute("SELECT name FROM customer_tiers ORDER BY id")] == ["重要客户", "普通客户", "潜在客户"]
    assert conn.execute("SELECT count(*) FROM employees").fetchone()[0] == 0
    assert sqlite3.connect(data / "users.db").execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_init_on_a_file_whose_rows_break_a_new_rule_names_them_and_changes_nothing(tmp_path):
    """A file whose table has a looser CHECK than the definition (an older enum, say) and a row
    only that looser rule allows: init says which rule and which rows, in Chinese, and leaves
    the file's schema as it was — no traceback."""
    data = tmp_path / "d"
    assert run("init", "--data-dir", data).exit_code == 0
    conn = sqlite3.connect(data / "ops.db")
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'employees'").fetchone()[0]
    looser = sql.replace("IN ('在职', '试用', '离职')", "IN ('在职', '试用', '离职', '外派')")
    assert looser != sql
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'employees'", [looser])
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(data / "ops.db")
    conn.execute("INSERT INTO employees (employee_no, name, status) VALUES ('00007', '甲', '外派')")
    conn.commit()
    before = _schema_and_rows(data)
    result = CliRunner().invoke(cli, ["init", "--data-dir", str(data)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "员工中已有记录不符合新的规则" in result.output and "状态必须是以下之一：在职、试用、离职（id 1）" in result.output
    assert _schema_and_rows(data) == before
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _schema_and_rows(data):
    out = {}
    for name in ("ops", "hr"):
        conn = sqlite3.connect(data / f"{name}.db")
        out[name] = (
            conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
            conn.execute("SELECT * FROM _sqlite_migrations").fetchall(),
            conn.execute("SELECT * FROM customer_tiers").fetchall() if name == "ops" else None,
        )
    return out


def test_data_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TAIZHANG_DATA_DIR", str(tmp_path / "env"))
    assert run("init").exit_code == 0
    assert (tmp_path / "env" / "ops.db").exists()


def test_user_commands(tmp_path):
    data = tmp_path / "d"
    run("init", "--data-dir", data)
    result = run("user", "add", "wang", "--role", "editor", "--employee", "00023", "--data-dir", data,
                 input="Secret-pass-1\nSecret-pass-1\n")
    assert result.exit_code == 0, result.output
    assert "Secret-pass-1" not in result.output  # never echoed
    result = run("user", "add", "ci", "--role", "viewer", "--password-stdin", "--data-dir", data,
                 input="Another-pass-2\n")
    assert result.exit_code == 0
    assert run("user", "list", "--data-dir", data).output.splitlines() == ["ci\tviewer\t", "wang\teditor\t00023"]
    assert run("user", "role", "wang", "manager", "--data-dir", data).exit_code == 0
    assert "wang\tmanager" in run("user", "list", "--data-dir", data).output
    assert run("user", "passwd", "wang", "--password-stdin", "--data-dir", data, input="Third-pass-33\n").exit_code == 0
    assert run("user", "remove", "ci", "--data-dir", data).exit_code == 0
    result = run("user", "remove", "ci", "--data-dir", data)
    assert result.exit_code == 1 and "Error: 用户 ci 不存在" in result.output
    result = run("user", "add", "weak", "--role", "viewer", "--password-stdin", "--data-dir", data, input="short\n")
    assert result.exit_code == 1 and "密码至少需要" in result.output
    result = run("user", "add", "x", "--role", "boss", "--password-stdin", "--data-dir", data, input="Secret-pass-1\n")
    assert result.exit_code == 2 and "'boss' is not one of" in result.output


def test_commands_explain_an_uninitialised_data_dir(tmp_path):
    result = run("check", "--data-dir", tmp_path / "nothing")
    assert result.exit_code == 1 and "run `taizhang init" in result.output


def test_check_reports_writes_made_outside_the_app(tmp_path):
    data = tmp_path / "d"
    run("init", "--data-dir", data)
    assert run("check", "--data-dir", data).output.strip() == "OK: no problems found"
    ops = sqlite3.connect(data / "ops.db")  # a shell: foreign keys off, no app
    ops.execute("INSERT INTO employees (employee_no, name, department_id) VALUES ('00001', '张三', 42)")
    ops.execute("INSERT INTO meetings (title, held_on, minutes) VALUES ('会', '2024-01-01', '预算')")
    ops.commit()
    hr = sqlite3.connect(data / "hr.db")
    hr.execute("INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, employee_no, signed_on)"
               " VALUES ('BM-1', '员工', '李四', '00999', '2024-01-01')")
    hr.commit()
    result = run("check", "--data-dir", data)
    assert result.exit_code == 1
    assert "员工（id 1）的部门指向不存在的记录" in result.output
    assert "员工工号「00999」在员工中不存在" in result.output
    assert "全文索引尚未更新" in result.output
    result = run("check", "--fix", "--data-dir", data)
    assert "全文索引" not in result.output


def test_generated_files_are_in_sync():
    result = run("generate", "--check")
    assert result.exit_code == 0, result.output


def test_readme_command_help_is_current():
    """The README's CLI section is generated with cog; regenerate with `cog -r README.md`."""
    import subprocess
    import sys

    from taizhang.datadir import REPO

    result = subprocess.run([sys.executable, "-m", "cogapp", "--check", "README.md"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_token_create(tmp_path):
    import asyncio

    from taizhang.app import make_datasette
    from taizhang.datadir import DataDir

    data = tmp_path / "d"
    run("init", "--data-dir", data)
    assert "不存在" in run("token", "create", "ghost", "--ttl", "60", "--data-dir", data).output
    run("user", "add", "bot", "--role", "analyst", "--password-stdin", "--data-dir", data, input="Secret-pass-1\n")
    assert "exceeds the limit" in run("token", "create", "bot", "--ttl", str(60 * 86400), "--data-dir", data).output
    result = run("token", "create", "bot", "--ttl", "3600", "--data-dir", data)
    assert result.exit_code == 0
    token = result.output.strip()
    ds = make_datasette(DataDir.resolve(data))

    async def check():
        await ds.invoke_startup()
        ok = await ds.client.get("/ops/-/query.json?sql=select+1", headers={"Authorization": f"Bearer {token}"})
        denied = await ds.client.get("/hr.json", headers={"Authorization": f"Bearer {token}"})
        return ok.status_code, denied.status_code

    assert asyncio.run(check()) == (200, 403)   # the analyst's role, no more
