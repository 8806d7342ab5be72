"""The audit log: every change to a register, whatever wrote it, in the same transaction and
the same database file as the change.

Triggers on each register write one `_audit_log` row per inserted, updated or deleted row,
with the whole row before and after as JSON. Who made the change comes from `_audit_context`,
a one-row table the writer fills at the start of its transaction (plugins/audit.py for every
Datasette write, `audited()` below for the CLI and imports) and empties before commit — a table,
not a SQL function, because Datasette compiles writable stored queries on connections without
plugin functions. A write from a sqlite3 shell finds no context and is recorded `unattributed`.

The log is append-only (triggers refuse UPDATE and DELETE; the one update allowed is the app
setting a row's seal once), and sealed with an HMAC chain keyed by the instance secret, which
plain SQLite cannot compute: `taizhang audit verify` finds any row changed, removed or forged
outside the app.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass

from taizhang.registers import Definition
from taizhang.schema import TRIGGER_PREFIX, quote

LOG = "_audit_log"
CONTEXT = "_audit_context"
# Who read the confidential registers (only in files that hold one).
READ_LOG = "_read_log"
# Columns the app maintains itself: a change to them alone is not a change to the record.
UNAUDITED_COLUMNS = ("created_at", "updated_at")
GENESIS = "0" * 64
LOG_FIELDS = (
    "id", "at", "actor", "role", "source", "batch_id", "request_path", "note",
    "table_name", "row_id", "operation", "before", "after",
)

SCHEMA_STATEMENTS = [s.strip() for s in f"""
CREATE TABLE IF NOT EXISTS {LOG} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor TEXT,
  role TEXT,
  source TEXT NOT NULL,
  batch_id TEXT,
  request_path TEXT,
  note TEXT,
  table_name TEXT NOT NULL,
  row_id INTEGER NOT NULL,
  operation TEXT NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
  before TEXT,
  after TEXT,
  seal TEXT
);
CREATE INDEX IF NOT EXISTS idx_audit_log_row ON {LOG} (table_name, row_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_at ON {LOG} (at);
CREATE INDEX IF NOT EXISTS idx_audit_log_actor ON {LOG} (actor);
CREATE TABLE IF NOT EXISTS {READ_LOG} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor TEXT,
  role TEXT,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  query TEXT
);
CREATE TABLE IF NOT EXISTS {CONTEXT} (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  actor TEXT,
  role TEXT,
  source TEXT NOT NULL,
  batch_id TEXT,
  request_path TEXT,
  note TEXT
)
""".split(";") if s.strip()]
APPEND_ONLY_MESSAGE = "审计日志只能追加，不能修改或删除"


@dataclass(frozen=True)
class Who:
    """Who is writing, as the audit log records it."""

    actor: str | None
    role: str | None
    source: str  # ui | api | sql | cli | import | restore
    request_path: str | None = None
    batch_id: str | None = None
    note: str | None = None


def append_only_triggers() -> dict[str, str]:
    changed = " OR ".join(f"NEW.{quote(f)} IS NOT OLD.{quote(f)}" for f in LOG_FIELDS)
    refuse = f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
    triggers = {
        # The one update allowed: the app setting a row's seal, once.
        f"{TRIGGER_PREFIX}audit_log_no_update": (
            f"CREATE TRIGGER {quote(TRIGGER_PREFIX + 'audit_log_no_update')} BEFORE UPDATE ON {LOG} "
            f"WHEN OLD.seal IS NOT NULL OR {changed} {refuse}"
        ),
    }
    for table, name in ((LOG, "audit_log"), (READ_LOG, "read_log")):
        triggers[f"{TRIGGER_PREFIX}{name}_no_delete"] = (
            f"CREATE TRIGGER {quote(TRIGGER_PREFIX + name + '_no_delete')} BEFORE DELETE ON {table} {refuse}"
        )
    triggers[f"{TRIGGER_PREFIX}read_log_no_update"] = (
        f"CREATE TRIGGER {quote(TRIGGER_PREFIX + 'read_log_no_update')} BEFORE UPDATE ON {READ_LOG} {refuse}"
    )
    return triggers


def table_triggers(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Audit triggers for one register, from its columns as they are now in the file — so a
    column added by ALTER TABLE is recorded once the triggers are regenerated."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({quote(table)})")]
    audited = [c for c in columns if c not in UNAUDITED_COLUMNS]

    def row_json(alias: str) -> str:
        return "json_object(" + ", ".join(f"'{c}', {alias}.{quote(c)}" for c in columns) + ")"

    def insert_log(operation: str, row_id: str, before: str, after: str) -> str:
        return (
            f"INSERT INTO {LOG} (actor, role, source, batch_id, request_path, note, table_name,"
            f" row_id, operation, before, after) SELECT c.actor, c.role,"
            f" coalesce(c.source, 'unattributed'), c.batch_id, c.request_path, c.note,"
            f" '{table}', {row_id}, '{operation}', {before}, {after}"
            f" FROM (SELECT 1) LEFT JOIN {CONTEXT} c;"
        )

    changed = " OR ".join(f"OLD.{quote(c)} IS NOT NEW.{quote(c)}" for c in audited)
    t = quote(table)
    names = {op: f"{TRIGGER_PREFIX}audit_{table}_{op}" for op in ("insert", "update", "delete")}
    return {
        names["insert"]: (
            f"CREATE TRIGGER {quote(names['insert'])} AFTER INSERT ON {t} BEGIN "
            + insert_log("insert", "NEW.id", "NULL", row_json("NEW")) + " END"
        ),
        names["update"]: (
            f"CREATE TRIGGER {quote(names['update'])} AFTER UPDATE ON {t} WHEN {changed} BEGIN "
            + insert_log("update", "NEW.id", row_json("OLD"), row_json("NEW")) + " END"
        ),
        names["delete"]: (
            f"CREATE TRIGGER {quote(names['delete'])} AFTER DELETE ON {t} BEGIN "
            + insert_log("delete", "OLD.id", row_json("OLD"), "NULL") + " END"
        ),
    }


def triggers(conn: sqlite3.Connection, definition: Definition, database: str) -> dict[str, str]:
    wanted = append_only_triggers()
    for reg in definition.registers_in(database):
        wanted.update(table_triggers(conn, reg.name))
    return wanted


# -- writing ---------------------------------------------------------------------------------
def begin(conn: sqlite3.Connection, who: Who) -> None:
    """Say who is writing; call inside the write's transaction, before the change."""
    conn.execute(
        f"INSERT OR REPLACE INTO {CONTEXT} (id, actor, role, source, batch_id, request_path, note)"
        " VALUES (1, ?, ?, ?, ?, ?, ?)",
        [who.actor, who.role, who.source, who.batch_id, who.request_path, who.note],
    )


def finish(conn: sqlite3.Connection, key: bytes) -> int:
    """Forget who is writing and seal the new log rows; call before commit."""
    conn.execute(f"DELETE FROM {CONTEXT}")
    return seal(conn, key)


@contextlib.contextmanager
def audited(conn: sqlite3.Connection, who: Who, key: bytes):
    """One transaction whose changes are recorded as made by `who` (CLI, imports)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        begin(conn, who)
        yield conn
        finish(conn, key)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def key_from_secret(secret: str) -> bytes:
    return hashlib.sha256(b"taizhang audit seal\0" + secret.encode()).digest()


def _digest(key: bytes, previous: str, row: tuple) -> str:
    payload = previous + json.dumps(list(row), ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def seal(conn: sqlite3.Connection, key: bytes) -> int:
    """Chain every unsealed log row (the app's, and any written around it) to the last seal."""
    fields = ", ".join(LOG_FIELDS)
    unsealed = conn.execute(f"SELECT {fields} FROM {LOG} WHERE seal IS NULL ORDER BY id").fetchall()
    if not unsealed:
        return 0
    last = conn.execute(
        f"SELECT seal FROM {LOG} WHERE seal IS NOT NULL AND id < ? ORDER BY id DESC LIMIT 1",
        [unsealed[0][0]],
    ).fetchone()
    previous = last[0] if last else GENESIS
    for row in unsealed:
        previous = _digest(key, previous, tuple(row))
        conn.execute(f"UPDATE {LOG} SET seal = ? WHERE id = ?", [previous, row[0]])
    return len(unsealed)


def verify(conn: sqlite3.Connection, key: bytes, database: str) -> list[str]:
    """Problems with the chain, as sentences; empty when the log is intact."""
    problems = []
    previous, expected_id = GENESIS, None
    fields = ", ".join(LOG_FIELDS)
    for row in conn.execute(f"SELECT {fields}, seal FROM {LOG} ORDER BY id"):
        *values, stored = row
        log_id = values[0]
        if expected_id is not None and log_id != expected_id:
            problems.append(f"{database}.db 审计日志第 {expected_id}–{log_id - 1} 条已被删除")
        expected_id = log_id + 1
        if stored is None:
            problems.append(f"{database}.db 审计日志第 {log_id} 条尚未封存（在应用之外写入，或正在写入）")
            continue
        if stored != _digest(key, previous, tuple(values)):
            problems.append(f"{database}.db 审计日志第 {log_id} 条与封存值不符：记录被改动或伪造")
        previous = stored
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [LOG]).fetchone()
    if sequence and expected_id is not None and sequence[0] >= expected_id:
        problems.append(f"{database}.db 审计日志末尾第 {expected_id}–{sequence[0]} 条已被删除")
    elif sequence and expected_id is None and sequence[0] > 0:
        problems.append(f"{database}.db 审计日志已被清空（曾有 {sequence[0]} 条）")
    return problems
