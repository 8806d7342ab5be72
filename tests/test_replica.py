"""Disaster recovery with Litestream: the databases stream to an S3 stand-in (moto's server on
loopback), the whole instance is killed with SIGKILL and its data dir deleted, and
`taizhang restore --from-replica` brings it back in another folder — row counts, integrity,
the audit chain and its head agree, and every write older than the documented RPO is there.

Litestream's own tables are hidden from Datasette and never audited."""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from taizhang import check as checks
from taizhang import derived, replica
from taizhang.app import make_datasette
from tests.conftest import ROLES, actor

pytestmark = pytest.mark.fast

BIN = os.path.dirname(sys.executable)
TAIZHANG = os.path.join(BIN, "taizhang")
BUCKET = "taizhang-dr"
# The documented RPO with sync-interval 1s (README, 灾难恢复), and the slack this shared,
# loaded test machine gets on top of it before a write must be in the replica.
RPO_SECONDS = 2
MARGIN_SECONDS = 3
# How long writes go on right up to the crash.
B_SECONDS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ, LITESTREAM_ACCESS_KEY_ID="test-key", LITESTREAM_SECRET_ACCESS_KEY="test-secret",
               TAIZHANG_TEST_FAST_HASH="1")
    # Litestream 0.5.17 cannot start its S3 client when AWS_CA_BUNDLE is set (README); the
    # stand-in is plain HTTP on loopback and needs no CA.
    env.pop("AWS_CA_BUNDLE", None)
    return env


def _wait_for(ready, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not come up")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on a free loopback port, with one bucket; its endpoint URL."""
    import boto3

    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    server = subprocess.Popen([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: urllib.request.urlopen(endpoint + "/", timeout=2).status == 200, "moto_server")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="test-key", aws_secret_access_key="test-secret")
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


def _settings(path, endpoint: str, prefix: str):
    path.write_text(
        f"url: s3://{BUCKET}/{prefix}\nendpoint: {endpoint}\nregion: us-east-1\n"
        "force-path-style: true\nsync-interval: 1s\n")
    return path


def _cli(*args, check=True, **kwargs):
    result = subprocess.run([TAIZHANG, *args], capture_output=True, text=True, env=_env(), **kwargs)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _post(port: int, token: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201, response.read()
        return json.loads(response.read())


def _state(data_dir) -> dict:
    """What must agree after a restore, read straight from the files: per database the rows
    of every table of record and the audit seals (the chain head is the last)."""
    state = {}
    for name in ("ops", "hr", "users"):
        conn = sqlite3.connect(f"file:{data_dir / (name + '.db')}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT LIKE '_litestream_%' AND name NOT LIKE '%_fts%'")]
            state[name] = {
                "counts": {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables},
                "seals": (conn.execute("SELECT id, last_log_id, seal FROM _audit_seal ORDER BY id").fetchall()
                          if "_audit_seal" in tables else []),
                "partners": ({r[0] for r in conn.execute("SELECT name FROM partners")} if name == "ops" else set()),
                "balance": {},
            }
            if "_audit_log" in tables:
                for table, inserted, deleted in conn.execute(
                        "SELECT table_name, sum(operation = 'insert'), sum(operation = 'delete') FROM _audit_log"
                        " GROUP BY 1"):
                    rows = conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]
                    state[name]["balance"][table] = rows - (inserted - deleted)
        finally:
            conn.close()
    return state


def _object_keys(endpoint: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test-key", aws_secret_access_key="test-secret")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="office-1/")
    return [o["Key"][len("office-1/"):] for page in pages for o in page.get("Contents", [])]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_everything_delete_the_data_dir_and_restore_from_the_replica(tmp_path, s3):
    live = tmp_path / "live"
    _cli("init", "--demo", "--data-dir", str(live))
    settings = _settings(tmp_path / "replica.yml", s3, "office-1")
    kept_secret = tmp_path / "kept" / "secret"        # the operator keeps the secret apart
    kept_secret.parent.mkdir()
    shutil.copy2(live / "secret", kept_secret)
    token = _cli("token", "create", "demo-admin", "--ttl", "3600", "--data-dir", str(live)).stdout.strip()
    port = _free_port()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(
        [TAIZHANG, "serve", "--data-dir", str(live), "--port", str(port), "--replicate", str(settings)],
        stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    try:
        _wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/login", timeout=2).status == 200,
                  "taizhang serve")
        [litestream] = _children(server.pid)

        # Writes acknowledged longer ago than the RPO must survive the crash.
        for i in range(15):
            _post(port, token, "/ops/partners/-/insert", {"row": {"name": f"灾备甲{i}"}})
        _post(port, token, "/hr/confidentiality_agreements/-/insert", {"row": {
            "agreement_no": "DR-0001", "party_kind": "员工", "party_name": "灾备测试",
            "employee_no": "00001", "signed_on": "2026-01-05"}})
        subprocess.run([TAIZHANG, "user", "add", "dr-user", "--role", "viewer", "--password-stdin",
                        "--data-dir", str(live)], input="Disaster-recovery-1\n", text=True, env=_env(), check=True,
                       capture_output=True)
        time.sleep(RPO_SECONDS + MARGIN_SECONDS)
        before_crash = _state(live)

        # Writes go on until the crash; those of its last RPO_SECONDS may be lost.
        acknowledged = {}
        start = time.monotonic()
        while time.monotonic() - start < B_SECONDS:
            name = f"灾备乙{len(acknowledged)}"
            _post(port, token, "/ops/partners/-/insert", {"row": {"name": name}})
            acknowledged[name] = time.monotonic()
    finally:
        os.killpg(server.pid, signal.SIGKILL)         # the server and Litestream, at once
        crashed_at = time.monotonic()
        server.wait()
        log.close()
    _wait_for(lambda: not _alive(litestream), "the end of Litestream", seconds=10)
    at_crash = _state(live)
    shutil.rmtree(live)
    # Only the three databases went to the store: not the secret, not internal.db.
    assert {key.split("/")[0] for key in _object_keys(s3)} == {"ops", "hr", "users"}

    restored = tmp_path / "restored"
    result = _cli("restore", "--from-replica", "--replicate", str(settings), "--secret", str(kept_secret),
                  "--data-dir", str(restored))
    assert "Audit log verified" in result.stdout
    after = _state(restored)

    for name in ("ops", "hr", "users"):
        conn = sqlite3.connect(restored / f"{name}.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        # The chain head is one the lost instance had written, at or after the RPO point …
        seals = after[name]["seals"]
        assert seals == at_crash[name]["seals"][:len(seals)]
        assert len(seals) >= len(before_crash[name]["seals"])
        # … and every table holds at least what it held then, at most what it held at the crash.
        for table, count in before_crash[name]["counts"].items():
            assert count <= after[name]["counts"][table] <= at_crash[name]["counts"][table], (name, table)
    assert {f"灾备甲{i}" for i in range(15)} <= after["ops"]["partners"]
    assert after["hr"]["counts"]["confidentiality_agreements"] == before_crash["hr"]["counts"]["confidentiality_agreements"]
    lost = {n: crashed_at - t for n, t in acknowledged.items() if n not in after["ops"]["partners"]}
    print(f"lost {len(lost)} of {len(acknowledged)} writes acknowledged in the last {B_SECONDS} s;"
          f" the oldest lost was acknowledged {max(lost.values(), default=0):.2f} s before SIGKILL")
    assert max(lost.values(), default=0) <= RPO_SECONDS + MARGIN_SECONDS

    # Rows and the audit log agree: each register holds its audited inserts minus deletes, plus
    # the same rows the migrations seeded (unaudited) as before the crash.
    assert {n: after[n]["balance"] for n in after} == {n: at_crash[n]["balance"] for n in at_crash}
    assert "OK: audit log intact" in _cli("audit", "verify", "--data-dir", str(restored)).stdout
    assert _cli("check", "--data-dir", str(restored)).stdout.strip() == "OK: no problems found"
    users = sqlite3.connect(restored / "users.db")
    assert users.execute("SELECT count(*) FROM users WHERE username = 'dr-user'").fetchone()[0] == 1

    # The instance is back: served from the new folder, the old API token (signed with the kept
    # secret) still reads what was written before the crash.
    port = _free_port()
    server = subprocess.Popen([TAIZHANG, "serve", "--data-dir", str(restored), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        _wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/login", timeout=2).status == 200,
                  "the restored instance")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/ops/partners.json?name={urllib.parse.quote('灾备甲0')}",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert [r["name"] for r in json.loads(response.read())["rows"]] == ["灾备甲0"]
    finally:
        server.terminate()
        server.wait()


def test_litestream_is_restarted_by_the_server_and_ends_with_it(tmp_path):
    data = tmp_path / "data"
    _cli("init", "--data-dir", str(data))
    (data / replica.SETTINGS_FILE).write_text(f"url: file://{tmp_path / 'replica'}\n")   # found in the data dir
    for stop in (signal.SIGTERM, signal.SIGKILL):
        port = _free_port()
        server = subprocess.Popen([TAIZHANG, "serve", "--data-dir", str(data), "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        try:
            _wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/login", timeout=2).status == 200,
                      "taizhang serve")
            [litestream] = _children(server.pid)
            assert _alive(litestream)
            if stop == signal.SIGTERM:                # a Litestream that dies is started again
                os.kill(litestream, signal.SIGKILL)
                _wait_for(lambda: [p for p in _children(server.pid) if p != litestream and _alive(p)],
                          "a new Litestream")
                [litestream] = [p for p in _children(server.pid) if _alive(p)]
        finally:
            server.send_signal(stop)                  # only the server: Litestream must follow
            server.wait()
        _wait_for(lambda: not _alive(litestream), f"the end of Litestream after {stop.name}", seconds=20)


@pytest.mark.asyncio
async def test_litestream_tables_are_hidden_and_never_audited(empty_data_dir, tmp_path, definition):
    conn = empty_data_dir.connect("ops")
    audit_rows = conn.execute("SELECT count(*) FROM _audit_log").fetchone()[0]
    settings = {"url": f"file://{tmp_path / 'replica'}", "sync-interval": "1s"}
    config = replica.write_config(empty_data_dir, settings, definition)
    subprocess.run([replica.binary(), "replicate", "-once", "-no-expand-env", "-config", str(config)],
                   check=True, capture_output=True, env=_env())
    for name in ("ops", "hr", "users"):
        tables = {r[0] for r in sqlite3.connect(empty_data_dir.path / f"{name}.db").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert set(replica.TABLES) <= tables, name
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE '_litestream%'"
                        ).fetchone()[0] == 0
    assert derived.sync(conn, definition, "ops") == []          # nothing to add for them
    assert conn.execute("SELECT count(*) FROM _audit_log").fetchone()[0] == audit_rows
    assert checks.problems(empty_data_dir) == []

    ds = make_datasette(empty_data_dir)
    await ds.invoke_startup()
    tables = {t["name"]: t for t in (await ds.client.get("/ops.json", actor=actor("admin"))).json()["tables"]}
    assert all(tables[t]["hidden"] for t in replica.TABLES)
    # Their pages answer admins only (no grant names them), in every format, for every role.
    answers = {}
    for database in ("ops", "hr"):
        for table in replica.TABLES:
            for suffix in ("", ".json", ".csv"):
                url = f"/{database}/{table}{suffix}"
                for who in [None, *ROLES]:
                    response = await ds.client.get(url, actor=actor(who) if who else None)
                    answers[(url, who)] = response.status_code
    assert len(answers) == 2 * 2 * 3 * (1 + len(ROLES))
    assert {a for (url, who), a in answers.items() if who == "admin"} == {200}
    assert {a for (url, who), a in answers.items() if who not in ("admin", None)} == {403}
    assert {a for (url, who), a in answers.items() if who is None} <= {302, 403}


def test_settings_refuse_credentials_unknown_keys_and_a_missing_url(tmp_path):
    path = tmp_path / "replica.yml"
    for text, said in [
        ("url: s3://b/p\nsecret-access-key: abc\n", "不能写密钥"),
        ("url: s3://b/p\nbucket: b\n", "未知的项"),
        ("endpoint: http://127.0.0.1:9000\n", "缺少 url"),
        ("url: s3://b/p\nsync-interval: soon\n", "sync-interval"),
        ("- just a list\n", "键值对"),
    ]:
        path.write_text(text)
        with pytest.raises(replica.ReplicaError, match=said):
            replica.read_settings(path)
    path.write_text("url: s3://b/office\nendpoint: http://127.0.0.1:9000\n")
    assert replica.read_settings(path)["sync-interval"] == "1s"


def test_the_generated_config_has_one_replica_per_database_and_no_credentials(empty_data_dir, definition):
    settings = {"url": "s3://taizhang-dr/office/", "endpoint": "http://127.0.0.1:9000", "sync-interval": "1s"}
    config = replica.litestream_config(empty_data_dir, settings, definition)
    urls = {db["path"]: db["replica"]["url"] for db in config["dbs"]}
    assert urls == {str(empty_data_dir.path / f"{n}.db"): f"s3://taizhang-dr/office/{n}" for n in ("ops", "hr", "users")}
    assert "key" not in json.dumps(config)


def test_restore_from_replica_refuses_a_data_dir_in_use(empty_data_dir, tmp_path):
    settings = tmp_path / "replica.yml"
    settings.write_text(f"url: file://{tmp_path / 'replica'}\n")
    result = _cli("restore", "--from-replica", "--replicate", str(settings), "--secret", str(empty_data_dir.secret_path),
                  "--data-dir", str(empty_data_dir.path), check=False)
    assert result.returncode == 1 and "只写入空的数据目录" in result.stderr
    result = _cli("restore", "--from-replica", "--replicate", str(settings), "--data-dir", str(tmp_path / "new"),
                  check=False)
    assert result.returncode == 2 and "--secret" in result.stderr


def test_restore_with_another_instances_secret_is_reported(empty_data_dir, tmp_path, definition):
    from taizhang import demo

    demo.fill(empty_data_dir)                      # audited writes: the log is sealed
    settings = tmp_path / "replica.yml"
    settings.write_text(f"url: file://{tmp_path / 'replica'}\n")
    config = replica.write_config(empty_data_dir, replica.read_settings(settings), definition)
    subprocess.run([replica.binary(), "replicate", "-once", "-no-expand-env", "-config", str(config)],
                   check=True, capture_output=True, env=_env())
    other_secret = tmp_path / "other-secret"
    other_secret.write_text("0" * 64)
    result = _cli("restore", "--from-replica", "--replicate", str(settings), "--secret", str(other_secret),
                  "--data-dir", str(tmp_path / "new"), check=False)
    assert result.returncode == 1 and "does not verify" in result.stderr
    assert (tmp_path / "new" / "ops.db").exists()   # the data is back; the operator judges the rest
    good = _cli("restore", "--from-replica", "--replicate", str(settings), "--secret", str(empty_data_dir.secret_path),
                "--data-dir", str(tmp_path / "good"))
    assert "Audit log verified" in good.stdout


def test_serve_refuses_to_start_when_litestream_cannot(tmp_path):
    data = tmp_path / "data"
    _cli("init", "--data-dir", str(data))
    settings = tmp_path / "replica.yml"
    settings.write_text("url: nosuch://bucket/office\n")
    result = _cli("serve", "--data-dir", str(data), "--port", str(_free_port()), "--replicate", str(settings),
                  check=False, timeout=60)
    assert result.returncode == 1 and "Litestream 启动失败" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_restore_from_an_empty_replica_fails_cleanly(tmp_path):
    settings = tmp_path / "replica.yml"
    settings.write_text(f"url: file://{tmp_path / 'nothing-here'}\n")
    secret = tmp_path / "secret"
    secret.write_text("a" * 64)
    target = tmp_path / "new"
    result = _cli("restore", "--from-replica", "--replicate", str(settings), "--secret", str(secret),
                  "--data-dir", str(target), check=False)
    assert result.returncode == 1 and "无法从副本恢复 ops.db" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(target.glob("*.db")) and not (target / "secret").exists()   # nothing half-done
