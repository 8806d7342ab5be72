"""Online backups of a data dir, safe while the server runs.

Each SQLite file is copied with SQLite's backup API (a consistent snapshot even while other
connections write, WAL included), then checked with `PRAGMA integrity_check`. A backup is a
folder `taizhang-<UTC time>/` holding the files, the secret and a manifest.

With encryption, the files that hold confidential data — the database of the confidential
register (hr.db), the user store (password hashes) and the secret — are stored encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) under a key from the
environment variable TAIZHANG_BACKUP_KEY.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import pathlib
import shutil
import sqlite3
import tempfile
from dataclasses import asdict

from cryptography.fernet import Fernet, InvalidToken

from taizhang import audit, audit_head
from taizhang.datadir import DataDir, make_private
from taizhang.registers import Definition, load

PREFIX = "taizhang-"
MANIFEST = "manifest.json"
# The last successful backup, in the data dir: the home page warns admins when it is stale.
LAST_BACKUP = "last-backup.json"
STALE_AFTER = datetime.timedelta(days=1)
KEY_ENV = "TAIZHANG_BACKUP_KEY"
ENCRYPTED_SUFFIX = ".enc"


class BackupError(RuntimeError):
    pass


def _copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
        # A backup is one self-contained file, not a WAL database with side files.
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()
        source.close()


def integrity(path: pathlib.Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet() -> Fernet:
    key = os.environ.get(KEY_ENV)
    if not key:
        raise BackupError(f"加密备份需要密钥：设置环境变量 {KEY_ENV}（用 taizhang backup --new-key 生成）")
    try:
        return Fernet(key.encode())
    except ValueError:
        raise BackupError(f"环境变量 {KEY_ENV} 不是有效的密钥（用 taizhang backup --new-key 生成）")


def _confidential_files(data_dir: DataDir, definition: Definition) -> set[str]:
    databases = {r.database for r in definition.registers.values() if r.confidential}
    return {data_dir.database(n).name for n in databases} | {data_dir.users_path.name, data_dir.secret_path.name}


def _encrypt(path: pathlib.Path, fernet: Fernet) -> pathlib.Path:
    target = path.with_name(path.name + ENCRYPTED_SUFFIX)
    target.write_bytes(fernet.encrypt(path.read_bytes()))
    path.unlink()
    return target


@contextlib.contextmanager
def _readable(folder: pathlib.Path, name: str, info: dict):
    """The backed-up file as plain SQLite, decrypted into a temporary file if need be."""
    if not info.get("encrypted"):
        yield folder / name
        return
    try:
        plain = _fernet().decrypt((folder / (name + ENCRYPTED_SUFFIX)).read_bytes())
    except InvalidToken:
        raise BackupError(f"无法解密 {name}：密钥与备份不符")
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / name
        path.write_bytes(plain)
        os.chmod(path, 0o600)
        yield path


def backup(
    data_dir: DataDir,
    dest: pathlib.Path | None = None,
    keep: int | None = None,
    definition: Definition | None = None,
    encrypt: bool = False,
    record: bool = True,
) -> pathlib.Path:
    """Back the data dir up into a new folder of `dest`; returns it. With `record` (all but the
    safety copy a restore takes) the success is written to LAST_BACKUP."""
    definition = definition or load()
    data_dir.make_private()
    fernet = _fernet() if encrypt else None
    confidential = _confidential_files(data_dir, definition)
    dest = dest or data_dir.path / "backups"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = dest / f"{PREFIX}{stamp}"
    partial = dest / f".partial-{stamp}"
    partial.mkdir(parents=True)
    try:
        files, heads = {}, {}
        registers = {data_dir.database(n).name: n for n in definition.databases}
        for path in data_dir.files(definition):
            if not path.exists():
                continue
            copy = partial / path.name
            _copy(path, copy)
            result = integrity(copy)
            if result != "ok":
                raise BackupError(f"{path.name} 的备份未通过完整性检查：{result}")
            if path.name in registers:
                heads[registers[path.name]] = asdict(_head_of(copy))
            files[path.name] = _stored(copy, fernet if path.name in confidential else None)
        if data_dir.secret_path.exists():
            secret = partial / data_dir.secret_path.name
            shutil.copy2(data_dir.secret_path, secret)
            os.chmod(secret, 0o600)
            if fernet:
                _encrypt(secret, fernet)
        (partial / MANIFEST).write_text(
            json.dumps({"created_at": stamp, "files": files, "audit_heads": heads}, ensure_ascii=False, indent=2)
        )
        # A backup folder appears only once complete, so rotation never counts a half copy.
        partial.rename(folder)
        make_private(folder)   # in a --dest outside the data dir too
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if keep:
        for old in list_backups(dest)[:-keep]:
            shutil.rmtree(old)
    if record:
        _record_success(data_dir, folder, sorted(files))
    return folder


def _record_success(data_dir: DataDir, folder: pathlib.Path, files: list[str]) -> None:
    at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    target = data_dir.path / LAST_BACKUP
    partial = target.with_name(f".{LAST_BACKUP}.partial")
    partial.write_text(json.dumps({"at": at, "path": str(folder), "files": files}, ensure_ascii=False, indent=2))
    partial.replace(target)   # atomic: a reader never sees half a record


def last_backup(data_dir: DataDir) -> dict | None:
    """The last successful backup ({"at": datetime (UTC), "path", "files"}), or None if there
    was none (or its record is unreadable, which is treated the same way: make a backup)."""
    try:
        record = json.loads((data_dir.path / LAST_BACKUP).read_text())
        record["at"] = datetime.datetime.strptime(record["at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def backup_is_stale(record: dict | None, now: datetime.datetime | None = None) -> bool:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return record is None or now - record["at"] > STALE_AFTER


def _head_of(path: pathlib.Path) -> audit_head.Head:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return audit_head.current(conn)
    finally:
        conn.close()


def _stored(copy: pathlib.Path, fernet: Fernet | None) -> dict:
    info = {"bytes": copy.stat().st_size}
    if fernet:
        copy = _encrypt(copy, fernet)
        info["encrypted"] = True
    info["sha256"] = _sha256(copy)
    return info


def list_backups(dest: pathlib.Path) -> list[pathlib.Path]:
    if not dest.exists():
        return []
    return sorted(p for p in dest.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def verify(folder: pathlib.Path) -> dict:
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise BackupError(f"{folder} 不是 taizhang 备份（缺少 {MANIFEST}）")
    manifest = json.loads(manifest_path.read_text())
    for name, info in manifest["files"].items():
        path = folder / (name + (ENCRYPTED_SUFFIX if info.get("encrypted") else ""))
        if not path.exists() or _sha256(path) != info["sha256"]:
            raise BackupError(f"备份文件 {name} 缺失或已被改动")
        with _readable(folder, name, info) as plain:
            result = integrity(plain)
            head = _head_of(plain) if name in _head_files(manifest) else None
        if result != "ok":
            raise BackupError(f"备份文件 {name} 未通过完整性检查：{result}")
        if head is not None and asdict(head) != manifest["audit_heads"][_head_files(manifest)[name]]:
            raise BackupError(f"备份文件 {name} 的审计封存链与清单记录的链头不符：备份已被改动")
    return manifest


def _head_files(manifest: dict) -> dict[str, str]:
    """Database file name -> database name, for the databases whose chain head the manifest holds."""
    return {f"{name}.db": name for name in manifest.get("audit_heads", {})}


def restore(data_dir: DataDir, folder: pathlib.Path, definition: Definition | None = None) -> pathlib.Path:
    """Put a backup back. A safety backup of the current data is taken first; its folder is
    returned. Restoring goes through the backup API into the live files, so a running server
    keeps consistent connections and sees the restored data."""
    definition = definition or load()
    manifest = verify(folder)
    encrypted = any(info.get("encrypted") for info in manifest["files"].values())
    safety = backup(data_dir, data_dir.path / "backups" / "pre-restore", definition=definition,
                    encrypt=encrypted, record=False)
    for name, info in manifest["files"].items():
        with _readable(folder, name, info) as plain:
            source = sqlite3.connect(f"file:{plain}?mode=ro", uri=True)
            target = sqlite3.connect(data_dir.path / name, timeout=30)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
    secret = folder / data_dir.secret_path.name
    sealed_secret = secret.with_name(secret.name + ENCRYPTED_SUFFIX)
    if secret.exists():
        shutil.copy2(secret, data_dir.secret_path)
    elif sealed_secret.exists():
        data_dir.secret_path.write_bytes(_fernet().decrypt(sealed_secret.read_bytes()))
    if data_dir.secret_path.exists():
        os.chmod(data_dir.secret_path, 0o600)
    # The restored chains are the backup's (checked against its manifest above).
    adopt_chain_heads(data_dir, definition)
    return safety


def adopt_chain_heads(data_dir: DataDir, definition: Definition) -> None:
    """After a restore (from a backup or the replica): each audit chain head file is set to its
    database's head as restored, under the restored secret's key — the restored log is by then
    the record (taizhang/audit_head.py)."""
    key = audit.key_from_secret(data_dir.secret())
    for name in definition.databases:
        conn = data_dir.connect(name)
        try:
            audit_head.adopt(conn, key, force=True)
        finally:
            conn.close()
