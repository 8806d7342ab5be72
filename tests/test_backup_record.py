"""`taizhang backup` records its last success in the data dir, and the home page warns admins
(and only admins) when that is more than a day old or there never was one."""

import datetime
import json

import pytest

from taizhang import backup as backups
from taizhang.app import make_datasette
from tests.conftest import actor

pytestmark = pytest.mark.fast

WARNING = "最近一次备份已超过一天"


def _set_last_backup_at(data_dir, at: datetime.datetime) -> None:
    path = data_dir.path / backups.LAST_BACKUP
    record = json.loads(path.read_text())
    record["at"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(record))


def test_backup_records_its_last_success(empty_data_dir):
    assert backups.last_backup(empty_data_dir) is None
    folder = backups.backup(empty_data_dir)
    record = backups.last_backup(empty_data_dir)
    assert record["path"] == str(folder)
    assert {"ops.db", "hr.db", "users.db"} <= set(record["files"])
    assert datetime.datetime.now(datetime.timezone.utc) - record["at"] < datetime.timedelta(hours=1)
    assert not backups.backup_is_stale(record)


def test_a_failed_backup_and_a_restore_safety_copy_are_not_recorded(empty_data_dir, monkeypatch):
    first = backups.backup(empty_data_dir)
    backups.restore(empty_data_dir, first)        # takes a safety copy under backups/pre-restore
    assert backups.last_backup(empty_data_dir)["path"] == str(first)
    monkeypatch.delenv(backups.KEY_ENV, raising=False)
    with pytest.raises(backups.BackupError):
        backups.backup(empty_data_dir, encrypt=True)   # no key: refused, nothing written
    assert backups.last_backup(empty_data_dir)["path"] == str(first)


def test_staleness_after_a_day(empty_data_dir):
    now = datetime.datetime(2026, 12, 2, 8, 0, tzinfo=datetime.timezone.utc)
    assert backups.backup_is_stale(None, now)
    fresh = {"at": now - datetime.timedelta(hours=23)}
    old = {"at": now - datetime.timedelta(hours=25)}
    assert not backups.backup_is_stale(fresh, now) and backups.backup_is_stale(old, now)


def test_an_unreadable_record_counts_as_no_backup(empty_data_dir):
    (empty_data_dir.path / backups.LAST_BACKUP).write_text("{not json")
    assert backups.last_backup(empty_data_dir) is None


@pytest.mark.asyncio
async def test_home_page_warns_admins_when_there_never_was_a_backup(empty_data_dir):
    ds = make_datasette(empty_data_dir)
    await ds.invoke_startup()
    page = (await ds.client.get("/", actor=actor("admin"))).text
    assert f"{WARNING}（从未备份）" in page
    for role in ("manager", "hr", "viewer"):
        assert WARNING not in (await ds.client.get("/", actor=actor(role))).text


@pytest.mark.asyncio
async def test_home_page_warns_admins_when_the_last_backup_is_over_a_day_old(empty_data_dir, monkeypatch):
    monkeypatch.setenv("TAIZHANG_TIMEZONE", "Asia/Shanghai")
    ds = make_datasette(empty_data_dir)
    await ds.invoke_startup()
    backups.backup(empty_data_dir)
    assert WARNING not in (await ds.client.get("/", actor=actor("admin"))).text
    _set_last_backup_at(empty_data_dir, datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=23))
    assert WARNING not in (await ds.client.get("/", actor=actor("admin"))).text
    _set_last_backup_at(empty_data_dir, datetime.datetime(2026, 11, 20, 18, 30, tzinfo=datetime.timezone.utc))
    page = (await ds.client.get("/", actor=actor("admin"))).text
    # The time is shown in the instance's time zone (18:30 UTC is 02:30 the next day in Shanghai).
    assert f"{WARNING}（上次备份：2026-11-21 02:30）" in page
    assert WARNING not in (await ds.client.get("/", actor=actor("manager"))).text


@pytest.mark.asyncio
async def test_the_warning_is_translated(empty_data_dir):
    ds = make_datasette(empty_data_dir)
    await ds.invoke_startup()
    page = (await ds.client.get("/", actor=actor("admin"), cookies={"tz_lang": "en"})).text
    assert "The last backup is more than a day old (never backed up)" in page
    backups.backup(empty_data_dir)
    _set_last_backup_at(empty_data_dir, datetime.datetime(2026, 11, 20, 18, 30, tzinfo=datetime.timezone.utc))
    page = (await ds.client.get("/", actor=actor("admin"), cookies={"tz_lang": "en"})).text
    assert "The last backup is more than a day old (last: 2026-11-21 02:30)" in page
    assert WARNING not in page
