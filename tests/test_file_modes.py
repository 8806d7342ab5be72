"""Everything in the data dir is the service account's alone: files 0600, folders 0700 — after
init, after the server has written (the databases' -wal/-shm, an upload) and after a backup,
even when the process started with a permissive umask, and existing files are fixed at start."""

import os
import stat

import openpyxl
import pytest

from taizhang import backup
from taizhang.app import make_datasette
from taizhang.datadir import DataDir, init
from tests.conftest import actor

pytestmark = pytest.mark.fast


@pytest.fixture
def lax_umask():
    previous = os.umask(0o022)   # what a shell usually starts with: files 0644, folders 0755
    yield
    os.umask(previous)


def _open_to_others(folder) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files, "."]:
            path = os.path.join(root, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                found.append(f"{os.path.relpath(path, folder)} {oct(mode)}")
    return sorted(set(found))


def test_init_creates_private_files(tmp_path, lax_umask):
    data_dir = DataDir.resolve(tmp_path / "data")
    init(data_dir)
    assert {"hr.db", "ops.db", "secret", "users.db"} <= {p.name for p in data_dir.path.iterdir()}
    assert _open_to_others(data_dir.path) == []


def test_existing_files_are_made_private_at_start(tmp_path, lax_umask):
    data_dir = DataDir.resolve(tmp_path / "data")
    init(data_dir)
    for path in [data_dir.path, *data_dir.path.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    make_datasette(data_dir)
    assert _open_to_others(data_dir.path) == []


@pytest.mark.asyncio
async def test_what_the_server_and_a_backup_write_is_private(tmp_path, lax_umask):
    data_dir = DataDir.resolve(tmp_path / "data")
    init(data_dir)
    ds = make_datasette(data_dir)
    await ds.invoke_startup()
    admin = actor("admin")
    r = await ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=admin)
    assert r.status_code == 201
    book = openpyxl.Workbook()
    book.active.append(["合作伙伴名称"])
    book.active.append(["乙"])
    book.save(tmp_path / "p.xlsx")
    r = await ds.client.post("/-/import/ops/partners", actor=admin, files={"file": ("p.xlsx", (tmp_path / "p.xlsx").read_bytes())})
    assert r.status_code == 302, r.text
    written = {p.name for p in data_dir.path.iterdir()}
    assert {"ops.db-wal", "ops.db-shm", "internal.db", "uploads"} <= written
    backup.backup(data_dir)
    backup.backup(data_dir, dest=tmp_path / "elsewhere")
    assert _open_to_others(data_dir.path) == []
    assert _open_to_others(tmp_path / "elsewhere") == []
