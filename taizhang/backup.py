"""Online backups of a data dir, safe while the server runs.

Each SQLite file is copied with SQLite's backup API (a consistent snapshot even while other
connections write, WAL included), then checked with `PRAGMA integrity_check`. A backup is a
folder `taizhang-<UTC time>/` holding the files, the secret and a manifest.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import shutil
import sqlite3

from taizhang.datadir import DataDir
from taizhang.registers import Definition, load

PREFIX = "taizhang-"
MANIFEST = "manifest.json"


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


def backup(
    data_dir: DataDir,
    dest: pathlib.Path | None = None,
    keep: int | None = None,
    definition: Definition | None = None,
) -> pathlib.Path:
    definition = definition or load()
    dest = dest or data_dir.path / "backups"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = dest / f"{PREFIX}{stamp}"
    partial = dest / f".partial-{stamp}"
    partial.mkdir(parents=True)
    try:
        files = {}
        for path in data_dir.files(definition):
            if not path.exists():
                continue
            copy = partial / path.name
            _copy(path, copy)
            result = integrity(copy)
            if result != "ok":
                raise BackupError(f"{path.name} 的备份未通过完整性检查：{result}")
            files[path.name] = {"bytes": copy.stat().st_size, "sha256": _sha256(copy)}
        if data_dir.secret_path.exists():
            shutil.copy2(data_dir.secret_path, partial / data_dir.secret_path.name)
            os.chmod(partial / data_dir.secret_path.name, 0o600)
        (partial / MANIFEST).write_text(
            json.dumps({"created_at": stamp, "files": files}, ensure_ascii=False, indent=2)
        )
        # A backup folder appears only once complete, so rotation never counts a half copy.
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if keep:
        for old in list_backups(dest)[:-keep]:
            shutil.rmtree(old)
    return folder


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
        path = folder / name
        if not path.exists() or _sha256(path) != info["sha256"]:
            raise BackupError(f"备份文件 {name} 缺失或已被改动")
        result = integrity(path)
        if result != "ok":
            raise BackupError(f"备份文件 {name} 未通过完整性检查：{result}")
    return manifest


def restore(data_dir: DataDir, folder: pathlib.Path, definition: Definition | None = None) -> pathlib.Path:
    """Put a backup back. A safety backup of the current data is taken first; its folder is
    returned. Restoring goes through the backup API into the live files, so a running server
    keeps consistent connections and sees the restored data."""
    definition = definition or load()
    manifest = verify(folder)
    safety = backup(data_dir, data_dir.path / "backups" / "pre-restore", definition=definition)
    for name in manifest["files"]:
        source = sqlite3.connect(f"file:{folder / name}?mode=ro", uri=True)
        target = sqlite3.connect(data_dir.path / name, timeout=30)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    secret = folder / data_dir.secret_path.name
    if secret.exists():
        shutil.copy2(secret, data_dir.secret_path)
        os.chmod(data_dir.secret_path, 0o600)
    return safety
