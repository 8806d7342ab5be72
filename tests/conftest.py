"""Shared fixtures: real SQLite files built by the real migrations, and the real Datasette app
built from the committed metadata.yml and datasette.yml (so configuration is tested too)."""

import datetime
import os

# Fast password hashing for tests; tests/test_users.py asserts the production setting.
os.environ["TAIZHANG_TEST_FAST_HASH"] = "1"

import pytest
import pytest_asyncio

from taizhang.app import make_datasette
from taizhang.datadir import DataDir, init
from taizhang.registers import load

from tests.browser import browser  # noqa: E402,F401 - the shared Chromium fixture

# Reports and demo data depend on "today"; tests pin it.
TODAY = datetime.date(2026, 11, 21)
ROLES = list(load().roles)


def backdate(conn, table: str, when: str = "2020-01-01T00:00:00Z") -> None:
    """Make every row of a register look last changed at `when` (a version from the past).
    No write path may set updated_at — the guard trigger refuses it — so the test steps around
    the guard for this one statement, as only someone editing the file's schema could."""
    from taizhang.schema import TRIGGER_PREFIX, quote, triggers_sql

    guard = f"{TRIGGER_PREFIX}{table}_guard_update"
    conn.execute(f"DROP TRIGGER {quote(guard)}")
    conn.execute(f"UPDATE {quote(table)} SET updated_at = ?", [when])
    conn.execute(triggers_sql(load().registers[table])[guard])


def xlsx_bytes(rows) -> bytes:
    """A real workbook holding `rows` on its first sheet."""
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def actor(role: str, **extra) -> dict:
    return {"id": f"test-{role}", "roles": [role], **extra}


@pytest.fixture(scope="session")
def definition():
    return load()


def _new_data_dir(path) -> DataDir:
    data_dir = DataDir.resolve(path)
    init(data_dir)
    return data_dir


@pytest.fixture
def empty_data_dir(tmp_path) -> DataDir:
    return _new_data_dir(tmp_path / "data")


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory) -> DataDir:
    """Read-only for tests: every register filled with the demo data."""
    from taizhang import demo

    data_dir = _new_data_dir(tmp_path_factory.mktemp("demo"))
    demo.fill(data_dir, today=TODAY)
    return data_dir


@pytest_asyncio.fixture(scope="session")
async def demo_ds(demo_data_dir):
    ds = make_datasette(demo_data_dir)
    await ds.invoke_startup()
    return ds


@pytest_asyncio.fixture
async def empty_ds(empty_data_dir):
    """A writable app on empty registers, fresh for each test."""
    ds = make_datasette(empty_data_dir)
    await ds.invoke_startup()
    return ds
