"""Backups: consistent while writes go on, checked, rotated; restore puts the data back."""

import sqlite3
import threading

import pytest

from taizhang import backup as backups

pytestmark = pytest.mark.fast


def _partners(data_dir):
    return sqlite3.connect(data_dir.database("ops")).execute("SELECT name FROM partners ORDER BY id").fetchall()


def test_backup_modify_restore(empty_data_dir):
    ops = empty_data_dir.connect("ops")
    ops.execute("INSERT INTO partners (name) VALUES ('甲')")
    store = empty_data_dir.users()
    store.add("wang", "Secret-pass-1", "editor")
    folder = backups.backup(empty_data_dir)
    assert {"ops.db", "hr.db", "users.db", "secret", "manifest.json"} <= {p.name for p in folder.iterdir()}

    ops.execute("INSERT INTO partners (name) VALUES ('乙')")
    ops.execute("DELETE FROM partners WHERE name = '甲'")
    store.remove("wang")
    safety = backups.restore(empty_data_dir, folder)

    assert _partners(empty_data_dir) == [("甲",)]
    assert store.get("wang") is not None          # the same open connection sees the restore
    assert ops.execute("SELECT name FROM partners").fetchall() == [("甲",)]
    # the safety copy holds what was there before the restore
    safety_ops = sqlite3.connect(safety / "ops.db")
    assert safety_ops.execute("SELECT name FROM partners").fetchall() == [("乙",)]


def test_backup_during_writes_is_consistent(empty_data_dir):
    stop = threading.Event()
    written = []

    def writer():
        conn = empty_data_dir.connect("ops")
        i = 0
        while not stop.is_set() and i < 20000:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO partners (name, notes) VALUES (?, ?)", [f"伙伴{i}", "预算" * 50])
            conn.execute("INSERT INTO meetings (title, held_on, minutes) VALUES (?, '2024-01-01', '会议')", [f"会{i}"])
            conn.execute("COMMIT")
            written.append(i)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        folders = [backups.backup(empty_data_dir) for _ in range(5)]
    finally:
        stop.set()
        thread.join()
    assert written, "the writer made no progress"
    for folder in folders:
        backups.verify(folder)
        conn = sqlite3.connect(folder / "ops.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # each transaction is in the copy whole or not at all
        partners, meetings = conn.execute(
            "SELECT (SELECT count(*) FROM partners), (SELECT count(*) FROM meetings)").fetchone()
        assert partners == meetings


def test_rotation_keeps_the_newest(empty_data_dir, tmp_path):
    dest = tmp_path / "backups"
    made = [backups.backup(empty_data_dir, dest, keep=2) for _ in range(4)]
    assert backups.list_backups(dest) == made[-2:]


def test_a_damaged_backup_is_refused(empty_data_dir):
    folder = backups.backup(empty_data_dir)
    with open(folder / "ops.db", "r+b") as f:
        f.seek(200)
        f.write(b"garbage")
    with pytest.raises(backups.BackupError, match="ops.db"):
        backups.restore(empty_data_dir, folder)
    with pytest.raises(backups.BackupError, match="manifest"):
        backups.restore(empty_data_dir, folder.parent)


def test_encrypted_backup_hides_the_confidential_register(empty_data_dir, monkeypatch):
    canary = "CANARYenc42"
    hr = empty_data_dir.connect("hr")
    hr.execute("INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, signed_on, scope)"
               " VALUES (?, '其他', ?, '2024-01-01', ?)", [f"{canary}-no", f"{canary}-party", f"{canary}-scope"])
    with pytest.raises(backups.BackupError, match="TAIZHANG_BACKUP_KEY"):
        backups.backup(empty_data_dir, encrypt=True)
    monkeypatch.setenv("TAIZHANG_BACKUP_KEY", backups.new_key())
    folder = backups.backup(empty_data_dir, encrypt=True)
    names = {p.name for p in folder.iterdir()}
    assert {"hr.db.enc", "users.db.enc", "secret.enc", "ops.db"} <= names and "hr.db" not in names
    for path in folder.iterdir():
        assert canary.encode() not in path.read_bytes(), path.name
    hr.execute("DELETE FROM confidentiality_agreements")
    backups.restore(empty_data_dir, folder)
    assert hr.execute("SELECT party_name FROM confidentiality_agreements").fetchall() == [(f"{canary}-party",)]
    monkeypatch.setenv("TAIZHANG_BACKUP_KEY", backups.new_key())   # the wrong key
    with pytest.raises(backups.BackupError, match="密钥与备份不符"):
        backups.restore(empty_data_dir, folder)


def test_the_reminders_sent_are_backed_up_and_restored(empty_data_dir):
    """Without notify.db a restored data dir would send every reminder still due once more."""
    from taizhang import reminders

    book = reminders.store(empty_data_dir)
    book.execute("INSERT INTO reminders (register, row_id, rule, level, recipient, due_at, channel, status,"
                 " first_tried_at) VALUES ('tasks', 1, 0, 0, '10001', '2026-11-21 09:00', 'email', 'sent', 'x')")
    folder = backups.backup(empty_data_dir)
    assert "notify.db" in backups.verify(folder)["files"]
    book.execute("DELETE FROM reminders")
    backups.restore(empty_data_dir, folder)
    assert [tuple(r) for r in book.execute("SELECT recipient FROM reminders")] == [("10001",)]
